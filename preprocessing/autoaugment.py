"""AutoAugment (Cubuk et al., 2019) policies as a parametric, replayable transform.

Split into a sampler and a deterministic applier (same design as
:mod:`preprocessing.randaugment`), so generation and replay run the same code::

    params = sample_params("imagenet", seed)        # stateless RNG, small tensors
    out = apply(image_uint8, "imagenet", params)     # deterministic
    out == augment(image_uint8, "imagenet", seed)    # same pixels

Policies (:data:`POLICIES`; level out of 10, see
:func:`preprocessing.augment_ops.level_to_arg` for the magnitudes):

* ``imagenet``: the AutoAugment ImageNet policy (25 sub-policies; it contains
  the paper's own repeated sub-policies).
* ``v0``: the COCO / EfficientNet "v0" policy (25).
* ``good``: the 95 sub-policies from CIFAR searches of clovaai/assembled-cnn
  (``good_policies``, used for Food-101 fine-tuning).
* ``cifar``: the AutoAugment CIFAR-10 policy (25), as in the original.
* ``svhn``: the SVHN policy (25); the original's lower-case ``'contrast'`` is
  spelled ``'Contrast'`` here.
(The original also registered a one-entry debugging policy ``test``; not kept.)

Sampling (per image, :func:`sample_params`)
-------------------------------------------
* ``sub_policy``: int32 scalar, uniform over the policy's sub-policies.
* ``applied``: bool [2], op ``k`` applied iff ``U[0,1) < prob_k`` (prob 1 is
  always applied, prob 0 never).
* ``signs``: float32 [2] in {-1, +1}; only the signed ops (Rotate, ShearX/Y,
  TranslateX/Y) use it.
* ``centers``: float32 [2, 2] Cutout centres as (row, col) fractions in
  [0, 1), turned into pixels ``floor(frac * (H, W))`` at apply time, so params
  do not depend on the image size.

Contrast follows PIL (``ImageEnhance.Contrast``: blend toward the rounded mean grey
level).  The TF original blends toward ``min(255, H*W/256)`` -- the sum of its 256-bin
histogram divided by 256, i.e. a constant 196 for 224 x 224 and 4 for 32 x 32 images, a
bug -- which we deliberately do not reproduce.  On 19 Imagenette photos (224 px,
tests/randaugment_figures.py) ours vs the original's formula: mean |difference| 29.0
levels (PSNR 18.4 dB) at level 8 (factor 1.54, the ImageNet policy's), 12.9 (26.5 dB) at
level 6, 15.2 (25.6 dB) at level 4, 60.6 (13.6 dB) at level 1; identical at level 5
(factor 1.0).  Geometric ops use the op library's ``"tf"`` geometry and fill 128, the
original's (``--randaugment_fill`` is RandAugment's only).

Magnitudes (``magnitudes``, ``--autoaugment_magnitudes``, :data:`MAGNITUDES`)
--------------------------------------------------------------------------
* ``relative`` (default): TranslateX/Y move by ``floor(level/10 * 150/331 * side)`` pixels
  (width for X, height for Y; torchvision's maximum) and Cutout's pad (half side) is
  ``floor(level/10 * 100/224 * min(H, W))`` (the original's 100 px at its 224 px), so every
  op leaves part of the image at any size.
* ``original``: the TF original's absolute 250 px / 100 px, pixel for pixel as before the
  setting existed (tests/fixtures/autoaugment_original.json).  A level-9 Translate moves a
  224-px image by 225 px and leaves only the fill; on 32-px images every Translate of level
  >= 2 does.  Outputs wholly equal to the fill, 400 seeds per row on random-content images
  (``python bench/bench_autoaugment_blank.py``, results/autoaugment_blank.json): ``cifar``
  16.2 % at 32 px, 12.8 % at 224 px; ``good`` 11.8 % at 64 px, 8.8 % at 224 px; ``svhn``
  9.8 % at 32 px; ``v0`` 3.0 %; ``imagenet`` 0 (no Translate, no Cutout); ``relative``: 0
  for every policy and size.  Kept for exact reproduction of the original's pixels.
The other ops' magnitudes do not depend on the image and are the same in both.

All draws use ``tf.random.stateless_*`` with a seed derived from ``seed`` (an
int or an int [2]).  Ops are dispatched by :func:`augment_ops.apply_op`
(``tf.switch_case``); a non-applied op dispatches to Identity.
"""

import functools
from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from preprocessing import augment_ops as A
from preprocessing.common import Seed
from preprocessing.common import as_int32_seed as _seed

NUM_OPS_PER_SUB_POLICY = 2
MAGNITUDES = ("relative", "original")
DEFAULT_MAGNITUDES = "relative"
# Which side a "relative" magnitude scales with (0 = none: the level alone sets the arg).
_SIDE_NONE, _SIDE_WIDTH, _SIDE_HEIGHT, _SIDE_SHORTER = 0, 1, 2, 3
_RELATIVE = {"TranslateX": (A.TRANSLATE_REL, _SIDE_WIDTH),
             "TranslateY": (A.TRANSLATE_REL, _SIDE_HEIGHT),
             "Cutout": (A.CUTOUT_REL, _SIDE_SHORTER)}

# --------------------------------------------------------------- policy data
# Each sub-policy: two (op name, probability, level) triples, applied in order.
_IMAGENET = [
    [("Posterize", 0.4, 8), ("Rotate", 0.6, 9)],
    [("Solarize", 0.6, 5), ("AutoContrast", 0.6, 5)],
    [("Equalize", 0.8, 8), ("Equalize", 0.6, 3)],
    [("Posterize", 0.6, 7), ("Posterize", 0.6, 6)],
    [("Equalize", 0.4, 7), ("Solarize", 0.2, 4)],
    [("Equalize", 0.4, 4), ("Rotate", 0.8, 8)],
    [("Solarize", 0.6, 3), ("Equalize", 0.6, 7)],
    [("Posterize", 0.8, 5), ("Equalize", 1.0, 2)],
    [("Rotate", 0.2, 3), ("Solarize", 0.6, 8)],
    [("Equalize", 0.6, 8), ("Posterize", 0.4, 6)],
    [("Rotate", 0.8, 8), ("Color", 0.4, 0)],
    [("Rotate", 0.4, 9), ("Equalize", 0.6, 2)],
    [("Equalize", 0.0, 7), ("Equalize", 0.8, 8)],
    [("Invert", 0.6, 4), ("Equalize", 1.0, 8)],
    [("Color", 0.6, 4), ("Contrast", 1.0, 8)],
    [("Rotate", 0.8, 8), ("Color", 1.0, 2)],
    [("Color", 0.8, 8), ("Solarize", 0.8, 7)],
    [("Sharpness", 0.4, 7), ("Invert", 0.6, 8)],
    [("ShearX", 0.6, 5), ("Equalize", 1.0, 9)],
    [("Color", 0.4, 0), ("Equalize", 0.6, 3)],
    [("Equalize", 0.4, 7), ("Solarize", 0.2, 4)],
    [("Solarize", 0.6, 5), ("AutoContrast", 0.6, 5)],
    [("Invert", 0.6, 4), ("Equalize", 1.0, 8)],
    [("Color", 0.6, 4), ("Contrast", 1.0, 8)],
    [("Equalize", 0.8, 8), ("Equalize", 0.6, 3)],
]

_V0 = [
    [("Equalize", 0.8, 1), ("ShearY", 0.8, 4)],
    [("Color", 0.4, 9), ("Equalize", 0.6, 3)],
    [("Color", 0.4, 1), ("Rotate", 0.6, 8)],
    [("Solarize", 0.8, 3), ("Equalize", 0.4, 7)],
    [("Solarize", 0.4, 2), ("Solarize", 0.6, 2)],
    [("Color", 0.2, 0), ("Equalize", 0.8, 8)],
    [("Equalize", 0.4, 8), ("SolarizeAdd", 0.8, 3)],
    [("ShearX", 0.2, 9), ("Rotate", 0.6, 8)],
    [("Color", 0.6, 1), ("Equalize", 1.0, 2)],
    [("Invert", 0.4, 9), ("Rotate", 0.6, 0)],
    [("Equalize", 1.0, 9), ("ShearY", 0.6, 3)],
    [("Color", 0.4, 7), ("Equalize", 0.6, 0)],
    [("Posterize", 0.4, 6), ("AutoContrast", 0.4, 7)],
    [("Solarize", 0.6, 8), ("Color", 0.6, 9)],
    [("Solarize", 0.2, 4), ("Rotate", 0.8, 9)],
    [("Rotate", 1.0, 7), ("TranslateY", 0.8, 9)],
    [("ShearX", 0.0, 0), ("Solarize", 0.8, 4)],
    [("ShearY", 0.8, 0), ("Color", 0.6, 4)],
    [("Color", 1.0, 0), ("Rotate", 0.6, 2)],
    [("Equalize", 0.8, 4), ("Equalize", 0.0, 8)],
    [("Equalize", 1.0, 4), ("AutoContrast", 0.6, 2)],
    [("ShearY", 0.4, 7), ("SolarizeAdd", 0.6, 7)],
    [("Posterize", 0.8, 2), ("Solarize", 0.6, 10)],
    [("Solarize", 0.6, 8), ("Equalize", 0.6, 1)],
    [("Color", 0.8, 6), ("Rotate", 0.4, 5)],
]

_CIFAR = [
    [("Invert", 0.1, 7), ("Contrast", 0.2, 6)],
    [("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)],
    [("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)],
    [("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)],
    [("AutoContrast", 0.5, 8), ("Equalize", 0.9, 2)],
    [("ShearY", 0.2, 7), ("Posterize", 0.3, 7)],
    [("Color", 0.4, 3), ("Brightness", 0.6, 7)],
    [("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)],
    [("Equalize", 0.6, 5), ("Equalize", 0.5, 1)],
    [("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)],
    [("Color", 0.7, 7), ("TranslateX", 0.5, 8)],
    [("Equalize", 0.3, 7), ("AutoContrast", 0.4, 8)],
    [("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)],
    [("Brightness", 0.9, 6), ("Color", 0.2, 8)],
    [("Solarize", 0.5, 2), ("Invert", 0.0, 3)],
    [("Equalize", 0.2, 0), ("AutoContrast", 0.6, 0)],
    [("Equalize", 0.2, 8), ("Equalize", 0.8, 4)],
    [("Color", 0.9, 9), ("Equalize", 0.6, 6)],
    [("AutoContrast", 0.8, 4), ("Solarize", 0.2, 8)],
    [("Brightness", 0.1, 3), ("Color", 0.7, 0)],
    [("Solarize", 0.4, 5), ("AutoContrast", 0.9, 3)],
    [("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)],
    [("AutoContrast", 0.9, 2), ("Solarize", 0.8, 3)],
    [("Equalize", 0.8, 8), ("Invert", 0.1, 3)],
    [("TranslateY", 0.7, 9), ("AutoContrast", 0.9, 1)],
]

_SVHN = [
    [("ShearX", 0.9, 4), ("Invert", 0.2, 3)],
    [("ShearY", 0.9, 8), ("Invert", 0.7, 5)],
    [("Equalize", 0.6, 5), ("Solarize", 0.6, 6)],
    [("Invert", 0.9, 3), ("Equalize", 0.6, 3)],
    [("Equalize", 0.6, 1), ("Rotate", 0.9, 3)],
    [("ShearX", 0.9, 4), ("AutoContrast", 0.8, 3)],
    [("ShearY", 0.9, 8), ("Invert", 0.4, 5)],
    [("ShearY", 0.9, 5), ("Solarize", 0.2, 6)],
    [("Invert", 0.9, 6), ("AutoContrast", 0.8, 1)],
    [("Equalize", 0.6, 3), ("Rotate", 0.9, 3)],
    [("ShearX", 0.9, 4), ("Solarize", 0.3, 3)],
    [("ShearY", 0.8, 8), ("Invert", 0.7, 4)],
    [("Equalize", 0.9, 5), ("TranslateY", 0.6, 6)],
    [("Invert", 0.9, 4), ("Equalize", 0.6, 7)],
    [("Contrast", 0.3, 3), ("Rotate", 0.8, 4)],  # original: 'contrast' (typo)
    [("Invert", 0.8, 5), ("TranslateY", 0.0, 2)],
    [("ShearY", 0.7, 6), ("Solarize", 0.4, 8)],
    [("Invert", 0.6, 4), ("Rotate", 0.8, 4)],
    [("ShearY", 0.3, 7), ("TranslateX", 0.9, 3)],
    [("ShearX", 0.1, 6), ("Invert", 0.6, 5)],
    [("Solarize", 0.7, 2), ("TranslateY", 0.6, 7)],
    [("ShearY", 0.8, 4), ("Invert", 0.8, 8)],
    [("ShearX", 0.7, 9), ("TranslateY", 0.8, 3)],
    [("ShearY", 0.8, 5), ("AutoContrast", 0.7, 3)],
    [("ShearX", 0.7, 2), ("Invert", 0.1, 5)],
]

# "good": CIFAR search experiments exp0_0..exp0_3, exp1_0..exp1_6, exp2_0..exp2_7
# (5 sub-policies each: 20 + 35 + 40 = 95), in the original's order.
_GOOD = [
    # exp0_0
    [("Invert", 0.1, 7), ("Contrast", 0.2, 6)],
    [("Rotate", 0.7, 2), ("TranslateX", 0.3, 9)],
    [("Sharpness", 0.8, 1), ("Sharpness", 0.9, 3)],
    [("ShearY", 0.5, 8), ("TranslateY", 0.7, 9)],
    [("AutoContrast", 0.5, 8), ("Equalize", 0.9, 2)],
    # exp0_1
    [("Solarize", 0.4, 5), ("AutoContrast", 0.9, 3)],
    [("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9)],
    [("AutoContrast", 0.9, 2), ("Solarize", 0.8, 3)],
    [("Equalize", 0.8, 8), ("Invert", 0.1, 3)],
    [("TranslateY", 0.7, 9), ("AutoContrast", 0.9, 1)],
    # exp0_2
    [("Solarize", 0.4, 5), ("AutoContrast", 0.0, 2)],
    [("TranslateY", 0.7, 9), ("TranslateY", 0.7, 9)],
    [("AutoContrast", 0.9, 0), ("Solarize", 0.4, 3)],
    [("Equalize", 0.7, 5), ("Invert", 0.1, 3)],
    [("TranslateY", 0.7, 9), ("TranslateY", 0.7, 9)],
    # exp0_3
    [("Solarize", 0.4, 5), ("AutoContrast", 0.9, 1)],
    [("TranslateY", 0.8, 9), ("TranslateY", 0.9, 9)],
    [("AutoContrast", 0.8, 0), ("TranslateY", 0.7, 9)],
    [("TranslateY", 0.2, 7), ("Color", 0.9, 6)],
    [("Equalize", 0.7, 6), ("Color", 0.4, 9)],
    # exp1_0
    [("ShearY", 0.2, 7), ("Posterize", 0.3, 7)],
    [("Color", 0.4, 3), ("Brightness", 0.6, 7)],
    [("Sharpness", 0.3, 9), ("Brightness", 0.7, 9)],
    [("Equalize", 0.6, 5), ("Equalize", 0.5, 1)],
    [("Contrast", 0.6, 7), ("Sharpness", 0.6, 5)],
    # exp1_1
    [("Brightness", 0.3, 7), ("AutoContrast", 0.5, 8)],
    [("AutoContrast", 0.9, 4), ("AutoContrast", 0.5, 6)],
    [("Solarize", 0.3, 5), ("Equalize", 0.6, 5)],
    [("TranslateY", 0.2, 4), ("Sharpness", 0.3, 3)],
    [("Brightness", 0.0, 8), ("Color", 0.8, 8)],
    # exp1_2
    [("Solarize", 0.2, 6), ("Color", 0.8, 6)],
    [("Solarize", 0.2, 6), ("AutoContrast", 0.8, 1)],
    [("Solarize", 0.4, 1), ("Equalize", 0.6, 5)],
    [("Brightness", 0.0, 0), ("Solarize", 0.5, 2)],
    [("AutoContrast", 0.9, 5), ("Brightness", 0.5, 3)],
    # exp1_3
    [("Contrast", 0.7, 5), ("Brightness", 0.0, 2)],
    [("Solarize", 0.2, 8), ("Solarize", 0.1, 5)],
    [("Contrast", 0.5, 1), ("TranslateY", 0.2, 9)],
    [("AutoContrast", 0.6, 5), ("TranslateY", 0.0, 9)],
    [("AutoContrast", 0.9, 4), ("Equalize", 0.8, 4)],
    # exp1_4
    [("Brightness", 0.0, 7), ("Equalize", 0.4, 7)],
    [("Solarize", 0.2, 5), ("Equalize", 0.7, 5)],
    [("Equalize", 0.6, 8), ("Color", 0.6, 2)],
    [("Color", 0.3, 7), ("Color", 0.2, 4)],
    [("AutoContrast", 0.5, 2), ("Solarize", 0.7, 2)],
    # exp1_5
    [("AutoContrast", 0.2, 0), ("Equalize", 0.1, 0)],
    [("ShearY", 0.6, 5), ("Equalize", 0.6, 5)],
    [("Brightness", 0.9, 3), ("AutoContrast", 0.4, 1)],
    [("Equalize", 0.8, 8), ("Equalize", 0.7, 7)],
    [("Equalize", 0.7, 7), ("Solarize", 0.5, 0)],
    # exp1_6
    [("Equalize", 0.8, 4), ("TranslateY", 0.8, 9)],
    [("TranslateY", 0.8, 9), ("TranslateY", 0.6, 9)],
    [("TranslateY", 0.9, 0), ("TranslateY", 0.5, 9)],
    [("AutoContrast", 0.5, 3), ("Solarize", 0.3, 4)],
    [("Solarize", 0.5, 3), ("Equalize", 0.4, 4)],
    # exp2_0
    [("Color", 0.7, 7), ("TranslateX", 0.5, 8)],
    [("Equalize", 0.3, 7), ("AutoContrast", 0.4, 8)],
    [("TranslateY", 0.4, 3), ("Sharpness", 0.2, 6)],
    [("Brightness", 0.9, 6), ("Color", 0.2, 8)],
    [("Solarize", 0.5, 2), ("Invert", 0.0, 3)],
    # exp2_1
    [("AutoContrast", 0.1, 5), ("Brightness", 0.0, 0)],
    [("Cutout", 0.2, 4), ("Equalize", 0.1, 1)],
    [("Equalize", 0.7, 7), ("AutoContrast", 0.6, 4)],
    [("Color", 0.1, 8), ("ShearY", 0.2, 3)],
    [("ShearY", 0.4, 2), ("Rotate", 0.7, 0)],
    # exp2_2
    [("ShearY", 0.1, 3), ("AutoContrast", 0.9, 5)],
    [("TranslateY", 0.3, 6), ("Cutout", 0.3, 3)],
    [("Equalize", 0.5, 0), ("Solarize", 0.6, 6)],
    [("AutoContrast", 0.3, 5), ("Rotate", 0.2, 7)],
    [("Equalize", 0.8, 2), ("Invert", 0.4, 0)],
    # exp2_3
    [("Equalize", 0.9, 5), ("Color", 0.7, 0)],
    [("Equalize", 0.1, 1), ("ShearY", 0.1, 3)],
    [("AutoContrast", 0.7, 3), ("Equalize", 0.7, 0)],
    [("Brightness", 0.5, 1), ("Contrast", 0.1, 7)],
    [("Contrast", 0.1, 4), ("Solarize", 0.6, 5)],
    # exp2_4
    [("Solarize", 0.2, 3), ("ShearX", 0.0, 0)],
    [("TranslateX", 0.3, 0), ("TranslateX", 0.6, 0)],
    [("Equalize", 0.5, 9), ("TranslateY", 0.6, 7)],
    [("ShearX", 0.1, 0), ("Sharpness", 0.5, 1)],
    [("Equalize", 0.8, 6), ("Invert", 0.3, 6)],
    # exp2_5
    [("AutoContrast", 0.3, 9), ("Cutout", 0.5, 3)],
    [("ShearX", 0.4, 4), ("AutoContrast", 0.9, 2)],
    [("ShearX", 0.0, 3), ("Posterize", 0.0, 3)],
    [("Solarize", 0.4, 3), ("Color", 0.2, 4)],
    [("Equalize", 0.1, 4), ("Equalize", 0.7, 6)],
    # exp2_6
    [("Equalize", 0.3, 8), ("AutoContrast", 0.4, 3)],
    [("Solarize", 0.6, 4), ("AutoContrast", 0.7, 6)],
    [("AutoContrast", 0.2, 9), ("Brightness", 0.4, 8)],
    [("Equalize", 0.1, 0), ("Equalize", 0.0, 6)],
    [("Equalize", 0.8, 4), ("Equalize", 0.0, 4)],
    # exp2_7
    [("Equalize", 0.5, 5), ("AutoContrast", 0.1, 2)],
    [("Solarize", 0.5, 5), ("AutoContrast", 0.9, 5)],
    [("AutoContrast", 0.6, 1), ("AutoContrast", 0.7, 8)],
    [("Equalize", 0.2, 0), ("AutoContrast", 0.1, 2)],
    [("Equalize", 0.6, 9), ("Equalize", 0.4, 4)],
]

POLICIES = {
    "imagenet": _IMAGENET,
    "v0": _V0,
    "good": _GOOD,
    "cifar": _CIFAR,
    "svhn": _SVHN,
}

_IDENTITY_INDEX = A.OP_NAMES.index("Identity")


# ---------------------------------------------------------------- helpers
def _check_policy(policy_name):
    if not isinstance(policy_name, str) or policy_name not in POLICIES:
        raise ValueError(f"unknown autoaugment_type {policy_name!r}; "
                         f"expected one of {', '.join(sorted(POLICIES))}")
    return POLICIES[policy_name]




def check_magnitudes(magnitudes: str) -> str:
    """ValueError naming the allowed values unless `magnitudes` is one of MAGNITUDES."""
    if magnitudes not in MAGNITUDES:
        raise ValueError(f"unknown autoaugment_magnitudes {magnitudes!r}; expected one of "
                         f"{', '.join(MAGNITUDES)}")
    return magnitudes


@functools.lru_cache(maxsize=None)
def _tables(policy_name, magnitudes=DEFAULT_MAGNITUDES):
    """numpy tables [N, 2] for a policy: op index, prob, level, +arg, signed, side.

    ``side`` != 0 marks a relative magnitude: ``arg`` is then the fraction of that side
    (width, height, shorter) the op moves / pads by, floored to pixels at apply time."""
    policy = _check_policy(policy_name)
    check_magnitudes(magnitudes)
    op_idx = np.array([[A.OP_NAMES.index(n) for n, _, _ in sp] for sp in policy],
                      np.int32)
    prob = np.array([[p for _, p, _ in sp] for sp in policy], np.float32)
    level = np.array([[lv for _, _, lv in sp] for sp in policy], np.float32)
    pos = np.zeros(op_idx.shape, np.float64)
    signed = np.zeros(op_idx.shape, bool)
    side = np.zeros(op_idx.shape, np.int32)
    with tf.init_scope():  # eager even when first called inside a trace
        for i, sp in enumerate(policy):
            for k, (name, _, lv) in enumerate(sp):
                plus = float(A.level_to_arg(name, float(lv), 1.0).numpy())
                minus = float(A.level_to_arg(name, float(lv), -1.0).numpy())
                pos[i, k] = plus
                signed[i, k] = plus != minus
                if magnitudes == "relative" and name in _RELATIVE:
                    frac, side[i, k] = _RELATIVE[name]
                    pos[i, k] = lv / A.MAX_LEVEL * frac
    return {"op_index": op_idx, "prob": prob, "level": level,
            "arg": pos, "signed": signed, "side": side}


def policy_tables(policy_name: str, magnitudes: str = DEFAULT_MAGNITUDES
                  ) -> dict[str, np.ndarray]:
    """Public copy of the per-policy tables (numpy, shape [N, 2] each)."""
    return {k: v.copy() for k, v in _tables(policy_name, magnitudes).items()}


def _scale_to_image(arg, side, shape):
    """float64 args [2] -> float32: relative ones (side != 0) as whole pixels of that side
    of the image, the others as they are (exactly: they were float32 values)."""
    h, w = tf.cast(shape[0], tf.float64), tf.cast(shape[1], tf.float64)
    sides = tf.stack([tf.constant(1.0, tf.float64), w, h, tf.minimum(h, w)])
    # float64, with the fraction computed in float64 from the level: the floor is the
    # exact pixel count where float32 could round a product like 0.9 * 150/331 * 331.
    pixels = tf.floor(arg * tf.gather(sides, side))
    return tf.cast(tf.where(side > 0, pixels, arg), tf.float32)


# ---------------------------------------------------------------- sampling
def sample_params(policy_name: str, seed: Seed | int) -> dict[str, tf.Tensor]:
    """Draws AutoAugment parameters for one image with a stateless RNG.

    Returns ``sub_policy`` int32 [], ``applied`` bool [2], ``signs`` float32
    [2] (+-1), ``centers`` float32 [2, 2] ((row, col) fractions in [0, 1)).
    """
    t = _tables(policy_name)
    n = t["op_index"].shape[0]
    s_sub, s_app, s_sign, s_ctr = tf.unstack(
        tf.random.experimental.stateless_split(_seed(seed), 4))
    sub = tf.random.stateless_uniform([], s_sub, minval=0, maxval=n, dtype=tf.int32)
    prob = tf.gather(tf.constant(t["prob"]), sub)
    u = tf.random.stateless_uniform([NUM_OPS_PER_SUB_POLICY], s_app)
    coin = tf.random.stateless_uniform([NUM_OPS_PER_SUB_POLICY], s_sign, 0, 2,
                                       dtype=tf.int32)
    return {
        "sub_policy": sub,
        "applied": u < prob,
        "signs": tf.cast(2 * coin - 1, tf.float32),
        "centers": tf.random.stateless_uniform([NUM_OPS_PER_SUB_POLICY, 2], s_ctr),
    }


# ---------------------------------------------------------------- applying
def apply(image: A.Image, policy_name: str, params: Mapping[str, tf.Tensor],
          magnitudes: str = DEFAULT_MAGNITUDES) -> tf.Tensor:
    """Applies stored AutoAugment ``params`` to a uint8 [H, W, 3] image.

    Deterministic; graph-safe (H, W may be unknown).  Returns uint8 with the
    input's shape.  ``magnitudes``: :data:`MAGNITUDES` (module doc).
    """
    t = _tables(policy_name, magnitudes)
    image = A.as_uint8_image(image, "AutoAugment")
    sub = tf.cast(params["sub_policy"], tf.int32)
    applied = tf.cast(params["applied"], tf.bool)
    signs = tf.cast(params["signs"], tf.float32)
    centers = tf.cast(params["centers"], tf.float32)

    op_idx = tf.gather(tf.constant(t["op_index"]), sub)      # [2]
    signed = tf.gather(tf.constant(t["signed"]), sub)        # [2]
    shape = tf.shape(image)
    arg_pos = _scale_to_image(tf.gather(tf.constant(t["arg"]), sub),
                              tf.gather(tf.constant(t["side"]), sub), shape)  # [2]
    args = tf.where(signed, arg_pos * signs, arg_pos)
    op_idx = tf.where(applied, op_idx, _IDENTITY_INDEX)

    hw = tf.cast(tf.stack([shape[0], shape[1]]), tf.float32)
    pix = tf.cast(tf.floor(centers * hw[tf.newaxis]), tf.int32)  # [2, 2]
    for k in range(NUM_OPS_PER_SUB_POLICY):
        image = A.apply_op(image, op_idx[k], args[k], pix[k])
    return image


def augment(image: A.Image, policy_name: str, seed: Seed | int,
            magnitudes: str = DEFAULT_MAGNITUDES) -> tf.Tensor:
    """``apply(image, policy_name, sample_params(policy_name, seed), magnitudes)``."""
    return apply(image, policy_name, sample_params(policy_name, seed), magnitudes)

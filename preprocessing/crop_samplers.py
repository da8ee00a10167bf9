"""Random-resized-crop samplers: where a training crop lies in the image (its window).

Two samplers, chosen by ``--crop_sampler`` (core/settings.py):

* ``inception`` -- TF's ``stateless_sample_distorted_bounding_box`` over the whole-image box,
  the op of the original assembled-cnn (Szegedy et al. 2015's crop as the TF Slim / official
  ResNet pipelines draw it). The op draws the crop *height* uniformly in the range the area
  bounds allow and derives the width from a uniform aspect ratio, so the area is ~ h^2, not
  uniform; it rejects crops smaller than ``min_object_covered`` of the image, and after
  ``max_attempts`` failures returns the whole image. Measured against torchvision's
  ``RandomResizedCrop.get_params`` on a 375 x 500 image, 20k draws each
  (tests/test_crop_samplers.py), two-sample KS statistics of area fraction / aspect ratio /
  y / x (the critical value there is 0.0197):
  - the imagenet* train crop (area (0.05, 1), min_object_covered 0.1, ratio (0.75, 1.33),
    100 attempts) vs torchvision's defaults (scale (0.08, 1), ratio (3/4, 4/3)): area mean
    0.385 vs 0.435, KS 0.109 / 0.013 / 0.067 / 0.053;
  - multi-crop global crops (scale (0.25, 1), min_object_covered 0, 10 attempts): area mean
    0.489 vs 0.521, KS 0.085 / 0.041 / 0.043 / 0.033;
  - multi-crop local crops (scale (0.05, 0.25)): area mean 0.137 vs 0.150, KS 0.102 /
    0.075 / 0.027 / 0.016.
  Kept as the original recipes' sampler and for every run directory and side-car written
  before the setting existed.
* ``torchvision`` -- ``torchvision.transforms.RandomResizedCrop.get_params`` (torchvision
  0.29): up to ``max_attempts`` (10) tries of an area fraction uniform in ``scale`` and an
  aspect ratio log-uniform in ``ratio``, ``w = round(sqrt(A * r))``, ``h = round(sqrt(A /
  r))`` (round half to even, as Python's ``round``), accepted when ``0 < w <= W`` and ``0 <
  h <= H``, offsets uniform integers in ``[0, H - h]`` x ``[0, W - w]``; when all tries fail,
  the centre crop with the image's aspect ratio clamped to ``ratio`` (the whole image when it
  is inside). Same distribution, not the same draws: the uniforms come from TF's stateless
  RNG (float64; torchvision draws float32), all tries at once (vectorised, no loop), and
  the offsets from their own sub-seeds. Measured as above: area mean 0.435 / 0.523 / 0.150
  (torchvision 0.435 / 0.521 / 0.150), every KS statistic <= 0.018 (critical 0.0197); the
  centre-crop fallback equals torchvision's window exactly.

Both are stateless (same seed -> same window), graph-safe with dynamic image sizes, and
return int32 [4] = (y, x, h, w), the window ``common.apply_crop`` and the fused
``common.decode_and_crop`` take.
"""

import math
from collections.abc import Sequence

import tensorflow as tf

from preprocessing import common

#: An image shape [H, W, ...] (only H and W are read): a tensor or a sequence.
ImageShape = tf.Tensor | Sequence[int]

INCEPTION = "inception"
TORCHVISION = "torchvision"
SAMPLERS = (INCEPTION, TORCHVISION)
# What run directories and reinforcement side-cars written before --crop_sampler existed
# used; they must keep it whatever the default becomes (core/settings.LEGACY_VALUES).
LEGACY = INCEPTION
TORCHVISION_SCALE = (0.08, 1.0)  # RandomResizedCrop's defaults
TORCHVISION_RATIO = (3 / 4, 4 / 3)
TORCHVISION_ATTEMPTS = 10
_WHOLE_IMAGE_BOX = (((0.0, 0.0, 1.0, 1.0),),)


def check_sampler(name: str) -> str:
    """Returns ``name`` if it is one of SAMPLERS; ValueError naming it otherwise."""
    if not isinstance(name, str) or name not in SAMPLERS:
        raise ValueError(f"crop sampler {name!r} is not one of "
                         f"{', '.join(repr(s) for s in SAMPLERS)}")
    return name


def _hw(image_shape):
    return tf.cast(tf.convert_to_tensor(image_shape)[:2], tf.int32)


def inception_window(seed: common.Seed, image_shape: ImageShape, scale: tuple[float, float],
                     ratio: tuple[float, float], max_attempts: int,
                     min_object_covered: float) -> tf.Tensor:
    """int32 [4] (y, x, h, w) from ``tf.image.stateless_sample_distorted_bounding_box`` of
    the whole image (area fraction in ``scale``, aspect ratio w/h in ``ratio``)."""
    hw = _hw(image_shape)
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        image_size=tf.concat([hw, [3]], axis=0),
        bounding_boxes=tf.constant(_WHOLE_IMAGE_BOX, tf.float32),
        seed=common.as_seed(seed), min_object_covered=min_object_covered,
        aspect_ratio_range=ratio, area_range=scale, max_attempts=max_attempts,
        use_image_if_no_bounding_boxes=True)
    return tf.cast(tf.stack([begin[0], begin[1], size[0], size[1]]), tf.int32)


def _round(x):
    # tf.round rounds half to even, like Python's round() in torchvision.
    return tf.cast(tf.round(x), tf.int32)


def centre_fallback(image_shape: ImageShape,
                    ratio: tuple[float, float] = TORCHVISION_RATIO) -> tf.Tensor:
    """torchvision's fallback window: the centre crop whose aspect ratio is the image's
    clamped to ``ratio`` (the whole image when it is inside)."""
    hw = _hw(image_shape)
    height, width = hw[0], hw[1]
    in_ratio = tf.cast(width, tf.float64) / tf.cast(height, tf.float64)
    lo, hi = min(ratio), max(ratio)
    w = tf.where(in_ratio > hi, _round(tf.cast(height, tf.float64) * hi), width)
    h = tf.where(in_ratio < lo, _round(tf.cast(width, tf.float64) / lo), height)
    return tf.stack([(height - h) // 2, (width - w) // 2, h, w])


def torchvision_window(seed: common.Seed, image_shape: ImageShape,
                       scale: tuple[float, float] = TORCHVISION_SCALE,
                       ratio: tuple[float, float] = TORCHVISION_RATIO,
                       max_attempts: int = TORCHVISION_ATTEMPTS) -> tf.Tensor:
    """int32 [4] (y, x, h, w): ``RandomResizedCrop.get_params`` (module docstring)."""
    hw = _hw(image_shape)
    height, width = hw[0], hw[1]
    area_seed, ratio_seed, y_seed, x_seed = tf.unstack(common.split_seed(seed, 4))
    area = tf.cast(height, tf.float64) * tf.cast(width, tf.float64)
    target = area * tf.random.stateless_uniform([max_attempts], area_seed, scale[0], scale[1],
                                                tf.float64)
    log_r = tf.random.stateless_uniform([max_attempts], ratio_seed, math.log(ratio[0]),
                                        math.log(ratio[1]), tf.float64)
    r = tf.exp(log_r)
    ws, hs = _round(tf.sqrt(target * r)), _round(tf.sqrt(target / r))
    fits = (ws > 0) & (ws <= width) & (hs > 0) & (hs <= height)
    # The first try that fits (torchvision stops there); max_attempts when none does.
    first = tf.reduce_min(tf.where(fits, tf.range(max_attempts), max_attempts))
    found = first < max_attempts
    pick = tf.minimum(first, max_attempts - 1)
    h, w = hs[pick], ws[pick]
    y = tf.random.stateless_uniform([], y_seed, 0, tf.maximum(height - h + 1, 1), tf.int32)
    x = tf.random.stateless_uniform([], x_seed, 0, tf.maximum(width - w + 1, 1), tf.int32)
    return tf.where(found, tf.stack([y, x, h, w]), centre_fallback(hw, ratio))

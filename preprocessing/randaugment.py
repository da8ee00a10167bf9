"""RandAugment (Cubuk et al., 2020) as a parametric, replayable TF transform.

Split into a sampler and a deterministic applier so that dataset-reinforcement
generation and replay run exactly the same code::

    params = sample_params(seed, num_ops=2, magnitude=9)      # stateless RNG
    out = apply(image_uint8, params)                           # deterministic
    out == augment(image_uint8, seed, num_ops=2, magnitude=9)  # same pixels

Sampling (per image)
--------------------
* ``num_ops`` op indices drawn uniformly **with replacement** from ``names``
  (default :data:`preprocessing.augment_ops.RANDAUGMENT_NAMES`, the 14 ops of
  torchvision / ml-dr, in that order, so stored indices match DR's).
* A per-op magnitude ``M' = clip(M + N(0, magnitude_std), 0, 10)``; with
  ``magnitude_std == 0`` every op gets exactly ``M``.
* A per-op sign in {-1, +1} (fair coin); only the signed ops use it.
* If ``"Cutout"`` is in ``names``: a per-op centre as fractions in [0, 1) of
  (H, W) (image-size independent), turned into pixels at apply time.

Magnitude scale -- the decision
-------------------------------
Our ``magnitude`` M is always a float in [0, 10].  ``scale`` picks how M maps to
each op's argument (``apply``/``augment`` take it; params do not depend on it):

* ``scale="torchvision"`` (**default; what ml-dr uses**).  DR runs torchvision
  ``RandAugment(num_ops=2, magnitude=9, num_magnitude_bins=31)``, where the
  magnitude is a *bin index* into ``linspace(0, max, 31)``.  We take M to be
  that bin index on the same 0..30 grid, continuously, with torch's float32
  ``linspace`` arithmetic for bins below 15: ``value = float32(max / 30) * M``
  (bit-equal to torchvision's value at every integer M in 0..10).  So ``M=9``
  reproduces DR's arguments exactly, and M in [0, 10] covers bins 0..10 (one
  third of torchvision's range, as in DR).  Per op (s = random sign,
  ``lin(max) = float32(max / 30) * M``):

  - ShearX/ShearY: shear factor ``s * lin(0.3)``
  - TranslateX/Y: ``trunc(s * lin(150/331 * W))`` px (H for Y)
  - Rotate: ``s * lin(30)`` degrees
  - Brightness/Color/Contrast/Sharpness: factor ``float32(1.0 + s * lin(0.9))``
    (the sum in double precision, as torchvision's ``1.0 + magnitude``)
  - Posterize: bits kept ``8 - round(M / 7.5)`` (half-to-even, as torch)
  - Solarize: threshold ``255 - 8.5 * M`` (pixels >= threshold inverted)
  - Identity/AutoContrast/Equalize: no argument.
  - Ops torchvision lacks (Invert, SolarizeAdd, Cutout, if added to ``names``):
    ``level_to_arg(name, M / 3, s)``, i.e. the same fraction of the
    AutoAugment maximum.

* ``scale="autoaugment"``: ``level_to_arg(name, M, sign)`` -- the AutoAugment /
  TF-TPU RandAugment constants with M as the 0..10 level (rotate 30 deg,
  translate 250 px, enhance ``M/10*1.8+0.1`` unsigned, ...).

Geometry and fill (``apply``/``augment`` take them; params do not depend on them)
---------------------------------------------------------------------------------
* ``geometry="pil"`` (default): the geometric ops are torchvision's on a PIL image,
  pixel for pixel (:mod:`preprocessing.pil_geometry`: shear about the image corner
  in PIL's pixel-centre coordinates, Pillow's fixed-point NEAREST sampling).  With
  ``fill=0`` every one of the 14 ops equals torchvision 0.29.1's
  ``RandAugment._apply_op`` on a PIL image exactly
  (tests/test_randaugment_torchvision.py).
* ``geometry="tf"``: the op library's original TF ops (index coordinates, float32
  ``ImageProjectiveTransformV3``), what this module did before ``--randaugment_fill``
  existed; kept to replay side-cars written then.  At M=9 it differs from ``"pil"``
  in 3.5 % (ShearX/Y: half a pixel's shift of the shear origin), 0.05 % (Rotate:
  Pillow's fixed-point rounding) and 0 % (TranslateX/Y) of a 224-px photo's pixels
  (19 Imagenette photos, tests/randaugment_figures.py).
* ``fill`` (0..255, all channels; ``--randaugment_fill``): the value of the pixels a
  geometric op uncovers.  0 (:data:`DEFAULT_FILL`) is torchvision's and ml-dr's;
  128 the original TF AutoAugment's, which this module used before the setting
  existed.  At M=9, 0 vs 128 changes 13.4 % of a 224-px photo's values for
  TranslateX/Y, 6.7 % for Rotate and 4.5 % for ShearX/Y (tests/randaugment_figures.py).
* ml-dr's generation applies RandAugment to uint8 *tensors* (after collate), not PIL
  images; torchvision's tensor path differs from the PIL path we follow in Color and
  Contrast (~35 % of pixels by 1 level), Sharpness (2 %), AutoContrast (0.5 %) and
  Rotate (0.05 %), identical in the other ops (M=9, 224-px photos).

Ops torchvision's scale shares with it are exact; magnitudes between bins (a
``magnitude_std``) and the extra ops have no torchvision counterpart.
"""

import math
from collections.abc import Mapping, Sequence

import tensorflow as tf

from preprocessing import augment_ops as A
from preprocessing.common import Seed
from preprocessing.common import as_int32_seed as _seed

MAX_MAGNITUDE = 10.0
TV_BINS = 31  # torchvision num_magnitude_bins used by ml-dr
SCALES = ("torchvision", "autoaugment")
DEFAULT_FILL = 0  # torchvision's / ml-dr's; --randaugment_fill (core/settings.py)
LEGACY_FILL = 128  # what RandAugment filled with before --randaugment_fill existed

_TV_SIGNED_MAX = {"ShearX": 0.3, "ShearY": 0.3, "Rotate": 30.0}
_TV_ENHANCE = ("Brightness", "Color", "Contrast", "Sharpness")
_TV_NO_ARG = ("Identity", "AutoContrast", "Equalize")


# ---------------------------------------------------------------- helpers


def check_fill(fill: A.Scalar) -> None:
    """ValueError unless ``fill`` is an int in 0..255 (a tensor passes unchecked)."""
    if isinstance(fill, bool) or (isinstance(fill, (int, float)) and
                                  (fill != int(fill) or not 0 <= fill <= 255)):
        raise ValueError(f"fill must be an integer in 0..255, got {fill!r}")
    if not isinstance(fill, (int, float)) and not tf.is_tensor(fill):
        raise ValueError(f"fill must be an integer in 0..255, got {fill!r}")


def _check_static(num_ops, magnitude, magnitude_std):
    if isinstance(num_ops, bool) or not isinstance(num_ops, int) or num_ops < 0:
        raise ValueError(f"num_ops must be an int >= 0, got {num_ops!r}")
    if isinstance(magnitude, (int, float)) and not 0.0 <= magnitude <= MAX_MAGNITUDE:
        raise ValueError(f"magnitude must be in [0, 10], got {magnitude!r}")
    if isinstance(magnitude_std, (int, float)) and magnitude_std < 0:
        raise ValueError(f"magnitude_std must be >= 0, got {magnitude_std!r}")


# ---------------------------------------------------------------- sampling
def sample_params(seed: Seed | int, num_ops: int, magnitude: A.Scalar,
                  magnitude_std: A.Scalar = 0.0,
                  names: Sequence[str] = A.RANDAUGMENT_NAMES) -> dict[str, tf.Tensor]:
    """Draws RandAugment parameters with a stateless RNG.

    Returns a dict of tensors (``N = num_ops``):
      ``op_indices`` int32 [N] (indices into ``names``), ``magnitudes``
      float32 [N] (M' in [0, 10]), ``signs`` float32 [N] (+-1), and, only when
      ``"Cutout"`` is in ``names``, ``centers`` float32 [N, 2] ((row, col)
      fractions in [0, 1)).
    """
    _check_static(num_ops, magnitude, magnitude_std)
    s_op, s_mag, s_sign, s_ctr = tf.unstack(
        tf.random.experimental.stateless_split(_seed(seed), 4))
    op_indices = tf.random.stateless_uniform(
        [num_ops], s_op, minval=0, maxval=len(names), dtype=tf.int32)
    m = tf.cast(magnitude, tf.float32)
    std = tf.cast(magnitude_std, tf.float32)
    noise = tf.random.stateless_normal([num_ops], s_mag, dtype=tf.float32)
    mags = tf.clip_by_value(m + std * noise, 0.0, MAX_MAGNITUDE)
    mags = tf.where(std > 0.0, mags, tf.fill([num_ops], m))  # exact M when std == 0
    coin = tf.random.stateless_uniform([num_ops], s_sign, 0, 2, dtype=tf.int32)
    params = {
        "op_indices": op_indices,
        "magnitudes": mags,
        "signs": tf.cast(2 * coin - 1, tf.float32),
    }
    if "Cutout" in names:
        params["centers"] = tf.random.stateless_uniform([num_ops, 2], s_ctr)
    return params


# ------------------------------------------------------------- magnitudes
def _lin(max_value, magnitude):
    """torch's float32 ``linspace(0, max, 31)[M]`` for M < 15: ``float32(max / 30) * M``."""
    step = tf.cast(max_value, tf.float32) / float(TV_BINS - 1)
    return step * magnitude


def magnitude_to_arg(name: str, magnitude: A.Scalar, sign: A.Scalar, height: tf.Tensor | int,
                     width: tf.Tensor | int, scale: str = "torchvision") -> tf.Tensor:
    """Op argument (float32 scalar) for magnitude M in [0, 10]; see module doc."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    magnitude = tf.cast(magnitude, tf.float32)
    sign = tf.cast(sign, tf.float32)
    if scale == "autoaugment":
        return A.level_to_arg(name, magnitude, sign)
    if name in _TV_SIGNED_MAX:
        return sign * _lin(_TV_SIGNED_MAX[name], magnitude)
    if name in ("TranslateX", "TranslateY"):
        side = tf.cast(width if name == "TranslateX" else height, tf.float64)
        px = sign * _lin(150.0 / 331.0 * side, magnitude)
        return tf.sign(px) * tf.floor(tf.abs(px))  # int(): truncate toward 0
    if name in _TV_ENHANCE:  # torchvision: 1.0 + magnitude in double, float32 in PIL's blend
        delta = tf.cast(sign * _lin(0.9, magnitude), tf.float64)
        return tf.cast(1.0 + delta, tf.float32)
    if name == "Posterize":
        return 8.0 - tf.round(magnitude / 7.5)
    if name == "Solarize":
        return 255.0 - 8.5 * magnitude
    if name in _TV_NO_ARG:
        return tf.zeros([], tf.float32)
    return A.level_to_arg(name, MAX_MAGNITUDE * magnitude / float(TV_BINS - 1), sign)


# ---------------------------------------------------------------- applying
def _apply_one(image, op_index, magnitude, sign, center_frac, names, scale, fill,
               geometry):
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    args = tf.stack([magnitude_to_arg(n, magnitude, sign, h, w, scale)
                     for n in names])
    arg = tf.gather(args, op_index)
    if center_frac is None:
        center = tf.zeros([2], tf.int32)
    else:
        hw = tf.cast(tf.stack([h, w]), tf.float32)
        center = tf.cast(tf.floor(center_frac * hw), tf.int32)
    return A.apply_op(image, op_index, arg, center, names=names, fill=fill,
                      geometry=geometry)


def apply(image: A.Image, params: Mapping[str, tf.Tensor],
          names: Sequence[str] = A.RANDAUGMENT_NAMES, scale: str = "torchvision",
          fill: A.Scalar = DEFAULT_FILL, geometry: str = "pil") -> tf.Tensor:
    """Applies stored RandAugment ``params`` to a uint8 [H, W, 3] image.

    Ops run in order; the output is uint8 with the input's shape.  ``names``,
    ``scale``, ``fill`` and ``geometry`` must match those used at generation time.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    if geometry not in A.GEOMETRIES:
        raise ValueError(f"geometry must be one of {A.GEOMETRIES}, got {geometry!r}")
    check_fill(fill)
    image = A.as_uint8_image(image, "RandAugment")
    idx = tf.cast(params["op_indices"], tf.int32)
    mags = tf.cast(params["magnitudes"], tf.float32)
    signs = tf.cast(params["signs"], tf.float32)
    centers = params.get("centers")
    if centers is not None:
        centers = tf.cast(centers, tf.float32)
    n = idx.shape[0]
    if n is not None:  # static op count: unrolled
        for i in range(n):
            image = _apply_one(image, idx[i], mags[i], signs[i],
                               None if centers is None else centers[i], names, scale, fill,
                               geometry)
        return image

    def body(i, img):
        c = None if centers is None else centers[i]
        out = _apply_one(img, idx[i], mags[i], signs[i], c, names, scale, fill, geometry)
        return i + 1, out

    _, image = tf.while_loop(lambda i, _: i < tf.shape(idx)[0], body,
                             (tf.constant(0), image),
                             shape_invariants=(tf.TensorShape([]), image.shape))
    return image


def augment(image: A.Image, seed: Seed | int, num_ops: int, magnitude: A.Scalar,
            magnitude_std: A.Scalar = 0.0, names: Sequence[str] = A.RANDAUGMENT_NAMES,
            scale: str = "torchvision", fill: A.Scalar = DEFAULT_FILL,
            geometry: str = "pil") -> tf.Tensor:
    """``apply(image, sample_params(seed, ...))`` in one call."""
    params = sample_params(seed, num_ops, magnitude, magnitude_std, names)
    return apply(image, params, names=names, scale=scale, fill=fill, geometry=geometry)


# ------------------------------------------------------------------- flags
def parse_randaugment_flag(text: str) -> tuple[int, float, float]:
    """``"N,M"`` or ``"N,M,std"`` -> (int N >= 0, float M in [0, 10], float std >= 0)."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) not in (2, 3) or any(p == "" for p in parts):
        raise ValueError(f"randaugment flag must be 'N,M' or 'N,M,std', got {text!r}")
    try:
        n = int(parts[0])
    except ValueError:
        raise ValueError(f"randaugment N must be an int >= 0, got {parts[0]!r}") from None
    try:
        m = float(parts[1])
        std = float(parts[2]) if len(parts) == 3 else 0.0
    except ValueError:
        raise ValueError(f"randaugment M and std must be numbers, got {text!r}") from None
    if n < 0:
        raise ValueError(f"randaugment N must be an int >= 0, got {n}")
    if not (math.isfinite(m) and 0.0 <= m <= MAX_MAGNITUDE):
        raise ValueError(f"randaugment M must be in [0, 10], got {parts[1]!r}")
    if not (math.isfinite(std) and std >= 0.0):
        raise ValueError(f"randaugment std must be >= 0, got {parts[2]!r}")
    return n, m, std

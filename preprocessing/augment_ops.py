"""Per-image AutoAugment / RandAugment operations (pure TensorFlow, graph-safe).

Every op maps one uint8 image ``[H, W, 3]`` to a uint8 image of the same
shape.  All ops are deterministic: randomness (which op, its sign, the cutout
centre) is drawn *outside* by a sampler, stored, and passed in, so generation
and replay run exactly the same code.

Signature (identical for every entry of :data:`OPS`)::

    op(image, arg, center=None) -> image

* ``image``: uint8 ``[H, W, 3]``, H and W may be unknown at trace time.
* ``arg``: float32 scalar (tensor or Python number) already in the op's own
  units -- degrees for Rotate, shear factor for ShearX/Y, pixels for
  TranslateX/Y, half side ("pad") in pixels for Cutout, enhancement factor for
  Color/Contrast/Brightness/Sharpness, number of bits *kept* for Posterize,
  threshold for Solarize, addition for SolarizeAdd; ignored by AutoContrast,
  Equalize, Invert and Identity.
* ``center``: int32 ``[2]`` = (row, col) of the cutout square centre; only
  Cutout uses it (and requires it), every other op ignores it.  Keeping the
  argument on every op lets a dispatcher (:func:`apply_op`) call any op with
  the same stored ``(op_index, arg, center)`` triple.

:func:`level_to_arg` converts an AutoAugment level in [0, 10] and a sign in
{-1, +1} to ``arg`` with the original's constants (clovaai/assembled-cnn, TF
AutoAugment): rotate 30 deg, shear 0.3, translate_const 250 px, cutout_const
100 px, enhance ``level/10*1.8 + 0.1``, posterize ``int(level/10*4)``,
solarize ``int(level/10*256)``, solarize-add ``int(level/10*110)``.  (AutoAugment's
default "relative" magnitudes scale translate and cutout with the image instead:
:data:`TRANSLATE_REL`, :data:`CUTOUT_REL`, applied in :mod:`preprocessing.autoaugment`.)

Conventions and decisions
-------------------------
* Geometric ops (Rotate, ShearX/Y, TranslateX/Y) take a keyword ``fill`` (0..255, all
  channels; default :data:`FILL_VALUE` = 128, the original TF AutoAugment's) and come in
  two sampling conventions (:data:`GEOMETRIES`, :func:`apply_op`'s ``geometry``):

  - ``"tf"`` (the functions in :data:`OPS`; AutoAugment): the original TF ops,
    ``tf.raw_ops.ImageProjectiveTransformV3`` on pixel *indices*, NEAREST = round to
    the nearest index, float32 coordinates.  The bullets below describe it.
  - ``"pil"`` (:data:`PIL_GEOMETRIC`; RandAugment): what torchvision's RandAugment does
    to a PIL image, pixel for pixel -- torchvision's affine matrices (shear about the
    image corner ``center=[0, 0]``, rotate about ``(W/2, H/2)``) in PIL's continuous
    coordinates (pixel centres at ``+0.5``), and Pillow's NEAREST affine engine
    (:func:`pil_affine`): its 16.16 fixed-point path for shear/rotate, its scaling
    path for translations.  Pillow's fixed-point rounding changes the sampled pixel
    of 0.05 % of a 224-px photo's pixels at Rotate M=9 against float32 TF arithmetic,
    which is why a ``"tf"`` transform matrix cannot reproduce it
    (tests/randaugment_figures.py).
* Rotate: positive degrees rotate the content **counter-clockwise** (as PIL
  ``Image.rotate`` and the original TF op), about the image centre
  ``((W-1)/2, (H-1)/2)``; a 90 deg rotation of a square image equals
  ``np.rot90(image, k=1)``.
* ShearX/ShearY use the original's transforms about the top-left origin:
  ShearX output ``(x, y)`` samples input ``(x + s*y, y)``; ShearY samples
  ``(x, y + s*x)``.
* TranslateX/Y by ``+p`` moves the content right / down by ``p`` pixels
  (output ``(x, y)`` samples input ``(x - p, y)``); vacated pixels are 128.
* Cutout sets rows ``[cy - pad, cy + pad)`` x cols ``[cx - pad, cx + pad)``,
  clipped to the image, to 128 (side ``2*pad`` as in the original).
* Posterize: ``arg`` = number of most-significant bits KEPT (the original's
  convention ``shift = 8 - bits``), clipped to [0, 8].  0 bits gives an
  all-zero image (as PIL ``ImageOps.posterize(img, 0)``).  Note: the original
  TF op shifted by 8 for bits=0, which TF clamps to a shift of 7, i.e. it kept
  1 bit; we deliberately follow PIL here.  Levels < 2.5 map to 0 bits.
* Solarize: pixels ``>= threshold`` become ``255 - x``; threshold 256 is a
  no-op, threshold 0 inverts everything (PIL semantics).
* SolarizeAdd: pixels ``< 128`` get ``min(x + addition, 255)``.
* Blends (Color, Contrast, Brightness, Sharpness) compute
  ``degenerate + factor * (image - degenerate)`` in float32, clip to [0, 255]
  and truncate (as the original TF ops and PIL's ``Image.blend``).
  Color degenerates to the grayscale image (PIL's fixed-point "L"
  conversion, ~0.299/0.587/0.114); Contrast to the constant rounded mean of that grayscale image
  (PIL ``ImageEnhance.Contrast``); Brightness to black; Sharpness to the image
  smoothed with PIL's ``[[1,1,1],[1,5,1],[1,1,1]]/13`` kernel (rounded), with
  the 1-pixel border left unchanged.
* AutoContrast: per channel, ``lut[v] = int(v*255/(hi-lo) - lo*255/(hi-lo))``
  with lo/hi the channel min/max, identity when ``hi <= lo`` (PIL, cutoff 0).
* Equalize: per channel histogram equalisation exactly as PIL
  ``ImageOps.equalize`` (``step = (N - count of last nonzero bin) // 255``,
  ``lut[i] = (step//2 + cumsum_exclusive[i]) // step``, identity when step
  is 0 or the channel has one value).
"""

import math
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from preprocessing import pil_geometry

#: An op's input image: uint8 [H, W, 3], a tensor or an array.
Image = tf.Tensor | np.ndarray
#: A scalar argument, level, sign or fill value: a tensor or a Python number.
Scalar = tf.Tensor | float
#: Cutout's centre: int32 [2] = (row, col), a tensor or a pair.
Center = tf.Tensor | Sequence[int]

FILL_VALUE = 128
MAX_LEVEL = 10.0

ROTATE_MAX_DEGREES = 30.0
SHEAR_MAX = 0.3
TRANSLATE_CONST = 250.0
CUTOUT_CONST = 100.0
# AutoAugment's "relative" magnitudes (--autoaugment_magnitudes, preprocessing/autoaugment.py):
# fractions of the image side at level 10. Translate: torchvision's AutoAugment / RandAugment
# maximum (150/331 of the side); Cutout's pad: the original's 100 px at its 224-px images.
TRANSLATE_REL = 150.0 / 331.0
CUTOUT_REL = 100.0 / 224.0
SOLARIZE_ADD_THRESHOLD = 128


# ------------------------------------------------------------------ helpers
def as_uint8_image(image: Image, who: str = "an augment op") -> tf.Tensor:
    """The image as a tensor; TypeError naming `who` unless it is uint8."""
    image = tf.convert_to_tensor(image)
    if image.dtype != tf.uint8:
        raise TypeError(f"{who} expects a uint8 image, got {image.dtype}")
    return image




def _as_arg(arg):
    return tf.cast(tf.convert_to_tensor(arg), tf.float32)


def _blend(degenerate, image, factor):
    """``degenerate + factor * (image - degenerate)`` -> clipped, truncated uint8."""
    d = tf.cast(degenerate, tf.float32)
    x = tf.cast(image, tf.float32)
    out = d + _as_arg(factor) * (x - d)
    return tf.cast(tf.clip_by_value(out, 0.0, 255.0), tf.uint8)


def _grayscale(image):
    """uint8 [H, W, 1] luma with PIL's exact fixed-point "L" conversion.

    ``(19595 R + 38470 G + 7471 B + 0x8000) >> 16`` (~0.299/0.587/0.114).
    """
    x = tf.cast(image, tf.int32)
    w = tf.constant([19595, 38470, 7471], tf.int32)
    gray = tf.bitwise.right_shift(
        tf.reduce_sum(x * w, axis=-1, keepdims=True) + 0x8000, 16)
    return tf.cast(gray, tf.uint8)


def _channel_hist(image):
    """int32 [3, 256] per-channel histogram."""
    flat = tf.reshape(tf.cast(image, tf.int32), [-1, 3])
    idx = flat + tf.constant([0, 256, 512], tf.int32)
    hist = tf.math.bincount(tf.reshape(idx, [-1]), minlength=768,
                            maxlength=768, dtype=tf.int32)
    return tf.reshape(hist, [3, 256])


def _apply_lut(image, lut):
    """Applies a per-channel lookup table ``lut`` (int [3, 256]) to uint8 [H, W, 3]."""
    lut = tf.reshape(tf.cast(tf.clip_by_value(lut, 0, 255), tf.uint8), [768])
    idx = tf.cast(image, tf.int32) + tf.constant([0, 256, 512], tf.int32)
    return tf.gather(lut, idx)


def _check_fill(fill):
    if isinstance(fill, (int, float)) and not 0 <= fill <= 255:
        raise ValueError(f"fill must be in 0..255, got {fill!r}")


def _transform(image, transform, fill=FILL_VALUE):
    """Projective transform (8 floats, output -> input coords), NEAREST, constant fill."""
    _check_fill(fill)
    image = as_uint8_image(image)
    shape = tf.shape(image)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[tf.newaxis],
        transforms=tf.reshape(tf.cast(transform, tf.float32), [1, 8]),
        output_shape=shape[:2],
        fill_value=tf.cast(fill, tf.float32),
        interpolation="NEAREST",
        fill_mode="CONSTANT")
    return tf.ensure_shape(out[0], image.shape)


# --------------------------------------------------------------------- ops
def identity(image: Image, arg: Scalar | None = None,
             center: Center | None = None) -> tf.Tensor:
    """Returns the image unchanged."""
    return tf.identity(as_uint8_image(image))


def invert(image: Image, arg: Scalar | None = None,
           center: Center | None = None) -> tf.Tensor:
    """255 - x."""
    return tf.constant(255, tf.uint8) - as_uint8_image(image)


def auto_contrast(image: Image, arg: Scalar | None = None,
                  center: Center | None = None) -> tf.Tensor:
    """Per-channel min/max stretch to [0, 255] (PIL autocontrast, cutoff 0)."""
    image = as_uint8_image(image)
    flat = tf.reshape(image, [-1, 3])
    lo = tf.cast(tf.reduce_min(flat, axis=0), tf.float64)[:, None]
    hi = tf.cast(tf.reduce_max(flat, axis=0), tf.float64)[:, None]
    v = tf.range(256, dtype=tf.float64)[None, :]
    valid = hi > lo
    scale = 255.0 / tf.where(valid, hi - lo, tf.ones_like(hi))
    offset = -lo * scale
    stretched = tf.cast(tf.clip_by_value(v * scale + offset, 0.0, 255.0), tf.int32)
    lut = tf.where(valid, stretched, tf.cast(tf.broadcast_to(v, [3, 256]), tf.int32))
    return _apply_lut(image, lut)


def equalize(image: Image, arg: Scalar | None = None,
             center: Center | None = None) -> tf.Tensor:
    """Per-channel histogram equalisation, as PIL ``ImageOps.equalize``."""
    image = as_uint8_image(image)
    hist = _channel_hist(image)  # [3, 256]
    total = tf.reduce_sum(hist, axis=1, keepdims=True)
    bins = tf.range(256, dtype=tf.int32)[None, :]
    last_bin = tf.reduce_max(tf.where(hist > 0, bins, -1), axis=1, keepdims=True)
    last_count = tf.gather(hist, tf.maximum(last_bin, 0), batch_dims=1)
    step = (total - last_count) // 255
    nonzero = tf.reduce_sum(tf.cast(hist > 0, tf.int32), axis=1, keepdims=True)
    valid = tf.logical_and(step > 0, nonzero > 1)
    safe_step = tf.where(valid, step, tf.ones_like(step))
    cum = tf.cumsum(hist, axis=1, exclusive=True)
    eq = (safe_step // 2 + cum) // safe_step
    lut = tf.where(valid, eq, tf.broadcast_to(bins, [3, 256]))
    return _apply_lut(image, lut)


def posterize(image: Image, arg: Scalar, center: Center | None = None) -> tf.Tensor:
    """Keeps the ``arg`` most significant bits (0..8) of every value."""
    image = as_uint8_image(image)
    bits = tf.clip_by_value(tf.cast(tf.floor(_as_arg(arg)), tf.int32), 0, 8)
    mask = tf.bitwise.bitwise_and(
        tf.bitwise.left_shift(tf.constant(255, tf.int32), 8 - bits), 255)
    return tf.cast(tf.bitwise.bitwise_and(tf.cast(image, tf.int32), mask), tf.uint8)


def solarize(image: Image, arg: Scalar, center: Center | None = None) -> tf.Tensor:
    """Inverts the pixels ``>= arg`` (threshold in 0..256)."""
    image = as_uint8_image(image)
    return tf.where(tf.cast(image, tf.float32) >= _as_arg(arg), 255 - image, image)


def solarize_add(image: Image, arg: Scalar, center: Center | None = None) -> tf.Tensor:
    """Adds ``arg`` (clipped to [0, 255]) to the pixels ``< 128``."""
    image = as_uint8_image(image)
    x = tf.cast(image, tf.float32)
    added = tf.cast(tf.clip_by_value(x + _as_arg(arg), 0.0, 255.0), tf.uint8)
    return tf.where(image < SOLARIZE_ADD_THRESHOLD, added, image)


def color(image: Image, arg: Scalar, center: Center | None = None) -> tf.Tensor:
    """Saturation: blend with the grayscale image (factor 1 = identity)."""
    image = as_uint8_image(image)
    gray = tf.tile(_grayscale(image), [1, 1, 3])
    return _blend(gray, image, arg)


def contrast(image: Image, arg: Scalar, center: Center | None = None) -> tf.Tensor:
    """Blend with the rounded mean grayscale value (PIL ImageEnhance.Contrast)."""
    image = as_uint8_image(image)
    mean = tf.cast(tf.floor(
        tf.reduce_mean(tf.cast(_grayscale(image), tf.float64)) + 0.5), tf.float32)
    return _blend(tf.fill(tf.shape(image), mean), image, arg)


def brightness(image: Image, arg: Scalar, center: Center | None = None) -> tf.Tensor:
    """Blend with black (factor 0 = black, 1 = identity)."""
    image = as_uint8_image(image)
    return _blend(tf.zeros_like(image), image, arg)


_SMOOTH_KERNEL = [[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]


def sharpness(image: Image, arg: Scalar, center: Center | None = None) -> tf.Tensor:
    """Blend with the PIL SMOOTH-filtered image, border pixels unchanged."""
    image = as_uint8_image(image)
    x = tf.cast(image, tf.float32)[tf.newaxis]
    k = tf.constant(_SMOOTH_KERNEL, tf.float32) / 13.0
    k = tf.tile(k[:, :, None, None], [1, 1, 3, 1])
    smooth = tf.nn.depthwise_conv2d(x, k, strides=[1, 1, 1, 1], padding="SAME")[0]
    smooth = tf.clip_by_value(tf.round(smooth), 0.0, 255.0)
    shape = tf.shape(image)
    rows = tf.range(shape[0])
    cols = tf.range(shape[1])
    inner_r = tf.logical_and(rows > 0, rows < shape[0] - 1)
    inner_c = tf.logical_and(cols > 0, cols < shape[1] - 1)
    inner = tf.logical_and(inner_r[:, None], inner_c[None, :])[:, :, None]
    degenerate = tf.where(inner, smooth, tf.cast(image, tf.float32))
    return _blend(degenerate, image, arg)


def rotate(image: Image, arg: Scalar, center: Center | None = None,
           fill: Scalar = FILL_VALUE) -> tf.Tensor:
    """Rotates by ``arg`` degrees counter-clockwise about the image centre."""
    image = as_uint8_image(image)
    theta = _as_arg(arg) * (math.pi / 180.0)
    shape = tf.cast(tf.shape(image), tf.float32)
    h1, w1 = shape[0] - 1.0, shape[1] - 1.0
    c, s = tf.cos(theta), tf.sin(theta)
    x_off = (w1 - (c * w1 - s * h1)) / 2.0
    y_off = (h1 - (s * w1 + c * h1)) / 2.0
    zero = tf.zeros([], tf.float32)
    return _transform(image, tf.stack([c, -s, x_off, s, c, y_off, zero, zero]), fill)


def shear_x(image: Image, arg: Scalar, center: Center | None = None,
            fill: Scalar = FILL_VALUE) -> tf.Tensor:
    """Horizontal shear: output (x, y) samples input (x + arg*y, y)."""
    a = _as_arg(arg)
    return _transform(image, tf.stack([1.0, a, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]), fill)


def shear_y(image: Image, arg: Scalar, center: Center | None = None,
            fill: Scalar = FILL_VALUE) -> tf.Tensor:
    """Vertical shear: output (x, y) samples input (x, y + arg*x)."""
    a = _as_arg(arg)
    return _transform(image, tf.stack([1.0, 0.0, 0.0, a, 1.0, 0.0, 0.0, 0.0]), fill)


def translate_x(image: Image, arg: Scalar, center: Center | None = None,
                fill: Scalar = FILL_VALUE) -> tf.Tensor:
    """Moves content right by ``arg`` pixels (left when negative)."""
    a = _as_arg(arg)
    return _transform(image, tf.stack([1.0, 0.0, -a, 0.0, 1.0, 0.0, 0.0, 0.0]), fill)


def translate_y(image: Image, arg: Scalar, center: Center | None = None,
                fill: Scalar = FILL_VALUE) -> tf.Tensor:
    """Moves content down by ``arg`` pixels (up when negative)."""
    a = _as_arg(arg)
    return _transform(image, tf.stack([1.0, 0.0, 0.0, 0.0, 1.0, -a, 0.0, 0.0]), fill)


def cutout(image: Image, arg: Scalar, center: Center | None = None) -> tf.Tensor:
    """Sets the square rows [cy-pad, cy+pad) x cols [cx-pad, cx+pad) to 128.

    ``arg`` = pad (half side, pixels); ``center`` = int32 [2] (row, col),
    drawn by the caller.  The square is clipped to the image.
    """
    if center is None:
        raise ValueError("Cutout needs an explicit center=(row, col)")
    image = as_uint8_image(image)
    pad = tf.cast(tf.floor(_as_arg(arg)), tf.int32)
    center = tf.cast(tf.convert_to_tensor(center), tf.int32)
    shape = tf.shape(image)
    rows = tf.range(shape[0])
    cols = tf.range(shape[1])
    in_r = tf.logical_and(rows >= center[0] - pad, rows < center[0] + pad)
    in_c = tf.logical_and(cols >= center[1] - pad, cols < center[1] + pad)
    mask = tf.logical_and(in_r[:, None], in_c[None, :])[:, :, None]
    return tf.where(mask, tf.constant(FILL_VALUE, tf.uint8), image)


OPS = {
    "AutoContrast": auto_contrast,
    "Equalize": equalize,
    "Invert": invert,
    "Rotate": rotate,
    "Posterize": posterize,
    "Solarize": solarize,
    "SolarizeAdd": solarize_add,
    "Color": color,
    "Contrast": contrast,
    "Brightness": brightness,
    "Sharpness": sharpness,
    "ShearX": shear_x,
    "ShearY": shear_y,
    "TranslateX": translate_x,
    "TranslateY": translate_y,
    "Cutout": cutout,
    "Identity": identity,
}

def _pil_op(name):
    fn = pil_geometry.OPS[name]

    def op(image, arg, center=None, fill=FILL_VALUE):
        _check_fill(fill)
        return fn(as_uint8_image(image), _as_arg(arg), fill)

    op.__name__ = op.__qualname__ = f"pil_{fn.__name__}"
    op.__doc__ = f"{name} as torchvision does it to a PIL image (preprocessing/pil_geometry.py)."
    return op


#: The ``"pil"`` geometric ops (same signature as :data:`OPS`' entries).
PIL_GEOMETRIC = {name: _pil_op(name) for name in pil_geometry.OPS}

#: Fixed op order for index-based dispatch (stored op indices refer to it).
OP_NAMES = tuple(OPS)

#: The 14 RandAugment names in torchvision / ml-dr order.
RANDAUGMENT_NAMES = ("Identity", "ShearX", "ShearY", "TranslateX", "TranslateY",
                     "Rotate", "Brightness", "Color", "Contrast", "Sharpness",
                     "Posterize", "Solarize", "AutoContrast", "Equalize")

#: The ops that take ``fill`` (and have a ``"pil"`` variant).
GEOMETRIC = ("Rotate", "ShearX", "ShearY", "TranslateX", "TranslateY")
GEOMETRIES = ("tf", "pil")


def apply_op(image: Image, op_index: tf.Tensor | int, arg: Scalar, center: Center = (0, 0),
             names: Sequence[str] = OP_NAMES, fill: Scalar = FILL_VALUE,
             geometry: str = "tf") -> tf.Tensor:
    """Applies op ``names[op_index]`` with a (possibly traced) int index.

    ``center`` is only used by Cutout; ``fill`` and ``geometry`` (:data:`GEOMETRIES`)
    only by the geometric ops.  Dispatch is a ``tf.switch_case``.
    """
    if geometry not in GEOMETRIES:
        raise ValueError(f"geometry must be one of {GEOMETRIES}, got {geometry!r}")
    _check_fill(fill)
    image = as_uint8_image(image)
    arg = _as_arg(arg)
    center = tf.cast(tf.convert_to_tensor(center), tf.int32)
    table = PIL_GEOMETRIC if geometry == "pil" else OPS

    def branch(name):
        if name in GEOMETRIC:
            return lambda: table[name](image, arg, fill=fill)
        return lambda: OPS[name](image, arg, center)

    out = tf.switch_case(tf.cast(op_index, tf.int32), [branch(n) for n in names])
    return tf.ensure_shape(out, image.shape)


# ------------------------------------------------------------ level -> arg
_SIGNED = {"Rotate": ROTATE_MAX_DEGREES, "ShearX": SHEAR_MAX, "ShearY": SHEAR_MAX,
           "TranslateX": TRANSLATE_CONST, "TranslateY": TRANSLATE_CONST}
_ENHANCE = ("Color", "Contrast", "Brightness", "Sharpness")
_INT_SCALED = {"Posterize": 4.0, "Solarize": 256.0, "SolarizeAdd": 110.0,
               "Cutout": CUTOUT_CONST}
_NO_ARG = ("AutoContrast", "Equalize", "Invert", "Identity")


def level_to_arg(name: str, level: Scalar, sign: Scalar = 1.0) -> tf.Tensor:
    """AutoAugment level (0..10, float) and sign (+-1) -> float32 op argument.

    Signed ops (Rotate, ShearX/Y, TranslateX/Y): ``level/10 * max * sign``.
    Enhance ops: ``level/10 * 1.8 + 0.1`` (sign ignored).  Posterize,
    Solarize, SolarizeAdd, Cutout: ``int(level/10 * c)`` with c = 4, 256, 110,
    100 (sign ignored).  AutoContrast, Equalize, Invert, Identity: 0.
    Computed in float64 (like the original's Python floats) then cast.
    """
    if name not in OPS:
        raise KeyError(f"unknown augmentation op {name!r}")
    frac = tf.cast(level, tf.float64) / MAX_LEVEL
    if name in _SIGNED:
        out = frac * _SIGNED[name] * tf.cast(sign, tf.float64)
    elif name in _ENHANCE:
        out = frac * 1.8 + 0.1
    elif name in _INT_SCALED:
        out = tf.floor(frac * _INT_SCALED[name])
    else:
        out = tf.zeros_like(frac)
    return tf.cast(out, tf.float32)

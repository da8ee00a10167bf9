"""The ImageNet-C generator's resize and crop, pixel for pixel, in TensorFlow.

Hendrycks & Dietterich's ``make_imagenet_c.py`` (ICLR 2019) opens each validation image
with PIL and applies torchvision's ``Resize(256)`` and ``CenterCrop(224)`` to the PIL image
before corrupting it. Those are:

* ``Resize(S)``: shorter side to S, longer side ``int(S * long / short)``, then PIL's
  ``Image.resize(size, BILINEAR)`` -- an *antialiased* resize (Pillow's
  ``src/libImaging/Resample.c``): a separable triangle filter whose support is scaled by
  the downscale factor, coefficients normalised in float64 and turned into fixed point
  with 22 fractional bits (rounded), the horizontal pass first, rounded and clipped to
  uint8, then the vertical pass on that.
* ``CenterCrop(C)``: offsets ``int(round((H - C) / 2.0))`` with Python's round (half to
  even), which differs from ``(H - C) // 2`` when H - C is odd and (H - C) // 2 odd.

``pil_resize`` rebuilds Pillow's coefficients with the same float64 operations in the
same order (the weight sum is accumulated tap by tap, as Pillow's loop does) and applies
them in int32, which is exact (|sum| < 255 * 2^22 + 2^21 < 2^31), so the pixels are
PIL's, for any (dynamic) input and output size, eagerly, in a ``tf.function`` and in a
tf.data map. ``imagenet_c_crop`` is the whole resize + crop; it is used by
``datasets.build_corrupted`` and the ``--robustness=on_the_fly`` evaluation only (the
accuracy evaluation keeps its own resize, ``preprocessing.imagenet``).

Pass order: every Pillow source up to 2026-08 (``ImagingResampleInner``), and so the
Pillow that made the published ImageNet-C, runs the horizontal pass first; the installed
Pillow 13.0.0 runs the vertical pass first for some size pairs (e.g. 121 x 89 -> 97 x 130,
where one level differs on 25 % of the values; 375 x 500 -> 256 x 341 and 500 x 375 ->
341 x 256 are horizontal first there too). The tests check the pixels against Pillow's two
single-axis passes in the horizontal-first order, and against torchvision on
ImageNet-like sizes.

Deliberate differences: the long side is ``(S * long) // short`` in integers, equal to
Python's ``int(S * long / short)`` except where the float quotient of two integers rounds
up onto an integer, impossible for sides below 2^26. JPEGs are decoded by TensorFlow's
libjpeg with the accurate integer IDCT and fancy upsampling, PIL's default decoder
settings (a CMYK JPEG, which PIL converts to RGB its own way, is not covered).
"""

import numpy as np
import tensorflow as tf

from preprocessing import common

PRECISION_BITS = 32 - 8 - 2  # Pillow's 8-bit fixed point: 22 fractional bits
_HALF = 1 << (PRECISION_BITS - 1)


def _div(x, y):
    """x / y in float64 with the same bits in every mode: graph optimisers may turn a
    division by a constant into a multiplication by its reciprocal; DivNoNan is left
    alone (y is never 0 here)."""
    return tf.math.divide_no_nan(x, y)


def bilinear_coefficients(in_size: tf.Tensor | int, out_size: tf.Tensor | int
                          ) -> tuple[tf.Tensor, tf.Tensor]:
    """Pillow's ``precompute_coeffs`` + ``normalize_coeffs_8bpc`` for the BILINEAR filter
    along one axis: (first source index [out] int32, fixed-point weights [out, ksize] int32)
    where output o = sum_j weights[o, j] * x[first[o] + j] (weights past the window are 0
    and their indices are clamped into the axis)."""
    in_size = tf.cast(in_size, tf.int32)
    out_size = tf.cast(out_size, tf.int32)
    scale = _div(tf.cast(in_size, tf.float64), tf.cast(out_size, tf.float64))
    filterscale = tf.maximum(scale, 1.0)
    support = filterscale  # the triangle's support is 1
    ksize = 2 * tf.cast(tf.math.ceil(support), tf.int32) + 1
    ss = _div(tf.constant(1.0, tf.float64), filterscale)
    center = (tf.cast(tf.range(out_size), tf.float64) + 0.5) * scale  # in0 = 0
    # C's (int) truncates toward zero; for the negative values only (-1, 0) is possible
    # below the clamp, where truncation and the clamp both give 0.
    xmin = tf.maximum(tf.cast((center - support) + 0.5, tf.int32), 0)
    xmax = tf.minimum(tf.cast((center + support) + 0.5, tf.int32), in_size) - xmin
    j = tf.range(ksize)
    # Pillow: filter(((x + xmin) - center + 0.5) * ss), x the tap, in this order.
    t = ((tf.cast(xmin[:, None] + j[None, :], tf.float64) - center[:, None]) + 0.5) * ss
    t = tf.abs(t)
    w = tf.where(t < 1.0, 1.0 - t, tf.zeros_like(t))
    w = tf.where(j[None, :] < xmax[:, None], w, tf.zeros_like(w))
    # ww accumulated tap by tap as Pillow's loop (a reduction tree may round differently);
    # the zero taps past the window add nothing.
    ww = tf.foldl(lambda acc, col: acc + col, tf.transpose(w),
                  initializer=tf.zeros([out_size], tf.float64))
    k = tf.where(ww[:, None] != 0.0, _div(w, ww[:, None]), w)
    fixed = tf.cast(tf.floor(0.5 + k * float(1 << PRECISION_BITS)), tf.int32)  # k >= 0
    return xmin, fixed


def _resample_rows(x, in_size, out_size):
    """Pillow's 8-bit pass along axis 0 of int32 [N, M, C]: int32 [out, M, C] in 0..255."""
    first, fixed = bilinear_coefficients(in_size, out_size)
    ksize = tf.shape(fixed)[1]
    last = tf.cast(in_size, tf.int32) - 1

    def body(j, acc):
        rows = tf.gather(x, tf.minimum(first + j, last))
        return j + 1, acc + rows * fixed[:, j, None, None]

    acc = tf.fill(tf.concat([[out_size], tf.shape(x)[1:]], 0), tf.constant(_HALF, tf.int32))
    _, acc = tf.while_loop(lambda j, _: j < ksize, body, (tf.constant(0), acc))
    # clip8: arithmetic shift (floor), then clipped to 0..255.
    return tf.clip_by_value(tf.bitwise.right_shift(acc, PRECISION_BITS), 0, 255)


def pil_resize(image: tf.Tensor | np.ndarray,
               size: tuple[tf.Tensor | int, tf.Tensor | int]) -> tf.Tensor:
    """PIL ``Image.fromarray(image).resize((w, h), Image.BILINEAR)`` of uint8 [H, W, C]
    to ``size`` = (h, w) (ints or int32 tensors): uint8 [h, w, C]. Horizontal pass first,
    rounded to uint8, then the vertical pass, as Pillow (a pass whose size does not change
    is the identity in Pillow's arithmetic, so it is not skipped here)."""
    image = tf.convert_to_tensor(image, tf.uint8)
    shape = tf.shape(image)
    out_h, out_w = size[0], size[1]
    x = tf.transpose(tf.cast(image, tf.int32), [1, 0, 2])  # [W, H, C]: rows are gathered
    x = _resample_rows(x, shape[1], out_w)  # [w, H, C]
    x = _resample_rows(tf.transpose(x, [1, 0, 2]), shape[0], out_h)  # [h, w, C]
    return tf.cast(x, tf.uint8)


def resize_shorter_side_size(height: tf.Tensor | int, width: tf.Tensor | int,
                             shorter_side: tf.Tensor | int) -> tuple[tf.Tensor, tf.Tensor]:
    """torchvision ``Resize(S)``'s output (h, w): the shorter side S, the longer
    int(S * long / short) (exact integer floor division; see the module docstring)."""
    height = tf.cast(height, tf.int32)
    width = tf.cast(width, tf.int32)
    short = tf.minimum(height, width)

    # int64: S * long overflows int32 past 8M pixel sides only, but costs nothing.
    def scaled(side):
        return tf.cast((tf.cast(shorter_side, tf.int64) * tf.cast(side, tf.int64))
                       // tf.cast(short, tf.int64), tf.int32)

    # torchvision: short, long = (w, h) if w <= h else (h, w).
    portrait = width <= height
    new_h = tf.where(portrait, scaled(height), shorter_side)
    new_w = tf.where(portrait, shorter_side, scaled(width))
    return new_h, new_w


def center_crop_offsets(height: tf.Tensor | int, width: tf.Tensor | int,
                        crop_size: tf.Tensor | int) -> tuple[tf.Tensor, tf.Tensor]:
    """torchvision ``CenterCrop``'s (top, left) = int(round((dim - crop) / 2.0)) with
    round half to even (tf.round does the same, and /2 is exact)."""
    def offset(dim):
        half = tf.cast(tf.cast(dim, tf.int32) - crop_size, tf.float64) * 0.5
        return tf.cast(tf.round(half), tf.int32)
    return offset(height), offset(width)


def resize_and_crop(image: tf.Tensor, shorter_side: tf.Tensor | int,
                    crop_size: int) -> tf.Tensor:
    """torchvision ``Resize(shorter_side)`` + ``CenterCrop(crop_size)`` of a PIL image, on
    uint8 [H, W, 3]: uint8 [crop, crop, 3]. The crop must fit (crop <= shorter_side)."""
    shape = tf.shape(image)
    new_h, new_w = resize_shorter_side_size(shape[0], shape[1], shorter_side)
    image = pil_resize(image, (new_h, new_w))
    top, left = center_crop_offsets(new_h, new_w, crop_size)
    image = tf.slice(image, tf.stack([top, left, 0]), tf.stack([crop_size, crop_size, -1]))
    return tf.ensure_shape(image, [crop_size, crop_size, image.shape[-1]])


def imagenet_c_crop(encoded: common.Encoded, shorter_side: int = 256, crop_size: int = 224,
                    dct_method: str = common.DCT_METHOD) -> tf.Tensor:
    """Encoded image -> uint8 [crop, crop, 3] as ImageNet-C's generator sees it: decoded
    (accurate integer IDCT: PIL's decoder), ``Resize(shorter_side)``, ``CenterCrop``."""
    return resize_and_crop(common.decode(encoded, dct_method), shorter_side, crop_size)

"""torchvision's RandAugment geometric ops on a PIL image, pixel for pixel, in TensorFlow.

torchvision 0.29 ``transforms.RandAugment._apply_op`` on a PIL image calls ``F.affine``
(ShearX/Y with ``center=[0, 0]``, TranslateX/Y by ``int(magnitude)``) and ``F.rotate``
(about the centre), which give Pillow an inverse affine matrix ``a`` (output -> input, in
continuous coordinates: the centre of pixel (row i, col j) is (j + 0.5, i + 0.5)) and call
``Image.transform(size, AFFINE, a, NEAREST, fillcolor=fill)``.  Pillow 13
(libImaging/Geometry.c, ``ImagingTransformAffine``) then samples

* matrices without rotation/shear terms (``a1 == a3 == 0``: translations), in
  ``ImagingScaleAffine``: input column ``COORD(a2 + a0 * (x + 0.5))`` in double precision,
  ``COORD(v) = -1 if v < 0 else int(v)``;
* other matrices whose four corners map within +-32768 px, in ``affine_fixed``: 16.16 fixed
  point, ``A = FIX(a) = floor(a * 65536 + 0.5)`` with the offset ``a2 + a0/2 + a1/2``
  rounded once, input column ``(A2 + x*A0 + y*A1) >> 16`` in integers;
* any other matrix in double precision as ``COORD(a2 + a0/2 + a1/2 + x*a0 + y*a1)`` (Pillow
  sums running increments there; computed directly here, which differs by rounding of
  about 1e-12 px, only for coordinates beyond 32768 px).

:func:`pil_affine` reproduces this with int32 / float64 arithmetic and a gather, so the
output equals torchvision's exactly (tests/test_randaugment_torchvision.py); a float32
``ImageProjectiveTransformV3`` cannot: the fixed-point rounding moves the sampled pixel by
up to ~5e-3 px, which changes 0.05 % of the pixels (~25) of a 224-px photo rotated by 9
degrees (tests/randaugment_figures.py).

Matrices (torchvision's ``_get_inverse_affine_matrix`` / ``Image.rotate``, float64):

* ShearX(m): ``[1, tan(radians(degrees(atan(m)))), 0, 0, 1, 0]`` (torchvision turns the
  factor into an angle and back); ShearY(m): ``[1, 0, 0, sin(s)/cos(s), 1, 0]`` with
  ``s = radians(degrees(atan(m)))``; output (x, y) samples input (x + m*y, y) /
  (x, y + m*x) about the image corner, as the op library's ``"tf"`` ops.
* TranslateX/Y(t): ``[1, 0, -t, 0, 1, 0]`` / ``[1, 0, 0, 0, 1, -t]``: content moves
  right / down by t px (torchvision passes ``int(t)``; non-integer t is accepted here).
* Rotate(deg): Pillow's ``Image.rotate``: ``r = -radians(deg % 360)``, entries
  ``round(cos r, 15)``, ``round(sin r, 15)``, about ``(W/2, H/2)``; counter-clockwise.
  Pillow's own shortcuts for exact multiples of 90 degrees (transposes) are not taken:
  RandAugment's rotations stay within +-30 degrees.

Rounding cos/sin to 15 decimals is done as ``round(v * 1e15) / 1e15``; it can differ from
Python's correctly rounded ``round`` by 1e-15, which changes a pixel only when a
coordinate lies within ~1e-10 px of a fixed-point step.
"""

import math
from collections.abc import Sequence

import tensorflow as tf

#: A scalar argument or fill value: a tensor or a Python number.
Scalar = tf.Tensor | float

FIXED_LIMIT = 32768.0  # Pillow's check_fixed bound on mapped corner coordinates


def _fix(v):
    """Pillow's ``FIX(v) = FLOOR(v * 65536.0 + 0.5)`` as int32 (|v| < 32768)."""
    return tf.cast(tf.floor(v * 65536.0 + 0.5), tf.int32)


def _coord(v):
    """Pillow's ``COORD(v)``: -1 for v < 0, else int(v), for float64 v."""
    return tf.where(v < 0.0, tf.constant(-1, tf.int64), tf.cast(v, tf.int64))


def _indices(matrix, height, width):
    """int64 (col, row) input indices [H, W] of Pillow's NEAREST affine engine."""
    a0, a1, a2, a3, a4, a5 = tf.unstack(tf.cast(matrix, tf.float64))
    x = tf.range(width, dtype=tf.float64)[tf.newaxis, :]
    y = tf.range(height, dtype=tf.float64)[:, tf.newaxis]
    zeros = tf.zeros([height, width], tf.float64)
    # Scaling path (no rotation/shear terms).
    scale_x = _coord(a2 + a0 * 0.5 + x * a0 + zeros)
    scale_y = _coord(a5 + a4 * 0.5 + y * a4 + zeros)
    # Double path (coordinates beyond the fixed-point range).
    dbl_x = _coord(a2 + a1 * 0.5 + a0 * 0.5 + x * a0 + y * a1)
    dbl_y = _coord(a5 + a4 * 0.5 + a3 * 0.5 + x * a3 + y * a4)
    # Fixed-point path: int32 sums, arithmetic shift = floor division by 65536.
    w, h = tf.cast(width, tf.float64), tf.cast(height, tf.float64)
    corners = tf.stack([tf.zeros([], tf.float64), w, w, tf.zeros([], tf.float64)]), \
        tf.stack([tf.zeros([], tf.float64), h, tf.zeros([], tf.float64), h])
    fits = tf.reduce_all(tf.logical_and(
        tf.abs(corners[0] * a0 + corners[1] * a1 + a2) < FIXED_LIMIT,
        tf.abs(corners[0] * a3 + corners[1] * a4 + a5) < FIXED_LIMIT))

    def safe(v):  # no int overflow
        return tf.where(fits, v, tf.zeros_like(v))

    xi = tf.range(width, dtype=tf.int32)[tf.newaxis, :]
    yi = tf.range(height, dtype=tf.int32)[:, tf.newaxis]
    fx = (_fix(safe(a2 + a0 * 0.5 + a1 * 0.5)) + yi * _fix(safe(a1))
          + xi * _fix(safe(a0)))
    fy = (_fix(safe(a5 + a3 * 0.5 + a4 * 0.5)) + yi * _fix(safe(a4))
          + xi * _fix(safe(a3)))
    fixed_x = tf.cast(tf.bitwise.right_shift(fx, 16), tf.int64)
    fixed_y = tf.cast(tf.bitwise.right_shift(fy, 16), tf.int64)
    scaling = tf.logical_and(tf.equal(a1, 0.0), tf.equal(a3, 0.0))
    col = tf.where(scaling, scale_x, tf.where(fits, fixed_x, dbl_x))
    row = tf.where(scaling, scale_y, tf.where(fits, fixed_y, dbl_y))
    return col, row


def pil_affine(image: tf.Tensor, matrix: tf.Tensor | Sequence[float],
               fill: Scalar) -> tf.Tensor:
    """``Image.transform(size, AFFINE, matrix, NEAREST, fillcolor=(fill,) * 3)`` of a uint8
    [H, W, 3] tensor; ``matrix`` = Pillow's 6 floats (output -> input, continuous
    coordinates).  Images must be smaller than 2**14 px a side (int32 fixed point)."""
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    tf.debugging.assert_less(tf.maximum(height, width), 2 ** 14,
                             "pil_affine: images must be smaller than 16384 px a side")
    col, row = _indices(matrix, height, width)
    h64, w64 = tf.cast(height, tf.int64), tf.cast(width, tf.int64)
    inside = (col >= 0) & (col < w64) & (row >= 0) & (row < h64)
    flat = tf.reshape(image, [-1, 3])
    index = tf.where(inside, row * w64 + col, tf.zeros_like(col))
    picked = tf.gather(flat, index)
    fill_pixel = tf.fill([3], tf.cast(fill, tf.uint8))
    out = tf.where(inside[..., tf.newaxis], picked, fill_pixel)
    return tf.ensure_shape(out, image.shape)


def _f64(arg):
    return tf.cast(tf.convert_to_tensor(arg), tf.float64)


def _shear_angle(m):
    """torchvision's ``math.radians(math.degrees(math.atan(m)))``."""
    return tf.atan(m) * (180.0 / math.pi) * (math.pi / 180.0)


def shear_x(image: tf.Tensor, arg: Scalar, fill: Scalar) -> tf.Tensor:
    t = tf.tan(_shear_angle(_f64(arg)))
    one, zero = tf.ones([], tf.float64), tf.zeros([], tf.float64)
    return pil_affine(image, tf.stack([one, t, zero, zero, one, zero]), fill)


def shear_y(image: tf.Tensor, arg: Scalar, fill: Scalar) -> tf.Tensor:
    s = _shear_angle(_f64(arg))
    one, zero = tf.ones([], tf.float64), tf.zeros([], tf.float64)
    return pil_affine(image, tf.stack([one, zero, zero, tf.sin(s) / tf.cos(s), one, zero]),
                      fill)


def translate_x(image: tf.Tensor, arg: Scalar, fill: Scalar) -> tf.Tensor:
    one, zero = tf.ones([], tf.float64), tf.zeros([], tf.float64)
    return pil_affine(image, tf.stack([one, zero, -_f64(arg), zero, one, zero]), fill)


def translate_y(image: tf.Tensor, arg: Scalar, fill: Scalar) -> tf.Tensor:
    one, zero = tf.ones([], tf.float64), tf.zeros([], tf.float64)
    return pil_affine(image, tf.stack([one, zero, zero, zero, one, -_f64(arg)]), fill)


def _round15(v):
    return tf.round(v * 1e15) / 1e15


def rotate(image: tf.Tensor, arg: Scalar, fill: Scalar) -> tf.Tensor:
    shape = tf.cast(tf.shape(image), tf.float64)
    cx, cy = shape[1] / 2.0, shape[0] / 2.0
    r = -(tf.math.floormod(_f64(arg), 360.0) * (math.pi / 180.0))
    a, b = _round15(tf.cos(r)), _round15(tf.sin(r))
    d, e = _round15(-tf.sin(r)), a
    c = a * -cx + b * -cy + 0.0 + cx
    f = d * -cx + e * -cy + 0.0 + cy
    return pil_affine(image, tf.stack([a, b, c, d, e, f]), fill)


OPS = {"Rotate": rotate, "ShearX": shear_x, "ShearY": shear_y,
       "TranslateX": translate_x, "TranslateY": translate_y}

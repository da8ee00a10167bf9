"""Batched ``augment_ops.PIL_GEOMETRIC`` (preprocessing/pil_geometry.py): RandAugment's
default geometry, torchvision's on a PIL image, pixel-identical per image.

The same float64 Pillow matrices (atan per image on scalars: Eigen's vectorised float64
atan differs from the scalar one in the last bit; float64 cos / sin / tan do not), Pillow's
scaling path for translations (a row / column gather) and its 16.16 fixed-point path
otherwise, chosen per image as Pillow does; a matrix that would need Pillow's double path
(corners beyond +-32768 px) is an error, not an approximation.  Ops take uint8
``[n, H, W, 3]`` (H, W static) and per-image ``args [n]`` (tests/test_augment_batch.py).
"""

import math

import tensorflow as tf

from preprocessing import augment_ops as A
from preprocessing.augment_ops_batch import _pad_axis, _static_hw, bucketed


def _scalar_each(fn, v):
    """fn on each element as a scalar: Eigen's vectorised float64 atan differs from the
    scalar one in the last bit (float64 cos / sin / tan do not), so the per-image ops'
    values need the scalar path."""
    n = v.shape[0]
    if n is not None:
        return tf.stack([fn(t) for t in tf.unstack(v, num=n)] or [tf.zeros([], v.dtype)])[:n]
    return tf.map_fn(fn, v, fn_output_signature=tf.TensorSpec([], v.dtype))


def pil_matrices(name: str, args: tf.Tensor, h: int, w: int,
                 atan: tf.Tensor | None = None) -> tf.Tensor:
    """[n, 6] float64 Pillow matrices of pil_geometry's ops for per-image ``args`` [n]
    (``atan``: tf.atan(args) computed beforehand, e.g. over the whole static batch)."""
    m = tf.cast(args, tf.float64)
    one, zero = tf.ones_like(m), tf.zeros_like(m)
    if name == "TranslateX":
        return tf.stack([one, zero, -m, zero, one, zero], axis=1)
    if name == "TranslateY":
        return tf.stack([one, zero, zero, zero, one, -m], axis=1)
    if name in ("ShearX", "ShearY"):
        if atan is None:
            atan = _scalar_each(tf.atan, m)
        s = atan * (180.0 / math.pi) * (math.pi / 180.0)  # pil_geometry._shear_angle
        if name == "ShearX":
            return tf.stack([one, tf.tan(s), zero, zero, one, zero], axis=1)
        return tf.stack([one, zero, zero, tf.sin(s) / tf.cos(s), one, zero], axis=1)
    if name != "Rotate":
        raise KeyError(f"no pil geometry for {name!r}")
    cx, cy = w / 2.0, h / 2.0
    r = -(tf.math.floormod(m, 360.0) * (math.pi / 180.0))
    a, b = tf.round(tf.cos(r) * 1e15) / 1e15, tf.round(tf.sin(r) * 1e15) / 1e15
    d, e = tf.round(-tf.sin(r) * 1e15) / 1e15, a
    c = a * -cx + b * -cy + 0.0 + cx
    f = d * -cx + e * -cy + 0.0 + cy
    return tf.stack([a, b, c, d, e, f], axis=1)


def _coord(v, size):
    """Pillow's COORD (-1 below 0, else int) of float64 v, clipped to [-1, size]."""
    return tf.cast(tf.clip_by_value(tf.floor(v), -1.0, float(size)), tf.int32)


def _fix(v):
    return tf.cast(tf.floor(v * 65536.0 + 0.5), tf.int32)


# Integer index arithmetic, selects and gathers only, so XLA's result is bit-identical to
# TF's (float steps stay outside: XLA may contract a*b+c into an FMA); fused into one pass
# over the output it is ~4x cheaper than the same ops as TF kernels on one core.
@tf.function(jit_compile=True)
def _remap(images, coef, scaling, scale_col, scale_row, fill):
    """images[b, row, col] per output pixel (fill outside): the 16.16 fixed-point indices
    ``(C2 + y C1 + x C0) >> 16``, ``(C5 + y C4 + x C3) >> 16`` of ``coef`` [n, 6], or where
    ``scaling`` [n] the scaling path's ``scale_col`` [n, W] / ``scale_row`` [n, H]."""
    n = tf.shape(images)[0]
    h, w = images.shape[1], images.shape[2]
    xi = tf.range(w, dtype=tf.int32)[None, None, :]
    yi = tf.range(h, dtype=tf.int32)[None, :, None]
    c = [coef[:, k, None, None] for k in range(6)]
    on = scaling[:, None, None]
    col = tf.where(on, scale_col[:, None, :],
                   tf.bitwise.right_shift(c[2] + yi * c[1] + xi * c[0], 16))
    row = tf.where(on, scale_row[:, :, None],
                   tf.bitwise.right_shift(c[5] + yi * c[4] + xi * c[3], 16))
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    flat = (tf.range(n)[:, None, None] * (h * w) + tf.clip_by_value(row, 0, h - 1) * w
            + tf.clip_by_value(col, 0, w - 1))
    values = tf.gather(tf.reshape(images, [-1]), flat[..., None] * 3 + tf.range(3))
    return tf.where(inside[..., None], values, fill)


def pil_affine(images: tf.Tensor, matrices: tf.Tensor, fill: int | tf.Tensor) -> tf.Tensor:
    """pil_geometry.pil_affine of each image with its matrix [n, 6] (scaling path when
    a1 == a3 == 0, else the 16.16 fixed-point path; a matrix that needs Pillow's double
    path -- corners mapped beyond +-32768 px -- is an InvalidArgumentError)."""
    h, w = _static_hw(images)
    a0, a1, a2, a3, a4, a5 = tf.unstack(tf.cast(matrices, tf.float64), num=6, axis=1)
    scaling = tf.logical_and(tf.equal(a1, 0.0), tf.equal(a3, 0.0))  # [n]
    corners_x = tf.constant([0.0, w, w, 0.0], tf.float64)[None, :]
    corners_y = tf.constant([0.0, h, 0.0, h], tf.float64)[None, :]
    fits = tf.reduce_all(tf.logical_and(
        tf.abs(corners_x * a0[:, None] + corners_y * a1[:, None] + a2[:, None]) < 32768.0,
        tf.abs(corners_x * a3[:, None] + corners_y * a4[:, None] + a5[:, None]) < 32768.0),
        axis=-1)
    check = tf.debugging.assert_equal(
        tf.logical_or(scaling, fits), True,
        message="pil_affine batch: a matrix maps the image beyond Pillow's fixed-point range")
    x = tf.range(w, dtype=tf.float64)[None, :]
    y = tf.range(h, dtype=tf.float64)[None, :]
    with tf.control_dependencies([check]):
        scale_col = _coord(a2[:, None] + a0[:, None] * 0.5 + x * a0[:, None], w)  # [n, W]
    scale_row = _coord(a5[:, None] + a4[:, None] * 0.5 + y * a4[:, None], h)  # [n, H]
    safe = tf.cast(fits, tf.float64)  # no int overflow for unused matrices
    coef = tf.stack([_fix(safe * a0), _fix(safe * a1), _fix(safe * (a2 + a0 * 0.5 + a1 * 0.5)),
                     _fix(safe * a3), _fix(safe * a4), _fix(safe * (a5 + a3 * 0.5 + a4 * 0.5))],
                    axis=1)
    return bucketed(_remap, images, coef, scaling, scale_col, scale_row,
                    static=(tf.cast(fill, tf.uint8),))


def pil_translate(images: tf.Tensor, args: tf.Tensor, fill: int | tf.Tensor,
                  axis: int) -> tf.Tensor:
    """pil_affine of a translation ([1, 0, -t, 0, 1, 0] / [1, 0, 0, 0, 1, -t]): Pillow's
    scaling path, input index COORD((-t + 0.5) + i) along ``axis`` (2 = columns, 1 = rows),
    the other axis copied."""
    if axis == 2:  # a per-pixel gather (XLA); rows: whole rows gathered (memcpy)
        m = tf.cast(args, tf.float64)
        one, zero = tf.ones_like(m), tf.zeros_like(m)
        return pil_affine(images, tf.stack([one, zero, -m, zero, one, zero], axis=1), fill)
    size = images.shape[axis]
    if size is None:
        raise ValueError(f"batched augment ops need a static image size, got {images.shape}")
    a2 = -tf.cast(args, tf.float64)[:, None]
    index = _coord((a2 + 1.0 * 0.5) + tf.range(size, dtype=tf.float64)[None, :] * 1.0,
                   size) + 1  # [n, size], the kernel's (a2 + a0 / 2) + i a0 with a0 = 1
    return tf.gather(_pad_axis(images, axis, fill), index, axis=axis, batch_dims=1)


def _pil_op(name):
    def op(images, args, centers=None, fill=0, matrices=None):
        h, w = _static_hw(images)
        if name in ("TranslateX", "TranslateY"):
            return pil_translate(images, args, fill, 2 if name == "TranslateX" else 1)
        if matrices is None:
            matrices = pil_matrices(name, args, h, w)
        return pil_affine(images, matrices, fill)
    op.__name__ = f"pil_{name}"
    return op


#: Batched ``augment_ops.PIL_GEOMETRIC``.
PIL_GEOMETRIC = {name: _pil_op(name) for name in A.GEOMETRIC}

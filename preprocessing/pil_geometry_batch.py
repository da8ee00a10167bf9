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
from preprocessing.augment_ops_batch import _gather_pixels, _pad_axis, _static_hw


def _scalar_each(fn, v):
    """fn on each element as a scalar: Eigen's vectorised float64 atan differs from the
    scalar one in the last bit (float64 cos / sin / tan do not), so the per-image ops'
    values need the scalar path."""
    n = v.shape[0]
    if n is not None:
        return tf.stack([fn(t) for t in tf.unstack(v, num=n)] or [tf.zeros([], v.dtype)])[:n]
    return tf.map_fn(fn, v, fn_output_signature=tf.TensorSpec([], v.dtype))


def pil_matrices(name, args, h, w, atan=None):
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


def _coord_index(v, size):
    """Pillow's COORD (-1 below 0, else int) of float64 v -> 1-padded index."""
    return tf.cast(tf.clip_by_value(tf.floor(v), -1.0, float(size)), tf.int32) + 1


def _fix(v):
    return tf.cast(tf.floor(v * 65536.0 + 0.5), tf.int32)


def pil_affine(images, matrices, fill):
    """pil_geometry.pil_affine of each image with its matrix [n, 6] (scaling path when
    a1 == a3 == 0, else the 16.16 fixed-point path; a matrix that needs Pillow's double
    path -- corners mapped beyond +-32768 px -- is an InvalidArgumentError)."""
    h, w = _static_hw(images)
    a0, a1, a2, a3, a4, a5 = [t[:, None, None] for t in tf.unstack(
        tf.cast(matrices, tf.float64), num=6, axis=1)]
    x = tf.range(w, dtype=tf.float64)[None, None, :]
    y = tf.range(h, dtype=tf.float64)[None, :, None]
    scaling = tf.logical_and(tf.equal(a1, 0.0), tf.equal(a3, 0.0))
    corners_x = tf.constant([0.0, w, w, 0.0], tf.float64)[None, None, :]
    corners_y = tf.constant([0.0, h, 0.0, h], tf.float64)[None, None, :]
    fits = tf.reduce_all(tf.logical_and(
        tf.abs(corners_x * a0 + corners_y * a1 + a2) < 32768.0,
        tf.abs(corners_x * a3 + corners_y * a4 + a5) < 32768.0), axis=-1, keepdims=True)
    check = tf.debugging.assert_equal(
        tf.logical_or(scaling, fits), True,
        message="pil_affine batch: a matrix maps the image beyond Pillow's fixed-point range")
    with tf.control_dependencies([check]):
        scale_col = _coord_index(a2 + a0 * 0.5 + x * a0, w)  # [n, 1, W]
    scale_row = _coord_index(a5 + a4 * 0.5 + y * a4, h)  # [n, H, 1]

    def safe(v):
        return v * tf.cast(fits, tf.float64)  # no int overflow for unused matrices
    xi = tf.range(w, dtype=tf.int32)[None, None, :]
    yi = tf.range(h, dtype=tf.int32)[None, :, None]
    fx = _fix(safe(a2 + a0 * 0.5 + a1 * 0.5)) + yi * _fix(safe(a1)) + xi * _fix(safe(a0))
    fy = _fix(safe(a5 + a3 * 0.5 + a4 * 0.5)) + yi * _fix(safe(a4)) + xi * _fix(safe(a3))
    fixed_col = tf.clip_by_value(tf.bitwise.right_shift(fx, 16), -1, w) + 1
    fixed_row = tf.clip_by_value(tf.bitwise.right_shift(fy, 16), -1, h) + 1
    s = tf.cast(scaling, tf.int32)
    cols = s * scale_col + (1 - s) * fixed_col
    rows = s * scale_row + (1 - s) * fixed_row
    return _gather_pixels(images, rows, cols, fill)


def pil_translate(images, args, fill, axis):
    """pil_affine of a translation ([1, 0, -t, 0, 1, 0] / [1, 0, 0, 0, 1, -t]): Pillow's
    scaling path, input index COORD((-t + 0.5) + i) along ``axis`` (2 = columns, 1 = rows),
    the other axis copied; whole columns / rows gathered."""
    size = images.shape[axis]
    if size is None:
        raise ValueError(f"batched augment ops need a static image size, got {images.shape}")
    a2 = -tf.cast(args, tf.float64)[:, None]
    index = _coord_index((a2 + 1.0 * 0.5) + tf.range(size, dtype=tf.float64)[None, :] * 1.0,
                         size)  # [n, size], the kernel's (a2 + a0 / 2) + i a0 with a0 = 1
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

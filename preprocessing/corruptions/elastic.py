"""Elastic transform of ImageNet-C (Hendrycks & Dietterich, "Benchmarking Neural Network
Robustness to Common Corruptions and Perturbations", ICLR 2019).

It follows ``imagecorruptions-imaug`` 1.1.5 (``corruptions.py``), whose elastic transform
is a pure displacement warp: two uniform noise fields U(-H/200, H/200), smoothed by a
Gaussian of sigma (H/100, W/100) (mode 'reflect', truncate 3) and scaled by alpha, move
every pixel; the image is resampled bilinearly with SciPy's ``map_coordinates(order=1,
mode='reflect')``. (The original ImageNet-C script also applied a random affine first; this
fork does not, and neither does this module.) Given the same uniform draws it matches the
reference to rounding; with a seed the random stream is TensorFlow's, so it matches in
distribution.
"""

import numpy as np
import tensorflow as tf

from preprocessing.corruptions import common

_ALPHA = (250 * 0.05, 250 * 0.065, 250 * 0.085, 250 * 0.1, 250 * 0.12)


def reflect_index(index: tf.Tensor, size: tf.Tensor | int) -> tf.Tensor:
    """SciPy's 'reflect' (half-sample symmetric) boundary for integer indices: ... 1 0 | 0 1
    ... n-1 | n-1 n-2 ..., periodic with period 2n (``size`` may broadcast)."""
    index = tf.math.floormod(index, 2 * size)
    return tf.where(index >= size, 2 * size - 1 - index, index)


# XLA fuses the index arithmetic, the four gathers and the weighted sum into a few loops
# (~2x TF's separate kernels). Everything but the final sum is integer or a copy; XLA may
# contract its multiply-adds into FMAs, which moves a result by at most an ulp (and keeps
# flat regions exact: their differences are zero).
@tf.function(jit_compile=True)
def warp(x: tf.Tensor, dy: tf.Tensor, dx: tf.Tensor) -> tf.Tensor:
    """``map_coordinates(x, (row + dy, col + dx, channel), order=1, mode='reflect')`` for
    float32 [H, W, C] and displacements [H, W]: bilinear interpolation in which both taps
    of each axis are reflected into the image (what SciPy's reflection of the coordinate
    followed by its tap mapping amounts to).

    SciPy works in float64. Here the fractional offsets and the tap weights are computed
    in float64 (row + dy would lose ~1e-5 in float32), then the weights are rounded to
    float32 and the sum is taken as t00 + sum of w * (t - t00), which keeps flat regions
    exact: float32 weights do not sum to exactly 1, and a plain weighted sum would move a
    flat region's k / 255 just below k, truncated one level lower."""
    h, w, channels = x.shape
    shift = tf.cast(tf.stack([dy, dx]), tf.float64)  # [2, H, W]
    whole = tf.floor(shift)
    frac = shift - whole
    grid = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij")).astype(np.int32)
    first = grid + tf.cast(whole, tf.int32)
    sizes = np.array([h, w], np.int32).reshape(2, 1, 1, 1)
    taps = reflect_index(tf.stack([first, first + 1], axis=1), sizes)  # [axis, tap, H, W]
    index = tf.reshape(taps[0][:, None] * w + taps[1][None, :], [4, h, w])
    weights = tf.stack([1.0 - frac, frac], axis=1)
    weights = tf.cast(tf.reshape(weights[0][:, None] * weights[1][None, :], [4, h, w, 1]),
                      tf.float32)
    values = tf.gather(tf.reshape(x, [h * w, channels]), index)  # [4, H, W, C]
    return values[0] + tf.reduce_sum((values[1:] - values[:1]) * weights[1:], axis=0)


def displacement(uniform: tf.Tensor, severity: int, image_hw: tuple[int, int]) -> tf.Tensor:
    """alpha * gaussian(U(-H/200, H/200)) from ``uniform`` in [0, 1) [H, W, k] (k fields
    at once; the reference's ``np.random.uniform(-max_d, max_d)`` is -max_d + 2 max_d u):
    float32 [H, W, k]."""
    level = common.check_severity("elastic_transform", severity)
    h, w = image_hw
    max_d = h * 0.005  # both fields use the image height, as the reference
    noise = -max_d + 2.0 * max_d * tf.cast(uniform, tf.float32)
    kernel_h = common.gaussian_kernel_1d(h * 0.01, truncate=3.0)
    kernel_w = common.gaussian_kernel_1d(w * 0.01, truncate=3.0)
    return common.separable_filter(noise, kernel_h, kernel_w, "reflect") * _ALPHA[level]


def elastic_from_uniforms(image: tf.Tensor, severity: int, uniform_x: tf.Tensor,
                          uniform_y: tf.Tensor) -> tf.Tensor:
    """Elastic transform given the two uniform fields in [0, 1) [H, W] that the reference
    draws (column displacement first, then row); alpha = 12.5/16.25/21.25/25/30."""
    return _elastic(image, severity, tf.stack([uniform_x, uniform_y], axis=-1))


def _elastic(image, severity, uniform):
    """Elastic transform from ``uniform`` [H, W, 2]: the column field's draws, then the
    row field's."""
    common.check_severity("elastic_transform", severity)
    fields = displacement(uniform, severity, common.static_hw(image))
    # The reference's np.array(x, float32) / 255. stays float32; divide_no_nan keeps graph
    # optimisers from replacing the division by a reciprocal multiply (1 ulp off).
    x = tf.math.divide_no_nan(tf.cast(image, tf.float32), tf.constant(255.0))
    return common.unit_to_uint8(warp(x, fields[..., 1], fields[..., 0]))


def elastic_transform(image: tf.Tensor, severity: int, seed: common.Seed) -> tf.Tensor:
    """Elastic transform (see ``elastic_from_uniforms``) with the uniform fields drawn from
    the stateless seed instead of NumPy's global RNG."""
    common.check_severity("elastic_transform", severity)
    h, w = common.static_hw(image)
    return _elastic(image, severity, tf.random.stateless_uniform([h, w, 2], common.as_seed(seed)))

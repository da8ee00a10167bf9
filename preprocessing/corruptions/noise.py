"""Noise corruptions of ImageNet-C (Hendrycks & Dietterich, "Benchmarking Neural Network
Robustness to Common Corruptions and Perturbations", ICLR 2019): gaussian, shot (Poisson),
impulse (salt and pepper) and speckle noise.

They follow ``imagecorruptions-imaug`` (``corruptions.py``) formula for formula, with the
same severity parameters; the random stream is TensorFlow's stateless one, not NumPy's, so
they match the reference in distribution, not pixel for pixel.
"""

import functools
import math

import numpy as np
import tensorflow as tf

from preprocessing.corruptions import common

_GAUSSIAN = (0.08, 0.12, 0.18, 0.26, 0.38)
_SHOT = (60.0, 25.0, 12.0, 5.0, 3.0)
_IMPULSE = (0.03, 0.06, 0.09, 0.17, 0.27)
_SPECKLE = (0.15, 0.2, 0.35, 0.45, 0.6)
# Uniform bins of the Poisson inverse-CDF lookup (shot_noise): a small table stays in
# cache, which matters more than the few more elements that land in crowded bins.
_BINS = 256



def _prepare(image, name, severity, seed):
    """Validated severity index, the static image shape and the seed as a tensor."""
    level = common.check_severity(name, severity)
    common.static_hw(image)
    return level, image.shape, common.as_seed(seed)



def gaussian_noise(image: tf.Tensor, severity: int, seed: common.Seed) -> tf.Tensor:
    """clip(x + N(0, sigma^2), 0, 1) per element, sigma = .08/.12/.18/.26/.38."""
    level, shape, seed = _prepare(image, "gaussian_noise", severity, seed)
    x = common.to_unit(image)
    noise = common.stateless_normal(shape, seed, stddev=_GAUSSIAN[level])
    return common.unit_to_uint8(x + noise)


@functools.lru_cache(maxsize=None)
def _poisson_tables(lam_scale):
    """Inverse-CDF tables for ``min(Poisson(level / 255 * lam_scale), lam_scale)``, one row
    per uint8 level (the only rates the reference ever uses), c = lam_scale.

    Built in float64 and stored as float32, the precision of the uniforms they are compared
    with (rounding moves a threshold by < 6e-8, far below any count's probability that
    matters at 224 x 224 x 3 draws per image).
    cdf [256, c + 1] float32: P(k <= j) for j < c, then 2 (a sentinel no uniform exceeds).
    cells [256 * _BINS, 2] float32: for the uniforms u in bin b = floor(u * _BINS), the
    number of cdf steps below the bin and the next step, so that the count of steps below
    u is ``start + (u > next)``; start is -1 where two or more steps fall inside the bin
    (tails of the distribution), which ``poisson_quantile`` resolves on the whole row."""
    c = int(lam_scale)
    j = np.arange(c)
    log_factorial = np.array([math.lgamma(i + 1.0) for i in j])
    cdf = np.full((256, c + 1), 2.0)
    for level in range(256):
        lam = level / 255.0 * lam_scale
        if lam == 0.0:
            cdf[level, :c] = 1.0
        else:
            pmf = np.exp(-lam + j * math.log(lam) - log_factorial)
            cdf[level, :c] = np.minimum(np.cumsum(pmf), 1.0)
    edges = np.arange(_BINS + 1) / _BINS
    below = np.stack([np.searchsorted(row[:c], edges, side="left") for row in cdf])
    start = below[:, :-1]
    following = np.take_along_axis(cdf, start, axis=1)
    start = np.where(below[:, 1:] - start >= 2, -1, start)
    cells = np.stack([start.ravel().astype(np.float64), following.ravel()], axis=1)
    return cdf.astype(np.float32), cells.astype(np.float32)


def poisson_quantile(levels: tf.Tensor, u: tf.Tensor, lam_scale: float) -> tf.Tensor:
    """min(k, c) for the smallest k with u <= P(Poisson(level / 255 * c) <= k), c =
    ``lam_scale``: the inverse CDF at float32 uniforms ``u`` of int32 uint8 ``levels``
    (both flat [N]). Returns float32 counts (exact small integers)."""
    cdf, cells = _poisson_tables(lam_scale)
    # One gather of a (start, next step) pair per element: per-element gathers dominate.
    cell = tf.gather(cells, levels * _BINS + tf.cast(u * _BINS, tf.int32))
    start, following = cell[:, 0], cell[:, 1]
    k = start + tf.cast(u > following, tf.float32)
    slow = tf.where(start < 0.0)
    rows = tf.gather(cdf, tf.gather_nd(levels, slow))
    k_slow = tf.reduce_sum(
        tf.cast(rows < tf.gather_nd(u, slow)[:, tf.newaxis], tf.float32), axis=1)
    return tf.tensor_scatter_nd_update(k, slow, k_slow)


def shot_noise(image: tf.Tensor, severity: int, seed: common.Seed) -> tf.Tensor:
    """clip(Poisson(x * lam) / lam, 0, 1) per element, lam = 60/25/12/5/3.

    Sampled by inverting the Poisson CDF of the element's uint8 level at one float32
    uniform (``poisson_quantile``; tables built with NumPy at trace time). Counts >= lam
    all give 255, so the CDF is only needed below lam. An exact Poisson sampler up to the
    uniform's 2^-23 resolution (a count whose probability is below ~1e-7 may be drawn at
    a neighbour's), several times faster than ``tf.random.stateless_poisson``. The division
    by lam stays in float64, as the reference's: k / lam * 255 lands on integers for some
    k, where float32 would truncate one level lower."""
    level, shape, seed = _prepare(image, "shot_noise", severity, seed)
    lam_scale = _SHOT[level]
    levels = tf.reshape(tf.cast(image, tf.int32), [-1])
    u = tf.random.stateless_uniform(levels.shape, seed)
    k = tf.cast(poisson_quantile(levels, u, lam_scale), tf.float64)
    return tf.reshape(common.unit_to_uint8(common.exact_div(k, lam_scale)), shape)


def impulse_noise(image: tf.Tensor, severity: int, seed: common.Seed) -> tf.Tensor:
    """skimage ``random_noise(x, 's&p', amount=p)``: every element (each channel on its own)
    is hit with probability p = .03/.06/.09/.17/.27 (``uniform <= p``), and a hit element
    becomes 255 or 0 with probability 1/2 each (skimage's default ``salt_vs_pepper``).

    The reference passes ``seed=None`` to skimage, so even its own output is not
    reproducible from ``np.random.seed``; here the seed fixes it."""
    level, shape, seed = _prepare(image, "impulse_noise", severity, seed)
    # One uniform decides both: u <= p hits (probability p) and, given a hit, u is
    # uniform on [0, p], so u <= p / 2 is salt with probability 1/2, as in skimage.
    u = tf.random.stateless_uniform(shape, seed)
    # The reference's x / 255 * 255 round trip is exact for every uint8 value, so the
    # untouched elements can stay integers. Masks times values, not tf.where: uint8
    # selects are several times slower on CPU.
    keep = tf.cast(u > _IMPULSE[level], tf.uint8)
    salt = tf.cast(u <= _IMPULSE[level] / 2, tf.uint8)
    return tf.convert_to_tensor(image, tf.uint8) * keep + salt * 255


def speckle_noise(image: tf.Tensor, severity: int, seed: common.Seed) -> tf.Tensor:
    """clip(x + x * N(0, sigma^2), 0, 1) per element, sigma = .15/.2/.35/.45/.6."""
    level, shape, seed = _prepare(image, "speckle_noise", severity, seed)
    # The float32 noise is cast to float64 before it meets x (the reference's float64
    # x / 255): in float32, Grappler regrouped x * (z * sigma) as (x * z) * sigma in graphs
    # (constant push-down), one level off eager mode on a few values; after the cast there
    # is no constant left to push and the rest is one product and one sum.
    noise = tf.cast(common.stateless_normal(shape, seed, stddev=_SPECKLE[level]), tf.float64)
    x = common.exact_div(tf.cast(image, tf.float64), 255.0)
    return common.unit_to_uint8(x + x * noise)

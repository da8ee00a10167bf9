"""Spatter corruption of ImageNet-C (Hendrycks & Dietterich, "Benchmarking Neural Network
Robustness to Common Corruptions and Perturbations", ICLR 2019; one of the four extra
"validation" corruptions of their code).

It follows ``imagecorruptions-imaug`` 1.1.5 (``corruptions.py``) step by step. A liquid
layer N(mu, s^2), Gaussian-smoothed and thresholded, becomes water drops (severities 1-3)
or mud (4-5). The water branch's OpenCV chain is rebuilt in TensorFlow: ``cv2.Canny``
(Sobel, L1 magnitude, OpenCV's non-maximum suppression and hysteresis), the 5x5 chamfer
``cv2.distanceTransform`` (as an iterated min-plus filter), ``cv2.threshold``,
``cv2.blur``, ``cv2.equalizeHist`` and ``cv2.filter2D`` with OpenCV's roundings (as of the
installed OpenCV 5.0). Given the reference's normal draws the output matches it to
rounding; with a seed the random stream is TensorFlow's, so it matches in distribution.
"""

import numpy as np
import tensorflow as tf
from tensorflow.compiler.tf2xla.python import xla

from preprocessing.corruptions import common

# (mean, std, smoothing sigma, threshold, strength, mud?) per severity.
_SPATTER = ((0.65, 0.3, 4, 0.69, 0.6, 0), (0.65, 0.3, 3, 0.68, 0.6, 0),
            (0.65, 0.3, 2, 0.68, 0.5, 0), (0.65, 0.3, 1, 0.65, 1.5, 1),
            (0.67, 0.4, 1, 0.65, 1.5, 1))
_WATER = (175 / 255.0, 238 / 255.0, 238 / 255.0)  # added to R, G, B (BGR constant on RGB)
_MUD = (63 / 255.0, 42 / 255.0, 20 / 255.0)

# cv2.Canny: tan(22.5 deg) in 15-bit fixed point.
_CANNY_SHIFT = 15
_TG22 = int(0.4142135623730950488016887242097 * (1 << _CANNY_SHIFT) + 0.5)
# cv2.distanceTransform(DIST_L2, 5): the moves of its 5x5 chamfer mask (one of each +-
# pair) and their weights; the reference caps the distance at 20.
_CHAMFER_MOVES = (((0, 1), 1.0), ((1, 0), 1.0), ((1, 1), 1.4), ((1, -1), 1.4),
                  ((1, 2), 2.1969), ((2, 1), 2.1969), ((1, -2), 2.1969), ((2, -1), 2.1969))
_DIST_TRUNC = 20.0
_FAR = 1e6  # outside the image: OpenCV's border never carries a short distance


# canny and distance_to_edges are integer logic and float min-plus sums (no multiply-add
# for XLA to contract), so compiling them with XLA changes no value; it fuses their many
# small elementwise steps and loop bodies (spatter's water severities: ~10 -> ~7.5 ms).
@tf.function(jit_compile=True)
def canny(gray: tf.Tensor, low: float, high: float) -> tf.Tensor:
    """``cv2.Canny(gray, low, high)`` (aperture 3, L1 gradient) on float [H, W] holding
    uint8 values: bool edge map [H, W].

    Sobel derivatives with a replicated border, magnitude |gx| + |gy|, OpenCV's fixed-point
    direction sectors and its asymmetric non-maximum test (strict towards one neighbour,
    not the other; zero magnitude outside the image), then hysteresis: pixels above
    ``high`` grow through 8-connected candidates above ``low``, iterated to convergence."""
    h, w = common.static_hw(gray[tf.newaxis, ..., tf.newaxis])
    g = common.pad(gray[..., tf.newaxis], [(1, 1), (1, 1)], "nearest")[..., 0]
    gx = (g[:-2, 2:] - g[:-2, :-2]) + 2 * (g[1:-1, 2:] - g[1:-1, :-2]) + (g[2:, 2:] - g[2:, :-2])
    gy = (g[2:, :-2] - g[:-2, :-2]) + 2 * (g[2:, 1:-1] - g[:-2, 1:-1]) + (g[2:, 2:] - g[:-2, 2:])
    gx, gy = tf.cast(gx, tf.int32), tf.cast(gy, tf.int32)
    ax, ay = tf.abs(gx), tf.abs(gy)
    mag = ax + ay
    m = tf.pad(mag, [[1, 1], [1, 1]])

    def at(dy, dx):
        return m[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]

    tg22 = ax * _TG22
    tg67 = tg22 + ax * (1 << (_CANNY_SHIFT + 1))
    ay = ay * (1 << _CANNY_SHIFT)
    same_sign = (gx < 0) == (gy < 0)
    horizontal = (mag > at(0, -1)) & (mag >= at(0, 1))
    vertical = (mag > at(-1, 0)) & (mag >= at(1, 0))
    diag_main = (mag > at(-1, -1)) & (mag > at(1, 1))
    diag_anti = (mag > at(-1, 1)) & (mag > at(1, -1))
    diagonal = common.select(same_sign, diag_main, diag_anti)
    maximum = common.select(ay < tg22, horizontal, common.select(ay > tg67, vertical, diagonal))
    candidate = maximum & (mag > int(np.floor(low)))
    strong = candidate & (mag > int(np.floor(high)))

    def grow(edges):
        near = tf.nn.max_pool2d(tf.cast(edges, tf.float32)[tf.newaxis, ..., tf.newaxis],
                                3, 1, "SAME")[0, ..., 0] > 0
        return candidate & near | edges

    def not_done(edges, previous):
        return tf.reduce_any(edges != previous)

    edges, _ = tf.while_loop(not_done, lambda e, _: (grow(e), e),
                             (grow(strong), strong))
    return edges


@tf.function(jit_compile=True)
def distance_to_edges(edges: tf.Tensor) -> tf.Tensor:
    """``cv2.threshold(cv2.distanceTransform(255 - edges, DIST_L2, 5), 20, 20, TRUNC)``:
    the 5x5 chamfer distance to the nearest edge pixel, capped at 20, float32 [H, W].

    The chamfer distance is the cheapest sum of mask moves, and moves commute, so instead
    of OpenCV's two raster scans it is built one move direction v (weight c) at a time:
    d(p) <- min over |t| <= 20 / c of d(p + t v) + |t| c, by doubling (steps t = +-1, +-2,
    +-4, ...). Starting from 20 (not infinity) off the edges gives the capped distance.
    The image border is not an edge, and no path leaves the image (as in OpenCV). Sums
    of weights may round differently from OpenCV's float32 scan by a few ulps."""
    h, w = common.static_hw(edges[tf.newaxis, ..., tf.newaxis])
    shifts, costs = [], []  # (row shift, col shift) and cost, in the order applied
    for (vy, vx), weight in _CHAMFER_MOVES:
        step = 1
        while step * weight <= _DIST_TRUNC:
            shifts.append((vy * step, vx * step))
            costs.append(step * weight)
            step *= 2
    table = tf.constant(np.array(shifts, np.int32))
    reach = int(np.abs(shifts).max())
    costs = tf.constant(np.array(costs, np.float32))

    # One while_loop over the steps rather than ~30 unrolled ones: a tf.data map
    # re-instantiates its function per iterator, at ~0.25 ms per graph op. The pad is the
    # largest step's everywhere, so that only the slices' offsets vary (as XLA needs).
    def relax(k, dist):
        shift = tf.gather(table, k)
        padded = tf.pad(dist, [[reach, reach], [reach, reach]], constant_values=_FAR)
        ahead = xla.dynamic_slice(padded, reach + shift, [h, w])
        behind = xla.dynamic_slice(padded, reach - shift, [h, w])
        return k + 1, tf.minimum(dist, tf.minimum(ahead, behind) + tf.gather(costs, k))

    _, dist = tf.while_loop(lambda k, _: k < len(shifts), relax,
                            (tf.constant(0), tf.where(edges, 0.0, _DIST_TRUNC)))
    return tf.ensure_shape(dist, [h, w])


def _box3_sum(x):
    """3x3 box sums of [H, W] with ``cv2.blur``'s default BORDER_REFLECT_101 border."""
    p = tf.pad(x, [[1, 1], [1, 1]], "REFLECT")
    rows = p[:, :-2] + p[:, 1:-1] + p[:, 2:]
    return rows[:-2] + rows[1:-1] + rows[2:]


def blur3_float(x: tf.Tensor) -> tf.Tensor:
    """``cv2.blur(x, (3, 3))`` on float32: OpenCV sums in float64 (exact for 9 float32
    values in any order), scales by 1/9 and casts back."""
    return tf.cast(_box3_sum(tf.cast(x, tf.float64)) * (1.0 / 9.0), tf.float32)


def blur3_uint8(x: tf.Tensor) -> tf.Tensor:
    """``cv2.blur(x, (3, 3))`` on uint8 values (float32 [H, W]): OpenCV divides the integer
    sum by 9 in 16-bit fixed point, (s + 4) * 7282 >> 16, a rounded mean. Every
    intermediate is an integer below 2**24, exact in float32."""
    return tf.floor((_box3_sum(x) + 4.0) * 7282.0 / 65536.0)


def equalize_hist(x: tf.Tensor) -> tf.Tensor:
    """``cv2.equalizeHist`` on float [H, W] holding uint8 values: LUT round((cdf(v) -
    n_min) * 255 / (N - n_min)) with n_min the count of the lowest value present (which
    maps to 0); a constant image keeps its value."""
    values = tf.cast(x, tf.int32)
    hist = tf.math.bincount(tf.reshape(values, [-1]), minlength=256, maxlength=256)
    total = tf.size(values)
    lowest = tf.reduce_min(values)
    n_min = tf.gather(hist, lowest)
    cdf = tf.cumsum(hist)
    scale = tf.constant(255.0) / tf.cast(total - n_min, tf.float32)
    lut = tf.round(tf.cast(cdf - n_min, tf.float32) * scale)
    lut = common.select(tf.range(256) <= lowest, 0.0, tf.clip_by_value(lut, 0.0, 255.0))
    lut = common.select(n_min == total, tf.cast(tf.range(256), tf.float32), lut)
    return tf.gather(lut, values)


def _water(x, liquid, strength):
    liquid8 = tf.floor(liquid * 255.0)  # the reference's (liquid * 255).astype(np.uint8)
    edges = canny(liquid8, 50, 150)
    dist = tf.floor(blur3_float(distance_to_edges(edges)))  # .astype(np.uint8)
    dist = equalize_hist(dist)
    emboss = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], np.float32)
    dist = tf.clip_by_value(common.filter2d(dist[..., tf.newaxis], emboss)[..., 0], 0.0, 255.0)
    m = liquid8 * blur3_uint8(dist)
    # A layer without drops leaves the image as is (the reference divides 0 by 0).
    m = tf.math.divide_no_nan(m, tf.reduce_max(m)) * strength
    color = tf.constant(np.array(_WATER, np.float32))
    return common.unit_to_uint8(x + m[..., tf.newaxis] * color)


def _mud(x, liquid, threshold, sigma):
    m = tf.cast(liquid > threshold, tf.float32)
    m = common.gaussian_filter(m[..., tf.newaxis], sigma)[..., 0]
    m = common.select(m < 0.8, 0.0, m)[..., tf.newaxis]
    # float64 where the reference mixes in its float64 colour.
    color = tf.constant(np.array(_MUD, np.float64)) * tf.cast(m, tf.float64)
    return common.unit_to_uint8(tf.cast(x * (1.0 - m), tf.float64) + color)


def spatter_from_normal(image: tf.Tensor, severity: int, normal: tf.Tensor) -> tf.Tensor:
    """Spatter given the standard normal field [H, W] behind the reference's liquid layer
    (``np.random.normal(mu, s)`` is mu + s * z): liquid = gaussian(mu + s z, sigma) zeroed
    below the threshold; water drops are an embossed, histogram-equalised distance map to
    the drops' Canny edges, tinted pale turquoise; mud is a blurred drop mask tinted brown
    that replaces the image where it exceeds 0.8.

    Departure: a water layer without any drop returns the image unchanged; the reference
    then divides 0 by 0 and returns NaN cast to uint8 (rare above ~64 px)."""
    level = common.check_severity("spatter", severity)
    common.static_hw(image)
    mu, std, sigma, threshold, strength, mud = _SPATTER[level]
    # divide_no_nan: a plain division by a constant becomes a reciprocal multiply in graphs.
    x = tf.math.divide_no_nan(tf.cast(image, tf.float32), tf.constant(255.0))
    liquid = mu + std * tf.cast(normal, tf.float32)
    liquid = common.gaussian_filter(liquid[..., tf.newaxis], sigma)[..., 0]
    liquid = common.select(liquid < threshold, 0.0, liquid)
    if mud:
        return _mud(x, liquid, threshold, strength)
    return _water(x, liquid, strength)


def spatter(image: tf.Tensor, severity: int, seed: common.Seed) -> tf.Tensor:
    """Spatter (see ``spatter_from_normal``) with the normal field drawn from the stateless
    seed instead of NumPy's global RNG."""
    common.check_severity("spatter", severity)
    h, w = common.static_hw(image)
    return spatter_from_normal(image, severity,
                               common.stateless_normal([h, w], seed))

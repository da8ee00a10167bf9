"""Blur corruptions of ImageNet-C (Hendrycks & Dietterich, "Benchmarking Neural Network
Robustness to Common Corruptions and Perturbations", ICLR 2019): defocus, gaussian, glass,
motion and zoom blur.

They follow ``imagecorruptions-imaug`` (``corruptions.py``) step by step, with the same
severity parameters: kernels and index tables are built with NumPy at trace time, the
filtering runs as TensorFlow ops. The random draws (glass blur's offsets, motion blur's
angle) come from TensorFlow's stateless stream, not NumPy's; the ``*_with_offsets`` /
``*_at_angle`` helpers take them explicitly, and fed the reference's draws they match it
pixel for pixel up to float32 rounding.
"""

import math

import numpy as np
import tensorflow as tf
from tensorflow.compiler.tf2xla.python import xla

from preprocessing.corruptions import common

# Disk radius, alias blur, and a relative downward bias: the reference's float32 kernels of
# severities 1-3 sum to 1 - 3.7e-9, 1 - 3.4e-8 and 1 - 6.4e-9, so its flat regions (and
# other exactly-integer outputs) fall just below the integer and truncate one level down;
# float32 rounding (~1e-7) hides so small a bias, hence a larger one. Without it 52 % and
# 76 % of constant images came out one level above the reference at severities 2 and 3.
# (Severities 4-5 sum to 1.013 and 1.011, far above any rounding.)
_DEFOCUS = ((3, 0.1, 2.0 ** -20), (4, 0.5, 2.0 ** -20), (6, 0.5, 2.0 ** -20),
            (8, 0.5, 0.0), (10, 0.5, 0.0))
_GAUSSIAN = (1, 2, 3, 4, 6)
_GLASS = ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2))  # sigma, delta, iters
_MOTION = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))  # radius, sigma
# The reference's exact float64 factor lists (np.arange's end point included or not as
# rounding decides: 1.11 / .01 steps gives 12 factors, 1.31 / .03 gives 11).
_ZOOMS = (np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.02),
          np.arange(1, 1.26, 0.02), np.arange(1, 1.31, 0.03))
# Glass blur's copy chains are followed by pointer doubling: 2**6 = 64 links, while a chain
# of even 40 has probability below 1e-15 per pixel at the largest delta.
_DOUBLINGS = 6



def _prepare(image, name, severity):
    level = common.check_severity(name, severity)
    common.static_hw(image)
    return level, tf.convert_to_tensor(image, tf.uint8)


# ------------------------------------------------------------------ defocus
def _gaussian_kernel_cv2(ksize, sigma):
    """``cv2.getGaussianKernel(ksize, sigma)`` for sigma > 0."""
    t = np.arange(ksize) - (ksize - 1) * 0.5
    w = np.exp(-0.5 / (sigma * sigma) * t * t)
    return w / w.sum()


def disk_kernel(radius: int, alias_blur: float) -> np.ndarray:
    """The reference's ``disk``: a normalised aliased disk on a 17 x 17 grid (radius <= 8)
    or (2r+1)^2, smoothed by ``cv2.GaussianBlur`` (3 x 3, or 5 x 5 past radius 8, sigma
    ``alias_blur``, BORDER_REFLECT_101), computed in float64 NumPy. The all-zero border the
    blur leaves is cropped (it would only add zero taps)."""
    half, ksize = (8, 3) if radius <= 8 else (radius, 5)
    t = np.arange(-half, half + 1)
    xx, yy = np.meshgrid(t, t)
    disk = ((xx ** 2 + yy ** 2) <= radius ** 2).astype(np.float64)
    disk /= disk.sum()
    g = _gaussian_kernel_cv2(ksize, alias_blur)
    r = ksize // 2
    padded = np.pad(disk, r, mode="reflect")  # numpy 'reflect' == BORDER_REFLECT_101
    n = disk.shape[0]
    rows = sum(g[i] * padded[i:i + n] for i in range(ksize))
    kernel = sum(g[i] * rows[:, i:i + n] for i in range(ksize))
    keep = min(half, radius + r)
    return kernel[half - keep:half + keep + 1, half - keep:half + keep + 1]


def _smooth_size(n):
    """The least 2^a 3^b 5^c >= n: FFT lengths that factor into small primes are fast."""
    while _largest_prime_factor(n) > 5:
        n += 1
    return n


def _largest_prime_factor(n):
    p, largest = 2, 1
    while n > 1:
        while n % p == 0:
            largest, n = p, n // p
        p += 1
    return largest


def filter2d_fft(x: tf.Tensor, kernel: np.ndarray) -> tf.Tensor:
    """``common.filter2d`` (BORDER_REFLECT_101) by FFT, for large kernels: the image is
    padded as filter2d pads it and circularly convolved with the flipped kernel on a grid
    long enough that no output wraps round. Float32 FFT rounding is ~1e-6 of the range."""
    kernel = np.asarray(kernel, np.float64)
    n = kernel.shape[0]
    p = n // 2
    height, width = common.static_hw(x[tf.newaxis])
    x = tf.transpose(x, [2, 0, 1])  # FFT over the two innermost axes
    x = common.pad(x, [(p, p), (p, p)], "mirror", axes=(1, 2))
    fh, fw = _smooth_size(height + 2 * p), _smooth_size(width + 2 * p)
    grid = np.zeros((fh, fw))
    grid[:n, :n] = kernel[::-1, ::-1]
    spectrum = tf.constant(np.fft.rfft2(grid).astype(np.complex64))
    y = tf.signal.irfft2d(tf.signal.rfft2d(x, [fh, fw]) * spectrum, [fh, fw])
    return tf.transpose(y[:, 2 * p:2 * p + height, 2 * p:2 * p + width], [1, 2, 0])


def defocus_blur(image: tf.Tensor, severity: int, seed: common.Seed) -> tf.Tensor:
    """Each channel correlated with the anti-aliased disk (``disk_kernel``), radius
    3/4/6/8/10, with ``cv2.filter2D``'s BORDER_REFLECT_101 (directly up to 11 x 11, by FFT
    past that, as OpenCV also does). Deterministic: ``seed`` is accepted for the common
    signature and ignored."""
    level, image = _prepare(image, "defocus_blur", severity)
    radius, alias_blur, bias = _DEFOCUS[level]
    kernel = disk_kernel(radius, alias_blur)
    filt = common.filter2d if kernel.shape[0] <= 11 else filter2d_fft
    x = filt(common.to_unit(image), kernel)
    if bias:
        x = x * (1.0 - bias)
    return common.unit_to_uint8(x)


# ------------------------------------------------------------------ gaussian
def gaussian_blur(image: tf.Tensor, severity: int, seed: common.Seed) -> tf.Tensor:
    """skimage ``gaussian`` (mode 'nearest', truncate 4) with sigma 1/2/3/4/6.
    Deterministic: ``seed`` is ignored."""
    level, image = _prepare(image, "gaussian_blur", severity)
    return common.unit_to_uint8(common.gaussian_filter64(_unit64(image), _GAUSSIAN[level]))


def _unit64(image):
    """uint8 -> float64 x / 255, the reference's ``np.array(x) / 255.``"""
    return common.exact_div(tf.cast(image, tf.float64), 255.0)


# ------------------------------------------------------------------ glass
def glass_offsets_shape(height: int, width: int, severity: int) -> tuple[int, int, int, int]:
    """Shape [iterations, H - 2 delta, W - 2 delta, 2] of glass blur's (dy, dx) offsets."""
    _, delta, iterations = _GLASS[common.check_severity("glass_blur", severity)]
    return iterations, height - 2 * delta, width - 2 * delta, 2


def _glass_sources(offsets, height, width, delta):
    """Flat source index of every pixel after one pass of the reference's loop.

    The reference visits rows h = H-delta .. delta+1 and, in each, columns w = W-delta ..
    delta+1 (both descending) and *copies* x[h+dy, w+dx] into x[h, w] (its tuple "swap"
    of two array views assigns twice the same value). A source already visited in this
    pass holds its own new value, so a pixel's value comes from the end of a chain of
    copies; the chains are resolved at once by pointer doubling instead of sequentially.
    """
    dy, dx = offsets[..., 0], offsets[..., 1]
    step = dy * width + dx  # |dx| < width: step > 0 <=> the source comes later in raster order
    # Sources later in raster order and inside the visited block were visited before.
    visited_before = ((step > 0) & (tf.range(delta + 1, height - delta + 1)[:, None] + dy
                                    <= height - delta)
                      & (tf.range(delta + 1, width - delta + 1)[None, :] + dx <= width - delta))
    block = [(delta + 1, delta - 1), (delta + 1, delta - 1)]  # unvisited pixels: step 0
    identity = tf.range(height * width)
    source = identity + tf.reshape(tf.pad(step, block), [-1])
    jump = identity + tf.reshape(tf.pad(step * tf.cast(visited_before, tf.int32), block), [-1])
    if delta > 1:  # with delta 1 every offset points at a pixel not yet visited
        for _ in range(_DOUBLINGS):
            jump = tf.gather(jump, jump)
    return tf.gather(source, jump)


# Integer index arithmetic and copies only, so XLA's result is bit-identical to TF's; its
# fused gathers are ~5x faster than GatherV2's per-element copies on CPU, which dominate
# glass blur. (Float steps stay outside: XLA may contract a*b+c into an FMA.)
@tf.function(jit_compile=True)
def _glass_shuffle(image, offsets):
    """uint8 [H, W, C] after the reference's pixel-copying passes, one per row of int32
    ``offsets`` [iterations, H - 2 delta, W - 2 delta, 2]."""
    height, width, channels = image.shape
    delta = (height - offsets.shape[1]) // 2
    # Pass i reads pixel sources_i[p] of the previous pass's output, so the passes compose
    # into one index map and the pixels are copied once.
    index = _glass_sources(offsets[0], height, width, delta)
    for i in range(1, offsets.shape[0]):
        index = tf.gather(index, _glass_sources(offsets[i], height, width, delta))
    flat = tf.gather(tf.reshape(image, [height * width, channels]), index)
    return tf.reshape(flat, [height, width, channels])


def glass_blur_with_offsets(image: tf.Tensor, severity: int,
                            offsets: tf.Tensor | np.ndarray) -> tf.Tensor:
    """Glass blur with its random offsets given: int [iterations, H - 2 delta, W - 2 delta,
    2] (dy, dx) in [-delta, delta), one per visited pixel, indexed by (h - delta - 1,
    w - delta - 1). The reference draws them as ``np.random.randint(-delta, delta, 2)``
    = (dx, dy) in its visiting order (h and w descending). Steps: skimage gaussian(sigma),
    truncation to uint8, the local pixel copying (``_glass_shuffle``), gaussian again."""
    level, image = _prepare(image, "glass_blur", severity)
    sigma = _GLASS[level][0]
    height, width = common.static_hw(image)
    offsets = tf.ensure_shape(tf.cast(offsets, tf.int32),
                              glass_offsets_shape(height, width, severity))
    # np.uint8(gaussian(x / 255.) * 255): truncated without a clip (the result is in
    # [0, 1] anyway), in float64 with SciPy's summation order.
    x = common.to_uint8(common.gaussian_filter64(_unit64(image), sigma) * 255.0)
    x = _glass_shuffle(x, offsets)
    return common.unit_to_uint8(common.gaussian_filter64(_unit64(x), sigma))


@tf.function(jit_compile=True)
def _offsets_from_bits(bits, delta):
    """Two offsets in [-delta, delta) per uint32: each half's 16 bits times 2 delta, >> 16.
    Exactly uniform for delta 1, 2, 4; for delta 3 the six values get 10922 or 10923 of the
    65536 patterns (1e-4 off 1/6 relatively, as against TF's own 32-bit modulo: 1e-9)."""
    span = tf.constant(2, tf.uint32) * tf.cast(delta, tf.uint32)
    halves = tf.stack([tf.bitwise.bitwise_and(bits, 0xFFFF), tf.bitwise.right_shift(bits, 16)],
                      axis=-1)
    return tf.cast(tf.bitwise.right_shift(halves * span, 16), tf.int32) - delta


def glass_blur(image: tf.Tensor, severity: int, seed: common.Seed) -> tf.Tensor:
    """Glass blur (sigma, delta, iterations) = (.7,1,2)/(.9,2,1)/(1,2,3)/(1.1,3,2)/(1.5,4,2)
    with offsets drawn uniformly in [-delta, delta) from ``seed`` (TF's stream, one 32-bit
    draw per visited pixel, ``_offsets_from_bits``; the reference seeds numba's copy of
    NumPy's generator)."""
    level = common.check_severity("glass_blur", severity)
    height, width = common.static_hw(image)
    delta = _GLASS[level][1]
    bits = tf.random.stateless_uniform(glass_offsets_shape(height, width, severity)[:3],
                                       common.as_seed(seed), minval=None, maxval=None,
                                       dtype=tf.uint32)
    return glass_blur_with_offsets(image, severity, _offsets_from_bits(bits, delta))


# ------------------------------------------------------------------ motion
def motion_blur_layer(x: tf.Tensor, radius: int, sigma: float,
                      angle: tf.Tensor | float) -> tf.Tensor:
    """The reference's ``_motion_blur`` on float [H, W, C]: the sum over i < 2 radius + 1 of
    gaussian weight_i (sigma, normalised over the width) times x shifted by i pixels along
    ``angle`` (degrees; float64 scalar), with the borders replicated. Shifts that leave the
    image end the sum, as the reference's ``break`` does. The image is edge-padded once;
    each shifted copy is then a slice of it.

    The shifts round i sin(angle) and i cos(angle) to integers in float64 as the reference
    does; only where one lands exactly on a half-integer (e.g. at exactly 30 degrees) can
    the last bit of the reference's ``math.hypot``, which ``sqrt`` does not always
    reproduce, move a shift by one pixel. Continuous random angles never land there."""
    return _motion_blur_xla(x, radius, sigma, tf.cast(angle, tf.float64))


# XLA fuses the shifted slices and their weighted sum into one pass over the image (3-4x
# TF's slice, multiply and add kernels); it adds in the reference's order, and may fuse a
# multiply-add into an FMA, which moves a sum by at most an ulp.
@tf.function(jit_compile=True)
def _motion_blur_xla(x, radius, sigma, angle):
    height, width_px, channels = (int(n) for n in x.shape)
    width = 2 * radius + 1
    t = np.arange(width, dtype=np.float64)
    kernel = np.exp(-t ** 2 / (2 * sigma ** 2)) / (np.sqrt(2 * np.pi) * sigma)
    kernel /= kernel.sum()

    rad = angle * (math.pi / 180.0)
    point = (width * tf.sin(rad), width * tf.cos(rad))
    hypot = tf.sqrt(point[0] ** 2 + point[1] ** 2)
    dy = -tf.cast(tf.math.ceil(t * point[0] / hypot - 0.5), tf.int32)
    dx = -tf.cast(tf.math.ceil(t * point[1] / hypot - 0.5), tf.int32)
    inside = tf.cast((tf.abs(dy) < height) & (tf.abs(dx) < width_px), tf.float32)
    weights = tf.constant(kernel, tf.float32) * tf.math.cumprod(inside)

    pad = width - 1  # >= every |shift|, so the slices stay inside the padded image
    padded = common.pad(x, [(pad, pad), (pad, pad)], "nearest")
    total = tf.zeros_like(x)
    for i in range(width):  # the reference's loop, in its order
        # XLA's own dynamic slice: a tf.slice with a computed begin is compiled with the
        # begin as a constant, i.e. once per angle.
        begin = tf.stack([pad - dy[i], pad - dx[i], 0])
        total += weights[i] * xla.dynamic_slice(padded, begin, [height, width_px, channels])
    return total


def motion_blur_at_angle(image: tf.Tensor, severity: int, angle: tf.Tensor | float) -> tf.Tensor:
    """Motion blur (radius, sigma) = (10,3)/(15,5)/(15,8)/(15,12)/(20,15) along ``angle``
    (degrees), on the 0-255 scale as the reference (which blurs the uint8 array)."""
    level, image = _prepare(image, "motion_blur", severity)
    radius, sigma = _MOTION[level]
    return common.to_uint8(motion_blur_layer(tf.cast(image, tf.float32), radius, sigma,
                                             angle))


def motion_blur(image: tf.Tensor, severity: int, seed: common.Seed) -> tf.Tensor:
    """``motion_blur_at_angle`` with the angle ~ U(-45, 45) drawn from ``seed``."""
    common.check_severity("motion_blur", severity)
    angle = tf.random.stateless_uniform([], common.as_seed(seed), -45.0, 45.0,
                                        dtype=tf.float64)
    return motion_blur_at_angle(image, severity, angle)


# ------------------------------------------------------------------ zoom
def zoom_blur(image: tf.Tensor, severity: int, seed: common.Seed) -> tf.Tensor:
    """(x + sum_z clipped_zoom(x, z)) / (n + 1) over the reference's zoom factors (1 to
    1.10 / 1.15 by .01, 1.20 / 1.25 by .02, 1.30 by .03), summed in the reference's order
    (the zooms first, then the image), with the reference's float32 / float64 steps bit for
    bit. Deterministic: ``seed`` is ignored."""
    level, image = _prepare(image, "zoom_blur", severity)
    zooms = _ZOOMS[level]
    # The reference: x = float32(x / 255.); each zoom computed by SciPy in float64 from
    # the float32 values and stored as float32; out = 0 + zoom_1 + ... + zoom_n and
    # (x + out) / (n + 1) in float32, in that order (common.ordered_sum: Grappler would
    # regroup a chain of adds).
    x = tf.cast(_unit64(image), tf.float32)
    x64 = tf.cast(x, tf.float64)
    zoomed = tf.stack([tf.cast(common.clipped_zoom64(x64, zoom), tf.float32)
                       for zoom in zooms])
    out = common.ordered_sum(zoomed, tf.zeros_like(x))
    return common.unit_to_uint8(common.exact_div(x + out, float(len(zooms) + 1)))

"""Digital corruptions of ImageNet-C (Hendrycks & Dietterich, "Benchmarking Neural Network
Robustness to Common Corruptions and Perturbations", ICLR 2019): brightness, contrast,
saturate, pixelate and JPEG compression.

They reproduce ``imagecorruptions-imaug`` (``corruptions.py``): the scikit-image HSV
round trip is re-implemented formula for formula in float64, PIL's BOX and NEAREST
resizing are rebuilt as NumPy index/weight tables with PIL's fixed-point rounding, and the
JPEG step uses the same libjpeg settings as PIL's ``save(..., 'JPEG', quality=q)``. All
five are deterministic (the seed is accepted for the common signature and ignored).
"""

import numpy as np
import tensorflow as tf

from preprocessing.corruptions import common

_BRIGHTNESS = (0.1, 0.2, 0.3, 0.4, 0.5)
_CONTRAST = (0.4, 0.3, 0.2, 0.1, 0.05)
_SATURATE = ((0.3, 0.0), (0.1, 0.0), (2.0, 0.0), (5.0, 0.1), (20.0, 0.2))
_PIXELATE = (0.6, 0.5, 0.4, 0.3, 0.25)
_JPEG_QUALITY = (25, 18, 15, 10, 7)

# Pillow's Resample.c: 8-bit coefficients are fixed point with 22 fractional bits.
_PIL_PRECISION_BITS = 32 - 8 - 2



def _planes64(image):
    """uint8 [H, W, 3] -> three float64 [H, W] planes r, g, b of the reference's
    ``np.array(x) / 255.`` (channel-first, since slicing and stacking the last axis of a
    float64 image costs more than the HSV arithmetic itself)."""
    planes = common.exact_div(tf.cast(tf.transpose(image, [2, 0, 1]), tf.float64), 255.0)
    return tf.unstack(planes, axis=0)


def _from_planes(r, g, b):
    """Three float planes in [0, 1] -> uint8 [H, W, 3] as ``np.uint8(clip(x, 0, 1) * 255)``."""
    return tf.transpose(common.unit_to_uint8(tf.stack([r, g, b], axis=0)), [1, 2, 0])


def rgb_to_hsv(r: tf.Tensor, g: tf.Tensor, b: tf.Tensor
               ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """``skimage.color.rgb2hsv`` on float planes, operation for operation: where several
    channels share the max, blue's hue formula wins over green's over red's (skimage's
    assignment order), and grey pixels get hue 0 and saturation 0."""
    v = tf.maximum(r, tf.maximum(g, b))
    delta = v - tf.minimum(r, tf.minimum(g, b))
    grey = tf.equal(delta, 0.0)
    ones = tf.ones_like(delta)
    zeros = tf.zeros_like(delta)
    s = common.select(grey, zeros, delta / common.select(grey, ones, v))
    blue, green = tf.equal(b, v), tf.equal(g, v)
    # skimage adds 4 or 2 after the division and nothing for red; adding 0.0 is exact.
    numerator = common.select(blue, r - g, common.select(green, b - r, g - b))
    offset = common.select(blue, 4.0 * ones, common.select(green, 2.0 * ones, zeros))
    h = offset + numerator / common.select(grey, ones, delta)
    h = common.exact_div(h, 6.0)  # in [-1/6, 5/6]
    # floormod(h, 1), as NumPy's and TF's (fmod, then + 1 for a negative remainder), which
    # for |h| < 1 is exactly h + 1 where h < 0; TF's float64 FloorMod costs 9x an add.
    h = common.select(grey, zeros, common.select(h < 0.0, h + 1.0, h))
    return h, s, v


def hsv_to_rgb(h: tf.Tensor, s: tf.Tensor, v: tf.Tensor
               ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """``skimage.color.hsv2rgb`` on float planes (sector floor(6h) mod 6), returning the
    r, g, b planes; h in [0, 1], as ``rgb_to_hsv`` returns it (so floor(6h) is 0..6 and the
    mod is one subtraction)."""
    hi = tf.floor(h * 6.0)
    f = h * 6.0 - hi
    p = v * (1.0 - s)
    q = v * (1.0 - f * s)
    t = v * (1.0 - (1.0 - f) * s)
    sector = tf.cast(hi, tf.int32)
    sector = common.select(sector >= 6, sector - 6, sector)
    in_sector = [tf.equal(sector, i) for i in range(5)]

    def pick(*per_sector):
        out = per_sector[5]
        for i in range(5):
            out = common.select(in_sector[i], per_sector[i], out)
        return out

    return pick(v, q, p, p, t, v), pick(t, v, v, q, p, p), pick(p, p, t, v, v, q)


def brightness(image: tf.Tensor, severity: int, seed: common.Seed) -> tf.Tensor:
    """HSV value + .1/.2/.3/.4/.5 (clipped to 1), through skimage's HSV round trip."""
    c = _BRIGHTNESS[common.check_severity("brightness", severity)]
    common.static_hw(image)
    h, s, v = rgb_to_hsv(*_planes64(image))
    return _from_planes(*hsv_to_rgb(h, s, tf.clip_by_value(v + c, 0.0, 1.0)))


def saturate(image: tf.Tensor, severity: int, seed: common.Seed) -> tf.Tensor:
    """HSV saturation * a + b (clipped to [0, 1]), (a, b) = (.3, 0)/(.1, 0)/(2, 0)/(5, .1)/
    (20, .2), through skimage's HSV round trip. As in the reference, grey pixels (hue 0)
    turn red when b > 0."""
    a, b = _SATURATE[common.check_severity("saturate", severity)]
    common.static_hw(image)
    h, s, v = rgb_to_hsv(*_planes64(image))
    return _from_planes(*hsv_to_rgb(h, tf.clip_by_value(s * a + b, 0.0, 1.0), v))


def contrast(image: tf.Tensor, severity: int, seed: common.Seed) -> tf.Tensor:
    """(x - mean) * c + mean per channel (means over the image), c = .4/.3/.2/.1/.05.

    The mean is the exact integer sum / (255 * H * W), rounded once, where NumPy's
    pairwise float64 sum of x / 255 may differ in the last bit (a rare 1-level flip of a
    truncation at most); the rest is the reference's float64 formula."""
    c = _CONTRAST[common.check_severity("contrast", severity)]
    h, w = common.static_hw(image)
    # int32 sums are exact up to 8M pixels per channel.
    sums = tf.reduce_sum(tf.cast(tf.reshape(image, [-1, 3]), tf.int32), axis=0)
    means = common.exact_div(tf.cast(sums, tf.float64), 255.0 * h * w)
    x = common.exact_div(tf.cast(image, tf.float64), 255.0)
    return common.unit_to_uint8((x - means) * c + means)


def pil_box_matrix(size_in: int, size_out: int) -> np.ndarray:
    """Pillow's BOX resampling along one axis (``precompute_coeffs`` and
    ``normalize_coeffs_8bpc`` of Resample.c) as an integer [out, in] matrix with 22
    fractional bits. The box is sampled at input pixel centres, so every input pixel gets
    weight 0 or 1 before normalisation (not fractional area coverage)."""
    scale = float(size_in) / size_out
    filterscale = max(scale, 1.0)
    support = 0.5 * filterscale
    ss = 1.0 / filterscale
    matrix = np.zeros((size_out, size_in), np.int64)
    for xx in range(size_out):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), size_in)
        weights = np.array([1.0 if -0.5 < (x - center + 0.5) * ss <= 0.5 else 0.0
                            for x in range(xmin, xmax)])
        if weights.sum() != 0.0:
            weights = weights / weights.sum()
        matrix[xx, xmin:xmax] = np.floor(0.5 + weights * (1 << _PIL_PRECISION_BITS))
    return matrix


def pil_nearest_indices(size_in: int, size_out: int) -> np.ndarray:
    """Source index of each output pixel in Pillow's NEAREST resize (ImagingScaleAffine):
    the coordinate starts at scale / 2 and accumulates ``+= scale`` in double, then
    truncates, so the table is built with the same float additions."""
    scale = float(size_in) / size_out
    coord = scale * 0.5
    out = []
    for _ in range(size_out):
        out.append(min(int(coord), size_in - 1))
        coord += scale
    return np.asarray(out, np.int32)


def _pil_box_runs(size_in, size_out):
    """Pillow's BOX coefficients as a 0/1 run matrix [out, in] (float32) and the one
    fixed-point weight per output pixel (int32 [out]): the nonzero coefficients of an
    output pixel are equal and contiguous."""
    matrix = pil_box_matrix(size_in, size_out)
    weight = matrix.max(axis=1)
    if not all(np.array_equal(row[row > 0], np.full((row > 0).sum(), k))
               and np.all(np.diff(np.flatnonzero(row)) == 1)
               for row, k in zip(matrix, weight)):
        raise AssertionError("Pillow BOX coefficients are not uniform runs")
    return (matrix > 0).astype(np.float32), weight.astype(np.int32)


def _pil_round(sums, weight):
    """Pillow's 8-bit accumulation: (run sum * weight + 2^21) >> 22, clipped to uint8.
    The float32 run sums are exact integers (< 2^24), the rest is int32 (< 2^31)."""
    acc = tf.cast(sums, tf.int32) * weight + (1 << (_PIL_PRECISION_BITS - 1))
    out = tf.clip_by_value(tf.bitwise.right_shift(acc, _PIL_PRECISION_BITS), 0, 255)
    return tf.cast(out, tf.float32)


def pixelate(image: tf.Tensor, severity: int, seed: common.Seed) -> tf.Tensor:
    """PIL ``resize((int(W*c), int(H*c)), BOX)`` then ``resize((W, H), NEAREST)``,
    c = .6/.5/.4/.3/.25. Pillow runs the horizontal pass first and rounds it to uint8
    before the vertical one; both are reproduced (run sums by matrix products of 0/1
    matrices, then Pillow's integer rounding), and so is the NEAREST index pattern."""
    c = _PIXELATE[common.check_severity("pixelate", severity)]
    common.static_hw(image)
    return _pixelate(tf.convert_to_tensor(image, tf.uint8), c)


# Integer arithmetic throughout (the 0/1 matrix products of integers below 2^24 are exact
# in any order), so XLA changes no value; it fuses the rounding steps and copies the
# NEAREST rows and columns with fast gathers (~1.5x TF's kernels).
@tf.function(jit_compile=True)
def _pixelate(image, c):
    h, w, channels = image.shape
    small_h, small_w = int(h * c), int(w * c)
    runs_w, weight_w = _pil_box_runs(w, small_w)
    runs_h, weight_h = _pil_box_runs(h, small_h)
    x = tf.cast(tf.reshape(tf.transpose(image, [2, 0, 1]), [channels * h, w]), tf.float32)
    x = _pil_round(tf.matmul(x, runs_w.T), weight_w[np.newaxis, :])
    x = tf.matmul(runs_h[np.newaxis], tf.reshape(x, [channels, h, small_w]))
    x = _pil_round(x, weight_h[np.newaxis, :, np.newaxis])
    x = tf.cast(tf.transpose(x, [1, 2, 0]), tf.uint8)  # [small_h, small_w, C]
    x = tf.gather(x, pil_nearest_indices(small_h, h), axis=0)
    return tf.gather(x, pil_nearest_indices(small_w, w), axis=1)


def jpeg_compression(image: tf.Tensor, severity: int, seed: common.Seed) -> tf.Tensor:
    """JPEG encode at quality 25/18/15/10/7 and decode. ``tf.io.encode_jpeg``'s defaults
    (baseline, 4:2:0 chroma subsampling, libjpeg's standard tables scaled by quality, no
    Huffman optimisation) are PIL's ``save(..., 'JPEG', quality=q)``, and decoding with the
    accurate integer IDCT and fancy upsampling is PIL's decoder, so the pixels are PIL's."""
    quality = _JPEG_QUALITY[common.check_severity("jpeg_compression", severity)]
    common.static_hw(image)
    encoded = tf.io.encode_jpeg(tf.convert_to_tensor(image, tf.uint8), quality=quality)
    decoded = tf.io.decode_jpeg(encoded, channels=3, dct_method="INTEGER_ACCURATE")
    return tf.ensure_shape(decoded, image.shape)

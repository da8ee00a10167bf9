"""Frost and fog corruptions of ImageNet-C (Hendrycks & Dietterich, "Benchmarking Neural
Network Robustness to Common Corruptions and Perturbations", ICLR 2019).

They follow ``imagecorruptions-imaug`` 1.1.5 (``corruptions.py``) with its severity
parameters. Frost blends one of the package's six frost photos (shipped here, in
``frost/``), enlarged with OpenCV's bicubic ``resize`` (rebuilt here as NumPy tap/weight
tables) and randomly cropped; given the same texture and crop offsets it matches the
reference pixel for pixel (up to rare rounding ties) with the installed OpenCV 5.0, which
resizes uint8 in float32 (OpenCV 4's 11-bit fixed-point weights put a few percent of the
texture pixels one level off). Fog adds a diamond-square plasma fractal, built level by
level with whole grids instead of NumPy's in-place slices; given the same uniform draws it
reproduces the reference's fractal to float32 rounding. The random streams are
TensorFlow's stateless ones, so with a seed both match the reference in distribution, not
pixel for pixel.
"""

import functools
import math
import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from preprocessing.corruptions import common

# (image weight, frost weight) and (fog strength, wibble decay) per severity.
_FROST = ((1.0, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75))
_FOG = ((1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))

_FROST_FILES = ("frost1.png", "frost2.png", "frost3.png",
                "frost4.jpg", "frost5.jpg", "frost6.jpg")
# The textures, shipped with the package (package data; see frost/README.md).
FROST_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "frost")
_CUBIC_A = -0.75  # OpenCV's INTER_CUBIC kernel parameter
_textures = []


def frost_textures() -> list[np.ndarray]:
    """The six frost photos of ImageNet-C as RGB uint8 NumPy arrays, decoded once and cached.

    They ship with this package (``preprocessing/corruptions/frost/``: the files of the
    ``imagecorruptions-imaug`` 1.1.5 package, Apache-2.0, copied byte for byte; see the
    README, LICENSE and NOTICE there), so frost needs neither that package nor OpenCV.
    JPEGs are decoded with libjpeg's accurate integer IDCT, which reproduces ``cv2.imread``
    exactly (the default fast IDCT of ``decode_image`` is off by up to 6 levels); the PNGs'
    alpha is dropped as ``cv2.imread`` does."""
    if not _textures:
        folder = FROST_DIR
        missing = [n for n in _FROST_FILES if not os.path.isfile(os.path.join(folder, n))]
        if missing:
            raise FileNotFoundError(f"frost texture {os.path.join(folder, missing[0])} is "
                                    "missing: reinstall the package (the wheel ships them)")
        decoded = []
        # Decode eagerly even when first called while a tf.function or tf.data map traces.
        with tf.init_scope():
            for name in _FROST_FILES:
                data = tf.io.read_file(os.path.join(folder, name))
                if name.endswith(".jpg"):
                    img = tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE")
                else:
                    img = tf.io.decode_png(data, channels=3)
                decoded.append(img.numpy())
        _textures.extend(decoded)
    return _textures


def _cubic_table(size_in, size_out):
    """Source taps [out, 4] and float32 weights [out, 4] of ``cv2.resize`` INTER_CUBIC along
    one axis: centre-aligned mapping (o + 0.5) * in / out - 0.5, Keys kernel a = -0.75, taps
    clamped to the edge (OpenCV replicates the border when resizing)."""
    scale = size_in / size_out
    pos = (np.arange(size_out) + 0.5) * scale - 0.5
    start = np.floor(pos)
    t = pos - start
    a = _CUBIC_A
    w0 = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a
    w1 = ((a + 2) * t - (a + 3)) * t * t + 1
    w2 = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1
    w3 = 1 - w0 - w1 - w2
    taps = np.clip(start.astype(np.int64)[:, None] + np.arange(-1, 3), 0, size_in - 1)
    return taps.astype(np.int32), np.stack([w0, w1, w2, w3], 1).astype(np.float32)


def _frost_size(texture_hw, image_hw):
    """(rows, cols) of the reference's enlarged texture: the factor that makes it cover the
    image (1 if it already does), times 1.1, applied with ceil in Python floats."""
    (th, tw), (h, w) = texture_hw, image_hw
    if th >= h and tw >= w:
        factor = 1
    elif th < h and tw >= w:
        factor = h / th
    elif th >= h and tw < w:
        factor = w / tw
    else:
        factor = max(h / th, w / tw)
    factor *= 1.1
    return int(math.ceil(th * factor)), int(math.ceil(tw * factor))


@functools.lru_cache(maxsize=None)
def _frost_tables(idx, h, w):
    """Enlarged size and tap tables of texture ``idx`` for H x W images."""
    th, tw = frost_textures()[idx].shape[:2]
    rows, cols = _frost_size((th, tw), (h, w))
    row_taps, row_w = _cubic_table(th, rows)
    col_taps, col_w = _cubic_table(tw, cols)
    return rows, cols, row_taps, row_w, col_taps, col_w


def frost_layout(image_hw: tuple[int, int]) -> list[tuple[int, int]]:
    """[(rows, cols)] of the six enlarged textures for an image of size ``image_hw``: the
    reference draws the crop offsets in [0, rows - H) and [0, cols - W)."""
    h, w = image_hw
    return [_frost_tables(i, h, w)[:2] for i in range(len(_FROST_FILES))]


@functools.lru_cache(maxsize=None)
def _enlarged_texture(idx, h, w):
    """Texture ``idx`` after the reference's bicubic enlargement for H x W images, as uint8
    NumPy, computed once (eagerly, even while a graph is being traced) and cached: per image
    only a crop of it is taken."""
    _, _, row_taps, row_w, col_taps, col_w = _frost_tables(idx, h, w)
    with tf.init_scope():
        src = tf.cast(tf.constant(frost_textures()[idx]), tf.float32)
        # OpenCV (5.x) interpolates in float32: each source row horizontally first, then
        # the columns of those rows; it rounds half to even. Both passes gather along the
        # leading axis (whole rows, much faster than gathering columns).
        horiz = tf.gather(tf.transpose(src, [1, 0, 2]), col_taps)  # [cols, 4, th, 3]
        horiz = tf.transpose(tf.reduce_sum(horiz * col_w[:, :, None, None], axis=1),
                             [1, 0, 2])
        out = tf.reduce_sum(tf.gather(horiz, row_taps) * row_w[:, :, None, None], axis=1)
        return tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8).numpy()


@functools.lru_cache(maxsize=None)
def _frost_stack(h, w):
    """The six enlarged textures for H x W images stacked along the rows (each padded to
    the widest) as one eager uint8 tensor, and the first row of each: a crop is one slice.

    The tensor is created eagerly (``init_scope``) and captured, not embedded as a graph
    constant: inside a tf.data map a constant of several MB is materialised again on every
    call (~12 ms per image for these 8 MB), a captured tensor is passed by reference."""
    textures = [_enlarged_texture(i, h, w) for i in range(len(_FROST_FILES))]
    cols = max(t.shape[1] for t in textures)
    stack = np.concatenate([np.pad(t, ((0, 0), (0, cols - t.shape[1]), (0, 0)))
                            for t in textures])
    starts = np.cumsum([0] + [t.shape[0] for t in textures[:-1]]).astype(np.int32)
    with tf.init_scope():
        return tf.constant(stack), starts


def frost_crop(image: tf.Tensor, severity: int, idx: tf.Tensor | int,
               x_start: tf.Tensor | int, y_start: tf.Tensor | int) -> tf.Tensor:
    """clip(a * x + b * frost, 0, 255) with frost = texture ``idx`` (0..5, as the reference's
    ``np.random.randint(6)``) enlarged as the reference does, cropped at row ``x_start``,
    column ``y_start``; (a, b) = (1, .4)/(.8, .6)/(.7, .7)/(.65, .7)/(.6, .75).

    idx, x_start and y_start may be tensors."""
    level = common.check_severity("frost", severity)
    h, w = common.static_hw(image)
    stack, starts = _frost_stack(h, w)
    row = tf.gather(tf.constant(starts), tf.cast(idx, tf.int32)) + tf.cast(x_start, tf.int32)
    frost = tf.slice(stack, tf.stack([row, tf.cast(y_start, tf.int32), 0]),
                     [h, w, 3])
    a, b = _FROST[level]
    # float64 like the reference, whose uint8 * float products the truncation depends on
    # (a 256 x 256 lookup table of the exact results was slower: gathers are).
    out = a * tf.cast(image, tf.float64) + b * tf.cast(frost, tf.float64)
    return common.to_uint8(out)


def frost_draws(image_hw: tuple[int, int], seed: common.Seed
                ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(texture index, row offset, column offset) drawn uniformly from the stateless seed,
    in the ranges of the reference's ``randint(6)``, ``randint(0, rows - H)`` and
    ``randint(0, cols - W)`` (int32 scalars)."""
    h, w = image_hw
    seeds = common.split_seed(seed, 3)
    spans = np.asarray(frost_layout((h, w)), np.int32) - np.array([h, w], np.int32)
    idx = tf.random.stateless_uniform([], seeds[0], 0, len(_FROST_FILES), tf.int32)
    span = tf.gather(tf.constant(spans), idx)
    x_start = tf.random.stateless_uniform([], seeds[1], 0, span[0], tf.int32)
    y_start = tf.random.stateless_uniform([], seeds[2], 0, span[1], tf.int32)
    return idx, x_start, y_start


def frost(image: tf.Tensor, severity: int, seed: common.Seed) -> tf.Tensor:
    """Frost (see ``frost_crop``) with the texture and crop drawn by ``frost_draws`` from
    the stateless seed instead of NumPy's global RNG."""
    common.check_severity("frost", severity)
    return frost_crop(image, severity, *frost_draws(common.static_hw(image), seed))


def _next_power_of_2(n):
    return 1 if n == 0 else 2 ** (n - 1).bit_length()


def _plasma_levels(mapsize, wibbledecay, flat):
    """The diamond-square levels of ``plasma_from_uniforms`` on ``flat``, the levels'
    uniforms concatenated (level k: 3 * 4**k values), as one ``tf.while_loop``: unrolled,
    the 8 levels of a 256 map made a graph of ~550 ops, and a tf.data map instantiates its
    function again for every iterator (~0.25 ms per op), which cost more than the fractal."""
    levels = int(math.log2(mapsize))
    # The per-level wibbles in Python floats (as the reference's ``wibble /= decay``),
    # looked up rather than divided in the graph (where a division by a constant becomes a
    # reciprocal multiply).
    wibbles, wibble = [], 100.0
    for _ in range(max(levels, 1)):
        wibbles.append(wibble)
        wibble /= wibbledecay
    wibbles = tf.constant(wibbles, tf.float64)
    flat = tf.cast(flat, tf.float64)

    def level(k, grid):
        n = tf.bitwise.left_shift(1, k)
        uniforms = tf.reshape(tf.slice(flat, [n * n - 1], [3 * n * n]), [3, n, n])
        wib = tf.gather(wibbles, k)
        noise = wib * (-wib + 2.0 * wib * uniforms)
        down = tf.roll(grid, -1, axis=0)
        right = tf.roll(grid, -1, axis=1)
        centres = (grid + down + right + tf.roll(down, -1, axis=1)) / 4.0 + noise[0]
        top = (centres + tf.roll(centres, 1, axis=0) + grid + right) / 4.0 + noise[1]
        left = (centres + tf.roll(centres, 1, axis=1) + grid + down) / 4.0 + noise[2]
        even = tf.reshape(tf.stack([grid, top], axis=-1), [n, 2 * n])
        odd = tf.reshape(tf.stack([left, centres], axis=-1), [n, 2 * n])
        return k + 1, tf.reshape(tf.stack([even, odd], axis=1), [2 * n, 2 * n])

    _, grid = tf.while_loop(lambda k, _: k < levels, level,
                            (tf.constant(0), tf.zeros([1, 1], tf.float64)),
                            shape_invariants=(tf.TensorShape([]), tf.TensorShape([None, None])))
    grid = tf.ensure_shape(grid, [mapsize, mapsize])
    grid -= tf.reduce_min(grid)
    return tf.cast(grid / tf.reduce_max(grid), tf.float32)


def plasma_from_uniforms(mapsize: int, wibbledecay: float,
                         uniforms: Sequence[tf.Tensor | np.ndarray]) -> tf.Tensor:
    """The reference's ``plasma_fractal`` (diamond-square, normalised to [0, 1]) from its
    uniform draws: ``uniforms[k]`` is [3, n, n] in [0, 1), n = 2**k, the draws of level k
    in the reference's order (square centres, then the two diamond point sets); float32.

    Each level doubles the grid of corners G: centres C = mean of the 4 corners, top-edge
    points E = mean of the 2 corners and the 2 centres around them, left-edge points L
    likewise, each plus wibble * U(-wibble, wibble), with wrap-around like ``np.roll``; the
    four n x n grids are then interleaved into the 2n x 2n corner grid of the next level.
    The reference keeps the map in float32; here it is float64 (cast to float32 at the
    end): graph optimisers reorder the four-term sums, which in float32 made tf.function
    round differently from eager mode; in float64 the reordering stays far below float32
    resolution."""
    levels = int(math.log2(mapsize))
    flat = [tf.reshape(tf.cast(uniforms[k], tf.float64), [-1]) for k in range(levels)]
    flat = tf.concat(flat, 0) if flat else tf.zeros([0], tf.float64)
    return _plasma_levels(mapsize, wibbledecay, flat)


def plasma_fractal(mapsize: int, wibbledecay: float, seed: common.Seed) -> tf.Tensor:
    """``plasma_from_uniforms`` with stateless uniform draws (one draw, cut per level)."""
    levels = int(math.log2(mapsize))
    flat = tf.random.stateless_uniform([4 ** levels - 1], common.as_seed(seed))
    return _plasma_levels(mapsize, wibbledecay, flat)


def fog_with_plasma(image: tf.Tensor, severity: int, plasma: tf.Tensor) -> tf.Tensor:
    """clip((x + s * plasma[:H, :W]) * max(x) / (max(x) + s), 0, 1) on x in [0, 1],
    s = 1.5/2/2.5/2.5/3 (``plasma`` at least H x W)."""
    level = common.check_severity("fog", severity)
    h, w = common.static_hw(image)
    strength = _FOG[level][0]
    # divide_no_nan: graph optimisers turn a division by a constant into a multiplication
    # by its reciprocal, which would make tf.function output differ from eager by 1 ulp.
    x = tf.math.divide_no_nan(tf.cast(image, tf.float64), tf.constant(255.0, tf.float64))
    max_val = tf.reduce_max(x)
    x = x + strength * tf.cast(plasma, tf.float64)[:h, :w, tf.newaxis]
    return common.unit_to_uint8(x * max_val / (max_val + strength))


def fog(image: tf.Tensor, severity: int, seed: common.Seed) -> tf.Tensor:
    """Fog: a plasma fractal of side next_power_of_2(max(H, W)) (as the reference), wibble
    decay 2/2/1.7/1.5/1.4, drawn from the stateless seed (see ``fog_with_plasma``)."""
    level = common.check_severity("fog", severity)
    h, w = common.static_hw(image)
    plasma = plasma_fractal(_next_power_of_2(max(h, w)), _FOG[level][1], seed)
    return fog_with_plasma(image, severity, plasma)

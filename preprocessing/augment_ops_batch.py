"""The ops of :mod:`preprocessing.augment_ops` on a batch, pixel-identical per image.

Each op maps uint8 ``[n, H, W, 3]`` (H, W static) and per-image float32 ``args [n]`` (the
op's own units, exactly as the per-image op takes them) to uint8 ``[n, H, W, 3]``; image i
of the output equals ``augment_ops.OPS[name](images[i], args[i], centers[i])`` bit for bit
(tests/test_augment_batch.py asserts it for every op, both signs, several magnitudes, odd
sizes).  Why a second implementation: on one CPU core the per-image ops cost 0.2-2.3 ms per
224-px image, mostly in three TF kernels that are slow per element (SelectV2 ~9 ns,
GatherV2 of scalars ~5 ns, ImageProjectiveTransformV3 ~8 ns per value), plus per-image
dispatch; here every op runs once per batch and avoids those kernels where an exact
cheaper form exists:

* selects are bitwise ``b ^ ((a ^ b) & 255 m)``;
* per-value work that is integer arithmetic, reductions, table lookups and gathers runs in
  XLA (``jit_compile``; bit-identical, as it has no float steps -- those stay in TF, where
  no a*b+c is contracted into an FMA), fused into one pass over the group and ~4-7x
  cheaper on one core than the same TF kernels (GatherV2 of scalars alone costs ~8 ns per
  value in tf.data);
* AutoContrast, Equalize and Contrast build per-image, per-channel 256-entry tables (the
  per-image ops' own float64 / integer / float32 formulas on the 256 values) from XLA
  reductions (min / max, histograms, luma sums) and apply them in XLA; Color and Sharpness
  blend through per-image 256 x 256 tables of ``_blend(degenerate, value)`` (the same
  float32 arithmetic), indexed in XLA by PIL's integer luma or by the integer smoothing;
* Sharpness smooths with integer weights (an exact sum) and rounds ``sum / 13`` as
  ``(2 sum + 13) // 26``: the per-image op's float kernel ``k / 13`` is within 1e-4 of
  it, and ``sum / 13`` is never within 1/26 of a rounding tie (13 is odd), so both round
  to the same integer;
* Solarize compares uint8 with ``ceil(threshold)``; clips are one ClipByValue;
* the "tf" geometric ops reproduce ImageProjectiveTransformV3 (NEAREST, CONSTANT fill) for
  affine transforms: the same float32 source coordinate ``(t0*x + t1*y) + t2``, the
  kernel's ``std::round`` (see :func:`_source_index`), the same bounds test, then one
  gather of whole pixels from the batch.  Rotate's cos/sin are computed per image on
  scalars (:func:`_cos_sin`).

XLA compiles a function once per input shape: groups (whose size varies from batch to
batch) are padded to 1, 2, 3, 4, 6, 8, 12, 16, ... images (:func:`bucketed`).

RandAugment's default "pil" geometry is in :mod:`preprocessing.pil_geometry_batch`.

``fill`` (0..255) is the constant of the geometric ops and Cutout, as in the per-image ops.

Measured (bench/bench_augment_vs_torchvision.py, one core, 224 px, groups of 16 in a tf.data
map in steady state): each op costs 0.05-0.59 ms per image here against 0.2-2.4 ms per
image on the per-image path and 0.06-0.83 ms in torchvision/PIL.
"""

import math
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from preprocessing import augment_ops as A

_FLOAT_BELOW_HALF = float(np.nextafter(np.float32(0.5), np.float32(0)))


# ------------------------------------------------------------------ helpers
def _static_hw(images):
    h, w = images.shape[1], images.shape[2]
    if h is None or w is None:
        raise ValueError(f"batched augment ops need a static image size, got {images.shape}")
    return int(h), int(w)


def _bucket(n):
    """The least of 1, 2, 3, 4, 6, 8, 12, 16, 24, ... (2**k and 3 * 2**k) >= n (0 for 0)."""
    power = tf.bitwise.left_shift(1, tf.cast(tf.math.floor(
        tf.math.log(tf.cast(tf.maximum(n, 1), tf.float64)) / math.log(2.0)), tf.int32))
    power = tf.where(2 * power <= n, 2 * power, power)  # (log rounding)
    power = tf.where(power > n, power // 2, power)
    return tf.where(n <= power, n, tf.where(n <= power + power // 2, power + power // 2,
                                             2 * power))


def bucketed(fn: Callable[..., tf.Tensor], *per_image: tf.Tensor,
             static: tuple = ()) -> tf.Tensor | tuple:
    """``fn(*per_image, *static)``, each result cut to n, with each per-image tensor
    (leading axis n) padded with zeros to the next 2**k or 3 * 2**k images (an image's
    result does not depend on the others'): XLA compiles a function once per input shape,
    and a batch of 64 gives a group at most 12 sizes (not 65) for at most 1/3 more work."""
    if per_image[0].shape[0] is not None:
        return fn(*per_image, *static)  # a static batch (training): one shape, no copies
    n = tf.shape(per_image[0])[0]
    pad = _bucket(n) - n
    padded = [tf.concat([t, tf.zeros(tf.concat([[pad], tf.shape(t)[1:]], 0), t.dtype)], 0)
              for t in per_image]
    return tf.nest.map_structure(lambda t: t[:n], fn(*padded, *static))


def _per_image(v, rank=4):
    """[n] -> [n, 1, 1, 1] (broadcast over an image batch)."""
    return tf.reshape(tf.cast(v, tf.float32), [-1] + [1] * (rank - 1))


def _select(mask, a, b):
    """uint8 ``where(mask, a, b)`` as ``b ^ ((a ^ b) & (255 * mask))`` (bitwise: Grappler
    rewrites ``c - x`` into a Neg that has no uint8 kernel)."""
    return tf.bitwise.bitwise_xor(b, tf.bitwise.bitwise_and(
        tf.bitwise.bitwise_xor(a, b), tf.cast(mask, tf.uint8) * 255))


def _to_uint8(x):
    """clip to [0, 255] (one ClipByValue pass, not Maximum + Minimum) and truncate."""
    return tf.cast(tf.raw_ops.ClipByValue(t=x, clip_value_min=tf.constant(0.0),
                                          clip_value_max=tf.constant(255.0)), tf.uint8)


def _blend(degenerate, x, factor):
    """augment_ops._blend on float32 ``degenerate`` and ``x`` with per-image factors [n]."""
    return _to_uint8(degenerate + _per_image(factor) * (x - degenerate))


def _source_index(v, size):
    """Source coordinate -> index into a 1-pixel fill-padded axis (0 and size + 1 = fill).

    The kernel's ``std::round`` (half away from zero) as ``trunc(v + sign(v) * c)``, c the
    float32 just below 0.5: equal for every float32 in (-1, 1100) (checked exhaustively; the
    argument holds up to 2**23);
    v <= -0.5 gives -1 or less, i.e. fill, as in the kernel."""
    r = tf.cast(v + tf.sign(v) * _FLOAT_BELOW_HALF, tf.int32)  # the cast truncates
    return tf.clip_by_value(r, -1, size) + 1


def _pad_axis(images, axis, fill):
    pads = [[0, 0]] * 4
    pads[axis] = [1, 1]
    return tf.pad(images, pads, constant_values=tf.cast(fill, tf.uint8))


def _grid(size, rank_axis):
    shape = [1, 1, 1]
    shape[rank_axis] = size
    return tf.reshape(tf.range(size, dtype=tf.float32), shape)


def _gather_pixels(images, rows, cols, fill, pad_rows=True, pad_cols=True):
    """images[b, rows, cols] with indices into the fill-padded image (see _source_index);
    rows, cols int32 broadcastable to [n, H, W]; an axis not padded takes plain indices."""
    h, w = _static_hw(images)
    n = tf.shape(images)[0]
    ph, pw = h + 2 * pad_rows, w + 2 * pad_cols
    padded = images
    if pad_rows:
        padded = _pad_axis(padded, 1, fill)
    if pad_cols:
        padded = _pad_axis(padded, 2, fill)
    flat = tf.range(n)[:, None, None] * (ph * pw) + rows * pw + cols
    return tf.gather(tf.reshape(padded, [-1, 3]), flat)


def affine_transform(images: tf.Tensor, transforms: tf.Tensor,
                     fill: int | tf.Tensor) -> tf.Tensor:
    """ImageProjectiveTransformV3(NEAREST, CONSTANT ``fill``) for affine ``transforms``
    [n, 6] (a0, a1, a2, b0, b1, b2: output (x, y) samples input (a0 x + a1 y + a2,
    b0 x + b1 y + b2)), bit-identical, about 2x cheaper on one core.

    The kernel's float32 order ``(a0 x + a1 y) + a2`` is kept against Grappler: its
    AddOpsRewrite would merge two chained AddV2 into one AddN summed in another order, so
    the offset goes in through BiasAdd (NCHW: one bias per image)."""
    h, w = _static_hw(images)
    t = tf.cast(transforms, tf.float32)[:, :, None, None]
    xs, ys = _grid(w, 2), _grid(h, 1)

    def coordinate(a, b, offset):
        s = tf.broadcast_to(a * xs + b * ys, tf.stack([tf.shape(t)[0], h, w]))
        return tf.nn.bias_add(s[None], offset, data_format="NCHW")[0]

    vx = coordinate(t[:, 0], t[:, 1], transforms[:, 2])
    vy = coordinate(t[:, 3], t[:, 4], transforms[:, 5])
    return _gather_pixels(images, _source_index(vy, h), _source_index(vx, w), fill)


# --------------------------------------------------------------------- ops
def identity(images: tf.Tensor, args: tf.Tensor | None = None,
             centers: tf.Tensor | None = None, fill: int = A.FILL_VALUE) -> tf.Tensor:
    return images


def invert(images: tf.Tensor, args: tf.Tensor | None = None,
           centers: tf.Tensor | None = None, fill: int = A.FILL_VALUE) -> tf.Tensor:
    return tf.constant(255, tf.uint8) - images


# Integer steps only in XLA (bit-identical to TF; float steps stay outside, where XLA could
# contract a*b+c into an FMA): per-value table lookups and reductions fused into one pass,
# ~5x cheaper than TF's scalar GatherV2 (~8 ns per value on one core).
@tf.function(jit_compile=True)
def _apply_luts(images, luts):
    """uint8 ``luts[b, c, images[b, y, x, c]]`` for uint8 luts [n, 3, 256]."""
    n = tf.shape(images)[0]
    index = tf.cast(images, tf.int32) + (tf.range(n)[:, None, None, None] * 3
                                         + tf.range(3)) * 256
    return tf.gather(tf.reshape(luts, [-1]), index)


def apply_luts(images: tf.Tensor, luts: tf.Tensor) -> tf.Tensor:
    """uint8 images [n, H, W, 3] through per-image, per-channel uint8 tables [n, 3, 256]."""
    return bucketed(_apply_luts, images, tf.cast(luts, tf.uint8))


@tf.function(jit_compile=True)
def _channel_range(images):
    return tf.reduce_min(images, axis=[1, 2]), tf.reduce_max(images, axis=[1, 2])


@tf.function(jit_compile=True)
def _histograms(images):
    """int32 [n, 3, 256] per-image, per-channel histograms."""
    n = tf.shape(images)[0]
    index = tf.cast(images, tf.int32) + (tf.range(n)[:, None, None, None] * 3
                                         + tf.range(3)) * 256
    return tf.reshape(tf.math.unsorted_segment_sum(
        tf.ones_like(index), index, n * 768), [n, 3, 256])


@tf.function(jit_compile=True)
def _luma_sums(images):
    """int64 [n] sums of PIL "L" luma ``(19595 R + 38470 G + 7471 B + 0x8000) >> 16``."""
    x = tf.cast(images, tf.int32)
    gray = tf.bitwise.right_shift(x[..., 0] * 19595 + x[..., 1] * 38470 + x[..., 2] * 7471
                                  + 0x8000, 16)
    return tf.reduce_sum(tf.cast(gray, tf.int64), axis=[1, 2])


def auto_contrast(images: tf.Tensor, args: tf.Tensor | None = None,
                  centers: tf.Tensor | None = None, fill: int = A.FILL_VALUE) -> tf.Tensor:
    lo, hi = bucketed(_channel_range, images)  # [n, 3] each
    lo, hi = tf.cast(lo, tf.float64)[..., None], tf.cast(hi, tf.float64)[..., None]
    valid = hi > lo
    scale = 255.0 / tf.where(valid, hi - lo, tf.ones_like(hi))
    offset = -lo * scale
    # The per-image op's float64 table entry ``v * scale + offset``: for the values the
    # channel holds (in [lo, hi]) it lies in [0, 255 + tiny], so the clip, which only
    # keeps the other entries in range, does not change them.
    v = tf.range(256, dtype=tf.float64)
    stretched = tf.cast(tf.clip_by_value(v * scale + offset, 0.0, 255.0), tf.int32)
    luts = tf.where(valid, stretched, tf.range(256))  # no range: identity
    return apply_luts(images, luts)


def equalize(images: tf.Tensor, args: tf.Tensor | None = None,
             centers: tf.Tensor | None = None, fill: int = A.FILL_VALUE) -> tf.Tensor:
    hist = bucketed(_histograms, images)
    n = tf.shape(hist)[0]
    # augment_ops.equalize on [n, 3, 256] instead of [3, 256] (integer arithmetic).
    total = tf.reduce_sum(hist, axis=-1, keepdims=True)
    bins = tf.range(256, dtype=tf.int32)
    last_bin = tf.reduce_max(tf.where(hist > 0, bins, -1), axis=-1, keepdims=True)
    last_count = tf.gather(hist, tf.maximum(last_bin, 0), batch_dims=2)
    step = (total - last_count) // 255
    nonzero = tf.reduce_sum(tf.cast(hist > 0, tf.int32), axis=-1, keepdims=True)
    valid = tf.logical_and(step > 0, nonzero > 1)
    safe_step = tf.where(valid, step, tf.ones_like(step))
    cum = tf.cumsum(hist, axis=-1, exclusive=True)
    lut = tf.where(valid, (safe_step // 2 + cum) // safe_step, tf.broadcast_to(bins, [n, 3, 256]))
    return apply_luts(images, tf.clip_by_value(lut, 0, 255))


def posterize(images: tf.Tensor, args: tf.Tensor, centers: tf.Tensor | None = None,
              fill: int = A.FILL_VALUE) -> tf.Tensor:
    bits = tf.clip_by_value(tf.cast(tf.floor(tf.cast(args, tf.float32)), tf.int32), 0, 8)
    mask = tf.bitwise.bitwise_and(tf.bitwise.left_shift(255, 8 - bits), 255)
    return tf.bitwise.bitwise_and(images, tf.reshape(tf.cast(mask, tf.uint8), [-1, 1, 1, 1]))


def solarize(images: tf.Tensor, args: tf.Tensor, centers: tf.Tensor | None = None,
             fill: int = A.FILL_VALUE) -> tf.Tensor:
    # Integer x >= float t  <=>  x >= ceil(t); in uint8, with t > 255 flipping nothing.
    t = tf.math.ceil(tf.cast(args, tf.float32))
    threshold = tf.cast(tf.clip_by_value(t, 0.0, 255.0), tf.uint8)
    flip_value = tf.cast(tf.where(t > 255.0, 0, 255), tf.uint8)
    flip = tf.cast(images >= tf.reshape(threshold, [-1, 1, 1, 1]), tf.uint8)
    return tf.bitwise.bitwise_xor(images, flip * tf.reshape(flip_value, [-1, 1, 1, 1]))


def solarize_add(images: tf.Tensor, args: tf.Tensor, centers: tf.Tensor | None = None,
                 fill: int = A.FILL_VALUE) -> tf.Tensor:
    added = tf.cast(tf.clip_by_value(tf.cast(images, tf.float32) + _per_image(args),
                                     0.0, 255.0), tf.uint8)
    return _select(images < A.SOLARIZE_ADD_THRESHOLD, added, images)


def color(images: tf.Tensor, args: tf.Tensor, centers: tf.Tensor | None = None,
          fill: int = A.FILL_VALUE) -> tf.Tensor:
    # _blend(gray, x, f) of each (gray, value) pair, as a table; PIL's integer luma in XLA.
    return bucketed(_color_lookup, images, _blend_tables(args))


def _blend_tables(args):
    """uint8 [n, 256, 256]: entry (d, v) is augment_ops._blend(d, v, factor) with the
    per-image factors ``args`` [n] (the same float32 arithmetic, so the same values)."""
    d = tf.range(256, dtype=tf.float32)[None, :, None]
    v = tf.range(256, dtype=tf.float32)[None, None, :]
    return _to_uint8(d + tf.reshape(tf.cast(args, tf.float32), [-1, 1, 1]) * (v - d))


@tf.function(jit_compile=True)
def _color_lookup(images, tables):
    n = tf.shape(images)[0]
    x = tf.cast(images, tf.int32)
    gray = tf.bitwise.right_shift(x[..., 0] * 19595 + x[..., 1] * 38470 + x[..., 2] * 7471
                                  + 0x8000, 16)  # augment_ops._grayscale
    index = (tf.range(n)[:, None, None, None] * 256 + gray[..., None]) * 256 + x
    return tf.gather(tf.reshape(tables, [-1]), index)


def contrast(images: tf.Tensor, args: tf.Tensor, centers: tf.Tensor | None = None,
             fill: int = A.FILL_VALUE) -> tf.Tensor:
    # The float64 mean of integers: their sum is exact in any order, as in the per-image op.
    h, w = _static_hw(images)
    mean = tf.cast(bucketed(_luma_sums, images), tf.float64) / float(h * w)
    mean = tf.cast(tf.floor(mean + 0.5), tf.float32)[:, None, None]  # [n, 1, 1]
    # _blend(mean, x, f) of each value v, as a table.
    v = tf.range(256, dtype=tf.float32)
    luts = _to_uint8(mean + tf.reshape(tf.cast(args, tf.float32), [-1, 1, 1]) * (v - mean))
    return apply_luts(images, tf.broadcast_to(luts, tf.stack([tf.shape(luts)[0], 3, 256])))


def brightness(images: tf.Tensor, args: tf.Tensor, centers: tf.Tensor | None = None,
               fill: int = A.FILL_VALUE) -> tf.Tensor:
    # degenerate 0: 0 + f * (x - 0) == f * x exactly.
    return _to_uint8(_per_image(args) * tf.cast(images, tf.float32))


def sharpness(images: tf.Tensor, args: tf.Tensor, centers: tf.Tensor | None = None,
              fill: int = A.FILL_VALUE) -> tf.Tensor:
    h, w = _static_hw(images)
    if h < 3 or w < 3:  # no interior pixel: the per-image op returns the image
        return images
    return _sharpen(images, args)


def _sharpen(images, args):
    # The degenerate image in integers in XLA: the smoothing sums are integers and
    # round(sum / 13) is (2 sum + 13) // 26 (sum / 13 is never within 1/26 of a tie), the
    # border keeps the image; then the blend of each (degenerate, value) pair as a table.
    return bucketed(_sharpen_lookup, images, _blend_tables(args))


@tf.function(jit_compile=True)
def _sharpen_lookup(images, tables):
    n = tf.shape(images)[0]
    h, w = images.shape[1], images.shape[2]
    x = tf.cast(images, tf.int32)
    total = 4 * x[:, 1:-1, 1:-1]
    for dy in range(3):
        for dx in range(3):
            total += x[:, dy:dy + h - 2, dx:dx + w - 2]
    smooth = (2 * total + 13) // 26
    degenerate = x + tf.pad(smooth - x[:, 1:-1, 1:-1], [[0, 0], [1, 1], [1, 1], [0, 0]])
    index = (tf.range(n)[:, None, None, None] * 256 + degenerate) * 256 + x
    return tf.gather(tf.reshape(tables, [-1]), index)


def _cos_sin(theta):
    """Per-image scalar cos / sin of float32 [n], as augment_ops.rotate computes them:
    Eigen's vectorised cos / sin can differ from the scalar ones in the last bit.  With a
    static n the n scalar ops are unrolled; tf.data runs a map_fn's while loop as one
    function call per image, ~10x slower."""
    n = theta.shape[0]
    if n is not None:
        angles = tf.unstack(theta, num=n)
        return (tf.stack([tf.cos(t) for t in angles] or tf.zeros([0])),
                tf.stack([tf.sin(t) for t in angles] or tf.zeros([0])))
    cs = tf.map_fn(lambda t: tf.stack([tf.cos(t), tf.sin(t)]), theta,
                   fn_output_signature=tf.TensorSpec([2], tf.float32))
    return cs[:, 0], cs[:, 1]


def rotation_transforms(degrees: tf.Tensor, h: int, w: int) -> tf.Tensor:
    """[n, 6] affine transforms of augment_ops.rotate for per-image ``degrees`` [n]."""
    c, s = _cos_sin(tf.cast(degrees, tf.float32) * (math.pi / 180.0))
    h1, w1 = float(h) - 1.0, float(w) - 1.0
    x_off = (w1 - (c * w1 - s * h1)) / 2.0
    y_off = (h1 - (s * w1 + c * h1)) / 2.0
    return tf.stack([c, -s, x_off, s, c, y_off], axis=1)


def rotate(images: tf.Tensor, args: tf.Tensor, centers: tf.Tensor | None = None,
           fill: int = A.FILL_VALUE, transforms: tf.Tensor | None = None) -> tf.Tensor:
    """``transforms``: ``rotation_transforms(args, H, W)`` computed beforehand (e.g. for
    the whole batch, where its size is static), else computed here."""
    h, w = _static_hw(images)
    if transforms is None:
        transforms = rotation_transforms(args, h, w)
    return affine_transform(images, transforms, fill)


# Shear and translate have 0/1 coefficients: the kernel's (1 x + a y) + 0 is x + a y,
# (1 x + 0 y) - a is x - a and (0 x + 1 y) + 0 is y, exactly; an axis that is copied
# needs no index arithmetic and translations gather whole rows or columns.
def shear_x(images: tf.Tensor, args: tf.Tensor, centers: tf.Tensor | None = None,
            fill: int = A.FILL_VALUE) -> tf.Tensor:
    h, w = _static_hw(images)
    a = _per_image(args, 3)
    cols = _source_index(_grid(w, 2) + a * _grid(h, 1), w)
    return _gather_pixels(images, tf.range(h)[None, :, None], cols, fill, pad_rows=False)


def shear_y(images: tf.Tensor, args: tf.Tensor, centers: tf.Tensor | None = None,
            fill: int = A.FILL_VALUE) -> tf.Tensor:
    h, w = _static_hw(images)
    a = _per_image(args, 3)
    rows = _source_index(a * _grid(w, 2) + _grid(h, 1), h)
    return _gather_pixels(images, rows, tf.range(w)[None, None, :], fill, pad_cols=False)


def translate_x(images: tf.Tensor, args: tf.Tensor, centers: tf.Tensor | None = None,
                fill: int = A.FILL_VALUE) -> tf.Tensor:
    h, w = _static_hw(images)
    cols = _source_index(tf.range(w, dtype=tf.float32)[None, :] - _per_image(args, 2), w)
    return tf.gather(_pad_axis(images, 2, fill), cols, axis=2, batch_dims=1)


def translate_y(images: tf.Tensor, args: tf.Tensor, centers: tf.Tensor | None = None,
                fill: int = A.FILL_VALUE) -> tf.Tensor:
    h, w = _static_hw(images)
    rows = _source_index(tf.range(h, dtype=tf.float32)[None, :] - _per_image(args, 2), h)
    return tf.gather(_pad_axis(images, 1, fill), rows, axis=1, batch_dims=1)


def cutout(images: tf.Tensor, args: tf.Tensor, centers: tf.Tensor,
           fill: int = A.FILL_VALUE) -> tf.Tensor:
    """``centers`` int32 [n, 2] (row, col) in pixels, as the per-image op."""
    h, w = _static_hw(images)
    pad = tf.cast(tf.floor(tf.cast(args, tf.float32)), tf.int32)[:, None]
    centers = tf.cast(centers, tf.int32)
    rows, cols = tf.range(h)[None, :], tf.range(w)[None, :]
    in_r = tf.logical_and(rows >= centers[:, :1] - pad, rows < centers[:, :1] + pad)
    in_c = tf.logical_and(cols >= centers[:, 1:] - pad, cols < centers[:, 1:] + pad)
    mask = tf.logical_and(in_r[:, :, None, None], in_c[:, None, :, None])
    mask = tf.broadcast_to(mask, tf.shape(images))
    return _select(mask, tf.fill(tf.shape(images), tf.cast(fill, tf.uint8)), images)


OPS = {
    "AutoContrast": auto_contrast, "Equalize": equalize, "Invert": invert, "Rotate": rotate,
    "Posterize": posterize, "Solarize": solarize, "SolarizeAdd": solarize_add,
    "Color": color, "Contrast": contrast, "Brightness": brightness, "Sharpness": sharpness,
    "ShearX": shear_x, "ShearY": shear_y, "TranslateX": translate_x,
    "TranslateY": translate_y, "Cutout": cutout, "Identity": identity,
}


"""Numerics shared by the ImageNet-C corruptions (Hendrycks & Dietterich, "Benchmarking
Neural Network Robustness to Common Corruptions and Perturbations", ICLR 2019).

Every corruption is ``fn(image, severity, seed) -> image``: ``image`` uint8 [H, W, 3] with
static H and W, ``severity`` a Python int in 1..5, ``seed`` an int32/int64 [2] stateless
seed. The same seed gives the same pixels, in eager mode, in a ``tf.function`` and inside
a tf.data map, which is what lets the JPEG generator and the on-the-fly evaluation share
one code path. The reference is the ``imagecorruptions-imaug`` package (the maintained
fork of Hendrycks' code); the helpers here reproduce the SciPy / scikit-image numerics it
relies on (filter boundary modes, ``scipy.ndimage.zoom`` with ``order=1``) so that the
deterministic corruptions match it pixel for pixel.
"""

import math
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from preprocessing.common import Seed, as_seed, split_seed  # noqa: F401 (re-exported)

#: What a TensorFlow op takes: a tensor, an array or a Python number.
TensorLike = tf.Tensor | np.ndarray | float

SEVERITIES = (1, 2, 3, 4, 5)

# SciPy boundary mode -> numpy.pad mode giving the same index pattern.
_PAD_MODES = {"nearest": "edge", "reflect": "symmetric", "mirror": "reflect",
              "wrap": "wrap"}


def check_severity(name: str, severity: int) -> int:
    if severity not in SEVERITIES:
        raise ValueError(f"{name}: severity must be one of 1..5, got {severity!r}")
    return severity - 1


def static_hw(image: tf.Tensor | np.ndarray) -> tuple[int, int]:
    """(H, W) as Python ints; the corruptions build their index tables from them."""
    height, width = image.shape[-3], image.shape[-2]
    if height is None or width is None:
        raise ValueError("corruptions need a static image height and width "
                         f"(got shape {image.shape}); crop or resize to a fixed size first")
    return int(height), int(width)


def stateless_normal(shape: Sequence[int], seed: Seed, mean: float = 0.0,
                     stddev: float = 1.0) -> tf.Tensor:
    """float32 N(mean, stddev^2) of a static ``shape`` from a stateless seed, by the
    Box-Muller transform of TF's stateless uniforms: each pair of uniforms gives two normals
    with vectorised log/sqrt/cos/sin, about twice as fast on CPU as
    ``tf.random.stateless_normal`` (which transforms element by element). Exactly normal up
    to the float32 uniforms' 2^-23 resolution, which cuts the tails at |z| = 5.6 (a
    2e-8 event)."""
    shape = [int(n) for n in shape]
    count = int(np.prod(shape))
    half = (count + 1) // 2
    u = tf.random.stateless_uniform([2, half], as_seed(seed))
    radius = tf.sqrt(-2.0 * tf.math.log1p(-u[0]))  # 1 - u in (0, 1]: log is finite
    angle = (2.0 * math.pi) * u[1]
    z = tf.concat([radius * tf.cos(angle), radius * tf.sin(angle)], axis=0)[:count]
    return tf.reshape(z, shape) * stddev + mean


def select(cond: TensorLike, x: TensorLike, y: TensorLike) -> tf.Tensor:
    """``tf.where(cond, x, y)``, bit for bit, through the Select kernel: on CPU TensorFlow's
    SelectV2 (what tf.where runs) takes ~1 ms for a 224 x 224 x 3 float tensor, 10-15x the
    time of Select on operands of one shape, so the operands are broadcast first."""
    if tf.is_tensor(x) or isinstance(x, np.ndarray):
        x = tf.convert_to_tensor(x)
        y = tf.convert_to_tensor(y, x.dtype)
    else:
        y = tf.convert_to_tensor(y)
        x = tf.convert_to_tensor(x, y.dtype)
    cond = tf.convert_to_tensor(cond)
    if all(t.shape.is_fully_defined() for t in (cond, x, y)):
        shape = tf.broadcast_static_shape(tf.broadcast_static_shape(cond.shape, x.shape),
                                          y.shape)

        def fit(t):
            return t if t.shape == shape else tf.broadcast_to(t, shape)
    else:
        shape = tf.broadcast_dynamic_shape(
            tf.broadcast_dynamic_shape(tf.shape(cond), tf.shape(x)), tf.shape(y))

        def fit(t):
            return tf.broadcast_to(t, shape)
    return tf.raw_ops.Select(condition=fit(cond), x=fit(x), y=fit(y))


def exact_div(x: tf.Tensor, constant: float) -> tf.Tensor:
    """x / constant with the same bits in eager mode, tf.function and tf.data: Grappler
    rewrites a division by a constant into a multiplication by its reciprocal inside
    graphs (1 ulp off, enough to flip a truncation to uint8 now and then, which would break
    "same seed, same pixels"); DivNoNan is left alone."""
    return tf.math.divide_no_nan(x, tf.constant(constant, x.dtype))


def to_unit(image: tf.Tensor) -> tf.Tensor:
    """uint8 [0, 255] -> float32 [0, 1] (the reference's ``np.array(x) / 255.``)."""
    return exact_div(tf.cast(image, tf.float32), 255.0)


def to_uint8(x255: tf.Tensor) -> tf.Tensor:
    """float on the 0-255 scale -> uint8 by clipping and truncation: the reference returns
    floats that ``imagecorruptions.corrupt`` converts with ``np.uint8`` (which truncates)."""
    return tf.cast(tf.clip_by_value(x255, 0.0, 255.0), tf.uint8)


def unit_to_uint8(x: tf.Tensor) -> tf.Tensor:
    """float [0, 1] -> uint8 as the reference's ``np.clip(x, 0, 1) * 255`` then ``np.uint8``."""
    return to_uint8(tf.clip_by_value(x, 0.0, 1.0) * 255.0)


def pad_indices(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """int32 numpy indices that pad an axis of length ``size`` in a SciPy boundary mode."""
    if mode not in _PAD_MODES:
        raise ValueError(f"unknown boundary mode {mode!r} (one of {sorted(_PAD_MODES)})")
    return np.pad(np.arange(size), (before, after), mode=_PAD_MODES[mode]).astype(np.int32)


# SciPy boundary modes that tf.pad has natively (while the pad is shorter than the axis):
# 'mirror' (d c b | a b c d | c b a) is REFLECT, 'reflect' (b a | a b c d | d c) SYMMETRIC.
_TF_PAD_MODES = {"mirror": "REFLECT", "reflect": "SYMMETRIC"}


def pad(x: tf.Tensor, pads: Sequence[tuple[int, int]], mode: str,
        axes: Sequence[int] | None = None) -> tf.Tensor:
    """Pads axes of ``x`` (``pads`` = [(before, after), ...] for ``axes``, default the
    leading ones) in a SciPy boundary mode ('nearest', 'reflect', 'mirror', 'wrap') or
    'constant' (zeros). Mirror and reflect use tf.pad where it can (a native copy, several
    times faster than the gather of other modes and of pads longer than the axis); 'nearest'
    concatenates copies of the edges."""
    axes = list(range(len(pads))) if axes is None else list(axes)
    rank = x.shape.rank
    if mode == "constant":
        full = [(0, 0)] * rank
        for axis, p in zip(axes, pads):
            full[axis] = tuple(p)
        return tf.pad(x, full)
    for axis, (before, after) in zip(axes, pads):
        if not (before or after):
            continue
        size = int(x.shape[axis])
        native = _TF_PAD_MODES.get(mode)
        limit = size - 1 if native == "REFLECT" else size
        if native and max(before, after) <= limit:
            full = [(0, 0)] * rank
            full[axis] = (before, after)
            x = tf.pad(x, full, mode=native)
        elif mode == "nearest":  # edge copies concatenated: a native copy, unlike the gather
            x = tf.concat([_repeat_edge(x, 0, before, axis), x,
                           _repeat_edge(x, size - 1, after, axis)], axis)
        else:
            x = tf.gather(x, pad_indices(size, before, after, mode), axis=axis)
    return x


def _repeat_edge(x, index, count, axis):
    """``count`` copies of x's slice ``index`` along ``axis``."""
    edge = tf.gather(x, [index], axis=axis)
    shape = x.shape.as_list()
    shape[axis] = count
    return tf.broadcast_to(edge, shape)


def gaussian_kernel_1d(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter1d``'s weights: radius int(truncate*sigma + 0.5)."""
    radius = int(truncate * float(sigma) + 0.5)
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (t / float(sigma)) ** 2)
    return (w / w.sum()).astype(np.float32)


def separable_filter(x: tf.Tensor, kernel_h: np.ndarray, kernel_w: np.ndarray,
                     mode: str) -> tf.Tensor:
    """Correlates float [H, W, C] with the outer product of two odd 1-D kernels per channel
    (depthwise), padding in a SciPy boundary mode so the output keeps its size."""
    rh, rw = len(kernel_h) // 2, len(kernel_w) // 2
    x = pad(x, [(rh, rh), (rw, rw)], mode)
    x = _filter_rows(x, kernel_h)  # [H, W + 2 rw, C]
    x = _filter_rows(tf.transpose(x, [1, 0, 2]), kernel_w)  # [W, H, C]
    return tf.transpose(x, [1, 0, 2])


def _filter_rows(x, kernel):
    """Valid 1-D correlation of float [N, M, C] along N. The M * C columns are the channels
    of one depthwise convolution: oneDNN vectorises over channels, so this runs several
    times faster than a convolution over [N, M] with C (often 1-3) channels, and gives the
    same sums (each output is the same taps, added in the same order)."""
    n, m, c = (int(d) for d in x.shape)
    taps = tf.broadcast_to(np.asarray(kernel, np.float32)[:, None, None, None],
                           [len(kernel), 1, m * c, 1])
    y = tf.nn.depthwise_conv2d(tf.reshape(x, [1, n, 1, m * c]), taps, [1, 1, 1, 1], "VALID")
    return tf.reshape(y, [n - len(kernel) + 1, m, c])


def gaussian_filter(x: tf.Tensor, sigma: float, mode: str = "nearest",
                    truncate: float = 4.0) -> tf.Tensor:
    """skimage ``gaussian(x, sigma, channel_axis=-1)`` on float [H, W, C] (SciPy
    ``gaussian_filter`` over H and W; default mode 'nearest', truncate 4)."""
    k = gaussian_kernel_1d(sigma, truncate)
    return separable_filter(x, k, k, mode)


def filter2d(x: tf.Tensor, kernel: np.ndarray | Sequence[Sequence[float]],
             mode: str = "mirror") -> tf.Tensor:
    """Correlates float [H, W, C] with a 2-D kernel per channel; the default 'mirror' is
    OpenCV's BORDER_REFLECT_101 (``cv2.filter2D``'s default), kernel anchor at its centre."""
    kernel = np.asarray(kernel, np.float32)
    kh, kw = kernel.shape
    channels = int(x.shape[-1])
    x = pad(x, [(kh // 2, kh - 1 - kh // 2), (kw // 2, kw - 1 - kw // 2)], mode)[tf.newaxis]
    k = np.tile(kernel[:, :, None, None], (1, 1, channels, 1))
    return tf.nn.depthwise_conv2d(x, k, [1, 1, 1, 1], "VALID")[0]


def zoom_linear(x: tf.Tensor, out_h: int, out_w: int) -> tf.Tensor:
    """``scipy.ndimage.zoom(x, (out_h/H, out_w/W, 1), order=1)`` for float [H, W, C]: SciPy's
    grid_mode=False samples output o at input coordinate o * (in - 1) / (out - 1), which is
    ResizeBilinear with align_corners (one native kernel, ~3x faster than interpolating
    rows and columns with gathers; float32 weights, so a value can differ in the last bit)."""
    return tf.raw_ops.ResizeBilinear(images=x[tf.newaxis], size=[out_h, out_w],
                                     align_corners=True, half_pixel_centers=False)[0]


def clipped_zoom(x: tf.Tensor, zoom: float) -> tf.Tensor:
    """The reference's ``clipped_zoom``: centre crop ceil(n / zoom) per axis, zoom it by
    ``zoom`` with ``scipy.ndimage.zoom(order=1)`` (output round(crop * zoom)), then keep the
    top-left H x W (the callers' ``[:H, :W]``)."""
    h, w = static_hw(x[tf.newaxis])
    ch, cw = int(np.ceil(h / float(zoom))), int(np.ceil(w / float(zoom)))
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = x[top:top + ch, left:left + cw]
    # scipy's output size: round(in * zoom), computed in float64 like zoom() does.
    out_h, out_w = int(round(ch * float(zoom))), int(round(cw * float(zoom)))
    return zoom_linear(crop, out_h, out_w)[:h, :w]


# ------------------------------------------------- float64, the reference's operation order
# Where the reference's float64 result is truncated to uint8, the last bit decides a level
# (flat regions land on exact k / 255 values). The helpers below repeat the reference's
# float64 operations in its order, and keep graph optimisers from reordering them: in a
# tf.function or a tf.data map, Grappler turns chains of adds into one AddN (another order)
# and folds products of constants (c1 * (x * c2) -> (c1 * c2) * x), which made zoom_blur
# and speckle_noise differ between the three modes by one level on a few values.
def opaque(value: TensorLike) -> tf.Tensor:
    """A constant that constant folding cannot merge with another one
    (``PlaceholderWithDefault`` may be fed, so Grappler leaves it alone)."""
    value = tf.convert_to_tensor(value)
    return tf.raw_ops.PlaceholderWithDefault(input=value, shape=value.shape)


def ordered_sum(terms: tf.Tensor, initializer: tf.Tensor) -> tf.Tensor:
    """((initializer + terms[0]) + terms[1]) + ... of a stacked [n, ...] tensor, in that
    order in every mode: one add per loop iteration, which no optimiser reassociates."""
    return tf.foldl(lambda acc, term: acc + term, terms, initializer=initializer)


def scipy_gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """``scipy.ndimage._gaussian_kernel1d(sigma, 0, radius)`` bit for bit (float64)."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / (float(sigma) * float(sigma)) * x ** 2)
    return phi / phi.sum()


def _correlate1d_symmetric(x, weights, axis, mode):
    """SciPy's ``correlate1d`` with a symmetric kernel along ``axis`` of float64 ``x``, in
    its order: centre tap times its weight, then (x[-j] + x[+j]) * w[j] added from the
    outermost pair inwards (``NI_Correlate1D``'s symmetric branch)."""
    r = len(weights) // 2
    if r == 0:
        return x * weights[0]
    size = int(x.shape[axis])
    padded = pad(x, [(r, r)], mode, axes=[axis])

    def shifted(offset):
        return _slice_axis(padded, axis, r + offset, size)

    pairs = tf.stack([shifted(-j) + shifted(j) for j in range(r, 0, -1)])
    w = np.asarray([weights[r + j] for j in range(r, 0, -1)], np.float64)
    w = w.reshape([r] + [1] * x.shape.rank)
    return ordered_sum(pairs * opaque(w), shifted(0) * opaque(np.float64(weights[r])))


def _slice_axis(x, axis, start, size):
    begin = [0] * x.shape.rank
    sizes = [-1] * x.shape.rank
    begin[axis], sizes[axis] = start, size
    return tf.slice(x, begin, sizes)


def gaussian_filter64(x: tf.Tensor | np.ndarray, sigma: float, mode: str = "nearest",
                      truncate: float = 4.0) -> tf.Tensor:
    """skimage ``gaussian(x, sigma, channel_axis=-1)`` on float64 [H, W, C] bit for bit:
    SciPy's ``gaussian_filter1d`` over H, then over W, with its kernel and summation order
    (``_correlate1d_symmetric``). A flat region gives what the reference gives."""
    weights = scipy_gaussian_kernel(sigma, truncate)
    x = tf.convert_to_tensor(x, tf.float64)
    for axis in (0, 1):
        x = _correlate1d_symmetric(x, weights, axis, mode)
    return x


def zoom_linear64(x: tf.Tensor, out_h: int, out_w: int, rows: int | None = None,
                  cols: int | None = None) -> tf.Tensor:
    """``scipy.ndimage.zoom(x, (out_h/H, out_w/W, 1), order=1)`` on float64 [H, W, C] bit
    for bit: output (o, p) samples input (o * (H-1)/(out_h-1), p * (W-1)/(out_w-1)) and,
    as SciPy's ``NI_ZoomShift``, adds value * w_row * w_col over the 2 x 2 neighbours in C
    order. Only the first ``rows`` x ``cols`` outputs are computed (default all)."""
    h, w = int(x.shape[0]), int(x.shape[1])
    rows = out_h if rows is None else min(rows, out_h)
    cols = out_w if cols is None else min(cols, out_w)

    def axis_table(size, out, count):
        zoom = (size - 1) / (out - 1) if out > 1 else 0.0
        coord = np.arange(count) * zoom
        first = np.floor(coord).astype(np.int64)
        t = coord - first
        return ([first.astype(np.int32), np.minimum(first + 1, size - 1).astype(np.int32)],
                [1.0 - t, t])

    (y0, y1), wy = axis_table(h, out_h, rows)
    (x0, x1), wx = axis_table(w, out_w, cols)
    channels = int(x.shape[2])
    shape = [rows, cols, channels]
    top, bottom = tf.gather(x, y0), tf.gather(x, y1)
    terms = []
    for i, (part, wyi) in enumerate(((top, wy[0]), (bottom, wy[1]))):
        for idx, wxj in ((x0, wx[0]), (x1, wx[1])):
            v = tf.gather(part, idx, axis=1)
            wy_full = np.broadcast_to(wyi[:, None, None], shape)
            wx_full = np.broadcast_to(wxj[None, :, None], shape)
            terms.append((v * opaque(wy_full)) * opaque(wx_full))
    return ordered_sum(tf.stack(terms), tf.zeros(shape, tf.float64))


def clipped_zoom64(x: tf.Tensor, zoom: float) -> tf.Tensor:
    """``clipped_zoom`` on float64 with SciPy's arithmetic (``zoom_linear64``): the top-left
    H x W of the zoomed centre crop, bit for bit the reference's."""
    h, w = static_hw(x[tf.newaxis])
    ch, cw = int(np.ceil(h / float(zoom))), int(np.ceil(w / float(zoom)))
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = x[top:top + ch, left:left + cw]
    out_h, out_w = int(round(ch * float(zoom))), int(round(cw * float(zoom)))
    return zoom_linear64(crop, out_h, out_w, h, w)

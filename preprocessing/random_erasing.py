"""RandomErasing (Zhong et al., 2020) as a parametric, replayable TF transform.

Why not ``keras.layers.RandomErasing``: a scalar ``factor=p`` there draws the
apply-probability from U(0, p), so it erases about p/2 of the images, and its
``scale`` draws each side independently instead of an area + aspect ratio.
Here an image is erased with probability **exactly p** (when a box fits).

Sampling (torchvision ``RandomErasing.get_params`` / timm semantics)::

    for attempt in range(max_attempts):
        a = U(area) * H * W                  # target area in pixels
        r = exp(U(log_ratio))                # aspect ratio h / w, log-uniform
        h = round(sqrt(a * r)); w = round(sqrt(a / r))   # half-to-even
        if h < H and w < W:                  # fits -> take it
            y = U{0 .. H-h}; x = U{0 .. W-w}; break
    else: no erase

All attempts are drawn at once (vectorised) and the first fitting one is used,
which gives the same distribution as the sequential loop.

Params: ``{"apply": int32 0/1, "box": int32 [4] = (y, x, h, w),
"noise_seed": int32 [2]}``.  ``apply`` is 1 iff the coin (prob p) fired AND a
box fitted; the box is (0, 0, 0, 0) otherwise.  ``noise_seed`` makes the
``mode="random"`` fill replay bit-exactly.

Fill modes of :func:`apply`:

* ``"random"``: per-pixel, per-channel uniform uint8 noise (timm's "pixel"
  mode, in uint8 space), drawn statelessly from ``noise_seed``.
* ``"const"``: a constant colour, default the ImageNet mean (124, 117, 104) --
  timm's ``mode="const"`` (0 after normalisation = the mean colour).

What ml-dr uses: the box is set to **0 in [0, 1] pixel space before
normalisation**, i.e. a constant **black** fill: ``mode="const",
fill=(0, 0, 0)``.  ml-dr also has a quirk we do not copy: when torchvision's
``get_params`` finds no box it returns the whole image and DR then blanks the
whole image; here no attempt fitting means no erase (torchvision / timm).
"""

import math
from collections.abc import Mapping, Sequence

import tensorflow as tf

from preprocessing import augment_ops as A
from preprocessing.common import Seed
from preprocessing.common import as_int32_seed as _seed

DEFAULT_AREA = (0.02, 1.0 / 3.0)
DEFAULT_LOG_RATIO = (math.log(0.3), math.log(1.0 / 0.3))
MEAN_FILL = (124, 117, 104)
MODES = ("random", "const")




def sample_params(seed: Seed | int, image_shape_hw: tf.Tensor | Sequence[int], p: A.Scalar,
                  area: tuple[float, float] = DEFAULT_AREA,
                  log_ratio: tuple[float, float] = DEFAULT_LOG_RATIO,
                  max_attempts: int = 10) -> dict[str, tf.Tensor]:
    """Draws one RandomErasing decision and box (stateless RNG); see module doc.

    ``image_shape_hw``: (H, W), Python ints or int tensors (may be dynamic,
    e.g. ``tf.shape(image)[:2]``).
    """
    if isinstance(p, (int, float)) and not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    if not (0.0 < area[0] <= area[1]):
        raise ValueError(f"area must be 0 < lo <= hi, got {area!r}")
    if log_ratio[0] > log_ratio[1]:
        raise ValueError(f"log_ratio must be lo <= hi, got {log_ratio!r}")
    if int(max_attempts) < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts!r}")
    k = int(max_attempts)
    s_coin, s_area, s_ratio, s_pos, s_noise = tf.unstack(
        tf.random.experimental.stateless_split(_seed(seed), 5))
    hw = tf.cast(tf.convert_to_tensor(image_shape_hw), tf.int32)
    img_h, img_w = hw[0], hw[1]
    fh, fw = tf.cast(img_h, tf.float32), tf.cast(img_w, tf.float32)

    coin = tf.random.stateless_uniform([], s_coin) < tf.cast(p, tf.float32)
    target = tf.random.stateless_uniform([k], s_area, area[0], area[1]) * fh * fw
    ratio = tf.exp(tf.random.stateless_uniform([k], s_ratio, log_ratio[0], log_ratio[1]))
    h = tf.cast(tf.round(tf.sqrt(target * ratio)), tf.int32)
    w = tf.cast(tf.round(tf.sqrt(target / ratio)), tf.int32)
    fits = tf.logical_and(tf.logical_and(h < img_h, w < img_w),
                          tf.logical_and(h > 0, w > 0))
    first = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)
    any_fit = tf.reduce_any(fits)
    bh, bw = tf.gather(h, first), tf.gather(w, first)
    u = tf.random.stateless_uniform([2], s_pos)
    y = tf.minimum(tf.cast(tf.floor(u[0] * tf.cast(img_h - bh + 1, tf.float32)), tf.int32),
                   img_h - bh)
    x = tf.minimum(tf.cast(tf.floor(u[1] * tf.cast(img_w - bw + 1, tf.float32)), tf.int32),
                   img_w - bw)
    do = tf.logical_and(coin, any_fit)
    box = tf.where(do, tf.stack([y, x, bh, bw]), tf.zeros([4], tf.int32))
    return {"apply": tf.cast(do, tf.int32), "box": box, "noise_seed": s_noise}


def apply(image: A.Image, params: Mapping[str, tf.Tensor], mode: str = "random",
          fill: Sequence[int] | int = MEAN_FILL) -> tf.Tensor:
    """Erases ``params["box"]`` of a uint8 [H, W, C] image if ``params["apply"]``.

    ``mode="random"``: uniform uint8 noise from ``params["noise_seed"]``;
    ``mode="const"``: the colour ``fill`` (default the ImageNet mean; ml-dr's
    replay equivalent is ``fill=(0, 0, 0)``).  Returns uint8, same shape.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    image = A.as_uint8_image(image, "RandomErasing")
    box = tf.cast(params["box"], tf.int32)
    shape = tf.shape(image)

    def erase():
        # Noise only for the box (not the whole image): the same (box, noise_seed) always
        # gives the same pixels, and images the coin skips cost nothing.
        box_shape = tf.stack([box[2], box[3], shape[2]])
        if mode == "random":
            filler = tf.cast(tf.random.stateless_uniform(
                box_shape, tf.cast(params["noise_seed"], tf.int32), 0, 256, dtype=tf.int32),
                tf.uint8)
        else:
            filler = tf.broadcast_to(tf.cast(tf.constant(fill), tf.uint8), box_shape)
        pads = tf.stack([[box[0], shape[0] - box[0] - box[2]],
                         [box[1], shape[1] - box[1] - box[3]], [0, 0]])
        rows = tf.range(shape[0])
        cols = tf.range(shape[1])
        in_r = tf.logical_and(rows >= box[0], rows < box[0] + box[2])
        in_c = tf.logical_and(cols >= box[1], cols < box[1] + box[3])
        mask = tf.logical_and(in_r[:, None], in_c[None, :])[:, :, None]
        return tf.where(mask, tf.pad(filler, pads), image)

    out = tf.cond(tf.cast(params["apply"], tf.bool), erase, lambda: tf.identity(image))
    return tf.ensure_shape(out, image.shape)


def augment(image: A.Image, seed: Seed | int, p: A.Scalar, mode: str = "random",
            fill: Sequence[int] | int = MEAN_FILL,
            **sample_kwargs: tuple[float, float] | int) -> tf.Tensor:
    """``apply(image, sample_params(seed, tf.shape(image)[:2], p, ...), mode)``."""
    image = tf.convert_to_tensor(image)
    params = sample_params(seed, tf.shape(image)[:2], p, **sample_kwargs)
    return apply(image, params, mode=mode, fill=fill)

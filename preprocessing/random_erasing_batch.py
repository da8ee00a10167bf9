"""RandomErasing on a batch with per-image params, pixel-identical to ``random_erasing.apply``.

The erase does not depend on the image's pixels, only on its params: :func:`erase_parts`
turns one image's params into its box (``[4]`` = y, x, h, w; all 0 when the image is not
erased) and, for ``mode="random"``, the box's noise -- drawn exactly as the per-image op
draws it, with the box's own shape -- flattened into a ragged ``[1, None]`` uint8 row
(empty when the image is not erased, so an image the p = 0.25 coin skips ships 16 bytes).
:func:`apply_parts` writes the boxes of a batch in one XLA pass (integer index arithmetic,
a gather and a select: bit-identical): ``.batch()`` of the ragged rows concatenates the
noise of the erased images in batch order, and each pixel inside image b's box takes value
``start_b + ((row - y) * w + col - x) * C + channel`` of it.  (A scatter of the erased
values only costs more: TF's ScatterNd ~25 ns per value, and gathering the erased images
out and back two more copies of them.)  In training the parts are made in the per-image
stage (train_augment.make_train_stages), next to the params, so the batch stage has no
per-image ops: tf.data runs a map_fn's while loop as one
function call per image (~1 ms per image on one core) and an unrolled per-image graph also
costs ~0.3 ms per image there.
"""

import math
from collections.abc import Sequence

import tensorflow as tf

from preprocessing import augment_ops as A
from preprocessing import random_erasing as RE
from preprocessing.augment_ops_batch import bucketed


def _check_mode(mode: str) -> None:
    if mode not in RE.MODES:
        raise ValueError(f"mode must be one of {RE.MODES}, got {mode!r}")


def erase_parts(params: dict[str, tf.Tensor], image_shape: Sequence[int],
                mode: str = "random") -> dict[str, tf.Tensor | tf.RaggedTensor]:
    """One image's params -> {"box": int32 [4] (0 when not erased), "noise": uint8 ragged
    [1, None] (``mode="random"`` only: the box's noise, row-major (row, col, channel))}."""
    _check_mode(mode)
    c = image_shape[-1]
    box = tf.cast(params["box"], tf.int32) * tf.cast(tf.cast(params["apply"], tf.bool),
                                                       tf.int32)  # no erase: an empty box
    parts = {"box": box}
    if mode == "random":
        noise = tf.random.stateless_uniform(
            tf.stack([box[2], box[3], c]), tf.cast(params["noise_seed"], tf.int32), 0, 256,
            dtype=tf.int32)
        parts["noise"] = tf.RaggedTensor.from_tensor(
            tf.reshape(tf.cast(noise, tf.uint8), [1, -1]))
    return parts


# Integer index arithmetic, a gather and a select only (bit-identical to TF), fused by XLA
# into one pass over the batch (~80 ns per erased value on one core as TF kernels).
@tf.function(jit_compile=True)
def _write_boxes(images, box, starts, values, colour):
    """images with box b of image b set to its values: value ``starts[b] + ((row - y) * bw
    + col - x) * C + channel`` of ``values`` (row-major in the box), or with ``values``
    None ``colour[channel]``."""
    h, w, c = images.shape[1], images.shape[2], images.shape[3]
    y, x, bh, bw = (box[:, k, None, None, None] for k in range(4))
    rows = tf.range(h)[None, :, None, None]
    cols = tf.range(w)[None, None, :, None]
    inside = (rows >= y) & (rows < y + bh) & (cols >= x) & (cols < x + bw)
    if values is None:
        erased = tf.broadcast_to(colour, tf.shape(images))
    else:
        index = (starts[:, None, None, None] + ((rows - y) * bw + cols - x) * c
                 + tf.range(c))
        erased = tf.gather(values, tf.clip_by_value(index, 0, tf.shape(values)[0] - 1))
    return tf.where(inside, erased, images)


def _bucket_length(length):
    """A power of two >= length (at least 4096): one XLA compilation per bucket."""
    length = tf.maximum(length, 4096)
    bits = tf.cast(tf.math.ceil(tf.math.log(tf.cast(length, tf.float64)) / math.log(2.0)),
                   tf.int32)
    size = tf.bitwise.left_shift(1, bits)
    return tf.where(size < length, 2 * size, size)  # (log rounding)


def apply_parts(images: tf.Tensor, box: tf.Tensor, noise: tf.Tensor | None = None,
                fill: Sequence[int] = RE.MEAN_FILL) -> tf.Tensor:
    """uint8 images [N, H, W, C] with box b (int32 [N, 4]) of image b set to the next
    ``h * w * C`` values of ``noise`` (uint8 [sum of box sizes], the images' box noise
    concatenated in order), or to the colour ``fill`` when ``noise`` is None."""
    images = A.as_uint8_image(images, "RandomErasing")
    shape = images.shape[1:].as_list()
    if None in shape:
        raise ValueError(f"apply_parts needs a static image size, got {images.shape}")
    c = shape[-1]
    box = tf.cast(box, tf.int32)
    sizes = box[:, 2] * box[:, 3] * c
    if noise is not None:  # padded to a power of two: few lengths, few XLA compilations
        total = tf.reduce_sum(sizes)
        noise = tf.concat([tf.reshape(noise, [-1]),
                           tf.zeros([_bucket_length(total) - total], tf.uint8)], 0)
    colour = tf.broadcast_to(tf.cast(tf.constant(fill), tf.uint8), [c])
    # One pass over the whole batch: cheaper than gathering the erased images out and
    # scattering them back (two more copies of them and TF's slow uint8 ScatterNd).
    return bucketed(_write_boxes, images, box, tf.cumsum(sizes, exclusive=True),
                    static=(noise, colour))


def apply_batch(images: tf.Tensor, params: dict[str, tf.Tensor], mode: str = "random",
                fill: Sequence[int] = RE.MEAN_FILL) -> tf.Tensor:
    """uint8 [B, H, W, C] -> uint8, image b erased as ``random_erasing.apply(images[b],
    params[b], mode, fill)``."""
    _check_mode(mode)
    images = A.as_uint8_image(images, "RandomErasing")
    shape = images.shape[1:].as_list()
    if None in shape:
        raise ValueError(f"apply_batch needs a static image size, got {images.shape}")
    box = tf.cast(params["box"], tf.int32) * tf.cast(params["apply"], tf.int32)[:, None]
    noise = None
    if mode == "random":
        noise = tf.map_fn(lambda p: erase_parts(p, shape, mode)["noise"].flat_values, params,
                          fn_output_signature=tf.RaggedTensorSpec([None], tf.uint8))
        noise = noise.flat_values
    return apply_parts(images, box, noise, fill)

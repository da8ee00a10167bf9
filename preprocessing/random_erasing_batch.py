"""RandomErasing on a batch with per-image params, pixel-identical to ``random_erasing.apply``.

The erase does not depend on the image's pixels, only on its params: :func:`erase_parts`
turns one image's params into its box (``[4]`` = y, x, h, w; all 0 when the image is not
erased) and, for ``mode="random"``, the box's noise -- drawn exactly as the per-image op
draws it, with the box's own shape -- flattened into a ragged ``[1, None]`` uint8 row
(empty when the image is not erased, so an image the p = 0.25 coin skips ships 16 bytes).
:func:`apply_parts` writes the boxes of a batch with one scatter of the erased values only:
``.batch()`` of the ragged rows concatenates the noise of the erased images in batch order,
and each value's target pixel follows from its position and its image's box.  In training
the parts are made in the per-image stage (train_augment.make_train_stages), next to the
params, so the batch stage has no per-image ops: tf.data runs a map_fn's while loop as one
function call per image (~1 ms per image on one core) and an unrolled per-image graph also
costs ~0.3 ms per image there.
"""

from collections.abc import Sequence

import tensorflow as tf

from preprocessing import augment_ops as A
from preprocessing import random_erasing as RE


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


def apply_parts(images: tf.Tensor, box: tf.Tensor, noise: tf.Tensor | None = None,
                fill: Sequence[int] = RE.MEAN_FILL) -> tf.Tensor:
    """uint8 images [N, H, W, C] with box b (int32 [N, 4]) of image b set to the next
    ``h * w * C`` values of ``noise`` (uint8 [sum of box sizes], the images' box noise
    concatenated in order), or to the colour ``fill`` when ``noise`` is None."""
    images = A.as_uint8_image(images, "RandomErasing")
    shape = images.shape[1:].as_list()
    if None in shape:
        raise ValueError(f"apply_parts needs a static image size, got {images.shape}")
    h, w, c = shape
    box = tf.cast(box, tf.int32)
    sizes = box[:, 2] * box[:, 3] * c
    owner = tf.repeat(tf.range(tf.shape(box)[0]), sizes)  # image of each erased value
    local = tf.range(tf.reduce_sum(sizes)) - tf.gather(tf.cumsum(sizes, exclusive=True), owner)
    y, x, bw = (tf.gather(box[:, k], owner) for k in (0, 1, 3))
    pixel = local // c
    target = (((owner * h + y + pixel // bw) * w + x + pixel % bw) * c) + local % c
    if noise is None:
        colour = tf.broadcast_to(tf.cast(tf.constant(fill), tf.uint8), [c])
        values = tf.gather(colour, local % c)
    else:
        values = tf.reshape(noise, [-1])
    out = tf.tensor_scatter_nd_update(tf.reshape(images, [-1]), target[:, None], values)
    return tf.reshape(out, tf.shape(images))


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

"""RandomErasing on a batch with per-image params, pixel-identical to ``random_erasing.apply``.

The erase does not depend on the image's pixels, only on its params: :func:`erase_layers`
turns one image's params into two uint8 images, ``canvas`` (the box's content -- the
``"random"`` noise drawn exactly as the per-image op draws it, with the box's own shape --
at the box, 0 elsewhere) and ``mask`` (255 in the box, 0 elsewhere), and
:func:`apply_layers` writes them into a batch with three uint8 ops,
``x ^ ((x ^ canvas) & mask)``.  In training the layers are made in the per-image stage
(train_augment.make_train_stages), next to the params, so the batch stage has no per-image
ops: tf.data runs a map_fn's while loop as one function call per image (~1 ms per image on
one core) and an unrolled per-image graph also costs ~0.3 ms per image there.
"""

import tensorflow as tf

from preprocessing import augment_ops as A
from preprocessing import random_erasing as RE


def erase_layers(params, image_shape, mode="random", fill=RE.MEAN_FILL):
    """(canvas, mask), uint8 ``image_shape`` = (H, W, C), of one image's params."""
    if mode not in RE.MODES:
        raise ValueError(f"mode must be one of {RE.MODES}, got {mode!r}")
    h, w, c = image_shape
    box = tf.cast(params["box"], tf.int32) * tf.cast(tf.cast(params["apply"], tf.bool),
                                                       tf.int32)  # no erase: an empty box
    y, x, bh, bw = tf.unstack(box)
    box_shape = tf.stack([bh, bw, c])
    if mode == "random":
        filler = tf.cast(tf.random.stateless_uniform(
            box_shape, tf.cast(params["noise_seed"], tf.int32), 0, 256, dtype=tf.int32),
            tf.uint8)
    else:
        filler = tf.broadcast_to(tf.cast(tf.constant(fill), tf.uint8), box_shape)
    pads = tf.stack([[y, h - y - bh], [x, w - x - bw], [0, 0]])
    canvas = tf.ensure_shape(tf.pad(filler, pads), [h, w, c])
    mask = tf.ensure_shape(tf.pad(tf.fill(box_shape, tf.constant(255, tf.uint8)), pads),
                           [h, w, c])
    return canvas, mask


def apply_layers(images, canvas, mask):
    """uint8 images with ``canvas`` written where ``mask`` is 255 (same shapes)."""
    return tf.bitwise.bitwise_xor(images, tf.bitwise.bitwise_and(
        tf.bitwise.bitwise_xor(images, canvas), mask))


def apply_batch(images, params, mode="random", fill=RE.MEAN_FILL):
    """uint8 [B, H, W, C] -> uint8, image b erased as ``random_erasing.apply(images[b],
    params[b], mode, fill)``."""
    images = A.as_uint8_image(images, "RandomErasing")
    shape = images.shape[1:].as_list()
    if None in shape:
        raise ValueError(f"apply_batch needs a static image size, got {images.shape}")
    layers = tf.map_fn(lambda p: erase_layers(p, shape, mode, fill), params,
                       fn_output_signature=(tf.TensorSpec(shape, tf.uint8),) * 2)
    return apply_layers(images, *layers)

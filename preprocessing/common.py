"""Shared image ops: decoding, resizing, flipping, normalisation, seeds.

Behaviour follows the original assembled-cnn preprocessing
(clovaai/assembled-cnn, ``preprocessing/imagenet_preprocessing.py``, itself
derived from the TF official ResNet input pipeline), re-implemented for
TF 2.x ``tf.data`` graph mode:

* Normalisation subtracts the RGB channel means (123.68, 116.78, 103.94) and
  does **not** divide by a standard deviation; values stay on the 0-255
  scale.  This unusual choice is the original's and is kept so that its
  released checkpoints port exactly.
* JPEG decoding takes a ``dct_method`` (libjpeg IDCT): ``"INTEGER_ACCURATE"``
  (the original's ``--dct_method`` flag default, and the default here),
  ``"INTEGER_FAST"``, or ``""`` (TensorFlow's platform default).  Measured with
  TF 2.21 on x86-64 Linux, ``""`` decodes exactly like ``"INTEGER_FAST"``, not
  like ``"INTEGER_ACCURATE"`` (~60 % of the pixels of a q90 photo JPEG differ
  by up to 7 grey levels); ``"INTEGER_ACCURATE"`` equals PIL's decode pixel
  for pixel.  PNG and other formats ignore it.  Every image is decoded to 3
  channels (grayscale -> RGB).
* Bilinear resizing defaults to the TF1 ``tf.image.resize_images(...,
  align_corners=False)`` kernel, i.e. ``half_pixel_centers=False``; pass
  ``half_pixel_centers=True`` for the TF2 ``tf.image.resize`` convention.

Every random choice is parametric: ``sample_*_params(seed, ...)`` draws small
int32 tensors with stateless RNG, ``apply_*(image, params)`` is
deterministic.  All functions are pure TF ops usable inside ``Dataset.map``.
"""

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

#: A stateless seed: an integer tensor of shape [2] or a Python / NumPy pair.
Seed = tf.Tensor | np.ndarray | Sequence[int]
#: Encoded image bytes: a scalar tf.string tensor or Python bytes.
Encoded = tf.Tensor | bytes

MEAN_RGB = (123.68, 116.78, 103.94)
DCT_METHOD = "INTEGER_ACCURATE"
DCT_METHODS = ("INTEGER_ACCURATE", "INTEGER_FAST", "")

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------- seeds
def as_seed(seed: Seed) -> tf.Tensor:
    """Converts a seed (Python pair, int32/int64 tensor of shape [2]) to a tensor."""
    seed = tf.convert_to_tensor(seed)
    if seed.dtype not in (tf.int32, tf.int64):
        seed = tf.cast(seed, tf.int64)
    return tf.ensure_shape(seed, [2])


def split_seed(seed: Seed, num: int) -> tf.Tensor:
    """Derives ``num`` independent stateless sub-seeds (shape [num, 2]) from one seed."""
    return tf.random.experimental.stateless_split(as_seed(seed), num=num)


# ------------------------------------------------------------------ decoding
def check_dct_method(dct_method: str) -> str:
    """Returns ``dct_method`` if it is one of DCT_METHODS; ValueError naming it otherwise."""
    if not isinstance(dct_method, str) or dct_method not in DCT_METHODS:
        raise ValueError(f"dct_method {dct_method!r} is not one of "
                         f"{', '.join(repr(m) for m in DCT_METHODS)}")
    return dct_method


def is_png(encoded: Encoded) -> tf.Tensor:
    """True when the bytes start with the PNG signature."""
    return tf.equal(tf.strings.substr(encoded, 0, 8), _PNG_MAGIC)


def decode(encoded: Encoded, dct_method: str = DCT_METHOD) -> tf.Tensor:
    """Decodes JPEG/PNG (or anything ``decode_image`` reads) to uint8 [H, W, 3].

    JPEGs are decoded with ``dct_method`` (see the module docstring).
    """
    check_dct_method(dct_method)
    encoded = tf.convert_to_tensor(encoded, tf.string)
    image = tf.cond(
        tf.io.is_jpeg(encoded),
        lambda: tf.io.decode_jpeg(encoded, channels=3, dct_method=dct_method),
        lambda: tf.io.decode_image(encoded, channels=3, dtype=tf.uint8,
                                   expand_animations=False),
    )
    return tf.ensure_shape(image, [None, None, 3])


def _png_shape(encoded):
    # IHDR chunk: width and height are big-endian uint32 at bytes 16..23.
    raw = tf.io.decode_raw(tf.strings.substr(encoded, 16, 8), tf.int32,
                           little_endian=False)
    return tf.stack([raw[1], raw[0]])


def encoded_image_shape(encoded: Encoded) -> tf.Tensor:
    """Returns int32 [2] = (height, width) of encoded image bytes.

    JPEG and PNG are read from their headers (no pixel decode); other formats
    fall back to a full decode.
    """
    encoded = tf.convert_to_tensor(encoded, tf.string)
    return tf.case(
        [(tf.io.is_jpeg(encoded), lambda: tf.image.extract_jpeg_shape(encoded)[:2]),
         (is_png(encoded), lambda: _png_shape(encoded))],
        default=lambda: tf.shape(decode(encoded))[:2],
    )


def apply_crop(image: tf.Tensor, window: tf.Tensor | Sequence[int]) -> tf.Tensor:
    """Crops a decoded image [H, W, C] to ``window`` = int32 [4] (y, x, h, w)."""
    window = tf.cast(window, tf.int32)
    return tf.slice(image, tf.stack([window[0], window[1], 0]),
                    tf.stack([window[2], window[3], -1]))


def decode_and_crop(encoded: Encoded, window: tf.Tensor | Sequence[int],
                    dct_method: str = DCT_METHOD) -> tf.Tensor:
    """Decodes only ``window`` (int32 [4] = y, x, h, w) of the encoded image.

    JPEG uses the fused ``tf.image.decode_and_crop_jpeg`` with ``dct_method``
    (same pixels as ``decode`` + slice with that method); other formats are
    fully decoded and then sliced.
    """
    check_dct_method(dct_method)
    encoded = tf.convert_to_tensor(encoded, tf.string)
    window = tf.cast(window, tf.int32)
    image = tf.cond(
        tf.io.is_jpeg(encoded),
        lambda: tf.image.decode_and_crop_jpeg(encoded, window, channels=3,
                                              dct_method=dct_method),
        lambda: apply_crop(
            tf.io.decode_image(encoded, channels=3, dtype=tf.uint8,
                               expand_animations=False), window),
    )
    return tf.ensure_shape(image, [None, None, 3])


# ------------------------------------------------------------------ resizing
def resize_bilinear(image: tf.Tensor, size: tf.Tensor | Sequence[int],
                    half_pixel_centers: bool = False) -> tf.Tensor:
    """Bilinear resize of [H, W, C] to ``size`` = (h, w); returns float32.

    ``half_pixel_centers=False`` reproduces TF1 ``resize_images(...,
    align_corners=False)`` used by the original code.
    """
    size = tf.cast(tf.convert_to_tensor(size), tf.int32)
    out = tf.raw_ops.ResizeBilinear(images=image[tf.newaxis], size=size,
                                    align_corners=False,
                                    half_pixel_centers=half_pixel_centers)
    return out[0]


def to_uint8(image: tf.Tensor) -> tf.Tensor:
    """Rounds and clips a float image to uint8."""
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


# ----------------------------------------------------------------- flipping
def sample_flip_params(seed: Seed) -> tf.Tensor:
    """int32 scalar: 1 = flip horizontally (p = 0.5), 0 = keep."""
    u = tf.random.stateless_uniform([], seed=as_seed(seed))
    return tf.cast(u < 0.5, tf.int32)


def apply_flip(image: tf.Tensor, flip: tf.Tensor | int) -> tf.Tensor:
    """Flips [H, W, C] left-right when ``flip`` is non-zero."""
    return tf.cond(tf.cast(flip, tf.bool),
                   lambda: tf.reverse(image, axis=[1]),
                   lambda: image)


# ------------------------------------------------------------ normalisation
def normalize(image: tf.Tensor | np.ndarray) -> tf.Tensor:
    """float32 ``image - MEAN_RGB`` (0-255 scale, no std division).

    Kept exactly as in the original so its released checkpoints port; accepts
    uint8 or float [..., 3].
    """
    return tf.cast(image, tf.float32) - tf.constant(MEAN_RGB, tf.float32)


def as_int32_seed(seed: Seed | int) -> tf.Tensor:
    """int / [2] integer seed -> int32 [2] stateless seed (the augmentation samplers; a
    scalar seed s means [s, 0])."""
    seed = tf.convert_to_tensor(seed)
    if not seed.dtype.is_integer:
        raise TypeError(f"seed must be an integer (or [2] integers), got {seed.dtype}")
    seed = tf.cast(seed, tf.int64)
    if seed.shape.rank == 0:
        seed = tf.stack([seed, tf.zeros([], tf.int64)])
    return tf.cast(tf.ensure_shape(seed, [2]), tf.int32)

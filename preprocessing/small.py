"""Small-image (CIFAR-size) preprocessing, type ``small_<N>``.

Not in the original assembled-cnn (it only targets ImageNet-size inputs);
this is the standard CIFAR recipe of He et al. 2016 ("Deep Residual Learning",
Sec. 4.2): pad 4 px per side, random N x N crop, random horizontal flip;
eval uses the image as is.  Images that are not N x N are first resized
(bilinear, aspect not kept).

Padding colour: the mean RGB rounded to integers, (124, 117, 104), so that
after ``normalize`` the border is ~0 -- the same as zero-padding a
mean-subtracted tensor (what CIFAR pipelines that pad after normalisation
do), instead of a strong -124 "black" border on this framework's 0-255 scale.

JPEG inputs are decoded with ``dct_method`` like the imagenet types.  The
original's ``training_random_crop`` flag does not apply (there is no
distorted-bbox crop here); ``registry.get_preprocessing`` rejects
``training_random_crop=False`` for ``small_<N>``.
"""

from collections.abc import Mapping, Sequence

import tensorflow as tf

from preprocessing import common

PAD = 4
PAD_VALUE = tuple(int(round(m)) for m in common.MEAN_RGB)  # (124, 117, 104)


def resize_to(image: tf.Tensor, size: int, half_pixel_centers: bool = False) -> tf.Tensor:
    """uint8 [size, size, 3]: bilinear resize (rounded) unless already size x size."""
    shape = tf.shape(image)
    same = tf.logical_and(tf.equal(shape[0], size), tf.equal(shape[1], size))
    image = tf.cond(
        same,
        lambda: image,
        lambda: common.to_uint8(common.resize_bilinear(image, [size, size],
                                                       half_pixel_centers)),
    )
    return tf.ensure_shape(image, [size, size, 3])


def pad_image(image: tf.Tensor, pad: int = PAD) -> tf.Tensor:
    """Pads uint8 [H, W, 3] by ``pad`` px per side with PAD_VALUE."""
    paddings = [[pad, pad], [pad, pad]]
    return tf.stack([tf.pad(image[..., c], paddings, constant_values=PAD_VALUE[c])
                     for c in range(3)], axis=-1)


def sample_pad_crop_params(seed: common.Seed, size: int, pad: int = PAD) -> tf.Tensor:
    """Random crop window in the padded image: int32 [4] = (y, x, size, size), y, x in
    [0, 2*pad]."""
    yx = tf.random.stateless_uniform([2], seed=common.as_seed(seed), minval=0,
                                     maxval=2 * pad + 1, dtype=tf.int32)
    return tf.concat([yx, tf.constant([size, size], tf.int32)], axis=0)


def apply_pad_crop(image: tf.Tensor, window: tf.Tensor | Sequence[int],
                   pad: int = PAD) -> tf.Tensor:
    """Pads uint8 image with PAD_VALUE and crops ``window`` (y, x, h, w)."""
    return common.apply_crop(pad_image(image, pad), window)


def sample_train_params(encoded: common.Encoded | None, seed: common.Seed,
                        size: int) -> dict[str, tf.Tensor]:
    """{"crop": int32[4] window in padded coordinates, "flip": int32[]}; ``encoded`` unused."""
    del encoded
    crop_seed, flip_seed = tf.unstack(common.split_seed(seed, 2))
    return {"crop": sample_pad_crop_params(crop_seed, size),
            "flip": common.sample_flip_params(flip_seed)}


def apply_train_params(encoded: common.Encoded, params: Mapping[str, tf.Tensor], size: int,
                       half_pixel_centers: bool = False,
                       dct_method: str = common.DCT_METHOD) -> tf.Tensor:
    """Decode, resize to size x size if needed, pad, crop, flip -> uint8 [size, size, 3]."""
    image = resize_to(common.decode(encoded, dct_method), size, half_pixel_centers)
    image = apply_pad_crop(image, params["crop"])
    image = common.apply_flip(image, params["flip"])
    return tf.ensure_shape(image, [size, size, 3])


def train_uint8(encoded: common.Encoded, seed: common.Seed, size: int,
                half_pixel_centers: bool = False,
                dct_method: str = common.DCT_METHOD) -> tf.Tensor:
    """uint8 [size, size, 3] pad-crop-flip of encoded bytes."""
    return apply_train_params(encoded, sample_train_params(encoded, seed, size), size,
                              half_pixel_centers, dct_method)


def eval_float(encoded: common.Encoded, size: int, half_pixel_centers: bool = False,
               dct_method: str = common.DCT_METHOD) -> tf.Tensor:
    """float32 [size, size, 3] unnormalised: decode, bilinear resize if not size x size."""
    image = common.decode(encoded, dct_method)
    shape = tf.shape(image)
    same = tf.logical_and(tf.equal(shape[0], size), tf.equal(shape[1], size))
    image = tf.cond(
        same,
        lambda: tf.cast(image, tf.float32),
        lambda: common.resize_bilinear(image, [size, size], half_pixel_centers),
    )
    return tf.ensure_shape(image, [size, size, 3])

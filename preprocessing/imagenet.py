"""ImageNet-style preprocessing: random-resized crop (train), resize + center crop (eval).

Sources:
* Train crop: the Inception "random-resized crop" of Szegedy et al. 2015
  ("Going Deeper with Convolutions"), in the form used by the original
  assembled-cnn (``preprocessing/imagenet_preprocessing.py``): a distorted
  bounding box of the *whole image* (dataset bboxes are ignored) with
  min_object_covered 0.1, aspect ratio [0.75, 1.33], area [0.05, 1.0],
  100 attempts, fused decode-and-crop, random horizontal flip, then bilinear
  resize to S x S without keeping the aspect ratio.  Note that
  min_object_covered 0.1 of the whole-image box makes the effective lower
  area bound 0.1, exactly as in the original.
* ``crop_sampler="torchvision"`` (``--crop_sampler``, crop_samplers.py) draws the train
  window as torchvision's ``RandomResizedCrop`` with its defaults instead: area fraction
  uniform in (0.08, 1), aspect ratio log-uniform in (3/4, 4/3), 10 tries, then the centre
  crop. DR (Faghri et al. 2023) and timm train with that crop. The rest of the path (fused
  decode-and-crop, flip, bilinear S x S resize without antialiasing) is the same for both
  samplers; torchvision's resize of the crop is antialiased, this one is not.
* ``training_random_crop=False`` (the original's ``--training_random_crop``
  flag, ``use_random_crop`` in its ``_decode_crop_and_flip``) keeps the same
  ``sample_distorted_bounding_box`` call with min_object_covered 1.0: the crop
  must contain the whole image, so the window is always the whole image
  (when no attempt fits the aspect-ratio range the op falls back to the whole
  image as well).  The random flip and the S x S resize (aspect ratio not
  kept) still apply, as in the original.
* JPEG decodes (train fused decode-and-crop, eval decode) use ``dct_method``
  (default INTEGER_ACCURATE, the original's flag default); see ``common``.
* Eval: aspect-preserving bilinear resize of the shorter side followed by a
  center crop, the 0.875 crop ratio of He et al. 2016 / "Bag of Tricks" (He
  et al. 2019); assembled-cnn's ``crop_type=1`` variant resizes the shorter
  side to crop + 1 instead.

Order in train follows the original: crop -> flip -> resize (with the
default non-half-pixel kernel, flip and resize do not commute).
"""

from collections.abc import Mapping

import tensorflow as tf

from preprocessing import common, crop_samplers

AREA_RANGE = (0.05, 1.0)
ASPECT_RATIO_RANGE = (0.75, 1.33)
MIN_OBJECT_COVERED = 0.1
MIN_OBJECT_COVERED_NO_RANDOM_CROP = 1.0  # training_random_crop=False: the whole image
MAX_ATTEMPTS = 100


def sample_crop_params(seed: common.Seed, image_shape: crop_samplers.ImageShape,
                       min_object_covered: float = MIN_OBJECT_COVERED,
                       sampler: str = crop_samplers.INCEPTION) -> tf.Tensor:
    """Random-resized-crop window for an image of ``image_shape`` = (h, w[, c]).

    Returns int32 [4] = (y, x, h, w).  Stateless: same seed -> same window.
    ``sampler`` "inception": the original's distorted bounding box (``min_object_covered``
    1.0, ``training_random_crop=False``, always gives the whole image); "torchvision":
    ``RandomResizedCrop.get_params`` with its default scale and ratio
    (``min_object_covered`` must stay at its default: that sampler has no such bound).
    """
    if crop_samplers.check_sampler(sampler) == crop_samplers.TORCHVISION:
        if min_object_covered != MIN_OBJECT_COVERED:
            raise ValueError("the torchvision crop sampler has no min_object_covered")
        return crop_samplers.torchvision_window(seed, image_shape)
    return crop_samplers.inception_window(seed, image_shape, AREA_RANGE, ASPECT_RATIO_RANGE,
                                          MAX_ATTEMPTS, min_object_covered)


def sample_train_params(encoded: common.Encoded, seed: common.Seed, random_crop: bool = True,
                        sampler: str = crop_samplers.INCEPTION) -> dict[str, tf.Tensor]:
    """All random choices of the train path: {"crop": int32[4], "flip": int32[]}.

    ``random_crop=False``: min_object_covered 1.0, i.e. "crop" is the whole
    image (the seed streams are the same, so "flip" does not change); only with the
    inception sampler (registry.Preprocessing refuses it with torchvision).
    """
    crop_seed, flip_seed = tf.unstack(common.split_seed(seed, 2))
    shape = common.encoded_image_shape(encoded)
    min_covered = MIN_OBJECT_COVERED if random_crop else MIN_OBJECT_COVERED_NO_RANDOM_CROP
    return {"crop": sample_crop_params(crop_seed, shape, min_covered, sampler),
            "flip": common.sample_flip_params(flip_seed)}


def apply_train_params(encoded: common.Encoded, params: Mapping[str, tf.Tensor], size: int,
                       half_pixel_centers: bool = False,
                       dct_method: str = common.DCT_METHOD) -> tf.Tensor:
    """Replays train params: fused decode+crop, flip, resize to size x size, round to uint8."""
    image = common.decode_and_crop(encoded, params["crop"], dct_method)
    image = common.apply_flip(image, params["flip"])
    image = common.resize_bilinear(image, [size, size], half_pixel_centers)
    return tf.ensure_shape(common.to_uint8(image), [size, size, 3])


def train_uint8(encoded: common.Encoded, seed: common.Seed, size: int,
                half_pixel_centers: bool = False, dct_method: str = common.DCT_METHOD,
                random_crop: bool = True) -> tf.Tensor:
    """uint8 [size, size, 3] random-resized crop + flip of encoded bytes."""
    return apply_train_params(encoded, sample_train_params(encoded, seed, random_crop), size,
                              half_pixel_centers, dct_method)


def resize_shorter_side_shape(height: tf.Tensor | int, width: tf.Tensor | int,
                              shorter_side: tf.Tensor | int) -> tuple[tf.Tensor, tf.Tensor]:
    """New (h, w) with the shorter side scaled to ``shorter_side``.

    Reproduces the original's float32 arithmetic (``scale = S / min(h, w)``;
    ``new = int32(float32(dim) * scale)``, truncating).  Because of float32
    rounding the shorter side occasionally comes out as S - 1 (e.g. 41x54 with
    S = 256 -> 255x337); this is kept on purpose so that evaluation of ported
    checkpoints matches the original pixel for pixel.
    """
    h = tf.cast(height, tf.float32)
    w = tf.cast(width, tf.float32)
    scale = tf.cast(shorter_side, tf.float32) / tf.minimum(h, w)
    return tf.cast(h * scale, tf.int32), tf.cast(w * scale, tf.int32)


def center_crop(image: tf.Tensor, crop_size: tf.Tensor | int) -> tf.Tensor:
    """Center crop of [H, W, C]: offset = (dim - crop) // 2 on each axis."""
    shape = tf.shape(image)
    top = (shape[0] - crop_size) // 2
    left = (shape[1] - crop_size) // 2
    return tf.slice(image, tf.stack([top, left, 0]), tf.stack([crop_size, crop_size, -1]))


def eval_float(encoded: common.Encoded, crop_size: int, shorter_side: tf.Tensor | int,
               half_pixel_centers: bool = False,
               dct_method: str = common.DCT_METHOD) -> tf.Tensor:
    """Unnormalised float32 [crop, crop, 3]: decode (``dct_method``), aspect-preserving
    resize, center crop.

    Not rounded (the original feeds the float resize output straight into mean
    subtraction).
    """
    image = common.decode(encoded, dct_method)
    shape = tf.shape(image)
    new_h, new_w = resize_shorter_side_shape(shape[0], shape[1], shorter_side)
    image = common.resize_bilinear(image, tf.stack([new_h, new_w]), half_pixel_centers)
    image = center_crop(image, crop_size)
    return tf.ensure_shape(image, [crop_size, crop_size, 3])

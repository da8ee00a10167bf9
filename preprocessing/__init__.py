"""Image preprocessing (``preprocessing_type``) after the original assembled-cnn.

Encoded bytes (JPEG/PNG scalar tf.string) -> uint8 crop/resize/flip ->
``normalize`` (RGB mean subtraction, 0-255 scale).  Random choices are
parametric (``sample_*_params`` with stateless seeds, ``apply_*``) so they
can be stored and replayed.  See ``registry`` for the list of types.
"""

from preprocessing.common import (
    DCT_METHOD,
    DCT_METHODS,
    MEAN_RGB,
    apply_crop,
    apply_flip,
    decode,
    decode_and_crop,
    encoded_image_shape,
    normalize,
    resize_bilinear,
    sample_flip_params,
    split_seed,
    to_uint8,
)
from preprocessing.imagenet import center_crop, resize_shorter_side_shape, sample_crop_params
from preprocessing.registry import PREPROCESSING_TYPES, Preprocessing, get_preprocessing
from preprocessing.small import PAD_VALUE, apply_pad_crop, sample_pad_crop_params

__all__ = [
    "DCT_METHOD", "DCT_METHODS", "MEAN_RGB", "PAD_VALUE", "PREPROCESSING_TYPES",
    "Preprocessing",
    "apply_crop", "apply_flip", "apply_pad_crop", "center_crop", "decode",
    "decode_and_crop", "encoded_image_shape", "get_preprocessing", "normalize",
    "resize_bilinear", "resize_shorter_side_shape", "sample_crop_params",
    "sample_flip_params", "sample_pad_crop_params", "split_seed", "to_uint8",
]

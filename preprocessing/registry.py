"""The ``preprocessing_type`` registry: explicit names plus two parsed families.

Types follow the original assembled-cnn ``utils/data_util.preprocess_image``:

=====================  ==========  ===================================
type                   train size  eval
=====================  ==========  ===================================
imagenet               224         shorter side 256 -> center crop 224
imagenet_224_256       224         shorter side 292 -> center crop 256
imagenet_224_256a      224         shorter side 257 -> center crop 256
imagenet_<N>           N           shorter side int(N/0.875) -> crop N
imagenet_<N>a          N           shorter side N+1 -> crop N
small_<N>              N           resize to N x N if needed (no crop)
=====================  ==========  ===================================

The 0.875 rule is the standard crop ratio (He et al. 2016; "Bag of Tricks",
He et al. 2019); the "+1" rule is assembled-cnn's ``crop_type=1``.
``small_<N>`` is this framework's addition for CIFAR-size data.  The
original's ``reid*``/``inception_*`` types and the unimplemented ``cub`` are
not provided.

Options that apply to every type they make sense for (the first two are the
original's, spec §3):

* ``dct_method`` -- the JPEG IDCT of every decode (train and eval, imagenet
  and small): ``"INTEGER_ACCURATE"`` (default, the original's), ``"INTEGER_FAST"``
  or ``""`` (TF's platform default, which in TF 2.21 on x86-64 equals
  INTEGER_FAST).  PNG decodes are unaffected.
* ``training_random_crop`` -- imagenet* only.  True: distorted-bbox crop with
  min_object_covered 0.1; False: min_object_covered 1.0, i.e. the train crop is
  the whole image (still flipped and resized to S x S).  ``small_<N>`` has no
  such crop (pad-and-crop), so False with a small type raises ValueError.
* ``crop_sampler`` -- imagenet* only: ``"inception"`` (default, the original's
  distorted-bbox crop) or ``"torchvision"`` (``RandomResizedCrop.get_params``;
  crop_samplers.py).  ``"torchvision"`` with a ``small_<N>`` type or with
  ``training_random_crop=False`` (whose crop is the whole image) raises ValueError.
"""

import dataclasses
import re
from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from preprocessing import common, crop_samplers, imagenet, small

PREPROCESSING_TYPES = ("imagenet", "imagenet_224_256", "imagenet_224_256a")

# name -> (kind, train_size, eval_size, eval_resize)
_FIXED = {
    "imagenet": ("imagenet", 224, 224, int(224 / 0.875)),
    "imagenet_224_256": ("imagenet", 224, 256, int(256 / 0.875)),
    "imagenet_224_256a": ("imagenet", 224, 256, 256 + 1),
}
_IMAGENET_RE = re.compile(r"imagenet_([1-9][0-9]*)(a?)")
_SMALL_RE = re.compile(r"small_([1-9][0-9]*)")
_EXPECTED = ("imagenet, imagenet_224_256, imagenet_224_256a, imagenet_<N>, "
             "imagenet_<N>a, small_<N>")


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """One preprocessing type.  All methods are pure TF ops (``tf.data`` map safe).

    ``eval_resize`` is the shorter side before the center crop (imagenet
    kinds) and equals ``eval_size`` for ``small``.  ``half_pixel_centers``
    False = TF1 ``resize_images(align_corners=False)`` kernel (original).
    ``dct_method`` is the JPEG IDCT of every decode; ``training_random_crop``
    False makes the imagenet train crop the whole image; ``crop_sampler`` picks
    how the imagenet train window is drawn (see the module docstring).  All are
    validated here (ValueError).
    """

    name: str
    kind: str  # "imagenet" or "small"
    train_size: int
    eval_size: int
    eval_resize: int
    half_pixel_centers: bool = False
    dct_method: str = common.DCT_METHOD
    training_random_crop: bool = True
    crop_sampler: str = crop_samplers.INCEPTION

    def __post_init__(self):
        common.check_dct_method(self.dct_method)
        if not isinstance(self.training_random_crop, (bool, np.bool_)):
            raise ValueError(f"training_random_crop must be a bool, got "
                             f"{self.training_random_crop!r}")
        object.__setattr__(self, "training_random_crop", bool(self.training_random_crop))
        if self.kind == "small" and not self.training_random_crop:
            raise ValueError(f"training_random_crop=False applies only to imagenet* types; "
                             f"{self.name!r} uses a pad-and-crop, not a distorted-bbox crop")
        if crop_samplers.check_sampler(self.crop_sampler) != crop_samplers.INCEPTION:
            if self.kind == "small":
                raise ValueError(f"crop sampler {self.crop_sampler!r} applies only to "
                                 f"imagenet* types; {self.name!r} uses a pad-and-crop")
            if not self.training_random_crop:
                raise ValueError(f"crop sampler {self.crop_sampler!r} needs "
                                 "training_random_crop=True (with False the crop is the "
                                 "whole image)")

    # -- parametric train path (for dataset reinforcement / replay) --
    def sample_params(self, encoded: common.Encoded, seed: common.Seed
                      ) -> dict[str, tf.Tensor]:
        """Random choices of the train path: {"crop": int32[4] (y, x, h, w), "flip": int32[]}."""
        if self.kind == "imagenet":
            return imagenet.sample_train_params(encoded, seed, self.training_random_crop,
                                                self.crop_sampler)
        return small.sample_train_params(encoded, seed, self.train_size)

    def train_uint8_from_params(self, encoded: common.Encoded,
                                params: Mapping[str, tf.Tensor]) -> tf.Tensor:
        """Deterministic train path given ``sample_params`` output -> uint8 [S, S, 3]."""
        mod = imagenet if self.kind == "imagenet" else small
        return mod.apply_train_params(encoded, params, self.train_size,
                                      self.half_pixel_centers, self.dct_method)

    # -- public API --
    def train_uint8(self, encoded: common.Encoded, seed: common.Seed) -> tf.Tensor:
        """uint8 [train_size, train_size, 3]: crop / resize / flip, stateless in ``seed``
        (int [2])."""
        return self.train_uint8_from_params(encoded, self.sample_params(encoded, seed))

    def train(self, encoded: common.Encoded, seed: common.Seed) -> tf.Tensor:
        """float32 normalised [train_size, train_size, 3] = normalize(train_uint8)."""
        return common.normalize(self.train_uint8(encoded, seed))

    def _eval_float(self, encoded):
        if self.kind == "imagenet":
            return imagenet.eval_float(encoded, self.eval_size, self.eval_resize,
                                       self.half_pixel_centers, self.dct_method)
        return small.eval_float(encoded, self.eval_size, self.half_pixel_centers,
                                self.dct_method)

    def eval(self, encoded: common.Encoded) -> tf.Tensor:
        """float32 normalised [eval_size, eval_size, 3] (resize output not rounded, as in the
        original)."""
        return common.normalize(self._eval_float(encoded))

    def eval_uint8(self, encoded: common.Encoded) -> tf.Tensor:
        """uint8 [eval_size, eval_size, 3] (rounded)."""
        return common.to_uint8(self._eval_float(encoded))


def _unknown(name):
    return ValueError(f"unknown preprocessing_type {name!r}; expected one of {_EXPECTED}")


def get_preprocessing(name: str, half_pixel_centers: bool = False, *,
                      dct_method: str = common.DCT_METHOD,
                      training_random_crop: bool = True,
                      crop_sampler: str = crop_samplers.INCEPTION) -> Preprocessing:
    """Returns the ``Preprocessing`` for a type name.

    ValueError if the name is unknown, ``dct_method`` is not one of
    ``common.DCT_METHODS``, ``training_random_crop`` is not a bool / is
    False for a ``small_<N>`` type, or ``crop_sampler`` is not one of
    ``crop_samplers.SAMPLERS`` / does not apply (module docstring).  The chosen
    values are the returned object's attributes of the same names.
    """
    if not isinstance(name, str):
        raise _unknown(name)
    if name in _FIXED:
        kind, train_size, eval_size, eval_resize = _FIXED[name]
    elif m := _IMAGENET_RE.fullmatch(name):
        n = int(m.group(1))
        kind, train_size, eval_size = "imagenet", n, n
        eval_resize = n + 1 if m.group(2) else int(n / 0.875)
        if n < 8:
            raise ValueError(f"preprocessing_type {name!r}: size must be >= 8")
    elif m := _SMALL_RE.fullmatch(name):
        n = int(m.group(1))
        kind, train_size, eval_size, eval_resize = "small", n, n, n
    else:
        raise _unknown(name)
    return Preprocessing(name=name, kind=kind, train_size=train_size,
                         eval_size=eval_size, eval_resize=eval_resize,
                         half_pixel_centers=half_pixel_centers, dct_method=dct_method,
                         training_random_crop=training_random_crop,
                         crop_sampler=crop_sampler)

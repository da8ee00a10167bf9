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
"""

import dataclasses
import re

from preprocessing import common, imagenet, small

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
    """

    name: str
    kind: str  # "imagenet" or "small"
    train_size: int
    eval_size: int
    eval_resize: int
    half_pixel_centers: bool = False

    # -- parametric train path (for dataset reinforcement / replay) --
    def sample_params(self, encoded, seed):
        """Random choices of the train path: {"crop": int32[4] (y, x, h, w), "flip": int32[]}."""
        if self.kind == "imagenet":
            return imagenet.sample_train_params(encoded, seed)
        return small.sample_train_params(encoded, seed, self.train_size)

    def train_uint8_from_params(self, encoded, params):
        """Deterministic train path given ``sample_params`` output -> uint8 [S, S, 3]."""
        mod = imagenet if self.kind == "imagenet" else small
        return mod.apply_train_params(encoded, params, self.train_size,
                                      self.half_pixel_centers)

    # -- public API --
    def train_uint8(self, encoded, seed):
        """uint8 [train_size, train_size, 3]: crop / resize / flip, stateless in ``seed`` (int [2])."""
        return self.train_uint8_from_params(encoded, self.sample_params(encoded, seed))

    def train(self, encoded, seed):
        """float32 normalised [train_size, train_size, 3] = normalize(train_uint8)."""
        return common.normalize(self.train_uint8(encoded, seed))

    def _eval_float(self, encoded):
        if self.kind == "imagenet":
            return imagenet.eval_float(encoded, self.eval_size, self.eval_resize,
                                       self.half_pixel_centers)
        return small.eval_float(encoded, self.eval_size, self.half_pixel_centers)

    def eval(self, encoded):
        """float32 normalised [eval_size, eval_size, 3] (resize output not rounded, as in the original)."""
        return common.normalize(self._eval_float(encoded))

    def eval_uint8(self, encoded):
        """uint8 [eval_size, eval_size, 3] (rounded)."""
        return common.to_uint8(self._eval_float(encoded))


def _unknown(name):
    return ValueError(f"unknown preprocessing_type {name!r}; expected one of {_EXPECTED}")


def get_preprocessing(name, half_pixel_centers=False):
    """Returns the ``Preprocessing`` for a type name; ValueError if unknown."""
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
                         half_pixel_centers=half_pixel_centers)

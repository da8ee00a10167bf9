"""Per-channel affine map from our preprocessed input to another framework's input convention.

Our preprocessing feeds 0-255 RGB minus the channel means ``PREPROCESSED_MEAN`` (no division
by a std; ``preprocessing/common.py``, the TF ResNet convention of He et al. 2016, "Deep
Residual Learning for Image Recognition", arXiv 1512.03385). Weights trained in torchvision or
timm expect ``(rgb / 255 - mean) / std`` with the ImageNet statistics ``IMAGENET_MEAN`` /
``IMAGENET_STD`` (torchvision ``transforms.Normalize``, timm ``IMAGENET_DEFAULT_MEAN/STD``).
This layer computes ``((x + offset) / 255 - mean) / std`` in the network, so a run holding
imported weights gives the source's logits from the run's own preprocessing. Doing it on the
input (not folded into the stem conv) is exact also at the stem's zero-padded borders.
No weights: the constants are part of the layer's config.
"""

from collections.abc import Sequence
from typing import Any

import keras

from nets.tensors import Shape, Tensor

# Must equal preprocessing.common.MEAN_RGB (nets/ does not import preprocessing/; a test checks).
PREPROCESSED_MEAN = (123.68, 116.78, 103.94)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The values of the ``input_standardization`` setting -> (mean, std) of the target convention.
STANDARDIZATIONS = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD)}


class InputStandardization(keras.layers.Layer):
    """``((x + offset) / 255 - mean) / std`` per channel (channels_last)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float],
                 offset: Sequence[float] = PREPROCESSED_MEAN, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.offset = tuple(float(o) for o in offset)
        if not len(self.mean) == len(self.std) == len(self.offset):
            raise ValueError(f"mean, std and offset need one value per channel, got "
                             f"{self.mean}, {self.std}, {self.offset}")
        if min(self.std) <= 0:
            raise ValueError(f"std must be > 0, got {self.std}")

    def call(self, x: Tensor) -> Tensor:
        scale = [1.0 / (255.0 * s) for s in self.std]
        shift = [(o / 255.0 - m) / s for o, m, s in zip(self.offset, self.mean, self.std)]
        x = keras.ops.convert_to_tensor(x, dtype=self.compute_dtype)
        return x * keras.ops.cast(scale, x.dtype) + keras.ops.cast(shift, x.dtype)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mean": list(self.mean), "std": list(self.std),
                "offset": list(self.offset)}

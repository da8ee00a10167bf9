"""Anti-aliased downsampling ("blur-pool"): a fixed binomial low-pass filter applied per channel
with a stride.

Zhang 2019, "Making Convolutional Networks Shift-Invariant Again" (arXiv 1904.11486), as used by
clovaai/assembled-cnn (modes ``sconv``/``max``/``proj``, see ``nets/resnet.py``).

- Filter of size f in 2..7: the outer product of the binomial row (f=3: [1, 2, 1]) normalised to
  sum 1. It is a constant built in ``build``, never a weight (nothing to train or to save).
- Padding: REFLECT, (f - 1) // 2 before and f // 2 after. For odd f this is the symmetric
  padding of assembled-cnn. For even f the original pads (f - 1) // 2 on both sides; our one
  extra trailing row/column gives exactly the same values (every window starts at the same
  positions) and only adds the last output row/column that the original loses on odd sizes,
  so the output is always ceil(H / stride) like every other downsampling path of the network
  (this is also Zhang's asymmetric padding). Reflection needs H, W > f // 2.
- Depthwise convolution (``keras.ops.depthwise_conv``) with the stride, computed in the input dtype.
"""

import math
from typing import Any

import keras
import numpy as np
from keras import ops

from nets.tensors import Shape, Tensor

FILTER_SIZES = (2, 3, 4, 5, 6, 7)


def binomial_filter(filter_size: int) -> np.ndarray:
    """The normalised 2-D binomial filter of shape (f, f), float64, sum 1."""
    if filter_size not in FILTER_SIZES:
        raise ValueError(f"filter_size must be in 2..7, got {filter_size!r}")
    row = np.array([math.comb(filter_size - 1, k) for k in range(filter_size)], dtype="float64")
    kernel = np.outer(row, row)
    return kernel / kernel.sum()


@keras.saving.register_keras_serializable(package="assembled")
class BlurPool2D(keras.layers.Layer):
    """Per-channel binomial blur then subsample by ``strides`` (channels_last)."""

    def __init__(self, filter_size: int = 3, strides: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        binomial_filter(filter_size)  # validates
        if isinstance(strides, bool) or not isinstance(strides, int) or strides < 1:
            raise ValueError(f"strides must be an integer >= 1, got {strides!r}")
        self.filter_size = filter_size
        self.strides = strides

    def build(self, input_shape: Shape) -> None:
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("BlurPool2D needs a known channel count")
        kernel = binomial_filter(self.filter_size)[:, :, None, None]
        self._kernel = np.tile(kernel, (1, 1, channels, 1)).astype("float32")  # (f, f, C, 1)

    def call(self, x: Tensor) -> Tensor:
        f = self.filter_size
        pad = ((0, 0), ((f - 1) // 2, f // 2), ((f - 1) // 2, f // 2), (0, 0))
        x = ops.pad(x, pad, mode="reflect")
        kernel = ops.convert_to_tensor(self._kernel, dtype=x.dtype)
        return ops.depthwise_conv(x, kernel, strides=self.strides, padding="valid")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        def out(size):
            return None if size is None else -(-size // self.strides)

        return (input_shape[0], out(input_shape[1]), out(input_shape[2]), input_shape[3])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(filter_size=self.filter_size, strides=self.strides)
        return config

"""Generalized-mean (GeM) global pooling.

Radenović, Tolias, Chum 2018, "Fine-tuning CNN Image Retrieval with No Human Annotation"
(arXiv 1711.02512), eq. 1, as in clovaai/assembled-cnn: p = 3 fixed (not learned),
(mean over H, W of clamp(x, 1e-6, 1e12) ** p) ** (1 / p), computed in float32 and cast back
to the compute dtype (the cube overflows float16).
"""

from typing import Any

import keras
from keras import ops

from nets.tensors import Shape, Tensor


@keras.saving.register_keras_serializable(package="assembled")
class GeMPooling2D(keras.layers.Layer):
    """(batch, H, W, C) -> (batch, C)."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6, max_value: float = 1e12,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not float(p) > 0.0:
            raise ValueError(f"p must be > 0, got {p!r}")
        self.p = float(p)
        self.eps = float(eps)
        self.max_value = float(max_value)

    def call(self, x: Tensor) -> Tensor:
        xf = ops.clip(ops.cast(x, "float32"), self.eps, self.max_value)
        pooled = ops.power(ops.mean(ops.power(xf, self.p), axis=(1, 2)), 1.0 / self.p)
        return ops.cast(pooled, self.compute_dtype)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(p=self.p, eps=self.eps, max_value=self.max_value)
        return config

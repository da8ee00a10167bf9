"""Cosine-softmax classifier (t-ReX ``ClfLayer``).

Sariyildiz et al. 2023, "No Reason for No Supervision" (ICLR; arXiv 2206.15369), eq. 1 and
spec trex.md §1-2: logits = cos(feature, class vector) / tau with tau = 0.1, both sides
L2-normalised, no bias. With OCM (online class means, eq. 2) the class vectors are not
learned: the trainer writes the per-class sums of its memory into ``kernel`` before every
step (``learnable=False`` keeps the kernel out of the gradients and the weight decay); a
class with no entry has a zero vector and gets logit 0. ``tau <= 0`` gives a plain bias-free
linear layer, as the original falls back to when its temperature is not positive.
"""

from typing import Any

import keras
from keras import ops

from nets.tensors import Shape, Tensor


def _l2_normalize(x, axis):
    return x / ops.maximum(ops.norm(x, axis=axis, keepdims=True), 1e-12)


@keras.saving.register_keras_serializable(package="assembled")
class CosineClassifier(keras.layers.Layer):
    """(batch, D) -> (batch, num_classes) float32 logits."""

    def __init__(self, num_classes: int, tau: float = 0.1, learnable: bool = True,
                 **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes!r}")
        self.num_classes = int(num_classes)
        self.tau = float(tau)
        self.learnable = bool(learnable)

    def build(self, input_shape: Shape) -> None:
        self.kernel = self.add_weight(
            name="kernel", shape=(input_shape[-1], self.num_classes),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            trainable=self.learnable)
        self.built = True

    def call(self, x: Tensor) -> Tensor:
        x = ops.cast(x, "float32")
        if self.tau <= 0.0:
            return ops.matmul(x, self.kernel)
        cosine = ops.matmul(_l2_normalize(x, -1), _l2_normalize(self.kernel, 0))
        return cosine / self.tau

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], self.num_classes)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(num_classes=self.num_classes, tau=self.tau, learnable=self.learnable)
        return config

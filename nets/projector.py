"""t-ReX projector head.

Sariyildiz, Kalantidis, Alahari, Larlus 2023, "No Reason for No Supervision: Improved
Generalization in Supervised Models" (ICLR; arXiv 2206.15369), §3 and naver/trex ``Projector``
(spec trex.md §1): the pooled backbone feature is L2-normalised, passed through
``hidden_layers`` blocks of Linear (with bias) -> BatchNorm -> GELU and a bias-free Linear
bottleneck. Linear kernels are truncated-normal with std 0.02, biases zero. The output is not
normalised here: the cosine classifier normalises it. t-ReX uses 3 hidden layers of 2048,
t-ReX* one; the bottleneck is 256. The projector is dropped for transfer.
"""

from typing import Any

import keras
from keras import layers, ops

from nets.tensors import Shape, Tensor


def _trunc_normal():
    return keras.initializers.TruncatedNormal(stddev=0.02)


@keras.saving.register_keras_serializable(package="assembled")
class Projector(keras.layers.Layer):
    """(batch, D) -> (batch, bottleneck_dim)."""

    def __init__(self, hidden_layers: int = 3, hidden_dim: int = 2048, bottleneck_dim: int = 256,
                 input_l2_norm: bool = True, bn_momentum: float = 0.9, bn_epsilon: float = 1e-5,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if int(hidden_layers) < 0:
            raise ValueError(f"hidden_layers must be >= 0, got {hidden_layers!r}")
        if int(hidden_dim) < 1 or int(bottleneck_dim) < 1:
            raise ValueError(f"hidden_dim and bottleneck_dim must be >= 1, got "
                             f"{hidden_dim!r}, {bottleneck_dim!r}")
        self.hidden_layers = int(hidden_layers)
        self.hidden_dim = int(hidden_dim)
        self.bottleneck_dim = int(bottleneck_dim)
        self.input_l2_norm = bool(input_l2_norm)
        self.bn_momentum = float(bn_momentum)
        self.bn_epsilon = float(bn_epsilon)
        self.blocks = []
        for i in range(self.hidden_layers):
            self.blocks.append((
                layers.Dense(self.hidden_dim, kernel_initializer=_trunc_normal(),
                             bias_initializer="zeros", name=f"{self.name}_dense{i}"),
                # PyTorch BatchNorm1d momentum 0.1 = Keras momentum 0.9.
                layers.BatchNormalization(momentum=self.bn_momentum,
                                          epsilon=self.bn_epsilon, name=f"{self.name}_bn{i}")))
        self.bottleneck = layers.Dense(self.bottleneck_dim, use_bias=False,
                                       kernel_initializer=_trunc_normal(),
                                       name=f"{self.name}_bottleneck")

    def build(self, input_shape: Shape) -> None:
        dim = input_shape[-1]
        for dense, bn in self.blocks:
            dense.build((None, dim))
            bn.build((None, self.hidden_dim))
            dim = self.hidden_dim
        self.bottleneck.build((None, dim))
        self.built = True

    def call(self, x: Tensor, training: bool | None = None) -> Tensor:
        if self.input_l2_norm:
            # In float32: the squared norm of a 2048-d feature overflows float16.
            xf = ops.cast(x, "float32")
            x = ops.cast(xf / ops.maximum(ops.norm(xf, axis=-1, keepdims=True), 1e-12),
                         self.compute_dtype)
        for dense, bn in self.blocks:
            x = ops.gelu(bn(dense(x), training=training), approximate=False)
        return self.bottleneck(x)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], self.bottleneck_dim)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(hidden_layers=self.hidden_layers, hidden_dim=self.hidden_dim,
                      bottleneck_dim=self.bottleneck_dim, input_l2_norm=self.input_l2_norm,
                      bn_momentum=self.bn_momentum, bn_epsilon=self.bn_epsilon)
        return config

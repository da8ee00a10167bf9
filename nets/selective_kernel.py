"""Selective Kernel convolution, assembled-cnn variant.

Li, Wang, Hu, Yang 2019, "Selective Kernel Networks" (arXiv 1903.06586), Fig. 1 (split, fuse,
select), in the form of clovaai/assembled-cnn (Lee et al. 2020, arXiv 2001.06268, section 3.1):
the two branches come from ONE 3x3 conv with 2 x width outputs (not a 3x3 + dilated 3x3 pair):

  3x3 conv (stride) to 2*width -> BN -> ReLU -> split into 2 branches of width
  -> U = branch1 + branch2 -> global average pool -> 1x1 conv to d = max(width // r, L)
  (r = 2, L = 32, no bias) -> BN -> ReLU -> 1x1 conv to 2*width (no bias)
  -> softmax across the 2 branches, per channel -> sum of the branches weighted by it.

Channel layout everywhere: [branch 1 (width) | branch 2 (width)]. Layer names:
``{name}_sk_conv`` (+``_pad``), ``_sk_bn``, ``_sk_relu``, ``_sk_sum``, ``_sk_pool``, ``_sk_fc1``,
``_sk_fc1_bn``, ``_sk_fc1_relu``, ``_sk_fc2``, ``_sk_fuse``.
"""

from collections.abc import Sequence

import keras
from keras import layers, ops

from nets.conv_bn import batch_norm, conv2d, conv_kernel_initializer, relu
from nets.tensors import Shape, Tensor

SK_BRANCHES = 2
SK_RATIO = 2  # r
SK_MIN_DIM = 32  # L


def _split(x):
    """(..., 2*W) -> (..., 2, W): branch axis before channels."""
    width = x.shape[-1] // SK_BRANCHES
    return ops.stack([x[..., i * width : (i + 1) * width] for i in range(SK_BRANCHES)], axis=-2)


@keras.saving.register_keras_serializable(package="assembled")
class BranchSum(keras.layers.Layer):
    """(B, H, W, 2*C) -> (B, H, W, C): the sum U of the two branches."""

    def call(self, x: Tensor) -> Tensor:
        return ops.sum(_split(x), axis=-2)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape[:-1]) + (input_shape[-1] // SK_BRANCHES,)


@keras.saving.register_keras_serializable(package="assembled")
class SelectiveKernelFuse(keras.layers.Layer):
    """[features (B, H, W, 2*C), logits (B, 1, 1, 2*C)] -> (B, H, W, C) weighted branch sum."""

    @staticmethod
    def branch_weights(logits: Tensor) -> Tensor:
        """Softmax over the branch axis: (B, 1, 1, 2*C) -> (B, 1, 1, 2, C), summing to 1 over
        axis -2."""
        return ops.softmax(ops.cast(_split(logits), "float32"), axis=-2)

    def call(self, inputs: Sequence[Tensor]) -> Tensor:
        features, logits = inputs
        weights = ops.cast(self.branch_weights(logits), features.dtype)
        return ops.sum(_split(features) * weights, axis=-2)

    def compute_output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        features_shape = input_shapes[0]
        return tuple(features_shape[:-1]) + (features_shape[-1] // SK_BRANCHES,)


def selective_kernel_conv(x: Tensor, width: int, *, stride: int, name: str, bn_momentum: float,
                          bn_epsilon: float) -> Tensor:
    """SK unit replacing a 3x3 conv + BN + ReLU; returns ``width`` channels."""
    y = conv2d(x, SK_BRANCHES * width, 3, stride, name=f"{name}_sk_conv")
    y = batch_norm(y, name=f"{name}_sk_bn", momentum=bn_momentum, epsilon=bn_epsilon)
    y = relu(y, name=f"{name}_sk_relu")

    u = BranchSum(name=f"{name}_sk_sum")(y)
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_sk_pool")(u)
    s = layers.Conv2D(
        max(width // SK_RATIO, SK_MIN_DIM), 1, use_bias=False,
        kernel_initializer=conv_kernel_initializer(), name=f"{name}_sk_fc1",
    )(s)
    s = batch_norm(s, name=f"{name}_sk_fc1_bn", momentum=bn_momentum, epsilon=bn_epsilon)
    s = relu(s, name=f"{name}_sk_fc1_relu")
    logits = layers.Conv2D(
        SK_BRANCHES * width, 1, use_bias=False, kernel_initializer=conv_kernel_initializer(),
        name=f"{name}_sk_fc2",
    )(s)
    return SelectiveKernelFuse(name=f"{name}_sk_fuse")([y, logits])

"""Convolution and batch-norm primitives shared by every ResNet block.

- Convolutions have no bias (a BN follows every one), as in He et al. 2016,
  "Deep Residual Learning for Image Recognition" (arXiv 1512.03385).
- Strided convolutions with a kernel larger than 1 use the "fixed padding" of
  the original TensorFlow ResNet (tensorflow/models ``resnet_model.py``, used by
  clovaai/assembled-cnn): a symmetric ZeroPadding2D of (k-1)//2 before and
  k-1-(k-1)//2 after, then a "valid" convolution. Keras "same" padding would pad
  (0 before, 1 after) on even inputs, shifting the sampling grid by half a pixel.
- Batch norm: Ioffe & Szegedy 2015 (arXiv 1502.03167). Keras' ``momentum`` has
  the TF1 meaning (moving = momentum * moving + (1 - momentum) * batch).
- Zero-gamma init of the last BN of each residual branch: Goyal et al. 2017,
  "Accurate, Large Minibatch SGD" (arXiv 1706.02677), section 5.1.

Everything is channels_last and uses only ``keras`` (no TensorFlow import), so
networks also build under the JAX and PyTorch backends.
"""

import keras
from keras import layers

from nets.tensors import Tensor


def conv_kernel_initializer() -> keras.initializers.Initializer:
    """He init for ReLU nets, "fan_out" flavour (He et al. 2015, arXiv 1502.01852).

    Choice: VarianceScaling(2.0, fan_out, truncated normal) = torchvision's
    ``kaiming_normal_(mode="fan_out", nonlinearity="relu")`` with Keras' truncation
    compensation. The TF1 original used ``tf.variance_scaling_initializer()``
    (scale 1.0, fan_in); the fan_out He init is the common modern default and
    keeps the forward variance of a ReLU net close to constant.
    """
    return keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", distribution="truncated_normal"
    )


def conv2d(x: Tensor, filters: int, kernel_size: int, stride: int, *, name: str) -> Tensor:
    """Bias-free square conv; strided convs with kernel > 1 use symmetric fixed padding.

    Layers: ``{name}_pad`` (only when padded explicitly) and ``{name}``.
    """
    if stride > 1 and kernel_size > 1:
        pad_total = kernel_size - 1
        pad_before = pad_total // 2
        pad_after = pad_total - pad_before
        x = layers.ZeroPadding2D(
            padding=((pad_before, pad_after), (pad_before, pad_after)), name=f"{name}_pad"
        )(x)
        padding = "valid"
    else:
        padding = "same"
    return layers.Conv2D(
        filters,
        kernel_size,
        strides=stride,
        padding=padding,
        use_bias=False,
        kernel_initializer=conv_kernel_initializer(),
        name=name,
    )(x)


def batch_norm(x: Tensor, *, name: str, momentum: float, epsilon: float,
               zero_gamma: bool = False) -> Tensor:
    """BatchNormalization over the channel axis; ``zero_gamma`` starts gamma at 0."""
    return layers.BatchNormalization(
        axis=-1,
        momentum=momentum,
        epsilon=epsilon,
        gamma_initializer="zeros" if zero_gamma else "ones",
        name=name,
    )(x)


def relu(x: Tensor, *, name: str) -> Tensor:
    return layers.ReLU(name=name)(x)

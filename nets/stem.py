"""ResNet input stems.

- "default": 7x7/2 conv -> BN -> ReLU -> 3x3/2 max-pool, He et al. 2016, "Deep Residual
  Learning for Image Recognition" (arXiv 1512.03385), Table 1 "conv1"/"conv2_x" pool.
  The max-pool pads 1 pixel symmetrically then pools "valid" (zeros are harmless after ReLU).
- "small": 3x3/1 conv -> BN -> ReLU, no pool, for 32-64 px inputs (CIFAR-style stem,
  as in He et al. 2016 section 4.2 and the usual CIFAR ResNet ports).
"""

from keras import layers

from nets.conv_bn import batch_norm, conv2d, relu

STEM_TYPES = ("default", "small")


def stem(x, width, *, stem_type, bn_momentum, bn_epsilon, name="stem"):
    """Layers: ``stem_conv``, ``stem_bn``, ``stem_relu`` (+ ``stem_conv_pad``, ``stem_pool_pad``, ``stem_pool``)."""
    if stem_type not in STEM_TYPES:
        raise ValueError(f"stem_type must be one of {STEM_TYPES}, got {stem_type!r}")
    if stem_type == "default":
        kernel_size, stride = 7, 2
    else:
        kernel_size, stride = 3, 1
    x = conv2d(x, width, kernel_size, stride, name=f"{name}_conv")
    x = batch_norm(x, name=f"{name}_bn", momentum=bn_momentum, epsilon=bn_epsilon)
    x = relu(x, name=f"{name}_relu")
    if stem_type == "default":
        x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_pool_pad")(x)
        x = layers.MaxPooling2D(pool_size=3, strides=2, padding="valid", name=f"{name}_pool")(x)
    return x

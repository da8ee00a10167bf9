"""Basic residual block (two 3x3 convs) of ResNet-18/34.

He et al. 2016, "Deep Residual Learning for Image Recognition" (arXiv 1512.03385), Fig. 2 left:
3x3 conv (stride) -> BN -> ReLU -> 3x3 conv -> BN -> add shortcut -> ReLU.
"""

from keras import layers

from nets.conv_bn import batch_norm, conv2d, relu
from nets.shortcut import shortcut

EXPANSION = 1  # output channels = EXPANSION * filters


def basic_block(x, filters, *, stride, name, bn_momentum, bn_epsilon, zero_gamma=False):
    """One basic block; layer names are ``{name}_conv1``, ``{name}_bn1``, ... ``{name}_out``.

    ``zero_gamma`` initialises gamma of ``{name}_bn2`` (the last BN of the branch) to 0,
    so the fresh block computes ReLU(shortcut).
    """
    out_channels = filters * EXPANSION
    residual = shortcut(x, out_channels, stride=stride, name=name, bn_momentum=bn_momentum, bn_epsilon=bn_epsilon)

    y = conv2d(x, filters, 3, stride, name=f"{name}_conv1")
    y = batch_norm(y, name=f"{name}_bn1", momentum=bn_momentum, epsilon=bn_epsilon)
    y = relu(y, name=f"{name}_relu1")
    y = conv2d(y, out_channels, 3, 1, name=f"{name}_conv2")
    y = batch_norm(y, name=f"{name}_bn2", momentum=bn_momentum, epsilon=bn_epsilon, zero_gamma=zero_gamma)

    y = layers.Add(name=f"{name}_add")([y, residual])
    return relu(y, name=f"{name}_out")

"""Residual shortcut: identity, or projection (1x1 conv with the block stride + BN).

He et al. 2016, "Deep Residual Learning for Image Recognition" (arXiv 1512.03385),
option (B): projections only where the shape changes (stride or channel count),
identity elsewhere. This gives the parameter counts of torchvision / timm.
"""

from nets.conv_bn import batch_norm, conv2d


def needs_projection(x, out_channels, stride):
    return stride != 1 or x.shape[-1] != out_channels


def shortcut(x, out_channels, *, stride, name, bn_momentum, bn_epsilon):
    """Identity if shapes match, else ``{name}_proj_conv`` -> ``{name}_proj_bn``."""
    if not needs_projection(x, out_channels, stride):
        return x
    x = conv2d(x, out_channels, 1, stride, name=f"{name}_proj_conv")
    return batch_norm(x, name=f"{name}_proj_bn", momentum=bn_momentum, epsilon=bn_epsilon)

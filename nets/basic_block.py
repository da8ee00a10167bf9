"""Basic residual block (two 3x3 convs) of ResNet-18/34, with the assembled-cnn tweaks.

He et al. 2016, "Deep Residual Learning for Image Recognition" (arXiv 1512.03385), Fig. 2 left:
3x3 conv (stride) -> BN -> ReLU -> 3x3 conv -> BN -> add shortcut -> ReLU.

assembled-cnn only has bottleneck nets; the tweaks carry over to basic blocks like this
(``nets/block_tweaks.BlockTweaks``): SK replaces the first (strided) 3x3 conv + BN + ReLU (as
SK-ResNet-18/34 do, Li et al. 2019); ``sconv`` runs that first conv at stride 1, then a BlurPool
(``{name}_blur``) with the block stride before the second conv; DropBlock follows both BNs
(``{name}_dropblock1..2``); SE (``{name}_se_*``) scales the branch output before the add.
"""

from keras import layers

from nets.block_tweaks import PLAIN, BlockTweaks, bn_dropblock, dropblock
from nets.blur_pool import BlurPool2D
from nets.conv_bn import conv2d, relu
from nets.selective_kernel import selective_kernel_conv
from nets.shortcut import shortcut
from nets.squeeze_excite import squeeze_excite
from nets.tensors import Tensor

EXPANSION = 1  # output channels = EXPANSION * filters


def basic_block(
    x: Tensor, filters: int, *, stride: int, name: str, bn_momentum: float, bn_epsilon: float,
    zero_gamma: bool = False, tweaks: BlockTweaks = PLAIN, force_projection: bool = False,
) -> Tensor:
    """One basic block; layer names are ``{name}_conv1``, ``{name}_bn1``, ... ``{name}_out``.

    ``zero_gamma`` initialises gamma of ``{name}_bn2`` (the last BN of the branch) to 0,
    so the fresh block computes ReLU(shortcut).
    """
    out_channels = filters * EXPANSION
    bn_options = dict(bn_momentum=bn_momentum, bn_epsilon=bn_epsilon)
    residual = shortcut(
        x, out_channels, stride=stride, name=name, tweaks=tweaks, force=force_projection,
        **bn_options,
    )
    blur = bool(tweaks.sconv_filter_size) and stride > 1
    conv_stride = 1 if blur else stride

    if tweaks.sk:
        y = selective_kernel_conv(x, filters, stride=conv_stride, name=name, **bn_options)
        y = dropblock(y, name=f"{name}_dropblock1", tweaks=tweaks)
    else:
        y = conv2d(x, filters, 3, conv_stride, name=f"{name}_conv1")
        y = bn_dropblock(y, bn_name=f"{name}_bn1", dropblock_name=f"{name}_dropblock1",
                         tweaks=tweaks, **bn_options)
        y = relu(y, name=f"{name}_relu1")
    if blur:
        y = BlurPool2D(tweaks.sconv_filter_size, stride, name=f"{name}_blur")(y)
    y = conv2d(y, out_channels, 3, 1, name=f"{name}_conv2")
    y = bn_dropblock(
        y, bn_name=f"{name}_bn2", dropblock_name=f"{name}_dropblock2", tweaks=tweaks,
        zero_gamma=zero_gamma, **bn_options,
    )
    if tweaks.se:
        y = squeeze_excite(y, name=name, use_bias=tweaks.se_bias)

    y = layers.Add(name=f"{name}_add")([y, residual])
    return relu(y, name=f"{name}_out")

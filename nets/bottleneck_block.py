"""Bottleneck residual block, ResNet v1.5 (stride on the 3x3 conv), with the assembled-cnn tweaks.

He et al. 2016, "Deep Residual Learning for Image Recognition" (arXiv 1512.03385), Fig. 5 right,
with the stride moved from the first 1x1 to the 3x3 conv: "ResNet v1.5" (Goyal et al. 2017,
arXiv 1706.02677 / NVIDIA DeepLearningExamples), called "ResNet-B" in He et al. 2019
"Bag of Tricks" (arXiv 1812.01187). This is the block of clovaai/assembled-cnn.

1x1 conv -> BN -> ReLU -> 3x3 conv (stride) -> BN -> ReLU -> 1x1 conv (4x) -> BN
-> add shortcut -> ReLU.

Tweaks (``nets/block_tweaks.BlockTweaks``): SK replaces the 3x3 conv + BN + ReLU; ``sconv`` runs
the 3x3 (or SK) conv at stride 1 then a BlurPool (``{name}_blur``) with the block stride before
the last 1x1; DropBlock follows every BN (``{name}_dropblock1..3``; the SK output counts as the
second BN); SE (``{name}_se_*``) scales the branch output before the add.
"""

from keras import layers

from nets.block_tweaks import PLAIN, BlockTweaks, bn_dropblock, dropblock
from nets.blur_pool import BlurPool2D
from nets.conv_bn import conv2d, relu
from nets.selective_kernel import selective_kernel_conv
from nets.shortcut import shortcut
from nets.squeeze_excite import squeeze_excite
from nets.tensors import Tensor

EXPANSION = 4  # output channels = EXPANSION * filters


def bottleneck_block(
    x: Tensor, filters: int, *, stride: int, name: str, bn_momentum: float, bn_epsilon: float,
    zero_gamma: bool = False, tweaks: BlockTweaks = PLAIN, final_relu: bool = True,
    force_projection: bool = False,
) -> Tensor:
    """One bottleneck block; layer names are ``{name}_conv1``, ``{name}_bn1``, ... ``{name}_out``.

    ``zero_gamma`` initialises gamma of ``{name}_bn3`` (the last BN of the branch) to 0,
    so the fresh block computes ReLU(shortcut). ``final_relu=False`` (the last Big-Little Net
    "big" block) returns the sum ``{name}_add`` without the ReLU ``{name}_out``.
    ``force_projection``: a projection shortcut even where the shape does not change.
    """
    out_channels = filters * EXPANSION
    bn_options = dict(bn_momentum=bn_momentum, bn_epsilon=bn_epsilon)
    residual = shortcut(
        x, out_channels, stride=stride, name=name, tweaks=tweaks, force=force_projection,
        **bn_options,
    )
    blur = bool(tweaks.sconv_filter_size) and stride > 1
    conv_stride = 1 if blur else stride

    y = conv2d(x, filters, 1, 1, name=f"{name}_conv1")
    y = bn_dropblock(y, bn_name=f"{name}_bn1", dropblock_name=f"{name}_dropblock1",
                     tweaks=tweaks, **bn_options)
    y = relu(y, name=f"{name}_relu1")
    if tweaks.sk:
        y = selective_kernel_conv(y, filters, stride=conv_stride, name=name, **bn_options)
        y = dropblock(y, name=f"{name}_dropblock2", tweaks=tweaks)
    else:
        y = conv2d(y, filters, 3, conv_stride, name=f"{name}_conv2")
        y = bn_dropblock(y, bn_name=f"{name}_bn2", dropblock_name=f"{name}_dropblock2",
                         tweaks=tweaks, **bn_options)
        y = relu(y, name=f"{name}_relu2")
    if blur:
        y = BlurPool2D(tweaks.sconv_filter_size, stride, name=f"{name}_blur")(y)
    y = conv2d(y, out_channels, 1, 1, name=f"{name}_conv3")
    y = bn_dropblock(
        y, bn_name=f"{name}_bn3", dropblock_name=f"{name}_dropblock3", tweaks=tweaks,
        zero_gamma=zero_gamma, **bn_options,
    )
    if tweaks.se:
        y = squeeze_excite(y, name=name, use_bias=tweaks.se_bias)

    y = layers.Add(name=f"{name}_add")([y, residual])
    return relu(y, name=f"{name}_out") if final_relu else y

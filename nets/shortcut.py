"""Residual shortcut: identity, or a projection (1x1 conv + BN) where the shape changes.

He et al. 2016, "Deep Residual Learning for Image Recognition" (arXiv 1512.03385),
option (B): projections only where the shape changes (stride or channel count),
identity elsewhere. This gives the parameter counts of torchvision / timm.

Projection variants (``nets/block_tweaks.BlockTweaks``):
- plain: 1x1 conv with the block stride -> BN;
- ResNet-D (He et al. 2019, "Bag of Tricks", arXiv 1812.01187, Fig. 2c): 2x2 average pool with
  the block stride ("same" padding, padded cells not counted) -> stride-1 1x1 conv -> BN. As in
  the paper (and timm's ``avg_down``) a stride-1 projection has NO pool. assembled-cnn still
  applies a 2x2 stride-1 "same" average pool there (spec §9.9): a quirk kept only for checkpoint
  compatibility, which this code does not need, so it is not reproduced;
- blur ``proj`` (Zhang 2019, arXiv 1904.11486): BlurPool with the block stride -> stride-1 1x1
  conv -> BN, only on strided projections (ResNet-D already low-passes with its average pool);
- Big-Little Net ("BL projection", assembled-cnn ``resnet_version=2``; Chen et al. 2019,
  "Big-Little Net", arXiv 1807.03848): zero pad 1 pixel per side, 3x3 average pool with the block
  stride ("valid", so the padded zeros are counted, as in the original's explicit pad + VALID
  pool) -> stride-1 1x1 conv -> BN. Stride-1 projections are a plain 1x1 conv -> BN;
- with DropBlock on, a DropBlock follows the BN.

``force=True`` projects even where the shape does not change: clovaai/assembled-cnn projects in
the first block of every block group (its Big-Little nets then carry extra stride-1 1x1 + BN
shortcuts); the network option ``original_shortcuts`` asks for it so that the original's
checkpoints load (``nets/resnet.py``).
"""

from keras import layers

from nets.block_tweaks import PLAIN, BlockTweaks, bn_dropblock
from nets.blur_pool import BlurPool2D
from nets.conv_bn import conv2d
from nets.tensors import Tensor


def needs_projection(x: Tensor, out_channels: int, stride: int) -> bool:
    return stride != 1 or x.shape[-1] != out_channels


def shortcut(x: Tensor, out_channels: int, *, stride: int, name: str, bn_momentum: float,
             bn_epsilon: float, tweaks: BlockTweaks = PLAIN, force: bool = False) -> Tensor:
    """Identity if shapes match, else [``{name}_proj_pool`` (BL: ``{name}_proj_pad`` first) |
    ``{name}_proj_blur``] -> ``{name}_proj_conv`` -> ``{name}_proj_bn``
    [-> ``{name}_proj_dropblock``]."""
    if not (force or needs_projection(x, out_channels, stride)):
        return x
    if tweaks.bl_projection and stride > 1:
        x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_proj_pad")(x)
        x = layers.AveragePooling2D(pool_size=3, strides=stride, padding="valid",
                                    name=f"{name}_proj_pool")(x)
        stride = 1
    elif tweaks.resnet_d and stride > 1:
        x = layers.AveragePooling2D(pool_size=2, strides=stride, padding="same",
                                    name=f"{name}_proj_pool")(x)
        stride = 1
    elif tweaks.proj_filter_size and stride > 1:
        x = BlurPool2D(tweaks.proj_filter_size, stride, name=f"{name}_proj_blur")(x)
        stride = 1
    x = conv2d(x, out_channels, 1, stride, name=f"{name}_proj_conv")
    return bn_dropblock(
        x, bn_name=f"{name}_proj_bn", dropblock_name=f"{name}_proj_dropblock", tweaks=tweaks,
        bn_momentum=bn_momentum, bn_epsilon=bn_epsilon,
    )

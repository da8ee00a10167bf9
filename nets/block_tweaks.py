"""Per-block options of the assembled ResNet, shared by the basic and bottleneck blocks
(and reusable by Big-Little Net blocks).

- ResNet-D average-pool shortcut: He et al. 2019, "Bag of Tricks for Image Classification with
  Convolutional Neural Networks" (arXiv 1812.01187), Fig. 2c (see ``nets/shortcut.py``).
- Squeeze-Excitation: ``nets/squeeze_excite.py``; Selective Kernel: ``nets/selective_kernel.py``.
- Blur-pool ``sconv``/``proj``: ``nets/blur_pool.py``; DropBlock: ``nets/drop_block.py``.
- Zero-gamma stays a separate block argument (Goyal et al. 2017, ``nets/conv_bn.py``).
"""

import dataclasses

from nets.conv_bn import batch_norm
from nets.drop_block import DropBlock2D
from nets.tensors import Tensor

DROPBLOCK_SIZE = 7


@dataclasses.dataclass(frozen=True)
class BlockTweaks:
    """What a residual block adds to the plain ResNet block. Defaults = the plain block.

    resnet_d: average-pool projection shortcut. se: SE on the branch output before the add
    (se_bias: its 1x1 convs have biases, timm's ``SEModule``).
    sk: SK unit instead of the (first) 3x3 conv. sconv_filter_size / proj_filter_size: blur-pool
    filter size of the ``sconv`` / ``proj`` anti-aliasing, 0 = off.
    dropblock_gamma_scale: 0 = no DropBlock, else DropBlock after every BN of the block
    (the shortcut BN included), starting at ``dropblock_keep_prob``.
    bl_projection: Big-Little Net projection shortcut (pad 1, 3x3 average pool with the block
    stride, stride-1 1x1 conv; ``nets/shortcut.py``); takes the place of ``resnet_d``.
    """

    resnet_d: bool = False
    bl_projection: bool = False
    se: bool = False
    se_bias: bool = False
    sk: bool = False
    sconv_filter_size: int = 0
    proj_filter_size: int = 0
    dropblock_gamma_scale: float = 0.0
    dropblock_keep_prob: float = 1.0


PLAIN = BlockTweaks()


def bn_dropblock(x: Tensor, *, bn_name: str, dropblock_name: str, tweaks: BlockTweaks,
                 bn_momentum: float, bn_epsilon: float, zero_gamma: bool = False) -> Tensor:
    """BN (``bn_name``), then DropBlock (``dropblock_name``) when the tweaks ask for it."""
    x = batch_norm(x, name=bn_name, momentum=bn_momentum, epsilon=bn_epsilon, zero_gamma=zero_gamma)
    return dropblock(x, name=dropblock_name, tweaks=tweaks)


def dropblock(x: Tensor, *, name: str, tweaks: BlockTweaks) -> Tensor:
    if not tweaks.dropblock_gamma_scale:
        return x
    return DropBlock2D(
        block_size=DROPBLOCK_SIZE,
        gamma_scale=tweaks.dropblock_gamma_scale,
        keep_prob=tweaks.dropblock_keep_prob,
        name=name,
    )(x)

"""Network builders (Keras 3, backend-agnostic, channels_last).

ResNet: He et al. 2016, "Deep Residual Learning for Image Recognition" (arXiv 1512.03385),
with v1.5 bottlenecks (Goyal et al. 2017, arXiv 1706.02677) and the assembled-cnn tweaks
(Lee et al. 2020, arXiv 2001.06268), and Big-Little Net (``resnet_version=2``, Chen et al. 2019,
arXiv 1807.03848); the t-ReX head (``Projector``, ``CosineClassifier``; Sariyildiz et al.
2023, arXiv 2206.15369). See ``nets/resnet.py`` and ``nets/big_little.py``.
"""

from nets.big_little import BL_BLOCKS, BL_SIZES, NearestUpsampleLike, bl_layout
from nets.blur_pool import BlurPool2D, binomial_filter
from nets.cosine_classifier import CosineClassifier
from nets.drop_block import DropBlock2D, dropblock_layers
from nets.gem_pool import GeMPooling2D
from nets.projector import Projector
from nets.resnet import (
    ANTI_ALIAS_TYPES,
    POOL_TYPES,
    RESNET_BLOCKS,
    RESNET_SIZES,
    RESNET_VERSIONS,
    build_resnet,
)
from nets.selective_kernel import BranchSum, SelectiveKernelFuse

__all__ = [
    "ANTI_ALIAS_TYPES",
    "BL_BLOCKS",
    "BL_SIZES",
    "POOL_TYPES",
    "RESNET_BLOCKS",
    "RESNET_SIZES",
    "RESNET_VERSIONS",
    "BlurPool2D",
    "BranchSum",
    "CosineClassifier",
    "DropBlock2D",
    "GeMPooling2D",
    "NearestUpsampleLike",
    "Projector",
    "SelectiveKernelFuse",
    "binomial_filter",
    "bl_layout",
    "build_resnet",
    "dropblock_layers",
]

"""Network builders (Keras 3, backend-agnostic, channels_last).

ResNet: He et al. 2016, "Deep Residual Learning for Image Recognition" (arXiv 1512.03385),
with v1.5 bottlenecks (Goyal et al. 2017, arXiv 1706.02677). See ``nets/resnet.py``.
"""

from nets.resnet import RESNET_BLOCKS, RESNET_SIZES, build_resnet

__all__ = ["RESNET_BLOCKS", "RESNET_SIZES", "build_resnet"]

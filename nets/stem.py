"""ResNet input stems.

- "default": 7x7/2 conv -> BN -> ReLU -> 3x3/2 max-pool, He et al. 2016, "Deep Residual
  Learning for Image Recognition" (arXiv 1512.03385), Table 1 "conv1"/"conv2_x" pool.
  The max-pool pads 1 pixel symmetrically then pools "valid" (zeros are harmless after ReLU).
- "small": 3x3/1 conv -> BN -> ReLU, no pool, for 32-64 px inputs (CIFAR-style stem,
  as in He et al. 2016 section 4.2 and the usual CIFAR ResNet ports).
- ``deep=True`` (ResNet-C/D, He et al. 2019, "Bag of Tricks", arXiv 1812.01187, Fig. 2b): the
  single conv becomes three 3x3 convs with widths (w/2, w/2, w) (32, 32, 64 at w = 64), each
  followed by BN-ReLU; the first has the stem stride (2 for "default"; 1 for "small", which
  keeps "small" pool-free: a deep CIFAR stem at full resolution).
- ``pool_padding="same"``: the max-pool pads like TensorFlow's "SAME" (for an even input: 0 rows
  before, 1 after) as clovaai/assembled-cnn's stem does, instead of 1 on each side (torchvision,
  timm). Same weights, shifted pooling windows: an original checkpoint needs it.
- ``max_blur_filter_size`` > 0 (anti-alias mode ``max``, Zhang 2019, "Making Convolutional
  Networks Shift-Invariant Again", arXiv 1904.11486, "MaxBlurPool"): the 3x3/2 max-pool becomes
  a 3x3/1 max-pool (pad 1) then a stride-2 BlurPool. Only the "default" stem has a pool.
"""

from keras import layers

from nets.blur_pool import BlurPool2D
from nets.conv_bn import batch_norm, conv2d, relu
from nets.tensors import Tensor

STEM_TYPES = ("default", "small")
POOL_PADDINGS = ("symmetric", "same")


def stem(
    x: Tensor, width: int, *, stem_type: str, bn_momentum: float, bn_epsilon: float,
    deep: bool = False, max_blur_filter_size: int = 0, pool: bool = True, name: str = "stem",
    pool_padding: str = "symmetric",
) -> Tensor:
    """Layers: ``stem_conv``, ``stem_bn``, ``stem_relu`` (deep: ``stem_conv1..3``, ``stem_bn1..3``,
    ``stem_relu1..3``) (+ ``stem_conv_pad``/``stem_conv1_pad``, ``stem_pool_pad``, ``stem_pool``,
    ``stem_blur``). ``pool=False`` leaves out the max-pool of the "default" stem (Big-Little Net
    puts its "blModule0" there, ``nets/big_little.py``)."""
    if stem_type not in STEM_TYPES:
        raise ValueError(f"stem_type must be one of {STEM_TYPES}, got {stem_type!r}")
    if pool_padding not in POOL_PADDINGS:
        raise ValueError(f"stem_pool_padding must be one of {POOL_PADDINGS}, got {pool_padding!r}")
    if max_blur_filter_size and not pool:
        raise ValueError("anti_alias_type 'max' needs the stem max-pool")
    if max_blur_filter_size and stem_type != "default":
        raise ValueError("anti_alias_type 'max' needs stem_type='default' (the 'small' stem "
                         "has no max-pool)")
    bn_options = dict(momentum=bn_momentum, epsilon=bn_epsilon)
    stride = 2 if stem_type == "default" else 1
    if deep:
        half = max(1, width // 2)
        convs = ((half, stride), (half, 1), (width, 1))
        for i, (filters, conv_stride) in enumerate(convs, start=1):
            x = conv2d(x, filters, 3, conv_stride, name=f"{name}_conv{i}")
            x = batch_norm(x, name=f"{name}_bn{i}", **bn_options)
            x = relu(x, name=f"{name}_relu{i}")
    else:
        kernel_size = 7 if stem_type == "default" else 3
        x = conv2d(x, width, kernel_size, stride, name=f"{name}_conv")
        x = batch_norm(x, name=f"{name}_bn", **bn_options)
        x = relu(x, name=f"{name}_relu")
    if stem_type == "default" and pool:
        pool_stride = 1 if max_blur_filter_size else 2
        if pool_padding == "same":
            x = layers.MaxPooling2D(pool_size=3, strides=pool_stride, padding="same",
                                    name=f"{name}_pool")(x)
        else:
            x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_pool_pad")(x)
            x = layers.MaxPooling2D(pool_size=3, strides=pool_stride, padding="valid",
                                    name=f"{name}_pool")(x)
        if max_blur_filter_size:
            x = BlurPool2D(max_blur_filter_size, 2, name=f"{name}_blur")(x)
    return x

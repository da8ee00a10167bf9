"""Squeeze-and-Excitation channel attention.

Hu, Shen, Sun 2018, "Squeeze-and-Excitation Networks" (arXiv 1709.01507), Fig. 3, in the
assembled-cnn form: global average pool -> 1x1 conv to max(1, C // ratio) (ratio 16, no bias)
-> ReLU -> 1x1 conv back to C (no bias) -> sigmoid -> channel-wise scale of the input.
``use_bias=True`` gives both 1x1 convs a bias, as the paper's FC layers and timm's ``SEModule``
(``seresnet50``; its reduced width make_divisible(C / 16, 8) equals C // 16 for C = 256..2048).
Standard Keras layers only; names ``{name}_se_pool``, ``_se_reduce``, ``_se_relu``,
``_se_expand``, ``_se_sigmoid``, ``_se_scale``.
"""

from keras import layers

from nets.conv_bn import conv_kernel_initializer
from nets.tensors import Tensor

SE_RATIO = 16


def squeeze_excite(x: Tensor, *, name: str, ratio: int = SE_RATIO,
                   use_bias: bool = False) -> Tensor:
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_pool")(x)
    s = layers.Conv2D(
        max(1, channels // ratio), 1, use_bias=use_bias,
        kernel_initializer=conv_kernel_initializer(), name=f"{name}_se_reduce",
    )(s)
    s = layers.ReLU(name=f"{name}_se_relu")(s)
    s = layers.Conv2D(
        channels, 1, use_bias=use_bias, kernel_initializer=conv_kernel_initializer(),
        name=f"{name}_se_expand",
    )(s)
    s = layers.Activation("sigmoid", name=f"{name}_se_sigmoid")(s)
    return layers.Multiply(name=f"{name}_se_scale")([x, s])

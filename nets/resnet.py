"""ResNet builder (ResNet v1.5 bottlenecks, v1 basic blocks), Keras functional API.

He et al. 2016, "Deep Residual Learning for Image Recognition" (arXiv 1512.03385), Table 1;
v1.5 = stride on the 3x3 conv of the bottleneck (Goyal et al. 2017, arXiv 1706.02677 /
NVIDIA DeepLearningExamples), the backbone of clovaai/assembled-cnn (Lee et al. 2020,
"Compounding the Performance Improvements of Assembled Techniques in a CNN", arXiv 2001.06268).

Layer names depend only on the architecture (``stem_*``, ``stage{s}_block{b}_*`` with
s = 1..4, b = 1..n, ``avg_pool``, ``classifier``), so weights can be copied by layer name.
The ``classifier`` Dense computes in float32 so logits are fp32 under mixed precision.
"""

import keras
from keras import layers

from nets.basic_block import basic_block
from nets.bottleneck_block import bottleneck_block
from nets.stem import STEM_TYPES, stem

# size -> (block kind, blocks per stage). Stage widths base_width * (1, 2, 4, 8), strides (1, 2, 2, 2).
RESNET_BLOCKS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
    200: ("bottleneck", (3, 24, 36, 3)),
}
RESNET_SIZES = tuple(sorted(RESNET_BLOCKS))

BLOCK_FNS = {"basic": basic_block, "bottleneck": bottleneck_block}
STAGE_STRIDES = (1, 2, 2, 2)
STAGE_WIDTH_MULTIPLIERS = (1, 2, 4, 8)


def _check_positive_int(value, what):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be an integer >= 1, got {value!r}")


def build_resnet(
    resnet_size: int,
    num_classes: int,
    *,
    input_shape=(None, None, 3),
    base_width: int = 64,
    stem_type: str = "default",
    bn_momentum: float = 0.997,
    bn_epsilon: float = 1e-5,
    zero_gamma: bool = False,
    name: str | None = None,
) -> keras.Model:
    """Build a channels_last ResNet returning logits of shape (batch, num_classes).

    Args:
      resnet_size: one of ``RESNET_SIZES``.
      num_classes: width of the ``classifier`` Dense (no softmax).
      input_shape: (height, width, channels); spatial dims may be None.
      base_width: channels of the stem and of stage 1 (stage widths base_width * 1, 2, 4, 8;
        bottleneck outputs are 4x that).
      stem_type: "default" (7x7/2 conv + 3x3/2 max-pool) or "small" (3x3/1 conv, no pool).
      bn_momentum, bn_epsilon: for every BatchNormalization.
      zero_gamma: start gamma of the last BN of every residual branch at 0.
      name: model name, default ``f"resnet{resnet_size}"``.
    """
    if isinstance(resnet_size, bool) or not isinstance(resnet_size, int) or resnet_size not in RESNET_BLOCKS:
        raise ValueError(f"resnet_size must be one of {RESNET_SIZES}, got {resnet_size!r}")
    _check_positive_int(num_classes, "num_classes")
    _check_positive_int(base_width, "base_width")
    if stem_type not in STEM_TYPES:
        raise ValueError(f"stem_type must be one of {STEM_TYPES}, got {stem_type!r}")

    block_kind, blocks_per_stage = RESNET_BLOCKS[resnet_size]
    block_fn = BLOCK_FNS[block_kind]
    bn_options = dict(bn_momentum=bn_momentum, bn_epsilon=bn_epsilon)

    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = stem(inputs, base_width, stem_type=stem_type, **bn_options)
    for stage, (num_blocks, stride, mult) in enumerate(
        zip(blocks_per_stage, STAGE_STRIDES, STAGE_WIDTH_MULTIPLIERS), start=1
    ):
        for block in range(1, num_blocks + 1):
            x = block_fn(
                x,
                base_width * mult,
                stride=stride if block == 1 else 1,
                name=f"stage{stage}_block{block}",
                zero_gamma=zero_gamma,
                **bn_options,
            )

    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    # Original TF ResNet logits: tf.layers.dense defaults (Glorot-uniform kernel, zero bias).
    logits = layers.Dense(
        num_classes,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        dtype="float32",
        name="classifier",
    )(x)
    return keras.Model(inputs, logits, name=name or f"resnet{resnet_size}")

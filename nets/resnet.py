"""ResNet builder (ResNet v1.5 bottlenecks, v1 basic blocks), Keras functional API.

He et al. 2016, "Deep Residual Learning for Image Recognition" (arXiv 1512.03385), Table 1;
v1.5 = stride on the 3x3 conv of the bottleneck (Goyal et al. 2017, arXiv 1706.02677 /
NVIDIA DeepLearningExamples), the backbone of clovaai/assembled-cnn (Lee et al. 2020,
"Compounding the Performance Improvements of Assembled Techniques in a CNN", arXiv 2001.06268).

Assembled-network tweaks (issue #3, Lee et al. 2020 section 3.1; every one off by default):
ResNet-D (He et al. 2019, arXiv 1812.01187: deep stem + average-pool shortcut), SE (Hu et al.
2018), SK (Li et al. 2019, assembled-cnn variant), anti-aliasing (Zhang 2019; ``sconv``, ``max``,
``proj``), DropBlock (Ghiasi et al. 2018; stages 3-4), zero-gamma (Goyal et al. 2017), GeM pooling
(Radenović et al. 2018) and an embedding layer. Every tweak also works on the basic-block nets
(18/34), which assembled-cnn rejects; see ``nets/basic_block.py`` for how.

Big-Little Net (``resnet_version=2``; Chen et al. 2019, arXiv 1807.03848, the "BL" of
assembled-cnn): stem without max-pool + "blModule0", Big/Little/Merge stages 1-3, plain stage 4,
"BL projection" shortcuts; see ``nets/big_little.py`` (layer names ``stem_bl_*``,
``stage{s}_big{b}_*``, ``stage{s}_little{b}_*``, ``stage{s}_little_proj_*``,
``stage{s}_merge_*``, ``stage4_block{b}_*``).

Layer names depend only on the architecture ([``input_standardization``], ``stem_*``,
``stage{s}_block{b}_*`` with s = 1..4, b = 1..n, ``avg_pool`` or ``gem_pool``, [``embedding``,
``embedding_bn``, ``embedding_relu``], ``classifier``), so weights can be copied by layer name.
The ``classifier`` Dense computes in float32 so logits are fp32 under mixed precision.
"""

import dataclasses
from collections.abc import Sequence

import keras
from keras import layers

from nets.basic_block import basic_block
from nets.big_little import BL_BLOCKS, BL_SIZES, BL_STAGE_STRIDES, bl_module0, bl_stage
from nets.block_tweaks import BlockTweaks
from nets.blur_pool import FILTER_SIZES
from nets.bottleneck_block import bottleneck_block
from nets.conv_bn import conv_kernel_initializer
from nets.cosine_classifier import CosineClassifier
from nets.gem_pool import GeMPooling2D
from nets.input_standardization import STANDARDIZATIONS, InputStandardization
from nets.projector import Projector
from nets.stem import POOL_PADDINGS, STEM_TYPES, stem

# size -> (block kind, blocks per stage). Stage widths base_width * (1, 2, 4, 8), strides
# (1, 2, 2, 2).
RESNET_BLOCKS = {
    18: ("basic", (2, 2, 2, 2)),
    26: ("bottleneck", (2, 2, 2, 2)),  # timm's resnet26 / resnet26d
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
ANTI_ALIAS_TYPES = ("sconv", "max", "proj")
POOL_TYPES = ("gap", "gem")
# DropBlock gamma_scale per stage (assembled-cnn: groups 3 and 4 only); 0 = no DropBlock.
DROPBLOCK_GAMMA_SCALES = (0.0, 0.0, 0.25, 1.0)
INPUT_STANDARDIZATIONS = ("none",) + tuple(STANDARDIZATIONS)
RESNET_VERSIONS = (1, 2)  # 1 = ResNet v1.5, 2 = Big-Little Net (assembled-cnn's numbering)
BL_ALPHA_DEFAULT = 2
BL_BETA_DEFAULT = 4


def _check_positive_int(value, what):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be an integer >= 1, got {value!r}")


def _check_bool(value, what):
    if not isinstance(value, bool):
        raise ValueError(f"{what} must be a bool, got {value!r}")


def parse_anti_alias_type(anti_alias_type: str, filter_size: int) -> set[str]:
    """``"sconv,max"`` -> ``{"sconv", "max"}``, validating the items and the filter size."""
    if not isinstance(anti_alias_type, str):
        raise ValueError(f"anti_alias_type must be a string, got {anti_alias_type!r}")
    if isinstance(filter_size, bool) or not isinstance(filter_size, int):
        raise ValueError(f"anti_alias_filter_size must be an integer, got {filter_size!r}")
    modes = {item.strip() for item in anti_alias_type.split(",") if item.strip()}
    for mode in sorted(modes):
        if mode not in ANTI_ALIAS_TYPES:
            raise ValueError(
                f"unknown anti_alias_type item {mode!r}, expected a comma-separated subset of "
                f"{ANTI_ALIAS_TYPES}"
            )
    if modes and filter_size not in FILTER_SIZES:
        raise ValueError(f"anti_alias_filter_size must be in 2..7 when anti_alias_type is set, "
                         f"got {filter_size!r}")
    if not modes and filter_size != 0:
        raise ValueError(f"anti_alias_filter_size must be 0 when anti_alias_type is empty, "
                         f"got {filter_size!r}")
    return modes


def _integral(value, what):
    """An int >= 1; an integral float (2.0, the original's float flag) is taken as that int."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    _check_positive_int(value, what)
    return value


def _check_big_little(resnet_version, resnet_size, base_width, bl_alpha, bl_beta, stem_type,
                      aa_modes):
    """Validate the Big-Little Net arguments; returns (bl_alpha, bl_beta) as ints."""
    if isinstance(resnet_version, bool) or resnet_version not in RESNET_VERSIONS:
        raise ValueError(
            f"resnet_version must be 1 (ResNet v1.5) or 2 (Big-Little Net), got {resnet_version!r}"
        )
    if resnet_version == 1:
        if bl_alpha != BL_ALPHA_DEFAULT or bl_beta != BL_BETA_DEFAULT:
            raise ValueError(
                f"bl_alpha/bl_beta apply to Big-Little Net only (resnet_version=2), got "
                f"bl_alpha={bl_alpha!r}, bl_beta={bl_beta!r} with resnet_version=1"
            )
        return bl_alpha, bl_beta
    if resnet_size not in BL_BLOCKS:
        raise ValueError(f"resnet_version=2 (Big-Little Net) needs resnet_size in {BL_SIZES}, "
                         f"got {resnet_size!r}")
    bl_alpha = _integral(bl_alpha, "bl_alpha")
    bl_beta = _integral(bl_beta, "bl_beta")
    if base_width % bl_alpha:
        raise ValueError(
            f"bl_alpha must divide base_width (the Little widths are base_width * (1, 2, 4) "
            f"/ bl_alpha), got bl_alpha={bl_alpha}, base_width={base_width}"
        )
    if stem_type != "default":
        raise ValueError(f"resnet_version=2 (Big-Little Net) needs stem_type='default', "
                         f"got {stem_type!r}")
    for mode, why in (("max", "has no stem max-pool (blModule0 replaces it)"),
                      ("proj", "uses the BL average-pool projection, not the plain one")):
        if mode in aa_modes:
            raise ValueError(f"anti_alias_type '{mode}' does not apply to resnet_version=2: "
                             f"Big-Little Net {why}")
    return bl_alpha, bl_beta


def _check_keep_prob(value):
    ok = isinstance(value, (tuple, list)) and len(value) == 2
    ok = ok and all(isinstance(k, (int, float)) and not isinstance(k, bool) and 0.0 < k <= 1.0
                    for k in value)
    if not ok:
        raise ValueError(f"dropblock_keep_prob must be two numbers in (0, 1] (start, end), "
                         f"got {value!r}")


def check_resnet_arguments(
    resnet_size: int,
    num_classes: int,
    *,
    base_width: int = 64,
    stem_type: str = "default",
    zero_gamma: bool = False,
    use_resnet_d: bool = False,
    use_se_block: bool = False,
    use_sk_block: bool = False,
    anti_alias_type: str = "",
    anti_alias_filter_size: int = 0,
    use_dropblock: bool = False,
    dropblock_keep_prob: Sequence[float] = (1.0, 0.9),
    pool_type: str = "gap",
    embedding_size: int = 0,
    resnet_version: int = 1,
    bl_alpha: int = BL_ALPHA_DEFAULT,
    bl_beta: int = BL_BETA_DEFAULT,
    no_downsample: bool = False,
    original_shortcuts: bool = False,
    stem_pool_padding: str = "symmetric",
    se_bias: bool = False,
    input_standardization: str = "none",
) -> tuple[set[str], int, int]:
    """The checks of ``build_resnet``'s arguments without building anything (ValueError naming the
    argument); returns (anti-alias modes, bl_alpha, bl_beta) as ``build_resnet`` uses them. Lets a
    config be checked before any variable is allocated (``core/config.py``)."""
    if (isinstance(resnet_size, bool) or not isinstance(resnet_size, int)
            or resnet_size not in RESNET_BLOCKS):
        raise ValueError(f"resnet_size must be one of {RESNET_SIZES}, got {resnet_size!r}")
    _check_positive_int(num_classes, "num_classes")
    _check_positive_int(base_width, "base_width")
    if stem_type not in STEM_TYPES:
        raise ValueError(f"stem_type must be one of {STEM_TYPES}, got {stem_type!r}")
    for value, what in (
        (zero_gamma, "zero_gamma"), (use_resnet_d, "use_resnet_d"), (use_se_block, "use_se_block"),
        (use_sk_block, "use_sk_block"), (use_dropblock, "use_dropblock"),
        (no_downsample, "no_downsample"), (original_shortcuts, "original_shortcuts"),
        (se_bias, "se_bias"),
    ):  # fmt: skip
        _check_bool(value, what)
    if stem_pool_padding not in POOL_PADDINGS:
        raise ValueError(f"stem_pool_padding must be one of {POOL_PADDINGS}, "
                         f"got {stem_pool_padding!r}")
    if se_bias and not use_se_block:
        raise ValueError("se_bias needs use_se_block")
    if input_standardization not in INPUT_STANDARDIZATIONS:
        raise ValueError(f"input_standardization must be one of {INPUT_STANDARDIZATIONS}, "
                         f"got {input_standardization!r}")
    aa_modes = parse_anti_alias_type(anti_alias_type, anti_alias_filter_size)
    if "proj" in aa_modes and use_resnet_d:
        raise ValueError("anti_alias_type 'proj' needs the plain projection shortcut, "
                         "not use_resnet_d")
    if "max" in aa_modes and stem_type != "default":
        raise ValueError("anti_alias_type 'max' needs stem_type='default' (the 'small' stem "
                         "has no max-pool)")
    _check_keep_prob(dropblock_keep_prob)
    bl_alpha, bl_beta = _check_big_little(
        resnet_version, resnet_size, base_width, bl_alpha, bl_beta, stem_type, aa_modes
    )
    if pool_type not in POOL_TYPES:
        raise ValueError(f"pool_type must be one of {POOL_TYPES}, got {pool_type!r}")
    if (isinstance(embedding_size, bool) or not isinstance(embedding_size, int)
            or embedding_size < 0):
        raise ValueError(f"embedding_size must be an integer >= 0, got {embedding_size!r}")
    return aa_modes, bl_alpha, bl_beta


def build_resnet(
    resnet_size: int,
    num_classes: int,
    *,
    input_shape: Sequence[int | None] = (None, None, 3),
    base_width: int = 64,
    stem_type: str = "default",
    bn_momentum: float = 0.997,
    bn_epsilon: float = 1e-5,
    zero_gamma: bool = False,
    use_resnet_d: bool = False,
    use_se_block: bool = False,
    use_sk_block: bool = False,
    anti_alias_type: str = "",
    anti_alias_filter_size: int = 0,
    use_dropblock: bool = False,
    dropblock_keep_prob: Sequence[float] = (1.0, 0.9),
    pool_type: str = "gap",
    embedding_size: int = 0,
    resnet_version: int = 1,
    bl_alpha: int = BL_ALPHA_DEFAULT,
    bl_beta: int = BL_BETA_DEFAULT,
    no_downsample: bool = False,
    original_shortcuts: bool = False,
    stem_pool_padding: str = "symmetric",
    se_bias: bool = False,
    input_standardization: str = "none",
    trex_head: dict | None = None,
    name: str | None = None,
) -> keras.Model:
    """Build a channels_last ResNet returning logits of shape (batch, num_classes).

    Args:
      resnet_size: one of ``RESNET_SIZES``; with ``resnet_version=2`` one of ``BL_SIZES`` (50, 101,
        152 with blocks [3,4,6,3], [4,8,18,3], [5,12,30,3]).
      num_classes: width of the ``classifier`` Dense (no softmax).
      input_shape: (height, width, channels); spatial dims may be None.
      base_width: channels of the stem and of stage 1 (stage widths base_width * 1, 2, 4, 8;
        bottleneck outputs are 4x that).
      stem_type: "default" (7x7/2 conv + 3x3/2 max-pool) or "small" (3x3/1 conv, no pool).
      bn_momentum, bn_epsilon: for every BatchNormalization.
      zero_gamma: start gamma of the last BN of every residual branch at 0.
      use_resnet_d: deep 3x3 stem (widths base_width/2, base_width/2, base_width; with the
        "small" stem: stride 1, no pool) and average-pool projection shortcuts (no pool on
        stride-1 projections, as in the paper; assembled-cnn's stride-1 pool is not copied).
        With ``resnet_version=2`` it means the deep stem only (before blModule0): the BL
        projection already is the average-pool shortcut (assembled-cnn only logs a warning and
        its published BL models use False: the deep stem made BL training unstable).
      use_se_block: squeeze-excitation (ratio 16) on every block's branch output.
      use_sk_block: selective-kernel unit instead of the (first) 3x3 conv of every block.
      anti_alias_type: comma-separated subset of "sconv" (blur after the stride-1 3x3 of strided
        blocks), "max" (max-pool stride 1 + blur in the "default" stem), "proj" (blur before
        strided plain projections; not with use_resnet_d); "" = off.
      anti_alias_filter_size: blur filter size in 2..7 when anti_alias_type is set, else 0.
      use_dropblock: DropBlock (block 7) after every BN of stages 3 (gamma_scale 0.25) and 4 (1.0).
      dropblock_keep_prob: (start, end) of the keep-prob schedule the trainer applies to the
        ``keep_prob`` weight of every DropBlock (``nets.dropblock_layers``); layers start at start.
      pool_type: "gap" (``avg_pool``) or "gem" (GeM, p = 3, ``gem_pool``).
      embedding_size: > 0 adds Dense (no bias, ``embedding``) -> BN -> ReLU before the classifier.
      resnet_version: 1 = ResNet v1.5; 2 = Big-Little Net (``nets/big_little.py``; bottleneck
        sizes only, stem_type "default", anti-aliasing "sconv" only).
      bl_alpha: Big-Little width divisor of the Little branches (int >= 1 dividing base_width;
        an integral float such as 2.0 is accepted). resnet_version=2 only: any value other than
        the default with resnet_version=1 raises ValueError.
      bl_beta: Big-Little depth divisor: max(1, N // bl_beta - 1) Little blocks (int >= 1).
        resnet_version=2 only, like bl_alpha.
      no_downsample: stride 1 instead of 2 in the last stage (output stride 16 instead of 32),
        the original's ``--no_downsample``; no weight changes shape.
      original_shortcuts: the first block of every block group projects even where the shape
        does not change, as clovaai/assembled-cnn builds it (extra 1x1 + BN shortcuts; Big-Little
        R50: stage-2/3 Little and stage-3 Merge); for loading the original's checkpoints.
      stem_pool_padding: "symmetric" (pad 1 on each side, torchvision/timm) or "same"
        (TensorFlow "SAME", the original's stem max-pool); for the original's checkpoints.
      se_bias: the SE 1x1 convs have biases (timm's ``SEModule``; needs use_se_block).
      input_standardization: "none", or "imagenet": an ``InputStandardization`` layer
        (``input_standardization``) maps our preprocessed input to torchvision/timm's
        ``(rgb / 255 - mean) / std`` first (``nets/input_standardization.py``; imported weights).
      trex_head: None for the linear ``classifier``; a dict for t-ReX's head (Sariyildiz et al.
        2023): ``projector`` (``nets.Projector``; keys hidden_layers, hidden_dim,
        bottleneck_dim, input_l2_norm) then ``classifier`` = ``nets.CosineClassifier`` (keys
        tau, learnable). The pooled feature stays the output of the pooling layer.
      name: model name, default ``f"resnet{resnet_size}"`` (``f"bl_resnet{resnet_size}"`` for v2).
    """
    aa_modes, bl_alpha, bl_beta = check_resnet_arguments(
        resnet_size, num_classes, base_width=base_width, stem_type=stem_type, zero_gamma=zero_gamma,
        use_resnet_d=use_resnet_d, use_se_block=use_se_block, use_sk_block=use_sk_block,
        anti_alias_type=anti_alias_type, anti_alias_filter_size=anti_alias_filter_size,
        use_dropblock=use_dropblock, dropblock_keep_prob=dropblock_keep_prob, pool_type=pool_type,
        embedding_size=embedding_size, resnet_version=resnet_version, bl_alpha=bl_alpha,
        bl_beta=bl_beta, no_downsample=no_downsample, original_shortcuts=original_shortcuts,
        stem_pool_padding=stem_pool_padding, se_bias=se_bias,
        input_standardization=input_standardization,
    )
    big_little = resnet_version == 2

    block_kind, blocks_per_stage = RESNET_BLOCKS[resnet_size]
    stage_strides = STAGE_STRIDES
    if big_little:
        blocks_per_stage, stage_strides = BL_BLOCKS[resnet_size], BL_STAGE_STRIDES
    if no_downsample:
        stage_strides = tuple(stage_strides[:-1]) + (1,)
    block_fn = BLOCK_FNS[block_kind]
    bn_options = dict(bn_momentum=bn_momentum, bn_epsilon=bn_epsilon)
    filter_size = anti_alias_filter_size
    tweaks = BlockTweaks(
        resnet_d=use_resnet_d and not big_little,
        bl_projection=big_little,
        se=use_se_block,
        se_bias=se_bias,
        sk=use_sk_block,
        sconv_filter_size=filter_size if "sconv" in aa_modes else 0,
        proj_filter_size=filter_size if "proj" in aa_modes else 0,
        dropblock_keep_prob=float(dropblock_keep_prob[0]),
    )

    inputs = keras.Input(shape=tuple(input_shape), name="input")
    x = inputs
    if input_standardization != "none":
        mean, std = STANDARDIZATIONS[input_standardization]
        x = InputStandardization(mean, std, name="input_standardization")(x)
    x = stem(
        x, base_width, stem_type=stem_type, deep=use_resnet_d,
        max_blur_filter_size=filter_size if "max" in aa_modes else 0, pool=not big_little,
        pool_padding=stem_pool_padding, **bn_options,
    )
    if big_little:
        x = bl_module0(x, base_width, alpha=bl_alpha, **bn_options)
    for stage, (num_blocks, stride, mult) in enumerate(
        zip(blocks_per_stage, stage_strides, STAGE_WIDTH_MULTIPLIERS), start=1
    ):
        gamma_scale = DROPBLOCK_GAMMA_SCALES[stage - 1] if use_dropblock else 0.0
        stage_tweaks = dataclasses.replace(tweaks, dropblock_gamma_scale=gamma_scale)
        if big_little and stage < len(blocks_per_stage):
            x = bl_stage(
                x, base_width * mult, num_blocks=num_blocks, stride=stride, alpha=bl_alpha,
                beta=bl_beta, name=f"stage{stage}", zero_gamma=zero_gamma, tweaks=stage_tweaks,
                original_shortcuts=original_shortcuts, **bn_options,
            )
            continue
        for block in range(1, num_blocks + 1):
            x = block_fn(
                x,
                base_width * mult,
                stride=stride if block == 1 else 1,
                name=f"stage{stage}_block{block}",
                zero_gamma=zero_gamma,
                tweaks=stage_tweaks,
                force_projection=original_shortcuts and block == 1,
                **bn_options,
            )

    if pool_type == "gem":
        x = GeMPooling2D(name="gem_pool")(x)
    else:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if embedding_size:
        x = layers.Dense(
            embedding_size, use_bias=False, kernel_initializer=conv_kernel_initializer(),
            name="embedding",
        )(x)
        x = layers.BatchNormalization(momentum=bn_momentum, epsilon=bn_epsilon,
                                      name="embedding_bn")(x)
        x = layers.ReLU(name="embedding_relu")(x)
    if trex_head is not None:
        head = dict(trex_head)
        tau, learnable = head.pop("tau", 0.1), head.pop("learnable", True)
        try:
            x = Projector(**head, bn_momentum=bn_momentum, bn_epsilon=bn_epsilon,
                          name="projector")(x)
        except TypeError as e:
            raise ValueError(f"trex_head: {e}") from None
        logits = CosineClassifier(num_classes, tau=tau, learnable=learnable, name="classifier")(x)
        default_name = f"bl_resnet{resnet_size}" if big_little else f"resnet{resnet_size}"
        return keras.Model(inputs, logits, name=name or default_name + "_trex")
    # Original TF ResNet logits: tf.layers.dense defaults (Glorot-uniform kernel, zero bias).
    logits = layers.Dense(
        num_classes,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        dtype="float32",
        name="classifier",
    )(x)
    default_name = f"bl_resnet{resnet_size}" if big_little else f"resnet{resnet_size}"
    return keras.Model(inputs, logits, name=name or default_name)

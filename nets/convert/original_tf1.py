"""The original clovaai/assembled-cnn TF1 checkpoints -> the Keras ResNet of ``nets.factory``.

The original (TF1 ``tf.layers``; read for its variable layout only, no code copied) names its
variables by scope and per-scope creation counters: ``resnet_model/conv2d_3/kernel``,
``resnet_model/batch_normalization_3/{gamma,beta,moving_mean,moving_variance}``,
``resnet_model/dense/{kernel,bias}``; Big-Little (``resnet_version=2``) nests them under
``stage0`` (stem conv), ``stage0_1`` (stem BN), ``stage0/pool`` (bL-module 0),
``stage{i}/big{i}``, ``stage{i}/little{i}``, ``stage{i}/merge{i}`` (i = 1..3) and ``stage4``;
a Selective-Kernel conv keeps its 3x3 conv + BN in the block's scope and puts its two 1x1
convs and their BN under ``sk_block[_k]/{sk_fc_1,batch_normalization,sk_fc_2}``. Every first
block of a block group has a 1x1 + BN projection shortcut, created before the block's own
layers (``original_shortcuts=True``). Blur-pool (fixed binomial filter), DropBlock and
average pools have no variables. ``plan`` lists, in the original's creation order, each of
our layers with the TF1 variables it takes; ``keras_weights`` checks a {name: array}
checkpoint against it (numpy only: the entry, import_weights.py, reads the checkpoint).

The published models predict 1001 classes, background = 0, from RGB 0-255 minus
(123.68, 116.78, 103.94), which is our own preprocessing (``input_standardization: none``).
"""

from __future__ import annotations

import numpy as np

from nets.big_little import BL_BLOCKS, bl_branch_blocks
from nets.convert.state_dict import ConversionError
from nets.resnet import RESNET_BLOCKS

ROOT = "resnet_model"
NUM_CLASSES = 1001  # background label 0 kept

COMMON = {"base_width": 64, "stem_type": "default", "pool_type": "gap", "embedding_size": 0,
          "head": "linear", "no_downsample": False, "use_resnet_d": False,
          "use_se_block": False, "se_bias": False, "input_standardization": "none",
          "original_shortcuts": True, "stem_pool_padding": "same"}
ASSEMBLE = {"resnet_version": 2, "use_sk_block": True, "anti_alias_type": "sconv",
            "anti_alias_filter_size": 3, "use_dropblock": True, "zero_gamma": True}
# arch -> (settings, the run's evaluation preprocessing: the original's eval scripts)
ARCHITECTURES = {
    "original:vanilla_r50": (
        {**COMMON, "resnet_size": 50, "resnet_version": 1, "use_sk_block": False,
         "anti_alias_type": "", "anti_alias_filter_size": 0, "zero_gamma": True},
        "imagenet"),
    "original:assemble_r50": (
        {**COMMON, **ASSEMBLE, "resnet_size": 50, "bl_alpha": 2, "bl_beta": 4},
        "imagenet_224_256"),
    "original:assemble_r152": (
        {**COMMON, **ASSEMBLE, "resnet_size": 152, "bl_alpha": 1, "bl_beta": 2},
        "imagenet_224_256a"),
}
BN_FIELDS = ("gamma", "beta", "moving_mean", "moving_variance")
# Training state a checkpoint may hold besides the network: ignored.
IGNORED_NAMES = ("global_step", "loss_scale", "good_steps", "current_loss_scale")
IGNORED_SUFFIXES = ("/Momentum", "/Adam", "/Adam_1", "/ExponentialMovingAverage")


def settings_of(arch: str) -> dict:
    if arch not in ARCHITECTURES:
        raise ConversionError(f"--arch: unknown architecture {arch!r}; known: "
                              f"{', '.join(ARCHITECTURES)}")
    return dict(ARCHITECTURES[arch][0])


def preprocessing_of(arch: str) -> str:
    return ARCHITECTURES[arch][1]


def _indexed(base: str, i: int) -> str:
    return base if i == 0 else f"{base}_{i}"


class _Scope:
    """Hands out the TF1 names of one variable scope in creation order."""

    def __init__(self, path: str):
        self.path, self.conv, self.bn, self.sk = path, 0, 0, 0

    def conv_(self, layer):
        name = f"{self.path}/{_indexed('conv2d', self.conv)}/kernel"
        self.conv += 1
        return (layer, "conv", [name])

    def bn_(self, layer):
        prefix = f"{self.path}/{_indexed('batch_normalization', self.bn)}"
        self.bn += 1
        return (layer, "bn", [f"{prefix}/{f}" for f in BN_FIELDS])

    def block(self, name, projection, sk):
        out = []
        if projection:
            out += [self.conv_(f"{name}_proj_conv"), self.bn_(f"{name}_proj_bn")]
        out += [self.conv_(f"{name}_conv1"), self.bn_(f"{name}_bn1")]
        if sk:
            out += [self.conv_(f"{name}_sk_conv"), self.bn_(f"{name}_sk_bn")]
            sub = f"{self.path}/{_indexed('sk_block', self.sk)}"
            self.sk += 1
            out += [(f"{name}_sk_fc1", "conv", [f"{sub}/sk_fc_1/kernel"]),
                    (f"{name}_sk_fc1_bn", "bn",
                     [f"{sub}/batch_normalization/{f}" for f in BN_FIELDS]),
                    (f"{name}_sk_fc2", "conv", [f"{sub}/sk_fc_2/kernel"])]
        else:
            out += [self.conv_(f"{name}_conv2"), self.bn_(f"{name}_bn2")]
        return out + [self.conv_(f"{name}_conv3"), self.bn_(f"{name}_bn3")]


def plan(settings: dict, head: bool = True) -> list[tuple[str, str, list[str]]]:
    """[(our layer name, kind, [TF1 variable names in ``get_weights`` order])], kind in conv,
    bn, dense, in the original's creation order."""
    sk = bool(settings["use_sk_block"])
    out = []
    if int(settings["resnet_version"]) == 1:
        scope = _Scope(ROOT)
        out += [scope.conv_("stem_conv"), scope.bn_("stem_bn")]
        _, blocks = RESNET_BLOCKS[int(settings["resnet_size"])]
        for stage, num_blocks in enumerate(blocks, start=1):
            for b in range(1, num_blocks + 1):
                out += scope.block(f"stage{stage}_block{b}", b == 1, sk)
    else:
        beta = int(settings["bl_beta"])  # alpha sets widths only: checked by the shapes
        out += [_Scope(f"{ROOT}/stage0").conv_("stem_conv"),
                _Scope(f"{ROOT}/stage0_1").bn_("stem_bn")]
        pool = _Scope(f"{ROOT}/stage0/pool")
        out += [pool.conv_("stem_bl_big_conv"), pool.bn_("stem_bl_big_bn")]
        for i in (1, 2, 3):
            out += [pool.conv_(f"stem_bl_little_conv{i}"), pool.bn_(f"stem_bl_little_bn{i}")]
        out += [pool.conv_("stem_bl_merge_conv"), pool.bn_("stem_bl_merge_bn")]
        blocks = BL_BLOCKS[int(settings["resnet_size"])]
        for stage, num_blocks in enumerate(blocks[:3], start=1):
            num_big, num_little, _ = bl_branch_blocks(num_blocks, beta)
            big = _Scope(f"{ROOT}/stage{stage}/big{stage}")
            for b in range(1, num_big + 1):
                out += big.block(f"stage{stage}_big{b}", b == 1, sk)
            little = _Scope(f"{ROOT}/stage{stage}/little{stage}")
            for b in range(1, num_little + 1):
                out += little.block(f"stage{stage}_little{b}", b == 1, sk)
            out += [little.conv_(f"stage{stage}_little_proj_conv"),
                    little.bn_(f"stage{stage}_little_proj_bn")]
            out += _Scope(f"{ROOT}/stage{stage}/merge{stage}").block(
                f"stage{stage}_merge", True, sk)
        last = _Scope(f"{ROOT}/stage4")
        for b in range(1, blocks[3] + 1):
            out += last.block(f"stage4_block{b}", b == 1, sk)
    if head:
        out.append(("classifier", "dense", [f"{ROOT}/dense/kernel", f"{ROOT}/dense/bias"]))
    return out


def source_num_classes(state: dict) -> int:
    key = f"{ROOT}/dense/kernel"
    if key not in state:
        raise ConversionError(f"tensor '{key}' (the classifier) is missing from the source")
    return int(np.shape(state[key])[-1])


def _ignored(name: str) -> bool:
    return name in IGNORED_NAMES or name.endswith(IGNORED_SUFFIXES)


def keras_weights(state: dict, settings: dict, arch: str = "the source",
                  head: bool = True) -> dict[str, list[tuple[str, np.ndarray]]]:
    """{our layer: [(TF1 variable name, float32 array)] in ``get_weights`` order}; TF1 layouts
    (conv HWIO, dense (in, out)) are Keras layouts. ConversionError naming the tensor for a
    missing, unknown or non-float tensor. ``head=False`` leaves out (and ignores) the dense
    head."""
    out, used = {}, set()
    for layer, _kind, names in plan(settings, head):
        tensors = []
        for name in names:
            if name not in state:
                raise ConversionError(f"tensor '{name}' is missing from the source "
                                      f"(needed by {arch} for layer '{layer}')")
            value = np.asarray(state[name])
            if value.dtype.kind != "f":
                raise ConversionError(f"tensor '{name}' has dtype {value.dtype}, not float")
            tensors.append((name, value.astype(np.float32)))
            used.add(name)
        out[layer] = tensors
    ignored = {f"{ROOT}/dense/kernel", f"{ROOT}/dense/bias"} if not head else set()
    for name in sorted(state):
        if name not in used and name not in ignored and not _ignored(name):
            raise ConversionError(f"unknown tensor '{name}' (not part of {arch})")
    return out

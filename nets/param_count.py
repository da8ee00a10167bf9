"""The parameter count of a ``build_resnet`` network, computed from its arguments without
building it (nothing is allocated), so an absurd network (a huge ``base_width``, classifier or
projector) can be refused before any variable exists (``core/config.py``).

The count follows the builders layer by layer (``stem``, ``bl_module0``, ``bl_stage``,
``basic_block``, ``bottleneck_block``, ``shortcut``, SE, SK, embedding, projector, classifier)
and counts what Keras' ``count_params`` counts: convolution and dense kernels, biases, and the
4 weights per channel of every BatchNormalization (gamma, beta, moving mean and variance).
The scalar keep-prob weight of each DropBlock is left out. ``tests/test_validation_fuzz.py``
compares it with built networks.
"""

from __future__ import annotations

from typing import Any

from nets.basic_block import EXPANSION as BASIC_EXPANSION
from nets.big_little import BL_BLOCKS, BL_STAGE_STRIDES, bl_branch_blocks
from nets.bottleneck_block import EXPANSION as BOTTLENECK_EXPANSION
from nets.resnet import RESNET_BLOCKS, STAGE_STRIDES, STAGE_WIDTH_MULTIPLIERS
from nets.selective_kernel import SK_BRANCHES, SK_MIN_DIM, SK_RATIO
from nets.squeeze_excite import SE_RATIO

BN = 4  # gamma, beta, moving mean, moving variance per channel


def _conv(k: int, cin: int, cout: int) -> int:
    return k * k * cin * cout


def _conv_bn(k: int, cin: int, cout: int) -> int:
    return _conv(k, cin, cout) + BN * cout


class _Counter:
    def __init__(self, se: bool, sk: bool, se_bias: bool = False, original_shortcuts: bool = False):
        self.se, self.sk, self.se_bias = se, sk, se_bias
        self.original_shortcuts = original_shortcuts
        self.first = False  # the block being counted opens a block group

    def _shortcut(self, cin: int, cout: int, stride: int) -> int:
        forced = self.original_shortcuts and self.first
        return _conv_bn(1, cin, cout) if forced or stride != 1 or cin != cout else 0

    def _se(self, channels: int) -> int:
        if not self.se:
            return 0
        reduced = max(1, channels // SE_RATIO)
        return 2 * channels * reduced + ((channels + reduced) if self.se_bias else 0)

    def _sk(self, cin: int, width: int) -> int:
        fused = max(width // SK_RATIO, SK_MIN_DIM)
        return (_conv_bn(3, cin, SK_BRANCHES * width) + _conv_bn(1, width, fused)
                + _conv(1, fused, SK_BRANCHES * width))

    def basic(self, cin: int, filters: int, stride: int) -> tuple[int, int]:
        out = filters * BASIC_EXPANSION
        n = self._shortcut(cin, out, stride)
        n += self._sk(cin, filters) if self.sk else _conv_bn(3, cin, filters)
        n += _conv_bn(3, filters, out) + self._se(out)
        return n, out

    def bottleneck(self, cin: int, filters: int, stride: int) -> tuple[int, int]:
        out = filters * BOTTLENECK_EXPANSION
        n = self._shortcut(cin, out, stride) + _conv_bn(1, cin, filters)
        n += self._sk(filters, filters) if self.sk else _conv_bn(3, filters, filters)
        n += _conv_bn(1, filters, out) + self._se(out)
        return n, out


def _stem(width: int, stem_type: str, deep: bool) -> int:
    if deep:
        half = max(1, width // 2)
        return _conv_bn(3, 3, half) + _conv_bn(3, half, half) + _conv_bn(3, half, width)
    return _conv_bn(7 if stem_type == "default" else 3, 3, width)


def backbone_parameters(resnet_size: int, *, base_width: int = 64, stem_type: str = "default",
                        use_resnet_d: bool = False, use_se_block: bool = False,
                        use_sk_block: bool = False, resnet_version: int = 1,
                        bl_alpha: int = 2, bl_beta: int = 4,
                        se_bias: bool = False,
                        original_shortcuts: bool = False) -> tuple[int, int]:
    """(parameters up to the global pooling, feature width) of a ResNet; the arguments are
    ``build_resnet``'s (already checked: ``nets.resnet.check_resnet_arguments``)."""
    counter = _Counter(use_se_block, use_sk_block, se_bias, original_shortcuts)
    kind, blocks = RESNET_BLOCKS[resnet_size]
    block = counter.basic if kind == "basic" else counter.bottleneck
    w = base_width
    n = _stem(w, stem_type, use_resnet_d)
    channels = w
    stage_blocks, strides = blocks, STAGE_STRIDES
    big_little = resnet_version == 2
    if big_little:
        alpha, stage_blocks, strides = int(bl_alpha), BL_BLOCKS[resnet_size], BL_STAGE_STRIDES
        lw = w // alpha
        n += (_conv_bn(3, w, w) + _conv_bn(3, w, lw) + _conv_bn(3, lw, lw) + _conv_bn(1, lw, w)
              + _conv_bn(1, w, w))
    # (the last stage's stride, --no_downsample, changes no shape of a weight)
    for stage, (num_blocks, stride, mult) in enumerate(
            zip(stage_blocks, strides, STAGE_WIDTH_MULTIPLIERS), start=1):
        width = w * mult
        if big_little and stage < len(stage_blocks):
            num_big, num_little, _ = bl_branch_blocks(num_blocks, int(bl_beta))
            big = channels
            for b in range(num_big):
                counter.first = b == 0
                added, big = counter.bottleneck(big, width, 2 if b == 0 else 1)
                n += added
            little = channels
            for b in range(num_little):
                counter.first = b == 0
                added, little = counter.bottleneck(little, width // alpha, 1)
                n += added
            n += _conv_bn(1, little, width * BOTTLENECK_EXPANSION)
            counter.first = True
            added, channels = counter.bottleneck(width * BOTTLENECK_EXPANSION, width, stride)
            n += added
            continue
        for b in range(num_blocks):
            counter.first = b == 0
            added, channels = block(channels, width, stride if b == 0 else 1)
            n += added
    return n, channels


def head_parameters(feature_width: int, num_classes: int, *, embedding_size: int = 0,
                    trex_head: dict | None = None) -> dict[str, int]:
    """{"embedding", "projector", "classifier"} parameters after the global pooling."""
    out = {"embedding": 0, "projector": 0, "classifier": 0}
    dim = feature_width
    if embedding_size:
        out["embedding"] = dim * embedding_size + BN * embedding_size
        dim = embedding_size
    if trex_head is None:
        out["classifier"] = dim * num_classes + num_classes
        return out
    hidden, layers = int(trex_head["hidden_dim"]), int(trex_head["hidden_layers"])
    for _ in range(layers):
        out["projector"] += dim * hidden + hidden + BN * hidden
        dim = hidden
    bottleneck = int(trex_head["bottleneck_dim"])
    out["projector"] += dim * bottleneck
    out["classifier"] = bottleneck * num_classes
    return out


def parameter_count(resnet_size: int, num_classes: int, **kwargs: Any) -> dict[str, int]:
    """{"backbone", "embedding", "projector", "classifier", "total"} of
    ``build_resnet(resnet_size, num_classes, **kwargs)`` (extra keyword arguments ignored)."""
    names = ("base_width", "stem_type", "use_resnet_d", "use_se_block", "use_sk_block",
             "resnet_version", "bl_alpha", "bl_beta", "se_bias", "original_shortcuts")
    backbone, width = backbone_parameters(resnet_size, **{k: kwargs[k] for k in names
                                                          if k in kwargs})
    out = {"backbone": backbone}
    out.update(head_parameters(width, num_classes,
                               embedding_size=int(kwargs.get("embedding_size", 0)),
                               trex_head=kwargs.get("trex_head")))
    out["total"] = sum(out.values())
    return out

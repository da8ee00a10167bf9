"""Big-Little Net (bL-ResNet) parts of the assembled ResNet (``build_resnet(resnet_version=2)``).

Chen, Fan, Mallinar, Sercu, Feris 2019, "Big-Little Net: An Efficient Multi-Scale Feature
Representation for Visual and Speech Recognition" (ICLR 2019, arXiv 1807.03848), in the form used
by clovaai/assembled-cnn (Lee et al. 2020, arXiv 2001.06268, "D+BL"). ``alpha`` divides the width
of the Little branch, ``beta`` its depth. Bottleneck blocks only (``nets/bottleneck_block.py``),
with every per-block tweak of ``nets/block_tweaks.BlockTweaks`` (SE, SK, ``sconv`` blur-pool,
DropBlock, zero-gamma) applied to the Big, Little and Merge blocks like to any other block.

Network (w = base_width, 64 in the paper; spatial sizes at 224 px):

- stem (``nets/stem.py`` without its max-pool): 7x7/2 conv -> BN -> ReLU (112), or the deep 3x3
  stem when ``use_resnet_d`` (see ``nets/resnet.py``);
- "blModule0" (``bl_module0``, replaces the max-pool; 56):
  big:    3x3/2 conv w -> BN                                  (``stem_bl_big_*``)
  little: 3x3 conv w/alpha -> BN -> ReLU -> 3x3/2 conv w/alpha -> BN -> ReLU -> 1x1 conv w -> BN
                                                              (``stem_bl_little_*1..3``)
  ReLU(big + little) -> 1x1 conv w -> BN -> ReLU              (``stem_bl_add``, ``stem_bl_relu``,
                                                               ``stem_bl_merge_*``);
- stages 1-3 (``bl_stage``) with N blocks, width f = w * (1, 2, 4), stage stride (2, 2, 1):
  Big:    N - 1 bottlenecks (f), the first with stride 2; the last one has no final ReLU
          (``stage{s}_big{b}_*``);
  Little: max(1, N // beta - 1) bottlenecks of width f / alpha at stride 1, then 1x1 conv to
          4f -> BN (``stage{s}_little{b}_*``, ``stage{s}_little_proj_conv``/``_bn``);
  Merge:  Big nearest-upsampled x2 (``stage{s}_big_upsample``), + Little (``stage{s}_bl_add``),
          ReLU (``stage{s}_bl_relu``), then one bottleneck with the stage stride
          (``stage{s}_merge_*``). Sizes 56 -> 28, 28 -> 14, 14 -> 14;
- stage 4: a plain ResNet stage (``stage4_block{b}_*``), stride 2 (7).

Every projection shortcut is the "BL projection" (``nets/shortcut.py``): for stride > 1, zero pad
1 + 3x3 average pool with the stride, then a stride-1 1x1 conv -> BN (Chen et al.'s bL-ResNet and
assembled-cnn). As everywhere in ``nets/``, a block projects only where the shape changes (He et
al. option B); assembled-cnn projects in the first block of every block group (spec §9.9 quirk,
not copied by default), so its R50-BL has extra 1x1 projections on the stride-1 Little (when the
channel count already matches, alpha = 2) and stage-3 Merge blocks (+1.38M parameters at width
64); ``original_shortcuts=True`` builds them, for the original's checkpoints.
Chen et al.'s own model gives strided blocks whose channel count matches (stage 1-2 Merge) a
pool-only shortcut (26.69M parameters for bL-ResNet-50; ours 27.02M, like assembled-cnn there).

``use_resnet_d`` under Big-Little Net = the deep 3x3 stem before blModule0 (what assembled-cnn
builds, with a warning); the shortcuts stay the BL projection everywhere. (assembled-cnn would
also switch the stage-4 shortcut to the 2x2 ResNet-D pool: not copied, same parameters.)

Zero-gamma: the last BN (``bn3``) of every Big, Little and Merge bottleneck; the Little
``little_proj_bn`` and blModule0 are not residual branches and keep gamma = 1. DropBlock
(stages 3-4): after every BN of every block (Big, Little, Merge, shortcuts) like in the plain
net, not after ``little_proj_bn`` (not a block).

The upsampling crops to the Little map, so odd sizes work (Big has ceil(H / 2) rows, repeated
x2 and cut to H: output row i is Big row i // 2, the row the stride-2 Big path sampled there).
"""

from collections.abc import Sequence

import keras
from keras import layers, ops

from nets.block_tweaks import PLAIN, BlockTweaks
from nets.bottleneck_block import EXPANSION, bottleneck_block
from nets.conv_bn import batch_norm, conv2d, relu
from nets.tensors import Shape, Tensor

# resnet_size -> blocks per stage for resnet_version=2 (assembled-cnn ``model_fns.py``).
BL_BLOCKS = {
    50: (3, 4, 6, 3),
    101: (4, 8, 18, 3),
    152: (5, 12, 30, 3),
}
BL_SIZES = tuple(sorted(BL_BLOCKS))
BL_STAGE_STRIDES = (2, 2, 1, 2)  # stride of the Merge block (stages 1-3) / first block (stage 4)
UPSAMPLE_FACTOR = 2


def bl_branch_blocks(num_blocks: int, beta: int) -> tuple[int, int, int]:
    """(Big, Little, Merge) block counts of a Big-Little stage with ``num_blocks`` blocks."""
    if num_blocks < 2:
        raise ValueError(f"a Big-Little stage needs at least 2 blocks, got {num_blocks}")
    return num_blocks - 1, max(1, num_blocks // beta - 1), 1


def bl_layout(resnet_size: int, beta: int) -> tuple[tuple[int, int, int] | int, ...]:
    """Per stage: (big, little, merge) for stages 1-3, then the block count of stage 4."""
    *bl_stages, last = BL_BLOCKS[resnet_size]
    return tuple(bl_branch_blocks(n, beta) for n in bl_stages) + (last,)


@keras.saving.register_keras_serializable(package="assembled")
class NearestUpsampleLike(keras.layers.Layer):
    """[x (B, h, w, C), reference (B, H, W, *)] -> (B, H, W, C): nearest-neighbour upsampling x2
    (each pixel repeated 2x2), cropped to the reference's H, W (needs 2h >= H, 2w >= W)."""

    def call(self, inputs: Sequence[Tensor]) -> Tensor:
        x, reference = inputs
        y = ops.repeat(ops.repeat(x, UPSAMPLE_FACTOR, axis=1), UPSAMPLE_FACTOR, axis=2)
        shape = ops.shape(reference)
        return y[:, : shape[1], : shape[2], :]

    def compute_output_shape(self, input_shapes: Sequence[Shape]) -> Shape:
        x_shape, reference_shape = input_shapes
        return (x_shape[0], reference_shape[1], reference_shape[2], x_shape[3])


def bl_module0(x: Tensor, width: int, *, alpha: int, bn_momentum: float, bn_epsilon: float,
               name: str = "stem_bl") -> Tensor:
    """blModule0 (see the module doc); returns ``width`` channels at half the input size."""
    little_width = width // alpha
    bn_options = dict(momentum=bn_momentum, epsilon=bn_epsilon)

    big = conv2d(x, width, 3, 2, name=f"{name}_big_conv")
    big = batch_norm(big, name=f"{name}_big_bn", **bn_options)

    little = x
    for i, (filters, kernel_size, stride) in enumerate(
        ((little_width, 3, 1), (little_width, 3, 2), (width, 1, 1)), start=1
    ):
        little = conv2d(little, filters, kernel_size, stride, name=f"{name}_little_conv{i}")
        little = batch_norm(little, name=f"{name}_little_bn{i}", **bn_options)
        if i < 3:
            little = relu(little, name=f"{name}_little_relu{i}")

    y = layers.Add(name=f"{name}_add")([big, little])
    y = relu(y, name=f"{name}_relu")
    y = conv2d(y, width, 1, 1, name=f"{name}_merge_conv")
    y = batch_norm(y, name=f"{name}_merge_bn", **bn_options)
    return relu(y, name=f"{name}_merge_relu")


def bl_stage(
    x: Tensor, width: int, *, num_blocks: int, stride: int, alpha: int, beta: int, name: str,
    bn_momentum: float, bn_epsilon: float, zero_gamma: bool = False, tweaks: BlockTweaks = PLAIN,
    original_shortcuts: bool = False,
) -> Tensor:
    """One Big-Little stage (stages 1-3, see the module doc); returns ``4 * width`` channels at
    the input size divided by ``stride``. ``original_shortcuts``: the first block of the Big,
    Little and Merge groups always projects (assembled-cnn; ``nets/shortcut.py``)."""
    num_big, num_little, _ = bl_branch_blocks(num_blocks, beta)
    block_options = dict(bn_momentum=bn_momentum, bn_epsilon=bn_epsilon, zero_gamma=zero_gamma,
                         tweaks=tweaks)

    big = x
    for b in range(1, num_big + 1):
        big = bottleneck_block(
            big, width, stride=2 if b == 1 else 1, name=f"{name}_big{b}", final_relu=b < num_big,
            force_projection=original_shortcuts and b == 1, **block_options,
        )

    little = x
    for b in range(1, num_little + 1):
        little = bottleneck_block(
            little, width // alpha, stride=1, name=f"{name}_little{b}",
            force_projection=original_shortcuts and b == 1, **block_options,
        )
    little = conv2d(little, width * EXPANSION, 1, 1, name=f"{name}_little_proj_conv")
    little = batch_norm(little, name=f"{name}_little_proj_bn", momentum=bn_momentum,
                        epsilon=bn_epsilon)

    big = NearestUpsampleLike(name=f"{name}_big_upsample")([big, little])
    y = layers.Add(name=f"{name}_bl_add")([big, little])
    y = relu(y, name=f"{name}_bl_relu")
    return bottleneck_block(
        y, width, stride=stride, name=f"{name}_merge", force_projection=original_shortcuts,
        **block_options,
    )

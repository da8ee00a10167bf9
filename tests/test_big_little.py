"""Tests for Big-Little Net (``build_resnet(resnet_version=2)``, ``nets/big_little.py``).
Small nets (base_width 8, 64 px) except the 224 px shape and parameter checks (build only)."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from nets_checks import check_train_step_and_round_trips

from nets import NearestUpsampleLike, bl_layout, build_resnet, dropblock_layers

# Keras 3.15's own saving code calls np.array(variable), which warns under numpy 2 (not our code).
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

BL = dict(resnet_version=2)
ASSEMBLED = dict(
    resnet_version=2, use_sk_block=True, anti_alias_type="sconv", anti_alias_filter_size=3,
    use_dropblock=True, dropblock_keep_prob=(0.9, 0.9), zero_gamma=True, use_se_block=True,
)  # fmt: skip


def _images(n, size, seed=0):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (n, size, size, 3)).astype("float32")


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _names(model):
    return [layer.name for layer in model.layers]


def _block_counts(names, stage):
    """(big, little, merge, plain) bottleneck counts of a stage, from the ``*_conv1`` layer
    names."""
    counts = []
    for kind in ("big", "little", "merge", "block"):
        pattern = re.compile(rf"stage{stage}_{kind}\d*_conv1$")
        counts.append(sum(bool(pattern.match(n)) for n in names))
    return tuple(counts)


# ---------------------------------------------------------------------- layout


@pytest.mark.parametrize("size,alpha,beta,expected", [
    (50, 2, 4, ((2, 1, 1), (3, 1, 1), (5, 1, 1), 3)),
    (152, 1, 2, ((4, 1, 1), (11, 5, 1), (29, 14, 1), 3)),
])  # fmt: skip
def test_block_layout(size, alpha, beta, expected):
    assert bl_layout(size, beta) == expected
    model = build_resnet(size, 10, base_width=8, input_shape=(64, 64, 3), bl_alpha=alpha,
                         bl_beta=beta, **BL)
    names = _names(model)
    assert len(set(names)) == len(names)
    for stage in (1, 2, 3):
        assert _block_counts(names, stage) == expected[stage - 1] + (0,)
    assert _block_counts(names, 4) == (0, 0, 0, expected[3])
    # Little widths: stage width / alpha (bottleneck filters), expanded back by little_proj.
    for stage, width in ((1, 8), (2, 16), (3, 32)):
        assert model.get_layer(f"stage{stage}_little1_conv1").kernel.shape[-1] == width // alpha
        assert model.get_layer(f"stage{stage}_little_proj_conv").kernel.shape[2:] == (
            4 * width // alpha, 4 * width)
    assert model.get_layer("stem_bl_little_conv1").kernel.shape == (3, 3, 8, 8 // alpha)
    assert model.name == f"bl_resnet{size}"
    assert not any(n.startswith("stem_pool") for n in names)


def test_spatial_sizes_and_param_count_224():
    model = build_resnet(50, 1000, input_shape=(224, 224, 3), **BL)

    def hw(name):
        return tuple(model.get_layer(name).output.shape[1:3])

    # stem, blModule0, stage 1, stage 2, stage 3, stage 4 (spec: 112 -> 56 -> 28 -> 14 -> 14 -> 7).
    sizes = [hw(n) for n in ("stem_relu", "stem_bl_merge_relu", "stage1_merge_out",
                             "stage2_merge_out", "stage3_merge_out",
                             "stage4_block3_out")]  # fmt: skip
    assert sizes == [(s, s) for s in (112, 56, 28, 14, 14, 7)]
    for stage, (big, little) in enumerate(((28, 56), (14, 28), (7, 14)), start=1):
        assert hw(f"stage{stage}_big1_out") == (big, big)
        assert (hw(f"stage{stage}_little1_out") == hw(f"stage{stage}_big_upsample")
                == (little, little))
    # The last Big block has no final ReLU: its output is the residual sum.
    assert "stage1_big2_out" not in _names(model) and "stage3_big5_out" not in _names(model)
    upsample = model.get_layer("stage1_big_upsample")
    assert model.get_layer("stage1_big2_add").output is upsample.input[0]

    params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    # bL-ResNet-50 (alpha 2, beta 4) of Chen et al. 2019 has 26.69M parameters: IBM's model gives
    # strided blocks whose channel count already matches (the stage 1-2 Merge blocks) a pool-only
    # shortcut; ours (and assembled-cnn's) add a 1x1 conv + BN there: 256^2 + 2*256 + 512^2 + 2*512.
    merge_projections = 256 * 256 + 2 * 256 + 512 * 512 + 2 * 512
    assert params == 27_023_784
    assert round(params - merge_projections, -4) == 26_690_000


def test_param_count_matches_original_log():
    """The tf2.1 branch of assembled-cnn logs 41.9M parameters (all variables) for its R50
    (BL + D + SK + ...; 1001 classes). Ours differ only by the projections the original puts in the
    first block of every block group where shapes already match: Little stages 2-3 (alpha 2) and
    the stride-1 stage-3 Merge, 1x1 conv + BN (4 variables per channel)."""
    model = build_resnet(50, 1001, use_resnet_d=True, use_sk_block=True, **BL)
    quirk = sum(c * c + 4 * c for c in (256, 512, 1024))
    assert round((model.count_params() + quirk) / 1e6, 1) == 41.9


# ---------------------------------------------------------------------- train step, config, save


@pytest.mark.parametrize("case", ["plain", "assembled"])
def test_train_step_config_and_save(case, tmp_path):
    kwargs = BL if case == "plain" else ASSEMBLED
    model = build_resnet(50, 5, base_width=8, input_shape=(64, 64, 3), **kwargs)
    x = _images(2, 64)
    y = np.array([1, 3])
    check_train_step_and_round_trips(model, x, y, 5, tmp_path)


def test_tweaks_reach_big_little_and_merge_blocks():
    model = build_resnet(50, 5, base_width=8, input_shape=(64, 64, 3), **ASSEMBLED)
    names = _names(model)
    # sconv: every strided block, i.e. the first Big block and the stride-2 Merge blocks of
    # stages 1-2, the first Big block of stage 3 and the first block of stage 4.
    assert sorted(n for n in names if n.endswith("_blur")) == sorted([
        "stage1_big1_blur", "stage1_merge_blur", "stage2_big1_blur", "stage2_merge_blur",
        "stage3_big1_blur", "stage4_block1_blur",
    ])  # fmt: skip
    # SK and SE in every kind of block.
    for prefix in ("stage1_big1", "stage1_little1", "stage1_merge", "stage3_big5", "stage4_block3"):
        assert f"{prefix}_sk_fuse" in names and f"{prefix}_se_scale" in names
    # DropBlock: stages 3-4 only, after every BN of every block (shortcuts included), not after the
    # Little expansion BN. Stage 3 (widths 32 / 16, input 64 ch): Big 5 blocks (+ proj) = 16, Little
    # (128 -> 128, no proj) = 3, Merge (stride 1, no proj) = 3; stage 4: 3 x 3 + proj = 10.
    dropblocks = [layer.name for layer in dropblock_layers(model)]
    assert all(n.startswith(("stage3", "stage4")) for n in dropblocks)
    assert len(dropblocks) == 16 + 3 + 3 + 10
    for expected in ("stage3_big1_proj_dropblock", "stage3_little1_dropblock2",
                     "stage3_merge_dropblock3", "stage4_block1_proj_dropblock"):  # fmt: skip
        assert expected in dropblocks
    assert not any("little_proj" in n for n in dropblocks)
    # Gamma scales: 0.25 in stage 3, 1.0 in stage 4.
    def gamma_scales(stage):
        return {layer.gamma_scale for layer in dropblock_layers(model)
                if layer.name.startswith(stage)}

    assert gamma_scales("stage3") == {0.25}
    assert gamma_scales("stage4") == {1.0}
    # BL projection on every strided shortcut: zero pad 1, 3x3 average pool with the stride,
    # 1x1/1 conv.
    for prefix in ("stage1_big1", "stage1_merge", "stage2_big1", "stage2_merge", "stage3_big1",
                   "stage4_block1"):
        pool = model.get_layer(f"{prefix}_proj_pool")
        assert isinstance(pool, keras.layers.AveragePooling2D)
        assert (pool.pool_size, pool.strides, pool.padding) == ((3, 3), (2, 2), "valid")
        assert model.get_layer(f"{prefix}_proj_pad").padding == ((1, 1), (1, 1))
        assert model.get_layer(f"{prefix}_proj_conv").strides == (1, 1)
    # stride-1 projection
    assert "stage1_little1_proj_pool" not in names and "stage1_little1_proj_conv" in names


def test_zero_gamma_blocks_output_their_shortcut():
    model = build_resnet(50, 5, base_width=8, input_shape=(64, 64, 3), zero_gamma=True,
                         use_se_block=True, use_sk_block=True, anti_alias_type="sconv",
                         anti_alias_filter_size=3, **BL)  # fmt: skip
    bn3 = [layer for layer in model.layers
           if layer.name.startswith("stage") and layer.name.endswith("_bn3")]
    # R50-BL: (2+1+1) + (3+1+1) + (5+1+1) + 3 bottlenecks.
    assert len(bn3) == 19 and all(np.all(layer.gamma.numpy() == 0.0) for layer in bn3)
    assert np.all(model.get_layer("stage1_little_proj_bn").gamma.numpy() == 1.0)
    x = _images(2, 64)
    before = _np(model(x, training=False))
    for name in ("stage1_big1_conv1", "stage1_little1_sk_conv", "stage2_merge_conv3",
                 "stage3_big5_se_reduce", "stage3_little1_conv1",
                 "stage4_block2_conv1"):  # fmt: skip
        kernel = model.get_layer(name).kernel
        kernel.assign(kernel + 1.0)
    np.testing.assert_array_equal(before, _np(model(x, training=False)))
    kernel = model.get_layer("stage2_little_proj_conv").kernel
    kernel.assign(kernel + 1.0)
    assert not np.allclose(before, _np(model(x, training=False)))


# ---------------------------------------------------------------------- upsampling, odd sizes


def test_nearest_upsample_crops_to_reference():
    x = np.arange(2 * 3 * 3 * 2, dtype="float32").reshape(2, 3, 3, 2)
    reference = np.zeros((2, 5, 6, 7), "float32")
    layer = NearestUpsampleLike(name="up")
    y = _np(layer([x, reference]))
    assert y.shape == (2, 5, 6, 2)
    rows, cols = np.arange(5) // 2, np.arange(6) // 2
    np.testing.assert_array_equal(y, x[:, rows][:, :, cols])
    assert layer.compute_output_shape(((None, 3, 3, 2), (None, None, None, 7))) == (
        None, None, None, 2)
    assert NearestUpsampleLike.from_config(layer.get_config()).name == "up"


def test_unknown_and_odd_input_sizes():
    model = build_resnet(50, 3, base_width=8, **BL)  # input (None, None, 3)
    graph = tf.function(lambda t: model(t, training=False),
                        input_signature=[tf.TensorSpec((None, None, None, 3))])
    # 100 px: blModule0 25 x 25 -> stage-1 Big 13 x 13, upsampled and cut to 25
    for size in (100, 64):
        logits = _np(model(_images(1, size), training=False))
        assert logits.shape == (1, 3) and np.all(np.isfinite(logits))
        np.testing.assert_allclose(_np(graph(_images(1, size))), logits, rtol=1e-5, atol=1e-5)


def test_mixed_bfloat16_train_step():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")  # conftest resets the policy
    model = build_resnet(50, 3, base_width=8, input_shape=(64, 64, 3), use_sk_block=True,
                         anti_alias_type="sconv", anti_alias_filter_size=3, **BL)  # fmt: skip
    with tf.GradientTape() as tape:
        logits = model(_images(2, 64), training=True)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
            np.array([0, 2]), logits, from_logits=True))
    assert logits.dtype == tf.float32
    assert model.get_layer("stage1_big_upsample").compute_dtype == "bfloat16"
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(bool(tf.reduce_all(tf.math.is_finite(tf.cast(g, tf.float32)))) for g in grads)


# ---------------------------------------------------------------------- ResNet-D, validation


def test_resnet_d_means_deep_stem_under_big_little():
    model = build_resnet(50, 5, base_width=8, input_shape=(64, 64, 3), use_resnet_d=True, **BL)
    names = _names(model)
    assert [n for n in names if re.fullmatch(r"stem_conv\d", n)] == [
        "stem_conv1", "stem_conv2", "stem_conv3"]
    assert model.get_layer("stem_relu3").output.shape[1:] == (32, 32, 8)
    assert model.get_layer("stem_bl_merge_relu").output.shape[1:] == (16, 16, 8)
    # The shortcuts stay the BL projection (3x3 pool), also in stage 4.
    assert model.get_layer("stage4_block1_proj_pool").pool_size == (3, 3)
    assert model.get_layer("stage1_big1_proj_pool").pool_size == (3, 3)


@pytest.mark.parametrize("kwargs,message", [
    (dict(resnet_size=18, **BL),
     "resnet_version=2 (Big-Little Net) needs resnet_size in (50, 101, 152), got 18"),
    (dict(resnet_size=34, **BL), "needs resnet_size in (50, 101, 152), got 34"),
    (dict(resnet_size=200, **BL), "needs resnet_size in (50, 101, 152), got 200"),
    (dict(resnet_version=3), "resnet_version must be 1 (ResNet v1.5) or 2 (Big-Little Net), got 3"),
    (dict(resnet_version=True),
     "resnet_version must be 1 (ResNet v1.5) or 2 (Big-Little Net), got True"),
    (dict(bl_alpha=1), "bl_alpha/bl_beta apply to Big-Little Net only (resnet_version=2)"),
    (dict(bl_beta=2), "bl_alpha/bl_beta apply to Big-Little Net only (resnet_version=2)"),
    (dict(bl_alpha=3, **BL), "bl_alpha must divide base_width"),
    (dict(bl_alpha=16, **BL), "bl_alpha must divide base_width"),
    (dict(bl_alpha=0, **BL), "bl_alpha must be an integer >= 1, got 0"),
    (dict(bl_alpha=1.5, **BL), "bl_alpha must be an integer >= 1, got 1.5"),
    (dict(bl_beta=0, **BL), "bl_beta must be an integer >= 1, got 0"),
    (dict(bl_beta="4", **BL), "bl_beta must be an integer >= 1, got '4'"),
    (dict(stem_type="small", **BL), "resnet_version=2 (Big-Little Net) needs stem_type='default'"),
    (dict(anti_alias_type="max", anti_alias_filter_size=3, **BL),
     "anti_alias_type 'max' does not apply"),
    (dict(anti_alias_type="sconv,proj", anti_alias_filter_size=3, **BL),
     "anti_alias_type 'proj' does not apply"),
])  # fmt: skip
def test_bad_big_little_arguments_raise(kwargs, message):
    kwargs = dict(kwargs)
    size = kwargs.pop("resnet_size", 50)
    with pytest.raises(ValueError) as info:
        build_resnet(size, 10, base_width=8, **kwargs)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_integral_float_alpha_accepted():
    a = build_resnet(50, 10, base_width=8, bl_alpha=2.0, bl_beta=4.0, **BL)
    b = build_resnet(50, 10, base_width=8, **BL)
    assert a.count_params() == b.count_params()
    # defaults with version 1
    assert build_resnet(50, 10, base_width=8, bl_alpha=2.0).name == "resnet50"

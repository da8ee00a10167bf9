"""Tests for the assembled-network tweaks of nets/: ResNet-D, SE, SK, blur-pool, DropBlock,
zero-gamma, GeM, embedding (issue #3). Small nets (base_width 8, 64 px) to stay fast on CPU."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from nets_checks import check_train_step_and_round_trips

import nets
from nets import (
    BlurPool2D,
    DropBlock2D,
    SelectiveKernelFuse,
    binomial_filter,
    build_resnet,
    dropblock_layers,
)

# Keras 3.15's own saving code calls np.array(variable), which warns under numpy 2 (not our code).
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

TIMM_RESNET50D_PARAMS = 25_576_264  # timm `resnet50d`, 1000 classes


def _images(n, size, seed=0):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (n, size, size, 3)).astype("float32")


def _count_trainable(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


def _np(x):
    return keras.ops.convert_to_numpy(x)


# ----------------------------------------------------------------------------- build matrix

ALL = dict(
    use_resnet_d=True, use_se_block=True, use_sk_block=True, anti_alias_type="sconv,max",
    anti_alias_filter_size=3, use_dropblock=True, dropblock_keep_prob=(0.9, 0.9), zero_gamma=True,
    pool_type="gem",
)  # fmt: skip
MATRIX = {
    "d": dict(use_resnet_d=True),
    "se": dict(use_se_block=True),
    "sk": dict(use_sk_block=True),
    "sconv": dict(anti_alias_type="sconv", anti_alias_filter_size=3),
    "max": dict(anti_alias_type="max", anti_alias_filter_size=3),
    "proj": dict(anti_alias_type="proj", anti_alias_filter_size=3),
    "sconv_max_f5": dict(anti_alias_type="sconv,max", anti_alias_filter_size=5),
    "dropblock": dict(use_dropblock=True, dropblock_keep_prob=(0.8, 0.9)),
    "zero_gamma_d_se": dict(zero_gamma=True, use_resnet_d=True, use_se_block=True),
    "gem_embedding": dict(pool_type="gem", embedding_size=16),
    "assembled": dict(
        use_resnet_d=True, use_sk_block=True, anti_alias_type="sconv", anti_alias_filter_size=3,
        use_dropblock=True, dropblock_keep_prob=(0.9, 0.9), zero_gamma=True,
    ),  # fmt: skip
    "se_sk_proj_f2_dropblock": dict(
        use_se_block=True, use_sk_block=True, anti_alias_type="proj", anti_alias_filter_size=2,
        use_dropblock=True, dropblock_keep_prob=(0.9, 0.9),
    ),  # fmt: skip
    "d_sconv_max_f4_gem": dict(
        use_resnet_d=True, anti_alias_type="max, sconv", anti_alias_filter_size=4, pool_type="gem"
    ),
    "sk_max_f7_embedding": dict(use_sk_block=True, anti_alias_type="max", anti_alias_filter_size=7,
                                embedding_size=8),
    "small_stem_d_se_sk": dict(stem_type="small", use_resnet_d=True, use_se_block=True,
                               use_sk_block=True),
    "all": ALL,
    "r18_all": dict(ALL, resnet_size=18),
    "r34_proj_dropblock": dict(resnet_size=34, anti_alias_type="proj", anti_alias_filter_size=3,
                               use_dropblock=True),
}


@pytest.mark.parametrize("case", list(MATRIX))
def test_tweak_matrix_train_step_config_and_save(case, tmp_path):
    kwargs = dict(MATRIX[case])
    size = kwargs.pop("resnet_size", 50)
    image_size = 32 if kwargs.get("stem_type") == "small" else 64
    model = build_resnet(size, 5, base_width=8, input_shape=(image_size, image_size, 3), **kwargs)
    x = _images(2, image_size)
    y = np.array([1, 3])

    assert not any(isinstance(layer, BlurPool2D) and layer.trainable_weights
                   for layer in model.layers)
    check_train_step_and_round_trips(model, x, y, 5, tmp_path)


def test_tweak_layer_names():
    model = build_resnet(50, 10, base_width=8, input_shape=(64, 64, 3), **ALL)
    names = [layer.name for layer in model.layers]
    assert len(set(names)) == len(names)
    for expected in (
        "stem_conv1_pad", "stem_conv1", "stem_bn1", "stem_conv2", "stem_conv3", "stem_bn3",
        "stem_pool", "stem_blur", "stage2_block1_proj_pool", "stage2_block1_blur",
        "stage2_block1_sk_conv", "stage2_block1_sk_fuse", "stage3_block2_se_reduce",
        "stage3_block1_dropblock1", "stage3_block1_dropblock2", "stage4_block3_dropblock3",
        "stage4_block1_proj_dropblock", "gem_pool",
    ):  # fmt: skip
        assert expected in names
    # ResNet-D: no average pool on the stride-1 projection of stage 1 (paper, not the original's
    # quirk).
    assert "stage1_block1_proj_pool" not in names and "stage1_block1_proj_conv" in names
    # DropBlock only in stages 3-4; sconv blur only on strided blocks.
    assert not any("dropblock" in n for n in names if n.startswith(("stage1", "stage2", "stem")))
    assert sorted(n for n in names if n.endswith("_blur") and n.startswith("stage")) == [
        f"stage{s}_block1_blur" for s in (2, 3, 4)
    ]
    # Stage 3 (6 blocks x 3 + shortcut) + stage 4 (3 x 3 + shortcut).
    assert len(dropblock_layers(build_resnet(50, 10, base_width=8, use_dropblock=True))) == 19 + 10
    proj_net = build_resnet(50, 10, base_width=8, anti_alias_type="proj", anti_alias_filter_size=3)
    proj = [layer.name for layer in proj_net.layers]
    assert [n for n in proj if n.endswith("proj_blur")] == [
        f"stage{s}_block1_proj_blur" for s in (2, 3, 4)]


def test_deep_stem_widths_and_small_stem():
    model = build_resnet(50, 10, base_width=64, use_resnet_d=True)
    assert [model.get_layer(f"stem_conv{i}").kernel.shape for i in (1, 2, 3)] == [
        (3, 3, 3, 32), (3, 3, 32, 32), (3, 3, 32, 64)
    ]
    small = build_resnet(18, 10, base_width=8, stem_type="small", use_resnet_d=True,
                         input_shape=(32, 32, 3))
    names = [layer.name for layer in small.layers]
    assert "stem_pool" not in names
    assert not any(n.startswith("stem") and n.endswith("_pad") for n in names)
    assert small.get_layer("stem_relu3").output.shape[1:3] == (32, 32)


# ----------------------------------------------------------------------------- parameter counts


def _resnet50d_params():
    """R50 (torchvision count 25,557,032) with the 7x7 stem conv (3*64*49 + BN 128) replaced by
    three 3x3 convs 3->32->32->64 with BN: ResNet-D adds no other trainable parameter."""
    deep = 9 * (3 * 32 + 32 * 32 + 32 * 64) + 2 * (32 + 32 + 64)
    return 25_557_032 - (49 * 3 * 64 + 2 * 64) + deep


def _se_extra(blocks=(3, 4, 6, 3)):
    """Two bias-free 1x1 convs C -> C//16 -> C per bottleneck, C = 256 * 2**stage."""
    return sum(n * 2 * (256 * 2**s) * (256 * 2**s // 16) for s, n in enumerate(blocks))


def _sk_extra(blocks=(3, 4, 6, 3)):
    """SK replaces 3x3 conv w->w + BN(w) by 3x3 conv w->2w + BN(2w) + fc1 w->d + BN(d) + fc2
    d->2w."""
    total = 0
    for s, n in enumerate(blocks):
        w = 64 * 2**s
        d = max(w // 2, 32)
        total += n * ((9 * w * 2 * w + 4 * w + w * d + 2 * d + d * 2 * w) - (9 * w * w + 2 * w))
    return total


def test_param_counts_224(capsys):
    assert _resnet50d_params() == TIMM_RESNET50D_PARAMS
    counts = {}
    for label, kwargs in (
        ("R50-D", dict(use_resnet_d=True)),
        ("R50-D+SE", dict(use_resnet_d=True, use_se_block=True)),
        ("R50-D+SK", dict(use_resnet_d=True, use_sk_block=True)),
    ):
        counts[label] = _count_trainable(
            build_resnet(50, 1000, input_shape=(224, 224, 3), **kwargs))
    with capsys.disabled():
        print("\nparameter counts (224 px, 1000 classes):", counts)
    assert counts["R50-D"] == TIMM_RESNET50D_PARAMS
    assert counts["R50-D+SE"] == TIMM_RESNET50D_PARAMS + _se_extra()
    assert counts["R50-D+SK"] == TIMM_RESNET50D_PARAMS + _sk_extra()


# ----------------------------------------------------------------------------- blur-pool

BINOMIAL_ROWS = {
    2: [1, 1], 3: [1, 2, 1], 4: [1, 3, 3, 1], 5: [1, 4, 6, 4, 1], 6: [1, 5, 10, 10, 5, 1],
    7: [1, 6, 15, 20, 15, 6, 1],
}  # fmt: skip


@pytest.mark.parametrize("f", sorted(BINOMIAL_ROWS))
def test_blur_filter_and_output_shapes(f):
    row = np.array(BINOMIAL_ROWS[f], dtype="float64")
    np.testing.assert_allclose(binomial_filter(f), np.outer(row, row) / row.sum() ** 2, rtol=0,
                               atol=1e-15)
    assert math.isclose(binomial_filter(f).sum(), 1.0)
    layer = BlurPool2D(f, 2, name="blur")
    for size, out in ((8, 4), (9, 5), (7, 4), (12, 6)):
        x = np.random.default_rng(f).normal(size=(1, size, size, 3)).astype("float32")
        y = _np(layer(x))
        assert y.shape == (1, out, out, 3)
        assert layer.compute_output_shape((1, size, size, 3)) == (1, out, out, 3)
    assert layer.weights == [] and layer.trainable_weights == []
    # A constant image stays constant (reflect padding, kernel sums to 1).
    constant = np.full((1, 9, 9, 2), 3.0, "float32")
    np.testing.assert_allclose(_np(BlurPool2D(f, 2)(constant)), 3.0, rtol=1e-6)


@pytest.mark.parametrize("f,size", [(4, 8), (4, 9), (3, 8), (6, 11)])
def test_blur_values_match_symmetric_reflect_padding(f, size):
    """Our values equal the original's (reflect pad (f-1)//2 per side, stride 2); on odd sizes with
    even f we only add the trailing output the original drops."""
    x = np.random.default_rng(0).normal(size=(size, size)).astype("float64")
    p = (f - 1) // 2
    padded = np.pad(x, p, mode="reflect")
    k = binomial_filter(f)
    n = (padded.shape[0] - f) // 2 + 1
    ref = np.array([[np.sum(padded[2 * i : 2 * i + f, 2 * j : 2 * j + f] * k) for j in range(n)]
                    for i in range(n)])
    ours = _np(BlurPool2D(f, 2)(x[None, :, :, None].astype("float32")))[0, :, :, 0]
    assert ours.shape[0] == -(-size // 2)
    np.testing.assert_allclose(ours[:n, :n], ref, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- SK


def test_sk_branch_weights_sum_to_one():
    model = build_resnet(50, 5, base_width=8, use_sk_block=True, input_shape=(32, 32, 3))
    fuse = model.get_layer("stage2_block1_sk_fuse")
    assert isinstance(fuse, SelectiveKernelFuse)
    probe = keras.Model(model.input, [model.get_layer("stage2_block1_sk_relu").output,
                                      model.get_layer("stage2_block1_sk_fc2").output, fuse.output])
    features, logits, fused = (_np(t) for t in probe(_images(2, 32), training=False))
    weights = _np(SelectiveKernelFuse.branch_weights(logits))
    width = 16  # stage 2 width at base_width 8
    assert features.shape[-1] == 2 * width and weights.shape == (2, 1, 1, 2, width)
    np.testing.assert_allclose(weights.sum(axis=-2), 1.0, rtol=1e-6)
    assert np.all(weights > 0) and not np.allclose(weights, 0.5)  # a real, input-dependent choice
    manual = (features[..., :width] * weights[:, :, :, 0]
              + features[..., width:] * weights[:, :, :, 1])
    np.testing.assert_allclose(fused, manual, rtol=1e-5, atol=1e-6)
    # r = 2, L = 32: d = max(16 // 2, 32) = 32.
    assert model.get_layer("stage2_block1_sk_fc1").kernel.shape == (1, 1, width, 32)
    assert model.get_layer("stage2_block1_sk_conv").kernel.shape == (3, 3, width, 2 * width)


# ----------------------------------------------------------------------------- DropBlock


def _dropped_fraction(layer, x):
    y = _np(layer(x, training=True))
    return float(np.mean(y == 0.0)), y


def test_dropblock_rate_identity_and_keep_prob_weight():
    x = np.ones((1, 28, 28, 64), "float32")
    layer = DropBlock2D(block_size=7, gamma_scale=1.0, keep_prob=0.9, name="db")
    layer.build(x.shape)
    assert layer.trainable_weights == [] and layer.keep_prob.dtype == "float32"
    fractions = []
    for i in range(5):
        frac, y = _dropped_fraction(layer, x + i)  # different content -> different masks
        fractions.append(frac)
        kept = y[y != 0.0]
        np.testing.assert_allclose(y.sum(), (x + i).sum(), rtol=1e-4)  # rescaled by numel/sum(mask)
        assert np.allclose(kept, kept[0])
    assert len(set(fractions)) > 1  # the masks change between calls
    assert 0.07 < np.mean(fractions) < 0.13, fractions  # ~ 1 - keep_prob
    # Identity at inference and at keep_prob exactly 1.0.
    np.testing.assert_array_equal(_np(layer(x, training=False)), x)
    layer.keep_prob.assign(1.0)
    np.testing.assert_array_equal(_np(layer(x, training=True)), x)
    # The weight drives the behaviour, also inside a compiled graph.
    fn = tf.function(lambda t: layer(t, training=True))
    np.testing.assert_array_equal(_np(fn(x)), x)
    layer.keep_prob.assign(0.7)
    assert 0.2 < float(np.mean(_np(fn(x)) == 0.0)) < 0.4


def test_dropblock_small_map_and_config():
    layer = DropBlock2D(block_size=7, gamma_scale=0.25, keep_prob=0.5, name="db_small")
    y = _np(layer(np.ones((2, 4, 4, 8), "float32"), training=True))  # effective block size 4
    assert y.shape == (2, 4, 4, 8) and np.all(np.isfinite(y))
    clone = DropBlock2D.from_config(layer.get_config())
    assert (clone.block_size, clone.gamma_scale, clone.initial_keep_prob) == (7, 0.25, 0.5)
    with pytest.raises(ValueError, match="keep_prob must be in"):
        DropBlock2D(keep_prob=0.0)


def test_dropblock_mirrored_strategy_train_step():
    """DropBlock inside ``strategy.run`` over 2 replicas: the layer's SeedGenerator update works in
    replica context, the trainer can assign keep_prob between steps, and the two replicas draw
    different masks (a SeedGenerator alone gives both replicas the same numbers)."""
    if len(tf.config.list_logical_devices("CPU")) < 2:
        pytest.skip("needs 2 logical CPU devices (tests/conftest.py)")
    # The process-wide strategy of the engine: a second MirroredStrategy over the same devices
    # would collide with the trainer tests' collective ops in this worker.
    from engine.distribute import make_strategy
    strategy = make_strategy(None, 2)
    # a tiny conv net: tracing a ResNet twice per step takes minutes on 2 cores
    with strategy.scope():
        inputs = keras.Input((24, 24, 3))
        h = keras.layers.Conv2D(16, 3, padding="same", use_bias=False, name="conv")(inputs)
        h = keras.layers.BatchNormalization(name="bn")(h)
        dropped = DropBlock2D(block_size=5, gamma_scale=1.0, keep_prob=0.8, name="dropblock")(h)
        h = keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(dropped))
        model = keras.Model(inputs, [keras.layers.Dense(4, name="classifier")(h), dropped])
        optimizer = keras.optimizers.SGD(0.01)
        optimizer.build(model.trainable_variables)
    (layer,) = dropblock_layers(model)

    @tf.function
    def train_step(images, labels):
        def replica_step(images, labels):
            with tf.GradientTape() as tape:
                logits, block_out = model(images, training=True)
                loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
                    labels, logits, from_logits=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss, tf.cast(tf.equal(block_out[0], 0.0), tf.float32)

        losses, masks = strategy.run(replica_step, (images, labels))
        mean_loss = strategy.reduce(tf.distribute.ReduceOp.MEAN, losses, axis=None)
        return mean_loss, strategy.experimental_local_results(masks)

    images = _images(4, 24, seed=1)
    labels = np.array([0, 1, 2, 3])
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4).repeat(3)
    batches = strategy.experimental_distribute_dataset(data)
    for step, (batch_images, batch_labels) in enumerate(batches):
        # the trainer's schedule update, outside replica context
        layer.keep_prob.assign(0.8 - 0.1 * step)
        loss, masks = train_step(batch_images, batch_labels)
        assert np.isfinite(float(loss))
        mask0, mask1 = (_np(m) for m in masks)
        assert 0.0 < mask0.mean() < 0.7 and 0.0 < mask1.mean() < 0.7
        assert not np.array_equal(mask0, mask1)  # replicas are decorrelated
    assert math.isclose(float(layer.keep_prob.numpy()), 0.6, abs_tol=1e-6)
    layer.keep_prob.assign(1.0)
    _, masks = train_step(batch_images, batch_labels)
    assert all(_np(m).sum() == 0 for m in masks)  # keep_prob 1.0: identity


def test_dropblock_unknown_spatial_size_in_graph():
    layer = DropBlock2D(block_size=7, gamma_scale=1.0, keep_prob=0.5, name="db_dynamic")
    fn = tf.function(lambda t: layer(t, training=True),
                     input_signature=[tf.TensorSpec((None, None, None, 4))])
    for size in (3, 9, 20):  # maps smaller than, close to and larger than the block
        y = _np(fn(np.ones((2, size, size, 4), "float32")))
        assert y.shape == (2, size, size, 4) and np.all(np.isfinite(y))
    assert 0.2 < float(np.mean(y == 0.0)) < 0.8


def test_tweaks_mixed_bfloat16():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")  # conftest resets the policy
    model = build_resnet(18, 3, base_width=4, input_shape=(32, 32, 3), **ALL)
    with tf.GradientTape() as tape:
        logits = model(_images(2, 32), training=True)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
            np.array([0, 2]), logits, from_logits=True))
    assert logits.dtype == tf.float32
    assert model.get_layer("stage2_block1_blur").compute_dtype == "bfloat16"
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(bool(tf.reduce_all(tf.math.is_finite(tf.cast(g, tf.float32)))) for g in grads)
    assert all(layer.keep_prob.dtype == "float32" for layer in dropblock_layers(model))


# ----------------------------------------------------------------------------- zero gamma


@pytest.mark.parametrize("size,kwargs", [
    (50, dict(use_resnet_d=True, use_se_block=True, use_sk_block=True, anti_alias_type="sconv",
              anti_alias_filter_size=3)),
    (18, dict(use_se_block=True, use_sk_block=True, use_dropblock=True)),
])  # fmt: skip
def test_zero_gamma_tweaked_blocks_output_relu_shortcut(size, kwargs):
    model = build_resnet(size, 5, base_width=8, stem_type="small", zero_gamma=True,
                         input_shape=(16, 16, 3), **kwargs)
    last_bn = "bn3" if size == 50 else "bn2"
    last_bns = [layer for layer in model.layers
                if layer.name.startswith("stage") and layer.name.endswith(last_bn)]
    assert len(last_bns) == sum(nets.RESNET_BLOCKS[size][1])
    assert all(np.all(layer.gamma.numpy() == 0.0) for layer in last_bns)
    x = _images(2, 16)
    before = _np(model(x, training=False))
    perturbed = ["stage1_block2_sk_conv", "stage3_block1_sk_fc1", "stage4_block2_se_reduce"]
    perturbed += (["stage2_block1_conv1", "stage3_block2_conv3"] if size == 50
                  else ["stage2_block1_conv2"])
    for name in perturbed:
        kernel = model.get_layer(name).kernel
        kernel.assign(kernel + 1.0)
    np.testing.assert_array_equal(before, _np(model(x, training=False)))
    kernel = model.get_layer("stage2_block1_proj_conv").kernel
    kernel.assign(kernel + 1.0)
    assert not np.allclose(before, _np(model(x, training=False)))


# ----------------------------------------------------------------------------- GeM


def test_gem_pooling_values_and_dtype():
    layer = nets.GeMPooling2D(name="gem")
    x = np.abs(np.random.default_rng(0).normal(size=(2, 3, 3, 4))).astype("float32")
    expected = np.mean(np.clip(x, 1e-6, None) ** 3, axis=(1, 2)) ** (1 / 3)
    np.testing.assert_allclose(_np(layer(x)), expected, rtol=1e-5)
    np.testing.assert_allclose(_np(layer(-x)), 1e-6, rtol=1e-3)  # clamped below
    keras.mixed_precision.set_global_policy("mixed_float16")
    half = nets.GeMPooling2D(name="gem16")
    out = half(keras.ops.cast(np.full((1, 2, 2, 1), 100.0, "float32"), "float16"))
    # 100**3 > fp16 max
    assert out.dtype == "float16" and np.isclose(float(_np(out)[0, 0]), 100.0, rtol=1e-2)


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(anti_alias_type="sconv,blur", anti_alias_filter_size=3),
         "unknown anti_alias_type item 'blur'"),
        (dict(anti_alias_type="sconv"),
         "anti_alias_filter_size must be in 2..7 when anti_alias_type is set, got 0"),
        (dict(anti_alias_type="max", anti_alias_filter_size=8),
         "anti_alias_filter_size must be in 2..7"),
        (dict(anti_alias_filter_size=3),
         "anti_alias_filter_size must be 0 when anti_alias_type is empty, got 3"),
        (dict(anti_alias_type="proj", anti_alias_filter_size=3, use_resnet_d=True),
         "'proj' needs the plain projection"),
        (dict(anti_alias_type="max", anti_alias_filter_size=3, stem_type="small"),
         "'max' needs stem_type='default'"),
        (dict(pool_type="flatten"), "pool_type must be one of ('gap', 'gem'), got 'flatten'"),
        (dict(embedding_size=-1), "embedding_size must be an integer >= 0, got -1"),
        (dict(dropblock_keep_prob=(1.0, 0.0)), "dropblock_keep_prob must be two numbers in (0, 1]"),
        (dict(dropblock_keep_prob=0.9), "dropblock_keep_prob must be two numbers in (0, 1]"),
        (dict(use_se_block="yes"), "use_se_block must be a bool, got 'yes'"),
        (dict(anti_alias_type=None), "anti_alias_type must be a string, got None"),
    ],
)
def test_bad_tweak_arguments_raise(kwargs, message):
    with pytest.raises(ValueError) as info:
        build_resnet(50, 10, base_width=8, **kwargs)
    assert message in str(info.value)


def test_input_standardization_layer():
    """((x + MEAN_RGB) / 255 - mean) / std; config round-trips; the mean is preprocessing's."""
    from nets.input_standardization import PREPROCESSED_MEAN, InputStandardization
    from preprocessing.common import MEAN_RGB
    assert PREPROCESSED_MEAN == MEAN_RGB
    layer = InputStandardization((0.5, 0.5, 0.5), (0.25, 0.5, 1.0))
    x = np.array([[[[0.0, 255.0 - 116.78, -103.94]]]], np.float32)
    expected = ((x + np.float32(MEAN_RGB)) / 255 - 0.5) / np.float32([0.25, 0.5, 1.0])
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-5, atol=1e-6)
    again = InputStandardization.from_config(layer.get_config())
    assert again.get_config() == layer.get_config()

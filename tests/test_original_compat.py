"""Original-compatible network options (issue 16, part 1): the projection shortcuts
clovaai/assembled-cnn builds in the first block of every block group, and its TensorFlow
"SAME" stem max-pool. The extra parameter counts are the ones measured on the original's own
graph for the issue (Assemble-R50: 1.38 M, Assemble-R152: 1.05 M)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from core import config
from nets.factory import build_from_config, parameter_count
from nets.stem import stem

ASSEMBLE = dict(dataset_name="imagenet", resnet_version=2, use_sk_block=True,
                anti_alias_type="sconv", anti_alias_filter_size=3, use_dropblock=True,
                zero_gamma=True)


def assemble_config(size, alpha, beta, **overrides):
    return config.make_config(model_dir="/tmp/unused", resnet_size=size, bl_alpha=alpha,
                              bl_beta=beta, **{**ASSEMBLE, **overrides})


def test_assemble_r50_gets_the_original_s_three_extra_shortcuts():
    plain = build_from_config(assemble_config(50, 2, 4), 1001)
    original = build_from_config(assemble_config(50, 2, 4, original_shortcuts=True), 1001)
    extra = sorted({layer.name for layer in original.layers}
                   - {layer.name for layer in plain.layers})
    assert [n for n in extra if n.endswith("_proj_conv")] == [
        "stage2_little1_proj_conv", "stage3_little1_proj_conv", "stage3_merge_proj_conv"]
    assert original.count_params() - plain.count_params() == 1_383_426


def test_assemble_r152_extra_shortcut_without_building_it():
    plain = parameter_count(assemble_config(152, 1, 2), 1001)["total"]
    original = parameter_count(assemble_config(152, 1, 2, original_shortcuts=True), 1001)["total"]
    assert original - plain == 1_052_672  # stage-3 Merge: 1x1 conv 1024x1024 + BN


def test_vanilla_r50_has_no_extra_shortcut():
    cfg = config.make_config(model_dir="/tmp/unused", dataset_name="imagenet", resnet_size=50)
    assert (parameter_count(dict(cfg, original_shortcuts=True), 1001)["total"]
            == parameter_count(cfg, 1001)["total"])


def test_same_stem_pool_is_tensorflow_same_padding():
    inputs = keras.Input((None, None, 3))
    outputs = {p: stem(inputs, 4, stem_type="default", bn_momentum=0.9, bn_epsilon=1e-5,
                       pool_padding=p) for p in ("same", "symmetric")}
    image = np.random.default_rng(3).normal(size=(2, 32, 32, 3)).astype("float32")
    same = keras.Model(inputs, outputs["same"])
    before_pool = keras.Model(inputs, same.get_layer("stem_relu").output)(image)
    expected = tf.nn.max_pool2d(before_pool, 3, 2, "SAME").numpy()
    np.testing.assert_array_equal(same(image).numpy(), expected)
    symmetric = keras.Model(inputs, outputs["symmetric"])
    symmetric.set_weights(same.get_weights())
    assert symmetric(image).shape == expected.shape
    # 16 px after the stem conv: SAME pads 0 rows before and 1 after, not 1 and 1
    assert not np.array_equal(symmetric(image).numpy(), expected)


def test_options_are_validated_and_stored_as_architecture():
    with pytest.raises(config.ConfigError, match="--stem_pool_padding"):
        config.make_config(model_dir="/tmp/unused", stem_pool_padding="valid")
    from core.settings import SETTINGS
    assert SETTINGS["original_shortcuts"].role == SETTINGS["stem_pool_padding"].role == "arch"

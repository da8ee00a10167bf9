"""The original clovaai/assembled-cnn TF1 checkpoints -> our network (nets/convert/original_tf1,
import_weights.py --arch=original:*).

The fixture tests/fixtures/original_tf1.npz was made by tests/fixtures/make_original_fixture.py
from the original's own graph (TF 2.21 tf.compat.v1 + tf-keras, outside this environment): the
variable manifest (name, shape, dtype in creation order) of each published configuration and
its logits on 2 photos (uint8, stored) for weights that ``original_weights.value_of`` derives
from each variable's name. Here the weights are regenerated, written as a name-based TF1
checkpoint (SaveV2), converted through a run directory (or in memory for the 152-layer one),
and our logits must agree to 1e-4 of their largest magnitude in float32. Needs neither the
original nor tf-keras. With IMPORT_WEIGHTS_RESULTS=PATH each comparison appends a line
"arch size max_abs_diff max_abs_logit" to PATH (results/import_weights.md).
"""

import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

import import_weights
from core.rundir import RunDir
from nets.convert import original_tf1, torch_resnet

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "fixtures"))
import original_weights  # noqa: E402
from logit_checks import compare  # noqa: E402

FIXTURE = os.path.join(HERE, "fixtures", "original_tf1.npz")


@pytest.fixture(scope="module")
def fixture():
    with np.load(FIXTURE, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(bytes(arrays.pop("meta")).decode())
    assert meta["seed"] == original_weights.SEED
    assert tuple(meta["mean_rgb"]) == original_weights.MEAN_RGB
    return meta, arrays


_STATES = {}


def regenerated(manifest):
    """{name: value} of the manifest's variables (cached: the mismatch tests reuse R50's)."""
    key = tuple(name for name, _, _ in manifest)
    if key not in _STATES:
        _STATES[key] = {name: original_weights.value_of(name, shape)
                        for name, shape, _ in manifest}
    return dict(_STATES[key])


def write_tf1_checkpoint(prefix, manifest, change=None):
    """The manifest's variables with their regenerated values, saved by name (TF1 layout)."""
    state = regenerated(manifest)
    state["global_step"] = np.int64(1234)  # training state: ignored by the converter
    if change:
        change(state)
    names = sorted(state)
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(state[n]) for n in names])
    return prefix


def preprocessed(images):
    return images.astype(np.float32) - np.float32(original_weights.MEAN_RGB)


def test_manifest_is_the_converter_s_plan(fixture):
    meta, _ = fixture
    assert set(meta["archs"]) == set(original_tf1.ARCHITECTURES)
    for arch, entry in meta["archs"].items():
        names = [name for _, _, tensors in original_tf1.plan(original_tf1.settings_of(arch))
                 for name in tensors]
        assert names == [name for name, _, _ in entry["manifest"]], arch  # creation order


@pytest.mark.parametrize("arch", ["original:vanilla_r50", "original:assemble_r50"])
def test_run_directory_gives_the_original_s_logits(tmp_path, fixture, arch):
    meta, arrays = fixture
    entry = meta["archs"][arch]
    prefix = write_tf1_checkpoint(str(tmp_path / "tf1" / "model.ckpt-1234"), entry["manifest"])
    run_dir = str(tmp_path / "run")
    import_weights.import_weights(prefix, arch, run_dir)
    run = RunDir.open(run_dir)
    cfg = run.config
    assert cfg["original_shortcuts"] is True and cfg["stem_pool_padding"] == "same"
    assert cfg["input_standardization"] == "none"
    assert cfg["preprocessing_type"] == original_tf1.preprocessing_of(arch)
    model, _ = run.load_model("auto")
    assert model.output_shape[-1] == 1001
    ours = np.asarray(model(preprocessed(arrays["images"]), training=False))
    compare(arch, ours, arrays[entry["logits"]], meta["size"])


def test_assemble_r152_in_memory(fixture):
    """Converted in memory, without a checkpoint or a run (the 152-layer network is the slow
    one; the checkpoint path is the same code as R50's)."""
    import keras

    from core.settings import defaults
    from nets.factory import build_from_config
    meta, arrays = fixture
    arch = "original:assemble_r152"
    entry = meta["archs"][arch]
    settings = original_tf1.settings_of(arch)
    model = build_from_config({**defaults("original"), **settings}, 1001)
    state = regenerated(entry["manifest"])
    torch_resnet.assign(model, original_tf1.keras_weights(state, settings, arch), arch)
    ours = np.asarray(model(preprocessed(arrays["images"]), training=False))
    compare(arch, ours, arrays[entry["logits"]], meta["size"])
    _STATES.clear()
    keras.backend.clear_session()


BN = "resnet_model/batch_normalization_7"


@pytest.mark.parametrize("change,message", [
    (lambda s: s.update({"resnet_model/conv2d_99/kernel": s[f"{BN}/gamma"]}),
     "unknown tensor 'resnet_model/conv2d_99/kernel'"),
    (lambda s: s.update({"resnet_model/sk_block/sk_fc_1/kernel": s[f"{BN}/gamma"]}),
     "unknown tensor 'resnet_model/sk_block/sk_fc_1/kernel'"),
    (lambda s: s.pop(f"{BN}/moving_variance"), f"tensor '{BN}/moving_variance' is missing"),
    (lambda s: s.update({"resnet_model/dense/bias": s["resnet_model/dense/bias"][:1000]}),
     "tensor 'resnet_model/dense/bias' has shape (1000,)"),
])
def test_mismatch_is_one_error_line(tmp_path, capsys, fixture, change, message):
    meta, _ = fixture
    prefix = write_tf1_checkpoint(str(tmp_path / "model.ckpt-1"),
                                  meta["archs"]["original:vanilla_r50"]["manifest"], change)
    code = import_weights.main([f"--source={prefix}", "--arch=original:vanilla_r50",
                                f"--model_dir={tmp_path / 'run'}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err and message in err, err
    assert not os.path.exists(tmp_path / "run" / "config.yaml")


def test_missing_checkpoint_is_one_error_line(tmp_path, capsys):
    code = import_weights.main([f"--source={tmp_path / 'model.ckpt-7'}",
                                "--arch=original:vanilla_r50", f"--model_dir={tmp_path / 'r'}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "model.ckpt-7.index" in err, err

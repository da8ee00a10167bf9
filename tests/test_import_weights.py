"""torchvision / timm ResNet weights -> our network (nets/convert, import_weights.py).

Each source is built with random weights (BN statistics and affine parameters randomised too,
so they matter), saved as a state dict, converted, and both networks run on the same photos
(skimage ``rocket`` and ``immunohistochemistry``, not used elsewhere in the suite): the logits
must agree to 1e-4 of their largest magnitude in float32. With IMPORT_WEIGHTS_RESULTS=PATH
each comparison appends a line "arch size max_abs_diff max_abs_logit" to PATH
(results/import_weights.md).
"""

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

# Found, not imported: torchvision (and timm, which imports it) crash after TensorFlow.
for _package in ("torch", "torchvision", "timm", "safetensors"):
    if importlib.util.find_spec(_package) is None:
        pytest.skip(f"{_package} is not installed (requirements-test.txt)",
                    allow_module_level=True)

import logit_checks  # noqa: E402

import import_weights  # noqa: E402
from core.rundir import RunDir  # noqa: E402
from nets.convert import torch_resnet  # noqa: E402
from nets.input_standardization import PREPROCESSED_MEAN  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
# (arch, classes, image size, file): through a run directory (config.yaml + ckpt-0 read back
# as every mode reads a run) ...
THROUGH_RUN = [
    ("torchvision:resnet18", 1000, 64, ".pth"), ("torchvision:resnet50", 1000, 64, ".safetensors"),
    ("timm:resnet34", 1000, 64, ".safetensors"), ("timm:resnet26", 1000, 64, ".safetensors"),
    ("timm:resnet50d", 1000, 64, ".train.pth"), ("timm:seresnet50", 1000, 64, ".safetensors")]
# ... and in memory (no checkpoint written), the deep ones at 32 px.
IN_MEMORY = [
    ("torchvision:resnet34", 1000, 64, ".safetensors"),
    ("torchvision:resnet101", 1000, 32, ".safetensors"),
    ("torchvision:resnet152", 1000, 32, ".safetensors"),
    ("timm:resnet18", 1000, 64, ".safetensors"), ("timm:resnet50", 1000, 64, ".safetensors"),
    ("timm:resnet18d", 1000, 64, ".safetensors"), ("timm:resnet101d", 1000, 32, ".safetensors")]
DIGITS = [("timm:resnet18", 10, 32, ".safetensors")]  # eval_only + fine-tuning on digits
SPECS = THROUGH_RUN + IN_MEMORY + DIGITS


def photos(size):
    """The two photos as float32 0-255 RGB (N, H, W, 3)."""
    return logit_checks.photos(size).astype(np.float32)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """{spec: (state dict path, source logits, images)}, made by tests/torch_sources.py in
    one child process (torchvision crashes when imported after TensorFlow)."""
    out = tmp_path_factory.mktemp("sources")
    images = {size: photos(size) for size in sorted({spec[2] for spec in SPECS})}
    for size, array in images.items():
        np.save(out / f"{size}.npy", array)
    args = [f"{a}:{c}:{s}:{suffix}" for a, c, s, suffix in SPECS]
    subprocess.run([sys.executable, os.path.join(HERE, "torch_sources.py"), str(out), str(out)]
                   + args, check=True, timeout=600)
    return {spec: (str(out / f"{i}{spec[3]}"), np.load(out / f"{i}.npy"), images[spec[2]])
            for i, spec in enumerate(SPECS)}


def our_logits(model, images):
    return np.asarray(model(images - np.float32(PREPROCESSED_MEAN), training=False))


compare = logit_checks.compare


# Through the run directory (config.yaml + ckpt-0 read back as every mode reads a run).
@pytest.mark.parametrize("spec", THROUGH_RUN, ids=lambda spec: spec[0])
def test_run_directory_gives_source_logits(tmp_path, sources, spec):
    path, theirs, images = sources[spec]
    run_dir = str(tmp_path / "run")
    import_weights.import_weights(path, spec[0], run_dir)
    run = RunDir.open(run_dir)
    assert run.config["input_standardization"] == "imagenet"
    assert run.latest_checkpoint().endswith("ckpt-0")
    model, _ = run.load_model("auto")
    compare(spec[0], our_logits(model, images), theirs, spec[2])


@pytest.mark.parametrize("spec", IN_MEMORY, ids=lambda spec: f"{spec[0]}@{spec[2]}")
def test_in_memory_conversion_gives_source_logits(sources, spec):
    import keras

    from core.settings import defaults
    from nets.convert.state_dict import read_state_dict
    from nets.factory import build_from_config
    path, theirs, images = sources[spec]
    arch = spec[0]
    settings = torch_resnet.settings_of(arch)
    model = build_from_config({**defaults(), **settings}, spec[1])
    torch_resnet.assign(model, torch_resnet.keras_weights(read_state_dict(path), settings,
                                                          arch), arch)
    compare(arch, our_logits(model, images), theirs, spec[2])
    keras.backend.clear_session()


@pytest.mark.parametrize("change,message", [
    (lambda s: s.update({"layer9.weight": s["fc.bias"]}), "unknown tensor 'layer9.weight'"),
    (lambda s: s.pop("layer2.0.bn1.running_var"),
     "tensor 'layer2.0.bn1.running_var' is missing"),
    (lambda s: s.update({"layer1.0.conv1.weight": s["layer1.0.conv1.weight"][:, :, :2]}),
     "tensor 'layer1.0.conv1.weight' has shape"),
])
def test_mismatch_is_one_error_line(tmp_path, capsys, sources, change, message):
    from safetensors.numpy import load_file, save_file
    state = load_file(sources[DIGITS[0]][0])
    change(state)
    path = str(tmp_path / "bad.safetensors")
    save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, path)
    code = import_weights.main([f"--source={path}", "--arch=timm:resnet18",
                                f"--model_dir={tmp_path / 'run'}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err and message in err, err
    assert not os.path.exists(tmp_path / "run" / "config.yaml")


def test_existing_run_is_refused(tmp_path, capsys, sources):
    path = sources[DIGITS[0]][0]
    run_dir = str(tmp_path / "run")
    import_weights.import_weights(path, "timm:resnet18", run_dir)
    code = import_weights.main([f"--source={path}",
                                "--arch=timm:resnet18", f"--model_dir={run_dir}"])
    assert code == 2 and "already holds a run" in capsys.readouterr().err


def test_eval_only_and_finetune_read_the_imported_run(tmp_path, sources):
    """A 10-class timm resnet18 on the embedded digits at 32 px: --eval_only on the run,
    one fine-tuning step from it (--pretrained_model_checkpoint_path=RUN), and the run as a
    `run:` teacher."""
    from core import config
    from engine import trainer
    run_dir = str(tmp_path / "run")
    import_weights.import_weights(sources[DIGITS[0]][0], "timm:resnet18", run_dir,
                                  dataset_name="digits", preprocessing_type="small_32")
    result = trainer.run(config.make_config(model_dir=run_dir, eval_only=True,
                                            val_batch_size=128))
    assert result["count"] == 360
    # fine-tuning needs no architecture flag: the new run builds the imported network
    ft = config.make_config(model_dir=str(tmp_path / "ft"), preprocessing_type="small_32",
                            pretrained_model_checkpoint_path=run_dir, max_train_steps=1,
                            batch_size=16, val_batch_size=128, steps_per_loop=1,
                            lr_warmup_epochs=0.0, train_epochs=1)
    assert all(ft[k] == v for k, v in torch_resnet.settings_of("timm:resnet18").items()
               if k != "head")
    assert trainer.run(ft)["count"] == 360
    # a run: teacher gives the source's logits
    from kd.teachers import load_teacher
    _, theirs, images = sources[DIGITS[0]]
    teacher = load_teacher(f"run:{run_dir}")
    compare("run: teacher of timm:resnet18", np.asarray(teacher.logits(
        images - np.float32(PREPROCESSED_MEAN))), theirs, DIGITS[0][2])

"""Presets load and validate; shell scripts parse and fail clearly without data; nets/
stays Keras-only."""

import ast
import glob
import os
import subprocess

import pytest
from conftest import ROOT

from core import config

PRESETS = sorted(glob.glob(os.path.join(ROOT, "configs", "*.yaml")))
SCRIPTS = sorted(glob.glob(os.path.join(ROOT, "scripts", "*.sh")))


def test_there_are_presets_and_scripts():
    assert len(PRESETS) >= 3 and len(SCRIPTS) >= 2


@pytest.mark.parametrize("preset", PRESETS, ids=os.path.basename)
def test_preset_has_a_header_and_resolves(preset):
    header = "".join(line for line in open(preset) if line.startswith("#"))
    for word in ("Command:", "Hardware:", "Expected:"):
        assert word in header, f"{preset} header lacks {word}"
    assert config.make_config([preset])["config"] == [preset]


@pytest.mark.parametrize("script", SCRIPTS, ids=os.path.basename)
def test_script_is_valid_bash_and_executable(script):
    assert os.access(script, os.X_OK)
    subprocess.run(["bash", "-n", script], check=True)


def test_training_script_fails_clearly_without_data(tmp_path):
    env = dict(os.environ, DATA_DIR=str(tmp_path / "no_imagenet"),
               MODEL_DIR=str(tmp_path / "run"), NUM_GPUS="0", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "train_vanila_from_scratch.sh")],
                          capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 2
    assert f"data_dir {tmp_path}/no_imagenet does not exist" in proc.stderr


def test_nets_never_import_tensorflow():
    for path in glob.glob(os.path.join(ROOT, "nets", "**", "*.py"), recursive=True):
        tree = ast.parse(open(path).read())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] == "tensorflow" for n in names), path

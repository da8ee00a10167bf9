"""--export_format: one tiny trained run (ResNet-18 width 4, 16 px digits, 3 steps) exported
as savedmodel, keras, litert and onnx (those whose library is installed), each reloaded and
compared with the Keras model; a missing library is one error line before any work."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from core import config
from core.errors import ConfigError
from engine import export_formats, trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(resnet_size=18, base_width=4, batch_size=32, val_batch_size=128,
            steps_per_loop=4, lr_warmup_epochs=0.0, train_epochs=1, max_train_steps=3,
            preprocessing_type="small_16")
AVAILABLE = ["savedmodel"] + [f for f in ("keras", "litert", "onnx")
                              if export_formats.missing_library(f) is None]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("formats")
    export_dir = str(base / "export")
    cfg = config.make_config(model_dir=str(base / "run"), export_dir=export_dir,
                             export_format=",".join(AVAILABLE), **TINY)
    run = trainer.Run(cfg)
    result = run.train()
    records = list(run.source.eval_records().take(8))
    images = tf.stack([run.prep.eval(r["encoded"]) for r in records]).numpy()
    return {"dir": export_dir, "check": result["export"], "run": run, "images": images,
            "want": run.model(images, training=False).numpy()}


@pytest.mark.parametrize("fmt", ["savedmodel", "keras", "litert", "onnx"])
def test_format_reloads_and_agrees(exported, fmt):
    if fmt not in AVAILABLE:
        pytest.skip(export_formats.missing_library(fmt))
    export_dir, run = exported["dir"], exported["run"]
    check = exported["check"]["formats"][fmt]
    assert check["num_images"] == 360 and check["match"]
    assert check["prediction_agreement"] >= 0.99 and check["max_prob_diff"] < 1e-3
    names = run.class_names or [f"class_{i}" for i in range(run.num_classes)]
    with open(os.path.join(export_dir, "labels.txt")) as f:
        assert f.read().splitlines() == names
    images, want = exported["images"], exported["want"]
    if fmt == "savedmodel":
        loaded = tf.saved_model.load(export_dir).signatures["preprocessed"]
        got = loaded(images=tf.constant(images))["logits"].numpy()
        with open(os.path.join(export_dir, "model_performance.json")) as f:
            assert json.load(f)["max_prob_diff"] == check["max_prob_diff"]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        return
    path = os.path.join(export_dir, export_formats.FILES[fmt])
    predict = export_formats.LOADERS[fmt](path)
    np.testing.assert_allclose(predict(images), want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(predict(images[:3]), want[:3], rtol=1e-4, atol=1e-4)
    if fmt == "onnx":
        assert predict.class_names == names
    with open(os.path.join(export_dir, f"model_performance_{fmt}.json")) as f:
        assert json.load(f) == check
    with open(os.path.join(export_dir, export_formats.INFO_FILE)) as f:
        info = json.load(f)
    assert info["formats"][fmt]["check"] == check
    assert info["preprocessing_description"]["preprocessing_type"] == run.prep.name
    assert info["num_classes"] == run.num_classes


def test_missing_library_is_a_config_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    with pytest.raises(ConfigError, match=r"--export_format=onnx needs tf2onnx: pip install"):
        config.make_config(model_dir=str(tmp_path / "run"), export_dir=str(tmp_path / "e"),
                           export_format="savedmodel,onnx")
    with pytest.raises(ConfigError, match="needs --export_dir"):
        config.make_config(model_dir=str(tmp_path / "run"), export_format="keras")
    with pytest.raises(ConfigError, match="export_format"):
        config.make_config(model_dir=str(tmp_path / "run"), export_dir=str(tmp_path / "e"),
                           export_format="tflite")


def test_missing_library_is_one_error_line_before_any_work(tmp_path):
    """The CLI with ai_edge_litert made unimportable: one error line, exit 2, nothing
    written."""
    model_dir = tmp_path / "run"
    code = ("import runpy, sys; sys.modules['ai_edge_litert'] = None; "
            "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")
    proc = subprocess.run(
        [sys.executable, "-c", code, os.path.join(ROOT, "main_classification.py"),
         f"--model_dir={model_dir}", f"--export_dir={tmp_path / 'e'}",
         "--export_format=keras,litert", "--resnet_size=18", "--base_width=4"],
        capture_output=True, text=True, timeout=240, cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert lines[0] == ("error: --export_format=litert needs ai-edge-litert: pip install "
                        "ai-edge-litert (pinned in requirements-export.txt; the package's "
                        "[interop] extra)")
    assert not model_dir.exists() and not (tmp_path / "e").exists()


def test_bench_export_runs_at_toy_size(tmp_path):
    from bench import bench_export
    formats = [f for f in ("keras", "savedmodel", "litert") if f in AVAILABLE]
    report = bench_export.main(["--resnet_size", "18", "--base_width", "4", "--image_size",
                                "16", "--batch_sizes", "1,2", "--images", "2", "--repeats",
                                "1", "--formats", ",".join(formats),
                                "--json_out", str(tmp_path / "b.json")])
    assert [(r["format"], r["batch_size"]) for r in report["results"]] == [
        (f, b) for b in (1, 2) for f in formats]
    assert all(r["img_s"] > 0 and r["max_abs_logit_diff"] < 1e-3 for r in report["results"])
    assert json.loads((tmp_path / "b.json").read_text())["date"]


def test_formats_to_a_url_export_dir(exported):
    """An export_dir URL (ram:// here, gs:// in use): every artifact, labels.txt and the
    checks land at the URL, nothing in the working directory; the check reads them back."""
    import uuid
    fmts = [f for f in AVAILABLE if f != "savedmodel"]
    if not fmts:
        pytest.skip("no keras/litert/onnx library installed")
    run, url = exported["run"], f"ram://{uuid.uuid4().hex}/export"
    names = [f"c{i}" for i in range(run.num_classes)]
    before = set(os.listdir("."))
    paths = export_formats.export_formats(run.model, fmts, url, run.prep, names)
    assert paths == {f: f"{url}/{export_formats.FILES[f]}" for f in fmts}
    checks = export_formats.verify_formats(paths, run.model, run.source.eval_records().take(40),
                                           run.prep.eval, 16)
    assert set(os.listdir(".")) == before
    for fmt in fmts:
        assert checks[fmt]["num_images"] == 40 and checks[fmt]["match"], checks[fmt]
        assert tf.io.gfile.exists(paths[fmt])
        with tf.io.gfile.GFile(f"{url}/model_performance_{fmt}.json") as f:
            assert json.load(f) == checks[fmt]
    with tf.io.gfile.GFile(f"{url}/labels.txt") as f:
        assert f.read().splitlines() == names
    with tf.io.gfile.GFile(f"{url}/{export_formats.INFO_FILE}") as f:
        assert set(json.load(f)["formats"]) == set(fmts)

"""engine/predict.py and the export's labels / class_names: a tiny run directory built here
(no trainer), predictions from the run and from its export, the CLI's output and errors."""

import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from core.rundir import RunDir
from core.settings import defaults
from engine import predict
from engine.export import export_saved_model
from nets.factory import build_from_config
from preprocessing import get_preprocessing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = ["cat", "dog", "fox"]
PREP = "small_32"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A run directory with one checkpoint (random weights, BN statistics made non-trivial),
    its export, and a folder of 40x40 images (PNG and JPEG, one in a subfolder)."""
    base = tmp_path_factory.mktemp("predict")
    run_dir = str(base / "run")
    os.makedirs(run_dir)
    cfg = defaults("small_images")
    cfg.update(resnet_size=18, base_width=4)
    tf.keras.utils.set_random_seed(3)
    model = build_from_config(cfg, 3)
    images = base / "images"
    (images / "sub").mkdir(parents=True)
    rng = np.random.default_rng(1)
    paths = []
    for i in range(5):
        pixels = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
        ext = "png" if i % 2 == 0 else "jpg"
        where = images / "sub" if i == 4 else images
        path = where / f"img{i}.{ext}"
        Image.fromarray(pixels).save(path)
        paths.append(str(path))
    (images / "notes.txt").write_text("not an image")  # not picked up by the walk

    # A head scaled to the untrained features of these images, so that the probabilities
    # are far from 0/1 and the top-1 class differs across images.
    prep = get_preprocessing(PREP)
    head = model.get_layer("classifier")
    features = tf.keras.Model(model.inputs, head.input)(
        tf.stack([prep.eval(tf.io.read_file(p)) for p in paths])).numpy()
    w, b = head.get_weights()
    w = (np.random.default_rng(0).normal(0, 1.0, w.shape)
         / (features.std(0).mean() * np.sqrt(w.shape[0]))).astype(w.dtype)
    head.set_weights([w, (-features.mean(0) @ w).astype(b.dtype)])
    RunDir.create(run_dir, settings=cfg, facts={"resolved_num_classes": 3,
                                                "resolved_preprocessing_type": PREP},
                  class_names=NAMES)
    tf.train.CheckpointManager(tf.train.Checkpoint(model=model), run_dir, max_to_keep=5,
                               checkpoint_name="ckpt").save(checkpoint_number=1)

    export_dir = str(base / "export")
    export_saved_model(model, prep.eval, prep.eval_size, export_dir, class_names=NAMES,
                       info={"source_run": run_dir,
                             "checkpoint": os.path.join(run_dir, "ckpt-1")})
    return {"base": base, "run": run_dir, "model": model, "images": str(images),
            "paths": sorted(paths), "export": export_dir, "prep": prep}


def keras_probabilities(ws, paths):
    images = tf.stack([ws["prep"].eval(tf.io.read_file(p)) for p in paths])
    return tf.nn.softmax(ws["model"](images, training=False)).numpy()


def test_collect_images_walks_folders_sorted(workspace):
    files = predict.collect_images([workspace["images"]])
    assert files == workspace["paths"]  # notes.txt is left out, sub/ is walked
    # a file given twice (by name and inside its folder) is predicted once
    assert predict.collect_images([workspace["paths"][0], workspace["images"]])[0] == \
        workspace["paths"][0]
    assert len(predict.collect_images([workspace["paths"][0], workspace["images"]])) == 5


def test_predictions_from_run_match_the_keras_model(workspace):
    result = predict.predict_files([workspace["images"]], model_dir=workspace["run"],
                                   top_k=3, batch_size=2)
    assert [p["path"] for p in result] == workspace["paths"] and result.skipped == []
    want = keras_probabilities(workspace, workspace["paths"])
    assert want.max() < 0.99 and len(set(want.argmax(-1))) > 1  # a non-trivial check
    for p, row in zip(result, want):
        assert p["top_k"][0]["index"] == int(row.argmax())
        assert p["top_k"][0]["class"] == NAMES[int(row.argmax())]  # names from labels.txt
        probs = [e["probability"] for e in p["top_k"]]
        assert probs == sorted(probs, reverse=True)
        assert sum(probs) == pytest.approx(1.0, abs=1e-5)
        for e in p["top_k"]:
            assert e["probability"] == pytest.approx(float(row[e["index"]]), abs=1e-5)
            assert e["class"] == NAMES[e["index"]]
    # default top_k is min(5, class count); "latest" names the same single checkpoint
    default = predict.predict_files(workspace["paths"][:1], model_dir=workspace["run"],
                                    checkpoint="latest")
    assert len(default[0]["top_k"]) == 3


def test_export_writes_labels_and_info_and_predicts_the_same(workspace):
    export_dir = workspace["export"]
    with open(os.path.join(export_dir, "labels.txt")) as f:
        assert f.read().splitlines() == NAMES
    with open(os.path.join(export_dir, "export_info.json")) as f:
        info = json.load(f)
    assert info == {"preprocessing_type": PREP, "image_size": 32, "num_classes": 3,
                    "source_run": workspace["run"],
                    "checkpoint": os.path.join(workspace["run"], "ckpt-1")}
    serving = tf.saved_model.load(export_dir).signatures["serving_default"]
    encoded = tf.stack([tf.io.read_file(p) for p in workspace["paths"]])
    out = serving(images=encoded)
    assert set(out) == {"probabilities", "classes", "class_names"}
    assert [n.decode() for n in out["class_names"].numpy()] == \
        [NAMES[c] for c in out["classes"].numpy()]

    from_run = predict.predict_files([workspace["images"]], model_dir=workspace["run"],
                                     top_k=2)
    from_export = predict.predict_files([workspace["images"]], export_dir=export_dir,
                                        top_k=2)
    assert [p["path"] for p in from_export] == [p["path"] for p in from_run]
    for a, b in zip(from_run, from_export):
        assert [e["class"] for e in a["top_k"]] == [e["class"] for e in b["top_k"]]
        np.testing.assert_allclose([e["probability"] for e in b["top_k"]],
                                   [e["probability"] for e in a["top_k"]], atol=1e-5)


def test_export_without_class_names_uses_class_index(workspace, tmp_path):
    prep = workspace["prep"]
    export_dir = str(tmp_path / "plain")
    export_saved_model(workspace["model"], prep.eval, prep.eval_size, export_dir)
    with open(os.path.join(export_dir, "labels.txt")) as f:
        assert f.read().splitlines() == ["class_0", "class_1", "class_2"]
    with open(os.path.join(export_dir, "export_info.json")) as f:
        info = json.load(f)
    assert info["preprocessing_type"] == PREP and info["source_run"] is None
    os.remove(os.path.join(export_dir, "labels.txt"))  # names from the signature's output
    result = predict.predict_files(workspace["paths"][:2], export_dir=export_dir, top_k=1)
    assert all(p["top_k"][0]["class"] == f"class_{p['top_k'][0]['index']}" for p in result)
    with pytest.raises(ValueError, match="2 class names"):
        export_saved_model(workspace["model"], prep.eval, prep.eval_size,
                           str(tmp_path / "bad"), class_names=["a", "b"])


def test_undecodable_images_are_skipped_and_counted(workspace, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    result = predict.predict_files([workspace["paths"][0], str(bad)],
                                   model_dir=workspace["run"], top_k=1)
    assert [p["path"] for p in result] == [workspace["paths"][0]]
    assert result.skipped == [str(bad)]
    with pytest.raises(predict.PredictError, match="broken.jpg: cannot be decoded"):
        predict.predict_files([str(bad)], model_dir=workspace["run"])


@pytest.mark.parametrize("kwargs, match", [
    ({"top_k": 4}, r"--top_k=4: must be between 1 and .* \(3\)"),
    ({"checkpoint": "best"}, "no best checkpoint"),
    ({"checkpoint": "ckpt-9"}, "checkpoint not found"),
])
def test_bad_library_input(workspace, kwargs, match):
    from core.errors import UserError
    with pytest.raises(UserError, match=match):
        predict.predict_files([workspace["images"]], model_dir=workspace["run"], **kwargs)


def test_output_formats(workspace, tmp_path):
    result = predict.predict_files(workspace["paths"][:2], model_dir=workspace["run"],
                                   top_k=2)
    predict.write_output(result, str(tmp_path / "p.csv"))
    rows = list(csv.reader(io.StringIO((tmp_path / "p.csv").read_text())))
    assert rows[0] == ["path", "top1_class", "top1_index", "top1_probability",
                       "top2_class", "top2_index", "top2_probability"]
    assert rows[1][0] == workspace["paths"][0] and rows[1][1] in NAMES
    assert float(rows[1][3]) == result[0]["top_k"][0]["probability"]


def _cli(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-m", "engine.predict", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_prints_lines_and_writes_jsonl(workspace, tmp_path):
    out = str(tmp_path / "preds.jsonl")
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"garbage")
    proc = _cli(f"--model_dir={workspace['run']}", "--top_k=2", f"--output={out}",
                workspace["images"], str(bad))
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == 5
    first = lines[0].split("\t")
    assert first[0] == workspace["paths"][0] and len(first) == 3
    name, prob = first[1].split(" ")
    assert name in NAMES and 0 < float(prob) <= 1
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert warnings == [f"warning: skipped 1 undecodable image(s): first {bad}"]
    with open(out) as f:
        records = [json.loads(line) for line in f]
    assert [r["path"] for r in records] == workspace["paths"]
    assert set(records[0]["top_k"][0]) == {"class", "index", "probability"}
    assert records[0]["top_k"][0]["class"] == name


def test_cli_bad_inputs_one_error_line(workspace, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "never.jsonl"
    cases = [
        ([f"--model_dir={workspace['run']}", str(tmp_path / "missing.png")],
         "no such file or folder"),
        ([f"--model_dir={workspace['run']}", str(empty)], "no images"),
        ([f"--model_dir={workspace['run']}", "--top_k=0", workspace["images"]], "--top_k=0"),
        ([workspace["images"]], "exactly one of --model_dir"),
        ([f"--model_dir={workspace['run']}", f"--export_dir={workspace['export']}",
          workspace["images"]], "exactly one of --model_dir"),
    ]
    for args, match in cases:  # these fail before TensorFlow is imported: fast
        proc = _cli(*args, f"--output={out}")
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
        assert proc.returncode == 2, (args, proc.stderr[-2000:])
        assert len(errors) == 1 and match in errors[0], (args, proc.stderr[-2000:])
        assert proc.stdout == ""
    assert not out.exists()
    # a bad --top_k for the run's class count fails after reading config.yaml only
    proc = _cli(f"--model_dir={workspace['run']}", "--top_k=7", workspace["images"])
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert proc.returncode == 2 and len(errors) == 1 and "--top_k=7" in errors[0]


def test_verify_export_still_agrees(workspace):
    """The trainer's reload-and-compare check on an export with the class_names output (the
    trainer's own end-to-end export test needs a training run)."""
    from engine.export import verify_export
    encoded = [tf.io.read_file(p) for p in workspace["paths"]]
    records = tf.data.Dataset.from_tensor_slices(
        {"encoded": tf.stack(encoded), "label": tf.constant([0, 1, 2, 0, 1], tf.int64)})
    check = verify_export(workspace["export"], workspace["model"], records,
                          workspace["prep"].eval, batch_size=2)
    assert check["num_images"] == 5 and check["prediction_agreement"] == 1.0
    assert check["match"] is True
    loaded = tf.saved_model.load(workspace["export"])
    assert set(loaded.signatures) == {"serving_default", "preprocessed"}

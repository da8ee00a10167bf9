"""Bad input: one readable `error:` line, a non-zero exit, nothing trained on silently."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT
from PIL import Image

from core import config
from core.errors import RunDirError
from datasets.errors import DataError
from engine import trainer

TINY = ["--resnet_size=18", "--base_width=4", "--batch_size=8", "--val_batch_size=8",
        "--train_epochs=1", "--lr_warmup_epochs=0", "--steps_per_loop=2"]


def main(*args, timeout=240):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, os.path.join(ROOT, "main_classification.py"),
                           *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env=env)


def error_line(proc):
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, proc.stderr[-2000:]
    return lines[0]


def jpeg_bytes(seed, size=24):
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def write_tfrecords(folder, split, items, num_classes=None, label_range=None):
    """items: list of (bytes, label). Writes one shard in the builder's schema."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{split}-00000-of-00001")
    with tf.io.TFRecordWriter(path) as w:
        for i, (data, label) in enumerate(items):
            feature = {
                "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[data])),
                "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
                "image/filename": tf.train.Feature(bytes_list=tf.train.BytesList(
                    value=[f"img{i}.jpg".encode()])),
                "image/format": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"jpeg"])),
                "image/height": tf.train.Feature(int64_list=tf.train.Int64List(value=[24])),
                "image/width": tf.train.Feature(int64_list=tf.train.Int64List(value=[24])),
            }
            w.write(tf.train.Example(features=tf.train.Features(feature=feature))
                    .SerializeToString())
    if num_classes:
        with open(os.path.join(folder, "labels.txt"), "w") as f:
            f.write("".join(f"c{i}\n" for i in range(num_classes)))
    return path


def tfrecord_dataset(tmp_path, bad_label=None, corrupt=0, info_range=None):
    folder = str(tmp_path / "tfr")
    train = [(jpeg_bytes(i), i % 3) for i in range(24)]
    for k in range(corrupt):
        train[5 + k] = (b"\xff\xd8 this is not a jpeg " + bytes(40), 1)
    if bad_label is not None:
        train[3] = (train[3][0], bad_label)
    write_tfrecords(folder, "train", train, num_classes=3)
    write_tfrecords(folder, "validation", [(jpeg_bytes(100 + i), i % 3) for i in range(8)])
    if info_range is not None:
        lo, hi = info_range
        with open(os.path.join(folder, "dataset_info.json"), "w") as f:
            json.dump({"num_classes": 3, "class_names": ["c0", "c1", "c2"], "skipped": 0,
                       "splits": {"train": {"num_examples": 24, "num_shards": 1,
                                            "label_min": lo, "label_max": hi},
                                  "validation": {"num_examples": 8, "num_shards": 1,
                                                 "label_min": 0, "label_max": 2}}}, f)
    return folder


# ----------------------------------------------------------------------------- flags
def test_unknown_flag_exits_2_with_one_line():
    proc = main("--no_such_flag=1")
    assert proc.returncode == 2
    assert "no_such_flag" in error_line(proc)


def test_bad_enum_value_exits_2():
    proc = main("--dtype=fp64")
    assert proc.returncode == 2
    assert "dtype" in error_line(proc)


def test_inconsistent_flags_exit_2(tmp_path):
    proc = main("--eval_only", "--clean", f"--model_dir={tmp_path}")
    assert proc.returncode == 2
    assert "would delete" in error_line(proc)


# ----------------------------------------------------------------------------- data
def test_missing_data_dir_names_the_path(tmp_path):
    proc = main("--dataset_name=cifar10", f"--data_dir={tmp_path}/absent",
                f"--model_dir={tmp_path}/run", *TINY)
    assert proc.returncode == 2
    assert f"{tmp_path}/absent" in error_line(proc)


def test_empty_data_dir_names_the_pattern(tmp_path):
    (tmp_path / "empty").mkdir()
    cfg = config.make_config(dataset_name="imagenet", data_dir=str(tmp_path / "empty"),
                             model_dir=str(tmp_path / "run"))
    with pytest.raises(DataError, match="train-\\*"):
        trainer.run(cfg)


def test_labels_out_of_range_from_dataset_info_fail_before_training(tmp_path):
    folder = tfrecord_dataset(tmp_path, info_range=(0, 12))
    cfg = config.make_config(dataset_name=folder, model_dir=str(tmp_path / "run"),
                             preprocessing_type="small_32", **_tiny_kw())
    with pytest.raises(DataError, match="12"):
        trainer.Run(cfg)
    assert not tf.io.gfile.glob(str(tmp_path / "run" / "ckpt-*"))


def test_labels_out_of_range_in_records_fail_with_one_line(tmp_path):
    folder = tfrecord_dataset(tmp_path, bad_label=7)
    proc = main(f"--dataset_name={folder}", f"--model_dir={tmp_path}/run",
                "--preprocessing_type=small_16", *TINY)
    assert proc.returncode == 2
    line = error_line(proc)
    assert "label out of range [0, 3)" in line and "7" in line
    assert not tf.io.gfile.glob(f"{tmp_path}/run/ckpt-*")


def test_corrupt_jpeg_in_tfrecord_is_skipped_and_counted(tmp_path, capsys):
    # In-process (the CLI's exit codes are checked by the --strict test below).
    folder = tfrecord_dataset(tmp_path, corrupt=1)
    trainer.run(config.make_config(dataset_name=folder, model_dir=str(tmp_path / "run"),
                                   preprocessing_type="small_16", **_tiny_kw()))
    assert "skipped 1 undecodable image" in capsys.readouterr().out
    with open(tmp_path / "run" / "metrics.jsonl") as f:
        train = [json.loads(line) for line in f if '"train"' in line][0]
    assert train["skipped_images"] == 1


def test_corrupt_jpeg_with_strict_is_an_error(tmp_path):
    folder = tfrecord_dataset(tmp_path, corrupt=1)
    proc = main(f"--dataset_name={folder}", f"--model_dir={tmp_path}/run",
                "--preprocessing_type=small_16", "--strict", *TINY)
    assert proc.returncode == 2
    assert "undecodable image" in error_line(proc)


# ----------------------------------------------------------------------------- run dirs
def test_unwritable_model_dir_fails_before_any_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cfg = config.make_config(model_dir=str(blocker / "run"), **_tiny_kw())
    with pytest.raises(RunDirError, match="not writable"):
        trainer.Run(cfg)


def test_unwritable_model_dir_cli(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = main(f"--model_dir={blocker}/run", *TINY)
    assert proc.returncode == 2
    assert "not writable" in error_line(proc)


def test_eval_only_without_checkpoint(tmp_path):
    (tmp_path / "run").mkdir()
    cfg = config.make_config(model_dir=str(tmp_path / "run"), eval_only=True, **_tiny_kw())
    with pytest.raises(RunDirError, match="is not a run directory \\(no config.yaml\\)"):
        trainer.run(cfg)
    # A run directory whose config.yaml exists but that holds no checkpoint yet.
    from core.rundir import RunDir
    RunDir.create(str(tmp_path / "run"), config.settings_of(cfg),
                  {"resolved_num_classes": 10, "resolved_preprocessing_type": "small_32"}, None)
    cfg = config.make_config(model_dir=str(tmp_path / "run"), eval_only=True)
    with pytest.raises(RunDirError, match="--eval_only: no latest checkpoint in"):
        trainer.run(cfg)


def test_missing_pretrained_checkpoint_cli(tmp_path):
    proc = main(f"--pretrained_model_checkpoint_path={tmp_path}/nope",
                f"--model_dir={tmp_path}/run", *TINY)
    assert proc.returncode == 2
    assert "nope is neither a run directory nor a checkpoint prefix" in error_line(proc)


def _tiny_kw():
    return dict(resnet_size=18, base_width=4, batch_size=8, val_batch_size=8,
                train_epochs=1, lr_warmup_epochs=0.0, steps_per_loop=2)


def test_clean_with_bad_data_keeps_the_previous_run(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "ckpt-7.index").write_text("previous run")
    cfg = config.make_config(model_dir=str(run_dir), clean=True,
                             dataset_name=str(tmp_path / "absent"), **_tiny_kw())
    with pytest.raises(DataError, match="does not exist"):
        trainer.Run(cfg)
    assert (run_dir / "ckpt-7.index").read_text() == "previous run"

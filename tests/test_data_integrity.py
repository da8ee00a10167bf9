"""Damaged TFRecord shards: data loss is counted, named and refused (datasets/integrity.py).

A tiny built set (32 px JPEGs, 2 train + 2 validation shards of 12 / 4 records) is copied
per test and damaged: bytes flipped inside a record (same size: only the record's checksum
knows) or the file cut (size differs from dataset_info.json's per-shard record)."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT
from PIL import Image

from core import config
from datasets import integrity
from datasets.build_tfrecords import build_from_items
from datasets.errors import DataError
from datasets.source import resolve_source
from engine import inputs, trainer

TINY = dict(resnet_size=18, base_width=4, batch_size=8, val_batch_size=8, train_epochs=1,
            lr_warmup_epochs=0.0, steps_per_loop=2, preprocessing_type="small_32")
TRAIN0, TRAIN1 = "train-00000-of-00002", "train-00001-of-00002"
VAL1 = "validation-00001-of-00002"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    images = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    items = {"train": [], "validation": []}
    for split, n in (("train", 24), ("validation", 8)):
        for i in range(n):
            path = str(images / f"{split}_{i}.jpg")
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
            items[split].append((path, i % 3))
    out = str(tmp_path_factory.mktemp("built") / "tfr")
    build_from_items(items, ["c0", "c1", "c2"], out, root=str(images), train_shards=2,
                     validation_shards=2, num_workers=1)
    return out


@pytest.fixture
def data(built, tmp_path):
    folder = str(tmp_path / "data")
    shutil.copytree(built, folder)
    return folder


def flip(path, fraction=0.6, count=16):
    """Flips `count` bytes from `fraction` of the file on (inside a record: same size)."""
    with open(path, "r+b") as f:
        raw = bytearray(f.read())
        start = int(len(raw) * fraction)
        for i in range(start, start + count):
            raw[i] ^= 0xFF
        f.seek(0)
        f.write(raw)


def truncate(path, fraction=0.6):
    with open(path, "r+b") as f:
        f.truncate(int(os.path.getsize(path) * fraction))


def readable(path):
    """What the training reader gets from `path` with --skip_corrupt_records."""
    return sum(1 for _ in tf.data.TFRecordDataset(path).ignore_errors())


def drop_shard_info(folder):
    """The original's dataset_info.json: per-split sizes, no per-shard records."""
    path = os.path.join(folder, "dataset_info.json")
    with open(path) as f:
        info = json.load(f)
    for split in info["splits"].values():
        split.pop("shards")
    with open(path, "w") as f:
        json.dump(info, f)


def make_cfg(folder, tmp_path, **kw):
    return config.make_config(dataset_name=folder, model_dir=str(tmp_path / "run"),
                              **{**TINY, **kw})


# ----------------------------------------------------------------------------- units
def test_builder_records_each_shard(built):
    with open(os.path.join(built, "dataset_info.json")) as f:
        splits = json.load(f)["splits"]
    for split, n in (("train", 24), ("validation", 8)):
        shards = splits[split]["shards"]
        assert sorted(shards) == sorted(n for n in os.listdir(built) if n.startswith(split))
        assert sum(s["num_examples"] for s in shards.values()) == n
        for name, entry in shards.items():
            assert entry["bytes"] == os.path.getsize(os.path.join(built, name))


@pytest.mark.parametrize("damage", [flip, truncate])
def test_reader_ignore_errors_ends_at_the_damage_and_the_scan_agrees(data, damage):
    path = os.path.join(data, TRAIN0)
    damage(path)
    n = readable(path)  # ends (no retry loop) and drops the rest of the file
    assert 0 < n < 12
    other = os.path.join(data, TRAIN1)
    assert sum(1 for _ in tf.data.TFRecordDataset([path, other]).ignore_errors()) == n + 12
    report = integrity.scan_shard(path, "train", integrity.Recorded(12, None, "x"))
    assert report.damaged and report.readable == n and report.lost == 12 - n
    assert not integrity.scan_shard(other, "train", integrity.Recorded(12, None, "x")).damaged


def _decoded(records, strict=False):
    def decode(index, record):
        return {"image": tf.io.decode_jpeg(record), "index": index}
    ds = inputs._decode(records.enumerate(), decode, strict)
    return [(int(e["skipped"]), e["image"].shape) for e in ds]


def test_decode_skips_bad_images_but_not_read_errors(data):
    good = [r.numpy() for r in tf.data.TFRecordDataset(os.path.join(data, TRAIN0))]
    jpegs = [tf.io.parse_single_example(r, {"image/encoded": tf.io.FixedLenFeature(
        [], tf.string)})["image/encoded"].numpy() for r in good]
    jpegs[3] = b"not a jpeg"
    out = _decoded(tf.data.Dataset.from_tensor_slices(jpegs * 4))  # 48: windows of 32 + 16
    assert len(out) == 44 and [s for s, _ in out].count(1) == 4 and sum(s for s, _ in out) == 4
    with pytest.raises(tf.errors.InvalidArgumentError):
        _decoded(tf.data.Dataset.from_tensor_slices(jpegs), strict=True)
    flip(os.path.join(data, TRAIN0))
    raw = tf.data.TFRecordDataset(os.path.join(data, TRAIN0)).map(
        lambda r: tf.io.parse_single_example(r, {"image/encoded": tf.io.FixedLenFeature(
            [], tf.string)})["image/encoded"])
    with pytest.raises(tf.errors.DataLossError, match="corrupted record"):
        _decoded(raw)


# ----------------------------------------------------------------------------- refused
def test_flipped_bytes_in_train_shard_exit_2_naming_the_shard(data, tmp_path):
    flip(os.path.join(data, TRAIN1))  # same size: found when the reader gets there
    n = readable(os.path.join(data, TRAIN1))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    args = [f"--{k}={v}" for k, v in TINY.items()]
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "main_classification.py"),
                           f"--dataset_name={data}", f"--model_dir={tmp_path}/run", *args],
                          capture_output=True, text=True, timeout=240, cwd=ROOT, env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert f"{TRAIN1}: {n} of 12 records readable, {12 - n} lost (corrupted record" in lines[0]
    assert TRAIN0 not in lines[0] and "--skip_corrupt_records" in lines[0]
    assert "undecodable" not in proc.stdout


def test_truncated_train_shard_refused_before_training(data, tmp_path):
    path = os.path.join(data, TRAIN0)
    size = os.path.getsize(path)
    truncate(path)
    n = readable(path)
    with pytest.raises(DataError) as e:
        trainer.Run(make_cfg(data, tmp_path))
    message = str(e.value)
    assert f"{TRAIN0}: {n} of 12 records readable, {12 - n} lost" in message
    assert f"{os.path.getsize(path)} bytes on disk, " in message and f"says {size}" in message
    assert not os.path.exists(tmp_path / "run" / "config.yaml")


def test_truncated_val_shard_refused_also_when_evaluating(data, tmp_path):
    truncate(os.path.join(data, VAL1), 0.5)
    with pytest.raises(DataError, match=f"{VAL1}: [0-3] of 4 records readable"):
        trainer.Run(make_cfg(data, tmp_path))
    shards = integrity.Shards(resolve_source(data, None), training=False)
    with pytest.raises(DataError, match=VAL1):
        shards.check()


def test_missing_shard_refused(data, tmp_path):
    # left out on purpose by the pattern (still on disk): not data loss
    subset = integrity.Shards(resolve_source(data, None, train_regex="train-00000-*"),
                              training=True)
    assert subset.check().damaged == [] and subset.source.train_size == 12
    os.remove(os.path.join(data, TRAIN1))
    with pytest.raises(DataError, match=f"{TRAIN1}: missing \\(12 records recorded"):
        trainer.Run(make_cfg(data, tmp_path))


def test_side_car_header_sizes_are_checked_too(data, tmp_path):
    from datasets import sidecar
    drop_shard_info(data)
    path = os.path.join(data, TRAIN0)
    side = str(tmp_path / "side")
    os.makedirs(side)
    sidecar.write_header(side, {"kind": "logits", "shards": {TRAIN0: {
        "records": 12, "image_bytes": os.path.getsize(path), "sidecar_bytes": 1}}})
    shards = integrity.Shards(resolve_source(data, None), training=True, sidecar_dirs=[side])
    assert shards.check().damaged == []
    truncate(path)
    with pytest.raises(DataError, match=f"{TRAIN0}: [0-9]+ of 12 records readable.* "
                                        f"{sidecar.header_path(side)} says"):
        shards.check()


def test_original_dataset_info_damage_found_at_run_time(data, tmp_path):
    drop_shard_info(data)
    path = os.path.join(data, TRAIN0)
    truncate(path, 0.55)
    n = readable(path)
    up_front = integrity.Shards(resolve_source(data, None), training=True)
    assert up_front.check().damaged == []  # nothing recorded to compare the size with
    with pytest.raises(DataError) as e:
        trainer.run(make_cfg(data, tmp_path))
    message = str(e.value)
    assert f"{TRAIN0}: {n} records readable, expected count unknown" in message
    assert "truncated record at byte" in message and TRAIN1 not in message


def test_record_that_is_no_example_is_an_error_not_an_undecodable_image(data, tmp_path):
    with tf.io.TFRecordWriter(os.path.join(data, TRAIN0)) as w:  # intact checksums
        for _ in range(12):
            w.write(tf.train.Example(features=tf.train.Features(feature={
                "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(
                    value=[1]))})).SerializeToString())
    drop_shard_info(data)
    with pytest.raises(DataError, match="is not a tf.train.Example with image/encoded .*"
                                        "image/encoded .* could not be found"):
        trainer.run(make_cfg(data, tmp_path))


def test_no_dataset_info_damage_found_by_the_record_count(data):
    os.remove(os.path.join(data, "dataset_info.json"))
    flip(os.path.join(data, VAL1))
    with pytest.raises(DataError, match=f"{VAL1}: [0-3] records readable, expected count "
                                        "unknown"):
        resolve_source(data, None)
    assert resolve_source(data, None, skip_corrupt_records=True).eval_size < 8


# ----------------------------------------------------------------------------- skipped
def test_skip_corrupt_records_counts_per_shard_and_eval_is_incomplete(data, tmp_path, capsys):
    truncate(os.path.join(data, TRAIN0))
    truncate(os.path.join(data, VAL1), 0.5)
    lost_train = 12 - readable(os.path.join(data, TRAIN0))
    lost_val = 4 - readable(os.path.join(data, VAL1))
    cfg = make_cfg(data, tmp_path, skip_corrupt_records=True)
    result = trainer.run(cfg)
    out = capsys.readouterr().out
    warnings = [line for line in out.splitlines()
                if line.startswith("WARNING --skip_corrupt_records")]
    assert len(warnings) == 3, out
    assert f"train shard {TRAIN0}: {12 - lost_train} of 12 records readable" in warnings[0]
    assert f"validation shard {VAL1}: {4 - lost_val} of 4 records" in warnings[1]
    assert (f"train: {lost_train} records lost of 24 in 1 shard(s); validation: {lost_val} "
            "records lost of 8") in warnings[2]
    assert result["count"] == 8 - lost_val and result["expected"] == 8
    assert result["complete"] is False
    assert "eval step 3 is INCOMPLETE: " in out
    with open(tmp_path / "run" / "metrics.jsonl") as f:
        evals = [json.loads(line) for line in f if '"eval"' in line]
    assert evals[-1]["complete"] is False and evals[-1]["expected"] == 8


def test_intact_data_evaluates_complete(data, tmp_path):
    run = trainer.Run(make_cfg(data, tmp_path, skip_corrupt_records=True))
    result = run.evaluate()
    assert result["count"] == result["expected"] == 8 and result["complete"] is True

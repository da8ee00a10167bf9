"""Tests for datasets/: TFRecord builder, readers (TFRecord, folder, TFDS mock, digits),
registry and source resolution. Everything is generated in tmp dirs; no network."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from datasets import DATASETS, DataError, get_dataset_info
from datasets.build_tfrecords import BadImage, build_dataset, load_image
from datasets.digits import load_digits_splits, read_digits
from datasets.folders import read_image_folder, scan_image_folder
from datasets.source import check_labels, resolve_source
from datasets.tfrecords import (
    count_records,
    list_shards,
    parse_record,
    read_dataset_info,
    read_label_file,
    read_tfrecords,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = ["cat", "dog", "fish"]
FULL_FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/class/label": tf.io.FixedLenFeature([], tf.int64),
    "image/class/text": tf.io.FixedLenFeature([], tf.string),
    "image/filename": tf.io.FixedLenFeature([], tf.string),
    "image/height": tf.io.FixedLenFeature([], tf.int64),
    "image/width": tf.io.FixedLenFeature([], tf.int64),
    "image/format": tf.io.FixedLenFeature([], tf.string),
    "image/colorspace": tf.io.FixedLenFeature([], tf.string),
    "image/channels": tf.io.FixedLenFeature([], tf.int64),
}


def _save_image(path, height, width, seed, fmt="JPEG"):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))


def make_tree(root, per_class=6, eval_dir="val", eval_per_class=2):
    """root/train/<class>/ (JPEGs, one PNG, a corrupt x.jpg, a text file) + root/<eval_dir>/.

    Returns {relative path: (label, height, width)} of the valid images, per split."""
    valid = {"train": {}, "validation": {}}
    seed = 0
    for split, n, out in (("train", per_class, "train"), (eval_dir, eval_per_class,
                                                           "validation")):
        if split is None:
            continue
        for label, name in enumerate(CLASSES):
            folder = os.path.join(root, split, name)
            os.makedirs(folder)
            for i in range(n):
                seed += 1
                height, width = 16 + (seed * 7) % 25, 16 + (seed * 11) % 25
                png = split == "train" and name == "dog" and i == 0
                fname = f"{name}_{i}.png" if png else f"{name}_{i}.jpg"
                _save_image(os.path.join(folder, fname), height, width, seed,
                            "PNG" if png else "JPEG")
                valid[out][os.path.join(split, name, fname)] = (label, height, width)
    with open(os.path.join(root, "train", "cat", "x.jpg"), "wb") as f:
        f.write(np.random.default_rng(123).bytes(300))
    with open(os.path.join(root, "train", "fish", "notes.txt"), "w") as f:
        f.write("not an image\n")
    return valid


def read_all(files):
    """Full parsed examples of `files`, in file order, as python values."""
    out = []
    for raw in tf.data.TFRecordDataset(files):
        ex = tf.io.parse_single_example(raw, FULL_FEATURES)
        out.append({k: (v.numpy().decode() if v.dtype == tf.string and k != "image/encoded"
                        else v.numpy()) for k, v in ex.items()})
    return out


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("images"))
    return root, make_tree(root)


@pytest.fixture(scope="module")
def built(tree, tmp_path_factory):
    root, valid = tree
    out = str(tmp_path_factory.mktemp("records"))
    info = build_dataset(root, out, train_shards=3, validation_shards=2, num_workers=1, seed=7)
    return out, info


# ---------------------------------------------------------------- errors / registry


def test_data_error_is_one_line_value_error():
    err = DataError("no TFRecord shard matches /d/train-*\n  more detail\n")
    assert isinstance(err, ValueError)
    assert str(err) == "no TFRecord shard matches /d/train-*; more detail"


def test_registry_entries():
    assert DATASETS["imagenet"].num_classes == 1001
    assert DATASETS["imagenet2012"].num_classes == 1000
    assert DATASETS["imagenet"].label_offset == 1 and DATASETS["imagenet2012"].label_offset == 0
    assert (DATASETS["food101"].train_size, DATASETS["food101"].eval_size) == (75_750, 25_250)
    assert DATASETS["food101"].eval_split == "validation"
    assert DATASETS["cifar10"].eval_split == "test"
    assert DATASETS["cifar10"].default_preprocessing == "small_32"
    assert DATASETS["oxford_flowers102"].train_split == "train+validation"
    assert DATASETS["cub_200_2011"].num_classes == 200
    assert DATASETS["cub_200_2011"].tfds_name == "caltech_birds2011"
    assert DATASETS["cub_200_2011_zeroshot"].num_classes == 100
    assert DATASETS["cub_200_2011_zeroshot"].tfds_name is None
    assert DATASETS["fgvc_aircraft"].tfds_name is None
    assert (DATASETS["digits"].train_size, DATASETS["digits"].eval_size) == (1437, 360)
    for name, entry in DATASETS.items():
        assert entry.name == name
    with pytest.raises(DataError, match="unknown dataset_name 'nope'.*cifar10"):
        get_dataset_info("nope")


# ---------------------------------------------------------------- builder


def test_load_image_rejects_garbage(tree):
    root, _ = tree
    with pytest.raises(BadImage):
        load_image(os.path.join(root, "train", "cat", "x.jpg"))


def test_build_round_trip(tree, built):
    root, valid = tree
    out, info = built
    names = sorted(n for n in os.listdir(out) if not n.startswith("."))
    assert [n for n in names if n.startswith("train-")] == [
        "train-00000-of-00003", "train-00001-of-00003", "train-00002-of-00003"]
    assert [n for n in names if n.startswith("validation-")] == [
        "validation-00000-of-00002", "validation-00001-of-00002"]
    assert not [n for n in os.listdir(out) if ".tmp-" in n]

    for split, pattern in (("train", "train-*"), ("validation", "validation-*")):
        records = read_all(list_shards(out, pattern))
        expected = {os.path.basename(k): v for k, v in valid[split].items()}
        got = [r["image/filename"] for r in records]
        assert sorted(got) == sorted(expected), split  # every valid image exactly once
        for r in records:
            label, height, width = expected[r["image/filename"]]
            assert r["image/class/label"] == label
            assert r["image/class/text"] == CLASSES[label]
            assert (r["image/height"], r["image/width"]) == (height, width)
            assert r["image/format"] == "jpeg"  # PNG re-encoded by default
            assert r["image/colorspace"] == "RGB" and r["image/channels"] == 3
            decoded = tf.io.decode_jpeg(r["image/encoded"], channels=3)
            assert decoded.shape == (height, width, 3)
            if r["image/filename"].endswith(".jpg"):  # JPEGs stored byte for byte
                rel = next(k for k in valid[split] if k.endswith("/" + r["image/filename"]))
                with open(os.path.join(root, rel), "rb") as f:
                    assert r["image/encoded"] == f.read()
    # the corrupt file is reported, the text file ignored
    with open(os.path.join(out, "skipped.txt")) as f:
        skipped = f.read().splitlines()
    assert len(skipped) == 1 and skipped[0].startswith(os.path.join(root, "train", "cat",
                                                                    "x.jpg") + "\t")
    assert "x.jpg" not in [r["image/filename"] for r in read_all(list_shards(out, "*-of-*"))]
    assert read_label_file(out) == CLASSES
    disk_info = read_dataset_info(out)
    assert disk_info == json.loads(json.dumps(info))
    assert disk_info["num_classes"] == 3 and disk_info["class_names"] == CLASSES
    assert disk_info["skipped"] == 1
    train_shards = disk_info["splits"]["train"].pop("shards")
    assert disk_info["splits"]["train"] == {
        "num_examples": 18, "num_shards": 3, "label_min": 0, "label_max": 2,
        "pattern": "train-*"}
    assert sorted(train_shards) == [n for n in names if n.startswith("train-")]
    for name, shard in train_shards.items():  # what datasets/integrity.py checks against
        assert shard["bytes"] == os.path.getsize(os.path.join(out, name))
        assert shard["num_examples"] == count_records([os.path.join(out, name)])
    assert disk_info["splits"]["validation"]["num_examples"] == 6
    assert disk_info["splits"]["validation"]["num_shards"] == 2
    assert count_records(list_shards(out, "train-*")) == 18


def test_build_logs_skipped_file(tree, tmp_path, caplog):
    root, _ = tree
    with caplog.at_level("WARNING", logger="datasets.build_tfrecords"):
        build_dataset(root, str(tmp_path), train_shards=1, validation_shards=1, num_workers=1)
    messages = [r.getMessage() for r in caplog.records]
    assert any("skipping" in m and "x.jpg" in m for m in messages)
    assert any("skipped 1 undecodable" in m for m in messages)


def test_keep_png_stores_png_bytes(tree, tmp_path):
    root, _ = tree
    info = build_dataset(root, str(tmp_path), train_shards=2, validation_shards=0,
                         num_workers=1, keep_png=True)
    assert "validation" not in info["splits"]
    records = read_all(list_shards(str(tmp_path), "train-*"))
    png = [r for r in records if r["image/filename"].endswith(".png")]
    assert len(png) == 1 and png[0]["image/format"] == "png"
    with open(os.path.join(root, "train", "dog", png[0]["image/filename"]), "rb") as f:
        assert png[0]["image/encoded"] == f.read()
    assert info["image_formats"] == {"jpeg": 17, "png": 1}


def test_build_resume_and_config_mismatch(tree, tmp_path):
    root, _ = tree
    out = str(tmp_path)
    build_dataset(root, out, train_shards=3, validation_shards=2, num_workers=1, seed=7)
    shards = sorted(n for n in os.listdir(out) if "-of-" in n and not n.startswith("."))
    before = {n: (os.stat(os.path.join(out, n)).st_mtime_ns,
                  open(os.path.join(out, n), "rb").read()) for n in shards}
    victim = "train-00001-of-00003"
    os.remove(os.path.join(out, victim))
    info = build_dataset(root, out, train_shards=3, validation_shards=2, num_workers=1, seed=7)
    for n in shards:
        mtime, content = before[n]
        assert open(os.path.join(out, n), "rb").read() == content, n
        if n != victim:
            assert os.stat(os.path.join(out, n)).st_mtime_ns == mtime, n
    assert info["splits"]["train"]["num_examples"] == 18 and info["skipped"] == 1
    with pytest.raises(DataError, match=r"build_info.json.*train.num_shards: 4 != 3"):
        build_dataset(root, out, train_shards=4, validation_shards=2, num_workers=1, seed=7)
    with pytest.raises(DataError, match="seed"):
        build_dataset(root, out, train_shards=3, validation_shards=2, num_workers=1, seed=8)


def test_parallel_build_matches_serial(tree, built, tmp_path):
    root, _ = tree
    out1, _ = built
    out2 = str(tmp_path)
    build_dataset(root, out2, train_shards=3, validation_shards=2, num_workers=2, seed=7)
    shards = sorted(n for n in os.listdir(out1) if "-of-" in n and not n.startswith("."))
    assert shards == sorted(n for n in os.listdir(out2) if "-of-" in n and not n.startswith("."))
    for n in shards:
        with open(os.path.join(out1, n), "rb") as a, open(os.path.join(out2, n), "rb") as b:
            assert a.read() == b.read(), n
    for meta in ("dataset_info.json", "labels.txt"):
        with open(os.path.join(out1, meta)) as a, open(os.path.join(out2, meta)) as b:
            assert a.read() == b.read()


def test_build_bad_input(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        build_dataset(str(tmp_path / "missing"), str(tmp_path / "out"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no train split folder"):
        build_dataset(str(tmp_path / "empty"), str(tmp_path / "out"))
    (tmp_path / "noclass" / "train").mkdir(parents=True)
    with pytest.raises(DataError, match="no class folder"):
        build_dataset(str(tmp_path / "noclass"), str(tmp_path / "out"))
    (tmp_path / "noimg" / "train" / "a").mkdir(parents=True)
    (tmp_path / "noimg" / "train" / "a" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match="no image files"):
        build_dataset(str(tmp_path / "noimg"), str(tmp_path / "out"))
    # eval split with a class the train split does not have
    root = tmp_path / "badeval"
    for split, cls in (("train", "a"), ("validation", "zebra")):
        (root / split / cls).mkdir(parents=True)
        _save_image(str(root / split / cls / "i.jpg"), 16, 16, 1)
    with pytest.raises(DataError, match=r"class folder .*zebra is not one of the 1 classes"):
        build_dataset(str(root), str(tmp_path / "out"))


def _cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "datasets.build_tfrecords", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_cli_bad_input_exits_2_with_one_line(tmp_path):
    for args in ([f"--output_dir={tmp_path}"],
                 [f"--image_dir={tmp_path / 'missing'}", f"--output_dir={tmp_path}"],
                 ["--train_shards=abc"]):
        proc = _cli(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "missing" in _cli(f"--image_dir={tmp_path / 'missing'}",
                             f"--output_dir={tmp_path}").stderr


def test_cli_builds(tree, tmp_path):
    root, _ = tree
    proc = _cli(f"--image_dir={root}", f"--output_dir={tmp_path}", "--train_shards=2",
                "--validation_shards=1", "--num_workers=2", "--seed=3")
    assert proc.returncode == 0, proc.stderr
    info = read_dataset_info(str(tmp_path))
    assert info["splits"]["train"]["num_examples"] == 18 and info["skipped"] == 1
    assert sorted(os.path.basename(f) for f in list_shards(str(tmp_path), "*-of-*")) == [
        "train-00000-of-00002", "train-00001-of-00002", "validation-00000-of-00001"]


# ---------------------------------------------------------------- TFRecord reader


def _records(ds):
    return [(r["filename"].numpy().decode(), int(r["label"].numpy())) for r in ds]


def _ctx(n, i):
    return tf.distribute.InputContext(num_input_pipelines=n, input_pipeline_id=i,
                                      num_replicas_in_sync=n)


def test_list_shards_errors(tmp_path):
    with pytest.raises(DataError, match=f"no TFRecord shard matches {tmp_path}/nope/train-"):
        list_shards(str(tmp_path / "nope"), "train-*")
    with pytest.raises(DataError, match=f"no TFRecord shard matches {tmp_path}/train-\\*"):
        list_shards(str(tmp_path), "train-*")


def test_parse_record_contract_and_default_filename():
    ex = tf.train.Example(features=tf.train.Features(feature={
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"abc"])),
        "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[5]))}))
    rec = parse_record(tf.constant(ex.SerializeToString()))
    assert set(rec) == {"encoded", "label", "filename"}
    assert rec["label"].dtype == tf.int32 and int(rec["label"]) == 5
    assert rec["encoded"].numpy() == b"abc" and rec["filename"].numpy() == b""


def test_tfrecord_eval_two_pipelines_cover_once(built):
    out, _ = built
    files = list_shards(out, "train-*")
    everything = _records(read_tfrecords(files, training=False, seed=0))
    assert len(everything) == 18 and len(set(everything)) == 18
    parts = [_records(read_tfrecords(files, training=False, seed=0, input_context=_ctx(2, i)))
             for i in range(2)]
    assert sorted(parts[0] + parts[1]) == sorted(everything)
    assert abs(len(parts[0]) - len(parts[1])) <= 1
    # eval keeps file order: pipeline 0 holds records 0, 2, 4, ... of the sequential read
    assert parts[0] == everything[0::2]


def test_tfrecord_train_deterministic_and_sharded(built):
    out, _ = built
    files = list_shards(out, "train-*")
    a = _records(read_tfrecords(files, training=True, seed=5))
    b = _records(read_tfrecords(files, training=True, seed=5))
    assert a == b and len(a) == 18
    orders = {tuple(_records(read_tfrecords(files, training=True, seed=s))) for s in range(6)}
    assert len(orders) > 1  # the seed changes the file order
    # 3 files, 2 pipelines: files sharded, union = everything, disjoint
    parts = [_records(read_tfrecords(files, training=True, seed=1, input_context=_ctx(2, i)))
             for i in range(2)]
    assert sorted(parts[0] + parts[1]) == sorted(a)
    # 3 files, 4 pipelines: records sharded instead
    parts = [_records(read_tfrecords(files, training=True, seed=1, input_context=_ctx(4, i)))
             for i in range(4)]
    assert sorted(sum(parts, [])) == sorted(a) and all(parts)
    spec = read_tfrecords(files, training=True, seed=1).element_spec
    assert spec["encoded"].dtype == tf.string and spec["label"].dtype == tf.int32


# ---------------------------------------------------------------- folder reader


def test_folder_reader(tree):
    root, valid = tree
    paths, labels, classes = scan_image_folder(os.path.join(root, "train"))
    assert classes == CLASSES
    assert len(paths) == 19  # 18 valid + the corrupt x.jpg (kept by extension)
    assert not any(p.endswith(".txt") for p in paths)
    ds = read_image_folder(paths, labels, training=False, seed=0)
    recs = list(ds)
    assert [r["filename"].numpy().decode() for r in recs] == [os.path.basename(p) for p in paths]
    assert [int(r["label"]) for r in recs] == labels
    with open(paths[0], "rb") as f:
        assert recs[0]["encoded"].numpy() == f.read()
    a = _records(read_image_folder(paths, labels, training=True, seed=3))
    assert a == _records(read_image_folder(paths, labels, training=True, seed=3))
    assert sorted(a) == sorted(_records(ds))
    parts = [_records(read_image_folder(paths, labels, training=True, seed=3,
                                        input_context=_ctx(2, i))) for i in range(2)]
    assert sorted(parts[0] + parts[1]) == sorted(a) and not set(parts[0]) & set(parts[1])
    vpaths, vlabels, _ = scan_image_folder(os.path.join(root, "val"), CLASSES)
    assert len(vpaths) == 6 and sorted(set(vlabels)) == [0, 1, 2]
    with pytest.raises(DataError, match="is not one of the 2 classes"):
        scan_image_folder(os.path.join(root, "val"), ["cat", "dog"])
    with pytest.raises(DataError, match="does not exist"):
        scan_image_folder(os.path.join(root, "nope"))


# ---------------------------------------------------------------- TFDS reader (mocked)


def test_tfds_reader_with_mock_data():
    import tensorflow_datasets as tfds

    from datasets.tfds_source import read_tfds

    with tfds.testing.mock_data(num_examples=6):
        ds, info = read_tfds("cifar10", "train", training=True, seed=1)
        recs = list(ds)
        assert len(recs) == 6 and info.features["label"].num_classes == 10
        for r in recs:
            assert set(r) == {"encoded", "label", "filename"}
            assert r["label"].dtype == tf.int32 and 0 <= int(r["label"]) < 10
            assert r["filename"].numpy() == b""  # cifar10 has no file name feature
            assert tf.io.decode_image(r["encoded"], channels=3).shape == (32, 32, 3)

        ds, _ = read_tfds("food101", "validation", training=False, seed=0, label_offset=1)
        recs = list(ds)
        assert len(recs) == 6 and all(1 <= int(r["label"]) <= 101 for r in recs)
        assert tf.io.decode_image(recs[0]["encoded"], channels=3).shape[-1] == 3

        ds, _ = read_tfds("oxford_flowers102", "train+validation", training=False, seed=0)
        recs = list(ds)
        assert recs and all(r["filename"].numpy() for r in recs)  # has "file_name"

        parts = [list(read_tfds("food101", "validation", training=False, seed=0,
                                input_context=_ctx(2, i))[0]) for i in range(2)]
        assert len(parts[0]) + len(parts[1]) == 6

        src = resolve_source("food101", None)
        assert src.kind == "tfds" and src.num_classes == 101
        assert len(list(src.eval_records())) == 6
        # training passes the InputContext to TFDS (file sharding); the mock ignores it
        assert 3 <= len(list(src.train_records(seed=0, input_context=_ctx(2, 1)))) <= 6


def test_tfds_missing_dataset_is_data_error():
    from datasets.tfds_source import read_tfds
    with pytest.raises(DataError, match="cannot load TFDS dataset 'no_such_dataset_xyz'"):
        read_tfds("no_such_dataset_xyz", "train", training=False, seed=0)


# ---------------------------------------------------------------- digits


def test_digits():
    train, evaluation = load_digits_splits()
    assert (len(train), len(evaluation)) == (1437, 360)
    assert sorted(set(train.labels.tolist())) == list(range(10))
    assert np.bincount(evaluation.labels).min() >= 35  # stratified
    assert not set(train.filenames) & set(evaluation.filenames)
    again, _ = load_digits_splits.__wrapped__()
    assert again.filenames == train.filenames and again.encoded == train.encoded
    rec = next(iter(read_digits(train, training=True, seed=0)))
    image = tf.io.decode_png(rec["encoded"])
    assert image.shape == (32, 32, 3) and image.dtype == tf.uint8
    assert int(tf.reduce_max(image)) > 200  # scaled from 0..16 to 0..255
    assert rec["label"].dtype == tf.int32


# ---------------------------------------------------------------- resolve_source


def test_resolve_digits():
    src = resolve_source("digits", None)
    assert (src.kind, src.num_classes, src.train_size, src.eval_size) == ("digits", 10, 1437, 360)
    assert src.default_preprocessing == "small_32"
    assert len(list(src.eval_records(input_context=_ctx(2, 0)))) == 180
    check_labels(src)


def test_resolve_tfrecord_dir(built):
    out, _ = built
    src = resolve_source(out, None)
    assert src.kind == "tfrecord" and src.num_classes == 3 and src.class_names == CLASSES
    assert (src.train_size, src.eval_size) == (18, 6)
    assert "train-*: 3 shards" in src.description
    assert len(list(src.train_records(seed=0))) == 18
    assert len(list(src.eval_records())) == 6
    check_labels(src)
    # registry key + data_dir with shards -> tfrecord, registry preprocessing
    src = resolve_source("cifar10", out)
    assert src.kind == "tfrecord" and src.num_classes == 3 and src.default_preprocessing == \
        "small_32"
    # num_classes too small for the stored labels
    with pytest.raises(DataError, match=r"labels in .* span \[0, 2\] but num_classes=2"):
        check_labels(resolve_source(out, None, num_classes=2))
    # custom patterns: sizes counted from the records
    src = resolve_source(out, None, train_regex="train-0000[01]-*", val_regex="nothing-*")
    assert src.train_size == count_records(list_shards(out, "train-0000[01]-*"))
    assert not src.has_eval and src.eval_size is None
    with pytest.raises(DataError, match="no TFRecord shard matches .*nothing-"):
        src.eval_records()


def test_resolve_tfrecords_without_metadata(built, tmp_path):
    out, _ = built
    for name in ("train-00000-of-00003", "validation-00000-of-00002"):
        with open(os.path.join(out, name), "rb") as a, open(tmp_path / name, "wb") as b:
            b.write(a.read())
    with pytest.raises(DataError, match="--num_classes"):
        resolve_source(str(tmp_path), None)
    src = resolve_source(str(tmp_path), None, num_classes=3)
    assert src.train_size == count_records([str(tmp_path / "train-00000-of-00003")])
    assert src.label_range is None
    check_labels(src)  # nothing to check
    # labels beyond num_classes recorded in dataset_info.json
    (tmp_path / "dataset_info.json").write_text(json.dumps(
        {"num_classes": 10, "splits": {"train": {"num_examples": 6, "label_min": 0,
                                                 "label_max": 12}}}))
    with pytest.raises(DataError, match=r"span \[0, 12\] but num_classes=10"):
        check_labels(resolve_source(str(tmp_path), None))


def test_resolve_folder_tree(tree):
    root, _ = tree
    src = resolve_source(root, None)
    assert src.kind == "folder" and src.class_names == CLASSES and src.num_classes == 3
    assert (src.train_size, src.eval_size) == (19, 6)
    assert os.path.join(root, "val") in src.description
    assert len(list(src.eval_records())) == 6
    src = resolve_source("cifar10", root)
    assert src.kind == "folder" and src.default_preprocessing == "small_32"
    check_labels(src)


def test_resolve_errors(tmp_path):
    missing = str(tmp_path / "missing")
    with pytest.raises(DataError, match=f"{missing} does not exist"):
        resolve_source(missing, None)
    with pytest.raises(DataError, match=f"data_dir {missing} does not exist"):
        resolve_source("food101", missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=f"no TFRecord shard matches {empty}/train-\\*"):
        resolve_source(str(empty), None)
    with pytest.raises(DataError, match=f"no TFRecord shard matches {empty}/train-\\*"):
        resolve_source("fgvc_aircraft", str(empty))
    with pytest.raises(DataError, match=f"no TFRecord shard matches {empty}/mytrain-\\*"):
        resolve_source(str(empty), None, train_regex="mytrain-*")
    with pytest.raises(DataError, match="has no TFDS version: pass --data_dir"):
        resolve_source("fgvc_aircraft", None)
    with pytest.raises(DataError, match="unknown dataset_name 'imagenet_typo'.*digits"):
        resolve_source("imagenet_typo", None)
    # registry key with a TFDS version: an empty data_dir is an error naming the pattern
    # (never a TFDS download into it); a data_dir holding a prepared TFDS copy -> TFDS.
    with pytest.raises(DataError, match=f"no TFRecord shard matches {empty}/train-\\*"):
        resolve_source("cifar10", str(empty))
    (empty / "cifar10").mkdir()
    src = resolve_source("cifar10", str(empty))
    assert src.kind == "tfds" and str(empty) in src.description
    assert resolve_source("imagenet", None).num_classes == 1001

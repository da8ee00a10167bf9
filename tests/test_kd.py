"""Distillation: teachers, offline logits in side-car shards (sharded, resumable, checked),
the original's in-record 'image/logit', online KD, and the KD loss against a hand computation.
Data: the embedded digits written as TFRecord shards; teachers: tiny Keras models."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from core import config
from datasets import digits as digits_lib
from datasets import sidecar
from datasets.build_tfrecords import make_example
from datasets.errors import DataError
from engine import train_step, trainer
from kd import extract_logits as extract
from kd import shards
from kd.targets import distillation_term
from kd.teachers import Ensemble, TeacherError

TINY = dict(resnet_size=18, base_width=4, batch_size=32, val_batch_size=120,
            steps_per_loop=1, lr_warmup_epochs=0.0, train_epochs=1, max_train_steps=2,
            preprocessing_type="small_32")


def write_digit_shards(folder, num_shards=3, logits_fn=None, limit=None):
    """The digits as TFRecords (train: num_shards shards, validation: 1); with logits_fn the
    original's 'image/logit' key is added to every train record."""
    train, evaluation = digits_lib.load_digits_splits()
    os.makedirs(folder, exist_ok=True)
    n = limit or len(train)
    for split, data, split_shards in (("train", train, num_shards), ("validation", evaluation, 1)):
        count = n if split == "train" else len(data)
        for s in range(split_shards):
            path = os.path.join(folder, f"{split}-{s:05d}-of-{split_shards:05d}")
            with tf.io.TFRecordWriter(path) as w:
                for i in range(s, count, split_shards):
                    ex = make_example(data.encoded[i], int(data.labels[i]), str(data.labels[i]),
                                      data.filenames[i], 32, 32, "png")
                    if split == "train" and logits_fn is not None:
                        ex.features.feature["image/logit"].float_list.value.extend(
                            logits_fn(i))
                    w.write(ex.SerializeToString())
    with open(os.path.join(folder, "labels.txt"), "w") as f:
        f.write("".join(f"{c}\n" for c in range(10)))
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_digit_shards(str(tmp_path_factory.mktemp("kd") / "tfr"))


def keras_teacher(path, classes=10, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((32, 32, 3)),
                              keras.layers.Conv2D(4, 3, strides=2, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(classes)])
    model.save(path)
    return f"keras:{path}@small_32"


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    return keras_teacher(str(tmp_path_factory.mktemp("teacher") / "t.keras"))


def read_sidecar(directory):
    out = {}
    for path in sorted(tf.io.gfile.glob(os.path.join(directory, "train-*"))):
        out[os.path.basename(path)] = [r for r in tf.data.TFRecordDataset(path).as_numpy_iterator()]
    return out


def test_extraction_matches_the_teacher_and_keeps_record_order(tmp_path, data, teacher):
    out = str(tmp_path / "logits")
    header = extract.extract_logits(teacher, data, out, batch_size=64, log=lambda *_: None)
    assert header["kind"] == "logits" and header["num_classes"] == 10
    assert sorted(header["shards"]) == [f"train-0000{i}-of-00003" for i in range(3)]
    ensemble = Ensemble(teacher)
    first = os.path.join(data, "train-00001-of-00003")
    images = list(tf.data.TFRecordDataset(first).take(4).as_numpy_iterator())
    side = list(tf.data.TFRecordDataset(os.path.join(out, "train-00001-of-00003"))
                .take(4).as_numpy_iterator())
    for img_rec, side_rec in zip(images, side):
        img = tf.train.Example.FromString(img_rec).features.feature
        got = tf.train.Example.FromString(side_rec).features.feature
        assert got["image/filename"].bytes_list.value == img["image/filename"].bytes_list.value
        x = ensemble.eval_inputs(tf.constant(img["image/encoded"].bytes_list.value[0]))
        want = ensemble.logits_from_inputs([v[None] for v in x]).numpy()[0]
        np.testing.assert_allclose(got["image/logit"].float_list.value, want, rtol=1e-5,
                                   atol=1e-5)
    total = sum(e["records"] for e in header["shards"].values())
    assert total == 1437


def test_two_processes_give_the_records_of_one_and_a_rerun_resumes(tmp_path, data, teacher):
    one, two = str(tmp_path / "one"), str(tmp_path / "two")
    extract.extract_logits(teacher, data, one, log=lambda *_: None)
    extract.extract_logits(teacher, data, two, num_shards=2, shard_index=1, log=lambda *_: None)
    partial = sidecar.read_header(two)
    assert sorted(partial["shards"]) == ["train-00001-of-00003"]
    with pytest.raises(DataError, match="does not cover .*train-00000-of-00003.*first "
                                        "missing keys: digit_"):
        sidecar.check_coverage(two, sorted(tf.io.gfile.glob(data + "/train-*")), "logits")
    extract.extract_logits(teacher, data, two, num_shards=2, shard_index=0, log=lambda *_: None)
    assert read_sidecar(one) == read_sidecar(two)
    # a killed run: one shard lost its completion mark and left a temp file behind
    os.remove(os.path.join(two, shards.DONE_DIR, "train-00002-of-00003.json"))
    open(os.path.join(two, ".train-00002-of-00003.tmp-1"), "w").write("partial")
    log = []
    extract.extract_logits(teacher, data, two, log=log.append)
    assert sum("skipped" in line for line in log) == 2
    assert read_sidecar(one) == read_sidecar(two)


def test_another_teacher_into_the_same_directory_is_refused(tmp_path, data, teacher):
    out = str(tmp_path / "logits")
    extract.extract_logits(teacher, data, out, log=lambda *_: None)
    other = keras_teacher(str(tmp_path / "other.keras"), seed=1)
    with pytest.raises(DataError, match="another job \\(teacher"):
        extract.extract_logits(other, data, out, log=lambda *_: None)


def test_teacher_errors_are_one_line(tmp_path, data):
    wrong = keras_teacher(str(tmp_path / "five.keras"), classes=5)
    with pytest.raises(TeacherError, match="predicts 5 classes but the dataset has 10"):
        extract.extract_logits(wrong, data, str(tmp_path / "o"), log=lambda *_: None)
    with pytest.raises(TeacherError, match="expected KIND:PATH"):
        Ensemble("resnet50")
    with pytest.raises(TeacherError, match="does not exist"):
        Ensemble(f"keras:{tmp_path}/none.keras")
    with pytest.raises(TeacherError, match="members disagree on the class count"):
        Ensemble([keras_teacher(str(tmp_path / "a.keras")), wrong])


def test_coverage_errors_name_the_file(tmp_path, data, teacher):
    out = str(tmp_path / "logits")
    extract.extract_logits(teacher, data, out, log=lambda *_: None)
    files = sorted(tf.io.gfile.glob(data + "/train-*"))
    with pytest.raises(DataError, match="num_classes is 10, this run needs 12"):
        sidecar.check_coverage(out, files, "logits", expect={"num_classes": 12})
    shard = os.path.join(out, "train-00002-of-00003")
    with open(shard, "r+b") as f:
        f.truncate(os.path.getsize(shard) - 7)
    with pytest.raises(DataError, match="train-00002-of-00003 is truncated"):
        sidecar.check_coverage(out, files, "logits")
    os.remove(shard)
    with pytest.raises(DataError, match="no train-00002-of-00003\\); first missing keys"):
        sidecar.check_coverage(out, files, "logits")
    with pytest.raises(DataError, match="sidecar.json does not exist"):
        sidecar.check_coverage(str(tmp_path), files, "logits")


def test_ensemble_averages_probabilities(tmp_path):
    specs = [keras_teacher(str(tmp_path / f"m{i}.keras"), seed=i) for i in range(2)]
    ens = Ensemble(specs)
    x = tf.random.stateless_normal([3, 32, 32, 3], [1, 1]) * 50
    members = [t.logits(x) for t in ens.members]
    want = (tf.nn.softmax(members[0]) + tf.nn.softmax(members[1])) / 2
    np.testing.assert_allclose(tf.nn.softmax(ens.logits_from_views(x)).numpy(), want.numpy(),
                               rtol=1e-5, atol=1e-6)


def test_kd_loss_equals_a_hand_computation():
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(4)])
    cfg = dict(config.make_config(), kd_temp=2.0, kd_weight=0.7, kd_label_weight=0.3,
               label_smoothing=0.1, batch_size=2, weight_decay=0.0)
    step = train_step.make_step_fn(cfg, model, keras.optimizers.SGD(0.0), 4, 1, [])
    rng = np.random.default_rng(0)
    batch = {"image": tf.constant(rng.normal(size=(2, 8, 8, 3)), tf.float32),
             "label": tf.constant([1, 3]), "skipped": tf.zeros([2], tf.int32),
             "teacher_logits": tf.constant(rng.normal(size=(2, 4)) * 3, tf.float32)}
    student = model(batch["image"]).numpy().astype(np.float64)
    out = step(batch)

    def log_softmax(z):
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))
    labels = np.eye(4)[[1, 3]] * 0.9 + 0.1 / 4
    teacher = np.exp(log_softmax(batch["teacher_logits"].numpy() / 2.0))
    ce = -(labels * log_softmax(student)).sum(-1)
    kd = 4.0 * -(teacher * log_softmax(student / 2.0)).sum(-1)
    assert float(out["ce"]) == pytest.approx(np.mean(0.3 * ce + 0.7 * kd), rel=1e-5)
    per_example = distillation_term(tf.constant(teacher, tf.float32), student, 2.0).numpy()
    np.testing.assert_allclose(per_example, kd, rtol=1e-5)


@pytest.fixture(scope="module")
def logits(tmp_path_factory, data, teacher):
    """The teacher's side-car logits of `data`, extracted once (training only reads them)."""
    out = str(tmp_path_factory.mktemp("logits") / "logits")
    extract.extract_logits(teacher, data, out, log=lambda *_: None)
    return out


@pytest.mark.parametrize("mixup_type", ["0", "cutmix", "2"])
def test_training_with_sidecar_logits_on_two_replicas(tmp_path, data, logits, mixup_type):
    out = logits
    cfg = config.make_config(model_dir=str(tmp_path / "run"), dataset_name=data,
                             num_cpu_replicas=2, kd_temp=2.0, kd_logits_path=out,
                             mixup_type=mixup_type, **TINY)
    result = trainer.run(cfg)
    assert result["count"] == 360 and np.isfinite(result["loss"])


def test_sidecar_in_the_wrong_order_stops_naming_the_keys(tmp_path, data, teacher):
    out = str(tmp_path / "logits")
    extract.extract_logits(teacher, data, out, log=lambda *_: None)
    # rewrite one side-car shard reversed, with a header that still vouches for it
    name = "train-00000-of-00003"
    path = os.path.join(out, name)
    records = list(tf.data.TFRecordDataset(path).as_numpy_iterator())[::-1]
    with tf.io.TFRecordWriter(path) as w:
        for r in records:
            w.write(r)
    header = sidecar.read_header(out)
    header["shards"][name]["sidecar_bytes"] = os.path.getsize(path)
    sidecar.write_header(out, header)
    cfg = config.make_config(model_dir=str(tmp_path / "run"), dataset_name=data,
                             kd_temp=1.0, kd_logits_path=out, **TINY)
    with pytest.raises(DataError, match="side-car key mismatch: image.*digit_.*side-car"):
        trainer.run(cfg)


def test_in_record_logits_as_the_original(tmp_path):
    rng = np.random.default_rng(0)
    folder = write_digit_shards(str(tmp_path / "with_logits"), num_shards=2,
                                logits_fn=lambda i: rng.normal(size=10).tolist())
    cfg = config.make_config(model_dir=str(tmp_path / "run"), dataset_name=folder,
                             kd_temp=1.0, mixup_type="1", **TINY)
    assert np.isfinite(trainer.run(cfg)["loss"])
    short = write_digit_shards(str(tmp_path / "short"), num_shards=2,
                               logits_fn=lambda i: [0.0] * 7)
    cfg = config.make_config(model_dir=str(tmp_path / "run2"), dataset_name=short,
                             kd_temp=1.0, **TINY)
    with pytest.raises(DataError, match="'image/logit' must hold 10 values .* got 7"):
        trainer.run(cfg)


def test_offline_logits_need_tfrecords(tmp_path):
    cfg = config.make_config(model_dir=str(tmp_path / "run"), kd_temp=1.0, **TINY)
    with pytest.raises(DataError, match="offline teacher targets need TFRecord shards"):
        trainer.run(cfg)


def test_online_teacher_on_two_replicas(tmp_path, teacher):
    cfg = config.make_config(model_dir=str(tmp_path / "run"), num_cpu_replicas=2,
                             kd_temp=1.0, teacher=teacher, mixup_type="mixup", **TINY)
    result = trainer.run(cfg)
    assert result["count"] == 360 and np.isfinite(result["loss"])


def test_run_directory_teacher(tmp_path, data):
    run_dir = str(tmp_path / "teacher_run")
    trainer.run(config.make_config(model_dir=run_dir, dataset_name=data, **TINY))
    ens = Ensemble(f"run:{run_dir}", num_classes=10)
    assert ens.members[0].prep.name == "small_32" and ens.num_classes == 10
    header = extract.extract_logits(f"run:{run_dir}", data, str(tmp_path / "l"),
                                    log=lambda *_: None)
    assert header["teacher"][0]["spec"] == f"run:{run_dir}"
    assert json.dumps(header)  # the header is plain JSON
    prefix = tf.train.latest_checkpoint(run_dir)
    x = tf.random.stateless_normal([2, 32, 32, 3], [0, 1]) * 40
    np.testing.assert_allclose(Ensemble(f"run:{prefix}").logits_from_views(x).numpy(),
                               ens.logits_from_views(x).numpy(), rtol=1e-5, atol=1e-5)


def test_work_split_from_tf_config(monkeypatch):
    cluster = {"worker": ["localhost:1", "localhost:2", "localhost:3"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster,
                                                "task": {"type": "worker", "index": 2}}))
    assert shards.cli_sharding(None, None) == (3, 2)
    assert shards.cli_sharding(4, 1) == (4, 1)  # explicit flags win
    files = [f"train-{i}" for i in range(7)]
    assert shards.assigned(files, 3, 2) == ["train-2", "train-5"]
    with pytest.raises(DataError, match=r"--shard_index must be in \[0, --num_shards=3\)"):
        shards.assigned(files, 3, 3)


def test_one_stream_over_the_pending_shards(tmp_path):
    """run_over_shards asks for one stream over the shards not done yet and writes each
    shard's records into its own file -- an empty shard in the middle included."""
    out = str(tmp_path / "sidecar")
    files = [str(tmp_path / f"train-{i}") for i in range(4)]
    for f in files:
        open(f, "wb").close()
    shards.start_header(out, {"kind": "test"}, ("kind",))
    shards.write_shard(files[0], out, [b"done before"])  # a finished shard: skipped
    asked, log = [], []

    def examples_of(pending):
        asked.append([os.path.basename(f) for f in pending])
        yield from [(0, b"a0"), (0, b"a1"), (2, b"c0")]  # shard 1 (train-2) has no record

    header = shards.run_over_shards(files, out, 1, 0, examples_of, log.append)
    assert asked == [["train-1", "train-2", "train-3"]]
    names = [os.path.basename(f) for f in files]
    records = {n: [r.numpy() for r in tf.data.TFRecordDataset(os.path.join(out, n))]
               for n in names}
    assert records == {"train-0": [b"done before"], "train-1": [b"a0", b"a1"], "train-2": [],
                       "train-3": [b"c0"]}
    assert [header["shards"][n]["records"] for n in sorted(records)] == [1, 2, 0, 1]
    assert log[0] == "[1/4] train-0: done already, skipped"
    # a stream that goes back to an earlier shard is an error, not a silent mix-up
    shards.start_header(str(tmp_path / "other"), {"kind": "test"}, ("kind",))
    with pytest.raises(ValueError, match="gave shard 0 after shard 1"):
        shards.run_over_shards(files, str(tmp_path / "other"), 1, 0,
                               lambda pending: iter([(1, b"x"), (0, b"y")]), log.append)


@pytest.mark.parametrize("module", ["kd.extract_logits", "kd.reinforce"])
def test_cli_bad_input_is_one_line(tmp_path, module):
    import subprocess
    import sys

    from conftest import ROOT
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-m", module, "--teacher=keras:/none.keras",
                           f"--data_dir={tmp_path}/missing", f"--output_dir={tmp_path}/o"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert lines == [f"error: no TFRecord shard matches {tmp_path}/missing/train-* "
                     f"({tmp_path}/missing is not a directory)"]
    proc = subprocess.run([sys.executable, "-m", module, f"--data_dir={tmp_path}"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 2 and "error: --teacher is required" in proc.stderr


def test_two_concurrent_processes_write_what_one_writes(tmp_path, teacher):
    import subprocess
    import sys

    from conftest import ROOT
    data = write_digit_shards(str(tmp_path / "tfr"), num_shards=4, limit=200)
    one = str(tmp_path / "one")
    extract.extract_logits(teacher, data, one, log=lambda *_: None)
    two = str(tmp_path / "two")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    procs = [subprocess.Popen([sys.executable, "-m", "kd.extract_logits", f"--teacher={teacher}",
                               f"--data_dir={data}", f"--output_dir={two}", "--num_shards=2",
                               f"--shard_index={i}"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err.decode()[-500:]
    assert read_sidecar(one) == read_sidecar(two)
    header = sidecar.read_header(two)  # the last process to finish saw every shard
    assert len(header["shards"]) == 4
    sidecar.check_coverage(two, sorted(tf.io.gfile.glob(data + "/train-*")), "logits")


def test_clean_with_a_bad_online_teacher_keeps_the_run(tmp_path):
    """--clean deletes model_dir only once the teacher spec is known to load."""
    cfg = config.make_config(model_dir=str(tmp_path / "run"), **TINY)
    trainer.run(cfg)
    before = sorted(os.listdir(cfg["model_dir"]))
    with pytest.raises(TeacherError, match="missing is neither a run directory"):
        trainer.run(dict(cfg, clean=True, kd_temp=1.0, teacher=f"run:{tmp_path / 'missing'}"))
    assert sorted(os.listdir(cfg["model_dir"])) == before

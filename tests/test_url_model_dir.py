"""A model_dir that is a URL (gs://... in real use) works like a local one: every file call
on a run goes through core/fs.py and tf.io.gfile. Tested on TensorFlow's in-memory ram://
file system, which, like an object store, has no real directories and no flock; its own
quirk (any prefix of a stored name "exists" and "is a directory") is worked around in
core/fs.py and pinned here. Not covered by ram://: GCS's own consistency and rename costs,
and two processes racing for a lock (ram:// lives inside one process). Networks are
ResNet-18 at width 4 on the embedded 32 px digits."""

import json
import os
import socket
import subprocess
import sys
import uuid

import pytest
import tensorflow as tf
from test_fault_tolerance import manager_at

from core import config, fs
from core.errors import RunDirError
from core.runlock import LOCK_FILE, RunLock
from engine import checkpoints, trainer

TINY = dict(resnet_size=18, base_width=4, batch_size=32, val_batch_size=128,
            steps_per_loop=4, train_epochs=1)


@pytest.fixture
def ram_dir():
    path = f"ram://{uuid.uuid4().hex}/run"
    yield path
    if fs.exists(path):
        fs.rmtree(path, ignore_errors=True)


def jsonl(path):
    return [json.loads(line) for line in fs.read_text(path).splitlines()]


# ----------------------------------------------------------------------------- core/fs.py
def test_fs_sees_through_the_prefix_quirk_of_ram(ram_dir):
    fs.makedirs(ram_dir)
    fs.write_text(os.path.join(ram_dir, "ckpt-2.index"), "x")
    fs.write_text(os.path.join(ram_dir, "best.json.tmp7"), "x")
    for name in ("ckpt-2", "ckpt", "best.json", "best"):  # prefixes of stored names only
        path = os.path.join(ram_dir, name)
        assert not fs.exists(path) and not fs.isdir(path) and not fs.isfile(path), name
    assert fs.isfile(os.path.join(ram_dir, "ckpt-2.index"))
    fs.makedirs(os.path.join(ram_dir, "best"))
    assert fs.isdir(os.path.join(ram_dir, "best")) and fs.isdir(ram_dir)
    assert fs.files_of(os.path.join(ram_dir, "ckpt-2")) == [os.path.join(ram_dir,
                                                                         "ckpt-2.index")]
    assert fs.matching(ram_dir, "*.tmp[0-9]*") == [os.path.join(ram_dir, "best.json.tmp7")]


def test_fs_errors_are_oserrors_and_paths_keep_their_scheme(ram_dir):
    with pytest.raises(FileNotFoundError):
        fs.read_text(os.path.join(ram_dir, "nothing.json"))
    fs.makedirs(ram_dir)
    fs.write_text(os.path.join(ram_dir, "a"), "1")
    fs.write_text(os.path.join(ram_dir, "b"), "2")
    with pytest.raises(FileExistsError):
        fs.rename(os.path.join(ram_dir, "a"), os.path.join(ram_dir, "b"), overwrite=False)
    fs.rename(os.path.join(ram_dir, "a"), os.path.join(ram_dir, "b"))
    assert fs.read_text(os.path.join(ram_dir, "b")) == "1" and fs.listdir(ram_dir) == ["b"]
    fs.write_text(os.path.join(ram_dir, "b"), "overwritten")
    fs.write_text(os.path.join(ram_dir, "b"), "x")  # not "overwrittenx" (ram:// module doc)
    assert fs.read_text(os.path.join(ram_dir, "b")) == "x"
    assert fs.abspath("gs://bucket/runs/r") == "gs://bucket/runs/r"
    assert not fs.is_local("gs://bucket/x") and fs.is_local("runs/x")


def test_fs_never_reads_a_local_directory_name_as_a_pattern(tmp_path):
    directory = tmp_path / "run[1]*"
    directory.mkdir()
    (directory / "ckpt-3.index").write_text("x")
    (directory / "ckpt-30.index").write_text("x")
    assert fs.files_of(str(directory / "ckpt-3")) == [str(directory / "ckpt-3.index")]


# ----------------------------------------------------------------------------- a whole run
def test_a_run_on_ram_trains_resumes_and_evaluates(ram_dir, capsys):
    # The small-image defaults warm up for 1 epoch: clamped to half of --train_epochs=1.
    cfg = config.make_config(model_dir=ram_dir, max_train_steps=4, **TINY)
    assert "using --lr_warmup_epochs=0.5" in capsys.readouterr().err
    trainer.run(cfg)
    names = set(fs.listdir(ram_dir))
    assert {"config.yaml", "checkpoint", "ckpt-4.index", "best", "metrics.jsonl",
            "labels.txt", "versions.json", "train", "eval"} <= names
    assert LOCK_FILE not in names  # released: a URL's lock file is deleted
    stored = config.rundir_lib.read_config(ram_dir)
    assert stored["lr_warmup_epochs"] == 0.5 and stored["resolved_num_classes"] == 10
    assert json.loads(fs.read_text(os.path.join(ram_dir, "best", "best.json")))[
        "checkpoint"] == "ckpt-4"

    resumed = config.make_config(model_dir=ram_dir, max_train_steps=8, **TINY)
    assert resumed["changed"] == {"max_train_steps": [4, 8]}  # the clamp is no change
    trainer.run(resumed)
    log = jsonl(os.path.join(ram_dir, "metrics.jsonl"))
    assert [e["event"] for e in log] == ["train", "eval", "resume", "train", "eval"]
    assert log[2]["step"] == 4 and log[-1]["step"] == 8
    reader = tf.compat.v1.train.NewCheckpointReader(os.path.join(ram_dir, "ckpt-8"))
    assert reader.get_tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE") == 8

    result = trainer.run(config.make_config(model_dir=ram_dir, eval_only=True))
    assert result["count"] == 360
    eval_dir = os.path.join(ram_dir, "eval_only", "digits")
    assert jsonl(os.path.join(eval_dir, "metrics.jsonl"))[-1]["checkpoint"].endswith("ckpt-8")
    assert fs.size(os.path.join(eval_dir, "reliability.png")) > 0
    history = jsonl(os.path.join(ram_dir, "history.jsonl"))
    assert [h["mode"] for h in history] == ["train", "eval"]


def test_a_second_training_on_a_ram_run_is_refused_naming_the_holder(ram_dir):
    cfg = config.make_config(model_dir=ram_dir, max_train_steps=2, **TINY)
    fs.makedirs(ram_dir)
    holder = {"host": "elsewhere", "pid": 4242, "started": "2030-01-01T00:00:00+00:00"}
    fs.write_text(os.path.join(ram_dir, LOCK_FILE), json.dumps(holder))
    with pytest.raises(RunDirError, match=r"is in use by pid 4242 on host elsewhere .*delete "
                       + ram_dir + "/run.lock"):
        trainer.run(cfg)
    assert fs.listdir(ram_dir) == [LOCK_FILE]  # nothing written


# ----------------------------------------------------------------------------- the lock
def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_lock_file_of_a_url(ram_dir):
    fs.makedirs(ram_dir)
    path = os.path.join(ram_dir, LOCK_FILE)
    lock = RunLock(ram_dir).acquire()
    record = json.loads(fs.read_text(path))
    assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
    assert lock.held and fs.listdir(ram_dir) == [LOCK_FILE]  # no temporary left
    lock.release()
    assert not fs.exists(path) and not lock.held

    alive = {"host": socket.gethostname(), "pid": os.getppid(), "started": "earlier"}
    fs.write_text(path, json.dumps(alive))
    with pytest.raises(RunDirError, match=f"in use by pid {os.getppid()} on host "):
        RunLock(ram_dir).acquire()
    fs.write_text(path, "")  # unreadable: a holder we cannot name is still a holder
    with pytest.raises(RunDirError, match="in use by another process"):
        RunLock(ram_dir).acquire()

    dead = dict(alive, pid=_dead_pid())
    fs.write_text(path, json.dumps(dead))
    lock = RunLock(ram_dir).acquire()  # a process of this host that is gone: taken over
    assert lock.previous["pid"] == dead["pid"]
    assert json.loads(fs.read_text(path))["pid"] == os.getpid()
    fs.write_text(path, json.dumps(alive))  # taken from us meanwhile: release leaves it
    lock.release()
    assert json.loads(fs.read_text(path))["pid"] == os.getppid()


# ----------------------------------------------------------------------------- recovery
def _manager(model_dir, **kw):
    return manager_at(model_dir, **kw)


@pytest.mark.parametrize("damage", ["truncated_data", "garbage_index"])
def test_a_damaged_checkpoint_on_ram_is_moved_aside(ram_dir, damage):
    ckpts, save = _manager(ram_dir)
    for step in (20, 40, 60):
        save(step)
    bad = os.path.join(ram_dir, "ckpt-60")
    data = [f for f in fs.files_of(bad) if ".data-" in f][0]
    if damage == "truncated_data":
        with fs.open_file(data, "rb") as f:
            content = f.read()
        fs.write_bytes(data, content[:len(content) * 6 // 10])
    else:
        fs.write_bytes(bad + ".index", os.urandom(200))
    ckpts.optimizer.iterations.assign(0)
    reopened = ckpts.reopen()
    assert reopened.restore_latest() == os.path.join(ram_dir, "ckpt-40")
    assert int(ckpts.optimizer.iterations.numpy()) == 40
    assert any("ckpt-60 cannot be read" in m and "damaged" in m for m in ckpts.messages)
    assert sorted(fs.listdir(os.path.join(ram_dir, "damaged"))) == sorted(
        ["ckpt-60.index", os.path.basename(data)])
    assert tf.train.latest_checkpoint(ram_dir).endswith("ckpt-40")  # index rebuilt
    assert reopened.save(60).endswith("ckpt-60")


@pytest.mark.parametrize("state", ["garbage", "missing", "stale"])
def test_a_damaged_index_on_ram_is_rebuilt_and_temporaries_removed(ram_dir, state):
    ckpts, save = _manager(ram_dir)
    for step in (20, 40):
        save(step)
    index = os.path.join(ram_dir, "checkpoint")
    if state == "garbage":
        fs.write_bytes(index, bytes(range(256)))
    elif state == "missing":
        fs.remove(index)
    else:
        checkpoints.write_index(ram_dir, ["ckpt-20"])
    fs.makedirs(os.path.join(ram_dir, "ckpt-60_temp"))  # an interrupted save
    fs.write_text(os.path.join(ram_dir, "ckpt-60_temp", "part-0"), "x")
    fs.write_text(os.path.join(ram_dir, "checkpoint.tmp123"), "x")  # an interrupted write
    ckpts.optimizer.iterations.assign(0)
    reopened = ckpts.reopen()
    assert reopened.restore_latest() == os.path.join(ram_dir, "ckpt-40")
    assert tf.train.latest_checkpoint(ram_dir).endswith("ckpt-40")
    assert any("rebuilt it from the 2 checkpoint(s) present, latest ckpt-40" in m
               for m in ckpts.messages)
    assert any("ckpt-60_temp" in m and "checkpoint.tmp123" in m for m in ckpts.messages)
    assert not {"ckpt-60_temp", "checkpoint.tmp123"} & set(fs.listdir(ram_dir))


def test_best_on_ram_keeps_naming_files_that_exist(ram_dir):
    ckpts, save = _manager(ram_dir, num_best=1)
    metrics = dict(top1=0.1, top5=0.5, loss=2.0, ece=0.1)
    assert ckpts.keep_best(save(10), metrics, 10, 1)
    assert ckpts.keep_best(save(20), dict(metrics, top1=0.3), 20, 2)
    best_dir = os.path.join(ram_dir, "best")
    assert json.loads(fs.read_text(os.path.join(best_dir, "best.json")))[
        "checkpoint"] == "ckpt-20"
    assert sorted(fs.listdir(best_dir)) == sorted(
        ["best.json"] + [os.path.basename(f) for f in fs.files_of(
            os.path.join(ram_dir, "ckpt-20"))])

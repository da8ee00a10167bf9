"""Preemption, interrupted evaluations, damaged checkpoints, full disks and the run lock
(issue 15, parts 1-4). Networks are ResNet-18 at width 4 on the embedded digits at 16 px."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT
from test_training import checkpoint_values as model_values
from test_training import tiny_config

from core import fs
from core.errors import Preempted, RunDirError
from core.runlock import LOCK_FILE, RunLock
from engine import checkpoints, trainer

CLI_TINY = ["--resnet_size=18", "--base_width=4", "--batch_size=32", "--val_batch_size=128",
            "--steps_per_loop=2", "--lr_warmup_epochs=0", "--preprocessing_type=small_16"]


def events(model_dir):
    with open(os.path.join(model_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def signal_after(monkeypatch, calls, signum=signal.SIGTERM, method="_make_train_loop"):
    """The train loop sends `signum` to this process after its `calls`-th call."""
    make = getattr(trainer.Run, method)

    def patched(self):
        loop, count = make(self), [0]

        def wrapped(*args):
            out = loop(*args)
            count[0] += 1
            if count[0] == calls:
                os.kill(os.getpid(), signum)
            return out
        return wrapped
    monkeypatch.setattr(trainer.Run, method, patched)


# ----------------------------------------------------------------------------- preemption
def test_sigterm_saves_at_the_next_step_and_the_rerun_is_bitwise_equal(tmp_path, monkeypatch):
    common = dict(train_epochs=2, deterministic=True, learning_rate_decay_type="cosine",
                  batch_size=128)  # 11 steps per epoch
    straight = tiny_config(tmp_path, "straight", **common)
    trainer.run(straight)
    preempted = tiny_config(tmp_path, "preempted", **common)
    signal_after(monkeypatch, 2)  # 2 loops of 4 steps into epoch 1
    with pytest.raises(Preempted, match="SIGTERM .* step 8 .*ckpt-8.*run the same command"):
        trainer.run(preempted)
    monkeypatch.undo()
    assert tf.train.latest_checkpoint(preempted["model_dir"]).endswith("ckpt-8")
    assert events(preempted["model_dir"])[-1]["event"] == "preempted"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers are put back
    trainer.run(preempted)
    a = model_values(tf.train.latest_checkpoint(straight["model_dir"]))
    b = model_values(tf.train.latest_checkpoint(preempted["model_dir"]))
    assert len(a) > 20 and a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_checkpoint_every_steps_bounds_what_a_kill_loses(tmp_path, monkeypatch):
    cfg = tiny_config(tmp_path, checkpoint_every_steps=8, keep_checkpoint_max=0,
                      max_train_steps=20)
    trainer.run(cfg)
    steps = sorted(int(p.rsplit("-", 1)[1]) for p in checkpoints.checkpoint_prefixes(
        cfg["model_dir"]))
    assert steps == [8, 16, 20]


def test_checkpoint_every_minutes_saves_mid_epoch(tmp_path, monkeypatch):
    cfg = tiny_config(tmp_path, checkpoint_every_minutes=1e-6, keep_checkpoint_max=0,
                      max_train_steps=12)
    trainer.run(cfg)
    steps = sorted(int(p.rsplit("-", 1)[1]) for p in checkpoints.checkpoint_prefixes(
        cfg["model_dir"]))
    assert steps == [4, 8, 12]  # every loop boundary once the interval has passed


def test_cli_sigterm_exits_75_and_a_second_run_is_refused_while_it_runs(tmp_path):
    model_dir = tmp_path / "run"
    command = [sys.executable, os.path.join(ROOT, "main_classification.py"),
               f"--model_dir={model_dir}", "--train_epochs=30", "--checkpoint_every_steps=6",
               *CLI_TINY]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=ROOT)
    try:
        deadline = time.time() + 240
        while not checkpoints.checkpoint_prefixes(str(model_dir)) and time.time() < deadline:
            time.sleep(0.5)
        first_saved = checkpoints.checkpoint_prefixes(str(model_dir))[-1]
        second = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=240)
        assert second.returncode == 2
        error = [line for line in second.stderr.splitlines() if line.startswith("error: ")]
        assert len(error) == 1 and f"pid {first.pid}" in error[0] and LOCK_FILE in error[0]
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=240)
    finally:
        first.kill()
    assert first.returncode == 75, err[-2000:]
    lines = [line for line in err.splitlines() if line.startswith("preempted: ")]
    assert len(lines) == 1 and "SIGTERM" in lines[0] and "run the same command" in lines[0]
    saved = tf.train.latest_checkpoint(str(model_dir))
    assert int(saved.rsplit("-", 1)[1]) > int(first_saved.rsplit("-", 1)[1])
    assert saved in lines[0]


# ----------------------------------------------------------------------------- evaluation
def test_an_evaluation_killed_midway_is_redone_on_resume_and_best_follows(tmp_path,
                                                                          monkeypatch):
    cfg = tiny_config(tmp_path, train_epochs=2, base_learning_rate=0.05,
                      batch_size=128)  # 11 steps per epoch
    evaluate = trainer.Run.evaluate
    calls = [0]

    def dies_on_second(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == 2:
            raise KeyboardInterrupt  # the process dies during the epoch-2 evaluation
        return evaluate(self, *args, **kwargs)
    monkeypatch.setattr(trainer.Run, "evaluate", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        trainer.run(cfg)
    monkeypatch.undo()
    assert [e["event"] for e in events(cfg["model_dir"])] == ["train", "eval", "train"]
    best = json.load(open(os.path.join(cfg["model_dir"], "best", "best.json")))
    assert best["step"] == 11
    result = trainer.run(cfg)  # nothing left to train: the missing evaluation is done
    log = events(cfg["model_dir"])
    assert [e["event"] for e in log] == ["train", "eval", "train", "resume", "eval"]
    assert log[-1]["step"] == 22 and result["top1"] == log[-1]["top1"]
    best = json.load(open(os.path.join(cfg["model_dir"], "best", "best.json")))
    assert {e["step"] for e in best["ranking"]} == {11, 22}
    assert best["step"] == (22 if log[-1]["top1"] > log[1]["top1"] else 11)
    again = trainer.run(cfg)  # a finished run run again reports, records nothing new
    assert len(events(cfg["model_dir"])) == len(log) + 1  # its "resume" line only
    assert again["top1"] == result["top1"]


def test_best_json_always_names_files_that_exist(tmp_path, monkeypatch):
    ckpts, save = _manager(tmp_path, num_best=2)
    metrics = dict(top1=0.1, top5=0.5, loss=2.0, ece=0.1)
    ckpts.keep_best(save(10), metrics, 10, 1)
    # Killed between copying the new checkpoint in and replacing best.json:
    monkeypatch.setattr(checkpoints, "_write_json_atomic",
                        lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        ckpts.keep_best(save(20), dict(metrics, top1=0.3), 20, 2)
    monkeypatch.undo()
    best_dir = os.path.join(ckpts.model_dir, "best")
    best = json.load(open(os.path.join(best_dir, "best.json")))
    assert best["checkpoint"] == "ckpt-10" and os.path.isfile(os.path.join(best_dir,
                                                                           "ckpt-10.index"))
    assert ckpts.keep_best(save(30), dict(metrics, top1=0.2), 30, 3)
    assert sorted(os.listdir(best_dir)) == sorted(
        ["best.json"] + [os.path.basename(f) for s in (10, 30)
                         for f in glob.glob(os.path.join(ckpts.model_dir, f"ckpt-{s}.*"))])


# ----------------------------------------------------------------------------- damage
def _manager(tmp_path, **kw):
    return manager_at(str(tmp_path / "run"), **kw)


def manager_at(model_dir, **kw):
    """(RunCheckpoints over a small model in `model_dir`, a local path or a URL, save)."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(300),
                              keras.layers.Dense(3)])
    optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
    optimizer.build(model.trainable_variables)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    messages = []
    fs.makedirs(model_dir)

    def make():
        return checkpoints.RunCheckpoints(checkpoint, model_dir, 5, True, log=messages.append,
                                          **kw)
    ckpts = make()
    ckpts.messages, ckpts.reopen, ckpts.optimizer = messages, make, optimizer

    def save(step):
        optimizer.iterations.assign(step)
        return ckpts.save(step)
    return ckpts, save


@pytest.mark.parametrize("damage", ["truncated_data", "garbage_index"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_newest_intact(tmp_path, damage):
    ckpts, save = _manager(tmp_path)
    for step in (20, 40, 60):
        save(step)
    bad = os.path.join(ckpts.model_dir, "ckpt-60")
    if damage == "truncated_data":
        data = glob.glob(bad + ".data-*")[0]
        with open(data, "r+b") as f:
            f.truncate(os.path.getsize(data) * 6 // 10)
    else:
        with open(bad + ".index", "wb") as f:
            f.write(os.urandom(200))
    ckpts.optimizer.iterations.assign(0)
    reopened = ckpts.reopen()
    assert reopened.restore_latest().endswith("ckpt-40")
    assert int(ckpts.optimizer.iterations.numpy()) == 40
    assert any("ckpt-60 cannot be read" in m and "damaged" in m for m in ckpts.messages)
    assert sorted(os.listdir(os.path.join(ckpts.model_dir, "damaged"))) == sorted(
        ["ckpt-60.index", os.path.basename(glob.glob(os.path.join(
            ckpts.model_dir, "damaged", "ckpt-60.data-*"))[0])])
    assert tf.train.latest_checkpoint(ckpts.model_dir).endswith("ckpt-40")
    assert reopened.save(60).endswith("ckpt-60")  # training goes on from there


def test_no_readable_checkpoint_is_an_error_that_moves_nothing(tmp_path):
    ckpts, save = _manager(tmp_path)
    save(20)
    with open(os.path.join(ckpts.model_dir, "ckpt-20.index"), "wb") as f:
        f.write(b"garbage")
    with pytest.raises(RunDirError, match="no checkpoint of .* can be read: .*ckpt-20"):
        ckpts.reopen().restore_latest()
    assert not os.path.exists(os.path.join(ckpts.model_dir, "damaged"))


@pytest.mark.parametrize("state", ["binary", "text", "missing", "stale"])
def test_a_damaged_or_missing_index_file_is_rebuilt_never_a_restart(tmp_path, state):
    ckpts, save = _manager(tmp_path)
    for step in (20, 40):
        save(step)
    index = os.path.join(ckpts.model_dir, "checkpoint")
    if state == "binary":
        open(index, "wb").write(bytes(range(256)))
    elif state == "text":
        open(index, "w").write("this is not a checkpoint state\n")
    elif state == "missing":
        os.remove(index)
    else:
        checkpoints.write_index(ckpts.model_dir, ["ckpt-20"])
    os.makedirs(os.path.join(ckpts.model_dir, "ckpt-60_temp"))  # an interrupted save
    ckpts.optimizer.iterations.assign(0)
    reopened = ckpts.reopen()
    assert reopened.restore_latest().endswith("ckpt-40")
    assert int(ckpts.optimizer.iterations.numpy()) == 40
    assert tf.train.latest_checkpoint(ckpts.model_dir).endswith("ckpt-40")
    assert any("rebuilt it from the 2 checkpoint(s) present, latest ckpt-40" in m
               for m in ckpts.messages)
    assert any("ckpt-60_temp" in m for m in ckpts.messages)
    assert not os.path.exists(os.path.join(ckpts.model_dir, "ckpt-60_temp"))


def test_garbage_index_file_resumes_the_run_end_to_end(tmp_path):
    cfg = tiny_config(tmp_path, max_train_steps=8, checkpoint_every_steps=4)
    trainer.run(cfg)
    open(os.path.join(cfg["model_dir"], "checkpoint"), "w").write("garbage\n")
    trainer.run(dict(cfg, max_train_steps=12))
    log = events(cfg["model_dir"])
    assert [e["event"] for e in log] == ["train", "eval", "resume", "train", "eval"]
    assert log[2]["step"] == 8 and log[-1]["step"] == 12


def test_a_full_disk_is_one_error_naming_model_dir_and_keeps_the_last_checkpoint(
        tmp_path, monkeypatch):
    ckpts, save = _manager(tmp_path)
    save(20)

    def no_space(*args, **kwargs):
        os.makedirs(os.path.join(ckpts.model_dir, "ckpt-40_temp"), exist_ok=True)
        raise tf.errors.ResourceExhaustedError(
            None, None, f"{ckpts.model_dir}/ckpt-40_temp/part-0; No space left on device")
    monkeypatch.setattr(ckpts.manager, "save", no_space)
    with pytest.raises(RunDirError, match=r"model_dir .*run: no space left .* step 40; the "
                       r"last good checkpoint is kept: .*ckpt-20"):
        save(40)
    assert not os.path.exists(os.path.join(ckpts.model_dir, "ckpt-40_temp"))
    assert tf.train.latest_checkpoint(ckpts.model_dir).endswith("ckpt-20")


def test_a_gpu_out_of_memory_is_not_mistaken_for_a_full_disk():
    oom = tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
    assert not checkpoints.is_out_of_space(oom)
    assert checkpoints.is_out_of_space(OSError(28, "No space left on device"))


# ----------------------------------------------------------------------------- run lock
def test_the_run_lock_names_a_live_holder_and_takes_over_a_dead_one(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1]); "
         "from core.runlock import RunLock; RunLock(sys.argv[2]).acquire(); print('held', "
         "flush=True); time.sleep(600)", ROOT, str(tmp_path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirError, match=f"is in use by pid {holder.pid} on host "):
            RunLock(str(tmp_path)).acquire()
    finally:
        holder.kill()
        holder.wait()
    lock = RunLock(str(tmp_path)).acquire()  # the holder died (kill -9): taken over
    assert lock.previous["pid"] == holder.pid
    lock.release()
    assert RunLock(str(tmp_path)).acquire().previous is None  # released cleanly: empty


def test_clean_keeps_the_lock_and_evaluations_need_none(tmp_path):
    cfg = tiny_config(tmp_path, max_train_steps=2)
    trainer.run(cfg)
    with RunLock(cfg["model_dir"]):  # a training holds the run: evaluations still work
        result = trainer.run(dict(cfg, eval_only=True, mode="eval"))
        assert result["count"] == 360
    trainer.run(dict(cfg, clean=True))
    assert os.path.isfile(os.path.join(cfg["model_dir"], LOCK_FILE))


def test_eval_only_on_a_damaged_checkpoint_is_one_error_naming_it(tmp_path):
    cfg = tiny_config(tmp_path, max_train_steps=4)
    trainer.run(cfg)
    prefix = tf.train.latest_checkpoint(cfg["model_dir"])
    with open(prefix + ".index", "wb") as f:
        f.write(b"garbage")
    with pytest.raises(RunDirError, match=f"checkpoint {prefix} cannot be read .*"
                       "--eval_checkpoint"):
        trainer.run(dict(cfg, eval_only=True, mode="eval"))

"""MultiWorkerMirroredStrategy with 2 local worker processes over loopback."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import tensorflow as tf
from conftest import ROOT


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


TINY = ["--resnet_size=18", "--base_width=4", "--batch_size=32", "--val_batch_size=64",
        "--lr_warmup_epochs=0", "--preprocessing_type=small_16"]


def launch_workers(model_dir, *flags):
    """Two local worker processes of main_classification.py over loopback."""
    hosts = [f"127.0.0.1:{p}" for p in free_ports(2)]
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}
        env = dict(os.environ, TF_CONFIG=json.dumps(tf_config), TF_CPP_MIN_LOG_LEVEL="3")
        procs.append(subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "main_classification.py"),
             f"--model_dir={model_dir}", *TINY, *flags],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT))
    return procs


def test_two_workers_train_and_evaluate_together(tmp_path):
    model_dir = tmp_path / "run"
    procs = launch_workers(model_dir, "--train_epochs=1", "--max_train_steps=3",
                           "--steps_per_loop=3")
    outputs = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=400)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        outputs.append((p.returncode, out, err))
    for code, out, err in outputs:
        assert code == 0, err[-3000:]
    chief_out = outputs[0][1]
    assert "2 replica(s)" in chief_out
    assert "final: top-1" in chief_out and "360 eval images" in chief_out
    assert tf.train.latest_checkpoint(str(model_dir)).endswith("ckpt-3")
    assert not any(name.startswith(".worker") for name in os.listdir(model_dir))
    events = [json.loads(line)["event"] for line in open(model_dir / "metrics.jsonl")]
    assert events == ["train", "eval"]  # only the chief writes


def test_sigterm_to_one_worker_stops_both_at_the_same_step(tmp_path):
    """A preemption reaches one worker only; the save is collective, so both agree to stop."""
    from engine.checkpoints import checkpoint_prefixes
    model_dir = tmp_path / "run"
    procs = launch_workers(model_dir, "--train_epochs=20", "--steps_per_loop=2",
                           "--checkpoint_every_steps=4")
    try:
        deadline = time.time() + 300
        while not checkpoint_prefixes(str(model_dir)) and time.time() < deadline:
            time.sleep(0.5)
        assert checkpoint_prefixes(str(model_dir)), "no checkpoint written"
        procs[1].send_signal(signal.SIGTERM)  # the non-chief only
        outputs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 75, err[-3000:]
    lines = [[line for line in err.splitlines() if line.startswith("preempted: ")]
             for _, err in outputs]
    assert all(len(worker_lines) == 1 for worker_lines in lines)
    assert "SIGTERM/SIGINT to another worker received" in lines[0][0]
    assert "SIGTERM received" in lines[1][0]
    latest = tf.train.latest_checkpoint(str(model_dir))
    assert latest in lines[0][0] and os.path.basename(latest) in lines[1][0]
    assert not any(name.startswith(".worker") for name in os.listdir(model_dir))

"""MultiWorkerMirroredStrategy with 2 local worker processes over loopback."""

import json
import os
import socket
import subprocess
import sys

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


def test_two_workers_train_and_evaluate_together(tmp_path):
    hosts = [f"127.0.0.1:{p}" for p in free_ports(2)]
    model_dir = tmp_path / "run"
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}}
        env = dict(os.environ, TF_CONFIG=json.dumps(tf_config), TF_CPP_MIN_LOG_LEVEL="3")
        procs.append(subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "main_classification.py"),
             f"--model_dir={model_dir}", "--resnet_size=18", "--base_width=4",
             "--batch_size=32", "--val_batch_size=64", "--train_epochs=1",
             "--max_train_steps=3", "--lr_warmup_epochs=0", "--steps_per_loop=3"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT))
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
    events = [json.loads(l)["event"] for l in open(model_dir / "metrics.jsonl")]
    assert events == ["train", "eval"]  # only the chief writes

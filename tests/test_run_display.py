"""Run display: the start summary line and progress lines with the epoch's and the run's
elapsed time and ETA, on a terminal (rewritten in place) and in a log file (a line every
LOG_INTERVAL_S and at the epoch's end)."""

import io
import os
import subprocess
import sys

from conftest import ROOT

from engine import run_display as rd


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_clock_format():
    assert rd.clock(0) == "0:00:00" and rd.clock(3723.4) == "1:02:03"
    assert rd.clock(None) == "?" and rd.clock(-5) == "0:00:00"


def test_run_eta_counts_steps_and_evaluations():
    now = FakeClock()
    c = rd.RunClock(total_steps=100, now=now)
    assert c.eta(0, 3) is None and "ETA ?" in c.text(0, 3)
    c.trained(10, 20.0)  # 2 s/step
    assert c.eta(10, 3) == 180.0
    assert c.text(10, 3).endswith("ETA 0:03:00+ (step 10/100)")  # evaluations not timed yet
    c.evaluated(30.0)
    c.evaluated(10.0)  # mean 20 s per evaluation
    now.t += 65
    assert c.eta(10, 3) == 180.0 + 60.0
    assert c.text(10, 3) == "run 0:01:05 elapsed, ETA 0:04:00 (step 10/100)"


def test_progress_lines_in_a_log_file_and_on_a_terminal():
    now = FakeClock()
    run = rd.RunClock(total_steps=40, now=now)
    step = {"v": 0}
    log = io.StringIO()
    p = rd.EpochProgress(0, 2, 20, 0, True, run, lambda: step["v"], lambda: 2, stream=log,
                         now=now)
    values = [("loss", 1.5), ("top1", 0.25), ("lr", 0.1), ("img/s", 123.4)]
    for k in range(1, 11):  # 10 updates, 10 s apart: lines at 30 s intervals only
        now.t += 10
        step["v"] = 2 * k
        run.trained(2, 10.0)
        p.update(2 * k, values)
    p.close(20, values)
    lines = log.getvalue().splitlines()
    assert len(lines) == 4  # at 30, 60, 90 s and the close
    assert "\r" not in log.getvalue()
    assert lines[-1] == ("epoch 1/2 step 20/20 | loss 1.5000 | top-1 0.2500 | lr 0.1 | "
                         "123 img/s | epoch 0:01:40 elapsed, ETA 0:00:00 | run 0:01:40 "
                         "elapsed, ETA 0:01:40+ (step 20/40)")
    assert lines[0].startswith("epoch 1/2 step 6/20") and "ETA 0:01:10 |" in lines[0]
    tty = Tty()
    p = rd.EpochProgress(1, 2, 20, 0, True, run, lambda: 25, lambda: 1, stream=tty, now=now,
                         stop_at=10)
    now.t += 5
    p.update(5, values)
    p.close(10, values)
    out = tty.getvalue()
    assert out.count("\r") == 2 and out.endswith("\n") and out.count("\n") == 1
    assert "epoch 2/2 step 5/20" in out and "epoch 0:00:05 elapsed, ETA 0:00:05" in out
    silent = io.StringIO()
    rd.EpochProgress(0, 1, 5, 0, False, stream=silent).close(5, values)
    assert silent.getvalue() == ""


def test_summary_line_names_network_size_data_steps_replicas_precision():
    cfg = {"resnet_size": 50, "resnet_version": 2, "base_width": 64, "use_resnet_d": True,
           "use_sk_block": True, "bl_alpha": 2, "bl_beta": 4, "anti_alias_type": "sconv",
           "use_se_block": False, "use_dropblock": True, "zero_gamma": True,
           "train_epochs": 100, "batch_size": 256}
    line = rd.summary_line(cfg, params=25_560_000, macs=5_419_051_776, image_size=224,
                           data="TFRecords in /d", steps_per_epoch=295, total_steps=29500,
                           start_step=1000, replicas=4, precision="mixed_bfloat16")
    assert line == ("run: ResNet-50 v2 (D, SK, BL a2 b4, anti-alias sconv, DropBlock, "
                    "zero-gamma), width 64 | 25.56 M params | 5.42 GMACs/image at 224 px | "
                    "TFRecords in /d | 29500 steps (295/epoch x 100 epochs), 28500 left | "
                    "global batch 256 on 4 replica(s) | mixed_bfloat16")


def test_a_training_run_prints_the_summary_and_run_eta(tmp_path):
    proc = subprocess.run([sys.executable, "main_classification.py",
                           f"--model_dir={tmp_path}/run", "--train_epochs=2",
                           "--max_train_steps=3", "--steps_per_loop=1", "--base_width=4",
                           "--preprocessing_type=small_16"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    summary = [line for line in lines if line.startswith("run: ResNet-18 v1")]
    assert len(summary) == 1 and "GMACs/image at 16 px" in summary[0]
    assert "3 steps (22/epoch x 2 epochs)" in summary[0] and "| float32" in summary[0]
    progress = [line for line in lines if line.startswith("epoch 1/2 step 3/22")]
    assert len(progress) == 1 and "| run 0:" in progress[0], proc.stdout
    assert progress[0].endswith("(step 3/3)")

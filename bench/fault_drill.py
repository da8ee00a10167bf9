"""Fault drill (issue 15): injects the faults of a fault-injection audit into real training
runs of `main_classification.py` on the embedded digits and prints what survives.

Command (repository root, venv active; about 10 minutes on 2 CPU cores):

    python bench/fault_drill.py --work /tmp/fault_drill --json_out results/fault_drill.json

Every run: ResNet-18 at width 8 on 32 px digits (1,437 train / 360 eval images, 22 steps per
epoch at batch 64), --deterministic, evaluation every epoch. The shard faults use TFRecords
built from the same digits (4 train + 2 validation shards, datasets.build_tfrecords).
Faults:
- kill9: an uninterrupted reference run, then the same run killed with SIGKILL --kills times
  at random moments (start-up, steps, checkpoint writes, evaluation, best/ updates) and rerun
  until it finishes. Reports resumed runs, whether the final weights equal the reference
  bitwise, evaluations present, best/ right, and the steps lost per kill: the newest step
  in the killed process's TensorBoard scalars (flushed every 10 values, so a lower bound of
  the step it had reached) minus the step the next attempt resumes from.
- sigterm + two_runs: a second process on a running model_dir, then SIGTERM to the first.
- kill_eval: SIGKILL right after an epoch's train record, i.e. during its evaluation.
- ckpt_data / ckpt_index / ckpt_state: the latest checkpoint's .data truncated, its .index
  overwritten with garbage, the `checkpoint` index file overwritten with garbage.
- shard_flip / shard_trunc / val_trunc: 16 flipped bytes in a train shard, a train shard
  truncated to 60 %, a validation shard truncated to 60 %; each also with
  --skip_corrupt_records.
- full_disk: model_dir on a 9 MB tmpfs, full after a few checkpoints (needs root for
  `mount`; reported as skipped otherwise).
- flags: the audit's named crash cases through the command line.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RUN = ["--resnet_size=18", "--base_width=8", "--batch_size=64", "--val_batch_size=120",
       "--steps_per_loop=2", "--lr_warmup_epochs=0", "--deterministic",
       "--base_learning_rate=0.05", "--checkpoint_every_steps=6"]
FUZZ = [("seed", "-1"), ("base_width", "100000"), ("embedding_size", "10000000"),
        ("num_classes", "100000000"), ("shuffle_buffer", "1000000000"),
        ("val_batch_size", "1000000000"), ("num_cpu_replicas", "1000000000")]


def main_cmd(model_dir, *flags) -> list[str]:
    return [sys.executable, str(ROOT / "main_classification.py"), f"--model_dir={model_dir}",
            *RUN, *flags]


def run(cmd, timeout=900) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=ROOT)


def start(cmd) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)


def lines(text, prefix):
    return [line for line in text.splitlines() if line.startswith(prefix)]


def records(model_dir, event=None):
    path = os.path.join(model_dir, "metrics.jsonl")
    out = []
    if os.path.isfile(path):
        for line in open(path):
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if event is None or r.get("event") == event:
                out.append(r)
    return out


def checkpoints_of(model_dir):
    from core.rundir import checkpoint_prefixes
    return checkpoint_prefixes(model_dir)


def step_of(prefix):
    return int(prefix.rsplit("-", 1)[1]) if prefix else 0


def last_logged_step(model_dir) -> int:
    """The newest step of the training's TensorBoard scalars (written every loop, flushed
    every 10 values: a lower bound of the step a killed process had reached)."""
    import tensorflow as tf
    newest = 0
    for path in glob.glob(os.path.join(model_dir, "train", "events.out.tfevents.*")):
        try:
            for raw in tf.data.TFRecordDataset(path):
                newest = max(newest, tf.compat.v1.Event.FromString(raw.numpy()).step)
        except tf.errors.OpError:  # a record cut by the kill ends the file
            pass
    return newest


def weights(prefix):
    import tensorflow as tf
    reader = tf.train.load_checkpoint(prefix)
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
            if k.startswith("model/")}


def same_weights(a, b) -> bool:
    import numpy as np
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


def best_is_right(model_dir) -> bool:
    evals = {r["step"]: r["top1"] for r in records(model_dir, "eval")}
    best = json.load(open(os.path.join(model_dir, "best", "best.json")))
    top = max(evals.values())
    first_top = min(s for s, v in evals.items() if v == top)
    return best["step"] == first_top and os.path.isfile(
        os.path.join(model_dir, "best", best["checkpoint"] + ".index"))


# ----------------------------------------------------------------------------- faults
def drill_kill9(work, epochs, kills, rng) -> dict:
    ref = os.path.join(work, "reference")
    t0 = time.time()
    done = run(main_cmd(ref, f"--train_epochs={epochs}"))
    assert done.returncode == 0, done.stderr[-2000:]
    wall = time.time() - t0
    killed = os.path.join(work, "killed")
    lost, resumed, restarts = [], 0, 0
    for _ in range(kills):
        proc = start(main_cmd(killed, f"--train_epochs={epochs}"))
        time.sleep(rng.uniform(1.0, 0.4 * wall))  # start-up included: any moment
        if proc.poll() is not None:
            break
        proc.kill()
        proc.communicate()
        restarts += 1
        newest = checkpoints_of(killed)  # where the next attempt resumes
        lost.append(max(0, last_logged_step(killed) - step_of(newest[-1] if newest else None)))
    while True:
        final = run(main_cmd(killed, f"--train_epochs={epochs}"))
        resumed += "resuming from" in final.stdout
        if final.returncode == 0:
            break
        raise RuntimeError(final.stderr[-2000:])
    latest = checkpoints_of(killed)[-1]
    evals = {r["step"] for r in records(killed, "eval")}
    expected = {r["step"] for r in records(ref, "eval")}
    return {"fault": f"kill -9 x {restarts}",
            "outcome": f"finished; final weights bitwise equal to an uninterrupted run: "
                       f"{same_weights(latest, checkpoints_of(ref)[-1])}; evaluations "
                       f"{len(evals & expected)}/{len(expected)}; best/ right: "
                       f"{best_is_right(killed)}; steps lost per kill: at least (logged "
                       f"step - resumed step) mean {sum(lost) / max(len(lost), 1):.1f}, worst "
                       f"{max(lost or [0])}; at most 6 + 2 (a checkpoint every 6 steps, "
                       f"loops of 2)",
            "ok": same_weights(latest, checkpoints_of(ref)[-1]) and evals >= expected
            and best_is_right(killed)}


def drill_sigterm_and_lock(work) -> list[dict]:
    model_dir = os.path.join(work, "sigterm")
    first = start(main_cmd(model_dir, "--train_epochs=200"))
    deadline = time.time() + 300
    while not checkpoints_of(model_dir) and time.time() < deadline:
        time.sleep(0.2)
    second = run(main_cmd(model_dir, "--train_epochs=200"))
    err2 = lines(second.stderr, "error: ")
    first.send_signal(signal.SIGTERM)
    out, err = first.communicate(timeout=300)
    pre = lines(err, "preempted: ")
    saved = checkpoints_of(model_dir)[-1]
    ok_pre = first.returncode == 75 and len(pre) == 1 and saved in pre[0]
    again = run(main_cmd(model_dir, "--train_epochs=200", "--max_train_steps="
                         f"{step_of(saved) + 4}"))
    resumed_at = [line for line in again.stdout.splitlines() if line.startswith("resuming from")]
    return [
        {"fault": "SIGTERM during training",
         "outcome": f"exit {first.returncode}, one line: {pre[0][:60] + '...' if pre else '-'}"
                    f" checkpoint at the preemption step {step_of(saved)}; rerun: "
                    f"{resumed_at[0] if resumed_at else 'no resume line'}",
         "ok": ok_pre and bool(resumed_at) and f"step {step_of(saved)}" in resumed_at[0]},
        {"fault": "two runs on one model_dir",
         "outcome": f"second: exit {second.returncode}, {err2[0][:110] if err2 else '-'}...",
         "ok": second.returncode == 2 and len(err2) == 1 and f"pid {first.pid}" in err2[0]}]


def drill_kill_eval(work, epochs, kills) -> dict:
    model_dir = os.path.join(work, "kill_eval")
    done_kills = redone = 0
    for _ in range(kills):
        proc = start(main_cmd(model_dir, f"--train_epochs={epochs}"))
        seen = len(records(model_dir, "train"))
        deadline = time.time() + 300
        while len(records(model_dir, "train")) == seen and proc.poll() is None \
                and time.time() < deadline:
            time.sleep(0.02)
        if proc.poll() is not None:
            break
        proc.kill()  # the epoch's train line is out: its evaluation is running
        out, _ = proc.communicate()
        redone += out.count("did not complete: evaluating it now")
        done_kills += 1
    final = run(main_cmd(model_dir, f"--train_epochs={epochs}"))
    evals = {r["step"] for r in records(model_dir, "eval")}
    trains = {r["step"] for r in records(model_dir, "train")}
    redone += final.stdout.count("did not complete: evaluating it now")
    return {"fault": f"kill -9 during evaluation x {done_kills}",
            "outcome": f"exit {final.returncode}; evaluations {len(evals & trains)}/"
                       f"{len(trains)} epochs ({redone} redone on resume); best/ right: "
                       f"{best_is_right(model_dir)}",
            "ok": final.returncode == 0 and trains <= evals and best_is_right(model_dir)}


def drill_checkpoints(work) -> list[dict]:
    out = []
    for fault in ("ckpt_data", "ckpt_index", "ckpt_state"):
        model_dir = os.path.join(work, fault)
        first = run(main_cmd(model_dir, "--train_epochs=2", "--max_train_steps=30"))
        assert first.returncode == 0, first.stderr[-2000:]
        latest = checkpoints_of(model_dir)[-1]
        if fault == "ckpt_data":
            data = glob.glob(latest + ".data-*")[0]
            with open(data, "r+b") as f:
                f.truncate(os.path.getsize(data) * 6 // 10)
            what = f"truncated {os.path.basename(data)}"
        elif fault == "ckpt_index":
            with open(latest + ".index", "wb") as f:
                f.write(os.urandom(300))
            what = f"garbage {os.path.basename(latest)}.index"
        else:
            with open(os.path.join(model_dir, "checkpoint"), "wb") as f:
                f.write(os.urandom(120))
            what = "garbage `checkpoint` index file"
        again = run(main_cmd(model_dir, "--train_epochs=2", "--max_train_steps=40"))
        resumed = [line for line in again.stdout.splitlines() if line.startswith("resuming from")]
        warnings = [line for line in again.stdout.splitlines() if line.startswith("warning:")]
        steps = [r["step"] for r in records(model_dir, "train")]
        expected_step = 30 if fault == "ckpt_state" else 24
        out.append({"fault": what,
                    "outcome": f"exit {again.returncode}; {resumed[0] if resumed else 'no resume'}"
                               f"; {warnings[0][:120] if warnings else 'no warning'}",
                    "ok": again.returncode == 0 and bool(resumed)
                    and f"step {expected_step})" in resumed[0] and bool(warnings)
                    and (fault == "ckpt_state" or os.path.isdir(os.path.join(model_dir,
                                                                             "damaged")))
                    and len(steps) == len(set(steps))})
    return out


def build_digit_shards(work) -> str:
    from datasets.build_tfrecords import build_dataset
    from datasets.digits import load_digits_splits
    images = os.path.join(work, "digit_images")
    for split, data in zip(("train", "validation"), load_digits_splits()):
        for encoded, label, name in zip(data.encoded, data.labels, data.filenames):
            folder = os.path.join(images, split, str(label))
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, name), "wb") as f:
                f.write(encoded)
    shards = os.path.join(work, "digit_shards")
    build_dataset(images, shards, train_shards=4, validation_shards=2, num_workers=1,
                  keep_png=True)
    return shards


def drill_shards(work) -> list[dict]:
    clean = build_digit_shards(work)
    out = []
    for fault in ("shard_flip", "shard_trunc", "val_trunc"):
        data = os.path.join(work, fault + "_data")
        shutil.copytree(clean, data)
        target = sorted(glob.glob(os.path.join(
            data, ("validation-*" if fault == "val_trunc" else "train-*"))))[0]
        size = os.path.getsize(target)
        with open(target, "r+b") as f:
            if fault == "shard_flip":
                f.seek(size // 2)
                chunk = bytearray(f.read(16))
                f.seek(size // 2)
                f.write(bytes(b ^ 0xFF for b in chunk))
            else:
                f.truncate(size * 6 // 10)
        name = {"shard_flip": "16 flipped bytes in a train shard",
                "shard_trunc": "train shard truncated to 60 %",
                "val_trunc": "val shard truncated to 60 %"}[fault]
        common = [f"--dataset_name={data}", "--preprocessing_type=small_32",
                  "--train_epochs=1"]
        strict = run(main_cmd(os.path.join(work, fault), *common))
        errors = lines(strict.stderr, "error: ")
        skip = run(main_cmd(os.path.join(work, fault + "_skip"), *common,
                            "--skip_corrupt_records"))
        loud = [line for line in (skip.stdout + skip.stderr).splitlines()
                if os.path.basename(target) in line]
        out.append({"fault": name,
                    "outcome": f"exit {strict.returncode}: {errors[0][:140] if errors else '-'}"
                               f" | --skip_corrupt_records: exit {skip.returncode}, "
                               f"{loud[0][:110] if loud else 'shard not named'}",
                    "ok": strict.returncode == 2 and len(errors) == 1
                    and os.path.basename(target) in errors[0] and skip.returncode == 0
                    and bool(loud)})
    return out


def drill_full_disk(work) -> dict:
    mount_point = os.path.join(work, "small_disk")
    os.makedirs(mount_point, exist_ok=True)
    # 9 MB holds a few checkpoints of this network (with momentum), not a whole run.
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=9m", "tmpfs", mount_point],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        return {"fault": "full disk at a checkpoint", "outcome": "skipped: mounting a small "
                f"tmpfs needs root ({mounted.stderr.strip()[:80]})", "ok": None}
    try:
        model_dir = os.path.join(mount_point, "run")
        proc = run(main_cmd(model_dir, "--train_epochs=2", "--keep_checkpoint_max=0"))
        errors = lines(proc.stderr, "error: ")
        temps = glob.glob(os.path.join(model_dir, "*_temp*"))
        kept = checkpoints_of(model_dir)
        return {"fault": "full disk while a checkpoint is written",
                "outcome": f"exit {proc.returncode}: {errors[0][:260] if errors else '-'}; "
                           f"temporaries left: {len(temps)}",
                "ok": proc.returncode == 2 and len(errors) == 1 and model_dir in errors[0]
                and bool(kept) and kept[-1] in errors[0] and not temps}
    finally:
        subprocess.run(["umount", mount_point], capture_output=True)


def drill_flags(work) -> dict:
    clean, details = 0, []
    for name, value in FUZZ:
        t0 = time.time()
        proc = run(main_cmd(os.path.join(work, "fuzz", name), f"--{name}={value}",
                            "--train_epochs=1"))
        errors = lines(proc.stderr, "error: ")
        good = (proc.returncode == 2 and len(errors) == 1 and f"--{name}" in errors[0]
                and "Traceback" not in proc.stderr)
        clean += good
        details.append(f"--{name}={value}: {'clean' if good else 'BAD'} "
                       f"({time.time() - t0:.0f} s)")
    return {"fault": f"flag fuzz, the audit's {len(FUZZ)} crash cases",
            "outcome": f"{clean}/{len(FUZZ)} one-line errors naming the flag, no traceback",
            "ok": clean == len(FUZZ), "details": details}


DRILLS = ("kill9", "sigterm", "kill_eval", "checkpoints", "shards", "full_disk", "flags")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", default="/tmp/fault_drill")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default=",".join(DRILLS))
    parser.add_argument("--json_out", default=None)
    args = parser.parse_args(argv)
    only = args.only.split(",")
    unknown = set(only) - set(DRILLS)
    if unknown:
        parser.error(f"--only: unknown drill(s) {', '.join(sorted(unknown))}; choose from "
                     f"{', '.join(DRILLS)}")
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    rng = random.Random(args.seed)
    rows = []
    t0 = time.time()
    if "kill9" in only:
        rows.append(drill_kill9(args.work, args.epochs, args.kills, rng))
    if "sigterm" in only:
        rows += drill_sigterm_and_lock(args.work)
    if "kill_eval" in only:
        rows.append(drill_kill_eval(args.work, args.epochs, 3))
    if "checkpoints" in only:
        rows += drill_checkpoints(args.work)
    if "shards" in only:
        rows += drill_shards(args.work)
    if "full_disk" in only:
        rows.append(drill_full_disk(args.work))
    if "flags" in only:
        rows.append(drill_flags(args.work))
    from bench import environment
    report = {"drill": "fault_drill", "seconds": round(time.time() - t0, 1),
              "environment": environment.describe(), "rows": rows}
    print("| fault | now | ok |\n|---|---|---|")
    for row in rows:
        mark = {True: "yes", False: "**NO**", None: "skipped"}[row["ok"]]
        print(f"| {row['fault']} | {row['outcome'].replace('|', '/')} | {mark} |")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(report, f, indent=1)
    return report


if __name__ == "__main__":
    report = main()
    sys.exit(0 if all(r["ok"] is not False for r in report["rows"]) else 1)

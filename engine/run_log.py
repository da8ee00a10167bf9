"""What a run reports: TensorBoard scalars and `metrics.jsonl` (the console lines:
engine/run_display.py; hparams, config text and images: engine/tensorboard.py).

Training's "loss" (console, TensorBoard "train" run, metrics.jsonl "train" records) is the
objective's cross-entropy -- with label smoothing, mixed targets and the distillation term
when those are on -- without weight decay, so it is on the scale of the eval "loss" (the
plain cross-entropy of the true labels; the two are equal only without smoothing, mixing
and distillation). "l2" is the weight-decay term and "total_loss" = loss + l2, what the
gradient is of. Runs written before "l2" existed logged the total as "loss": a "train"
record without "l2" is one of those.

Only the chief writes files; other workers get no-op writers.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import tensorflow as tf

from core import fs


def loss_parts(sums: dict, steps: int) -> dict:
    """{"loss", "l2", "total_loss"} per step from the train loop's sums over ``steps``
    steps (its "ce", "l2" and "loss" = the total)."""
    return {"loss": sums["ce"] / steps, "l2": sums["l2"] / steps,
            "total_loss": sums["loss"] / steps}


class RunLog:
    """``directory``: model_dir for training, model_dir/eval_only/<name> for an evaluation.
    ``write=False`` prints (on the chief) but writes no file (e.g. --robustness, whose
    report has its own directory)."""

    def __init__(self, directory: str, chief: bool, write: bool = True,
                 writers: tuple = ("train", "eval")):
        self.chief = chief
        self.write = chief and write
        self.path = os.path.join(directory, "metrics.jsonl")
        if self.write:
            # One directory of event files per writer: TensorBoard shows them as runs.
            self.writers = {name: tf.summary.create_file_writer(
                os.path.join(directory, name) if len(writers) > 1 else directory)
                for name in writers}
        else:
            self.writers = {name: tf.summary.create_noop_writer() for name in writers}

    def scalars(self, writer: str, step: int, values: dict) -> None:
        # No flush here: this runs after every train loop; `flush` runs once per epoch.
        with self.writers[writer].as_default(step=step):
            for key, value in values.items():
                tf.summary.scalar(key, value)

    def flush(self) -> None:
        for writer in self.writers.values():
            writer.flush()

    def record(self, event: str, **fields: Any) -> None:
        if not self.write:
            return
        line = {"event": event, "time": round(time.time(), 3), **fields}
        fs.append_text(self.path, json.dumps(line) + "\n")

    def evaluated_steps(self) -> dict[int, dict]:
        """{step: the last "eval" record at that step} of metrics.jsonl (read on every
        worker: all of them must agree on what is left to evaluate). A line cut short by a
        kill is ignored."""
        out = {}
        try:
            text = fs.read_text(self.path) if fs.isfile(self.path) else ""
        except (OSError, UnicodeError):
            text = ""
        for line in text.split("\n"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("event") == "eval":
                out[int(record.get("step", -1))] = record
        return out

    def say(self, message: str) -> None:
        if self.chief:
            print(message, flush=True)


"""Checkpoints of a run directory: every epoch with keep-max, a copy of the best by top-1,
and automatic resume.

Layout of model_dir:
  ckpt-<step>.{index,data-*}, checkpoint   tf.train.CheckpointManager (latest kept N)
  best/ckpt-<step>.*, best/best.json        the best evaluated checkpoint by top-1
Resume order: an existing checkpoint in model_dir > --pretrained_model_checkpoint_path
(warm start of a new run) > scratch. The step lives in the checkpoint (the optimizer's
iteration counter), never parsed from a file name.
Under MultiWorkerMirroredStrategy every worker saves (the save is collective) but only the
chief writes into model_dir; the others write to a temporary directory they then delete.
"""

from __future__ import annotations

import glob
import json
import os
import shutil

import tensorflow as tf

BEST_DIR = "best"
BEST_FILE = "best.json"


class RunCheckpoints:
    def __init__(self, checkpoint: tf.train.Checkpoint, model_dir: str, max_to_keep: int,
                 chief: bool, worker: int = 0):
        self.model_dir = model_dir
        self.chief = chief
        self.write_dir = model_dir if chief else os.path.join(model_dir, f".worker{worker}")
        self.checkpoint = checkpoint
        self.manager = tf.train.CheckpointManager(checkpoint, self.write_dir,
                                                  max_to_keep=max_to_keep,
                                                  checkpoint_name="ckpt")

    def latest(self) -> str | None:
        return tf.train.latest_checkpoint(self.model_dir)

    def restore_latest(self) -> str | None:
        path = self.latest()
        if path:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        return path

    def save(self, step: int) -> str:
        path = self.manager.save(checkpoint_number=step)
        if not self.chief:
            shutil.rmtree(self.write_dir, ignore_errors=True)
            return os.path.join(self.model_dir, os.path.basename(path))
        return path

    # --- best checkpoint
    def best_info(self) -> dict | None:
        return read_best(self.model_dir)

    def keep_best(self, path: str, metrics: dict, step: int, epoch: int) -> bool:
        """Copies `path` to best/ when its top-1 beats the previous best. Chief only."""
        if not self.chief:
            return False
        best = self.best_info()
        if best is not None and best["top1"] >= metrics["top1"]:
            return False
        best_dir = os.path.join(self.model_dir, BEST_DIR)
        tmp_dir = best_dir + ".tmp"
        shutil.rmtree(tmp_dir, ignore_errors=True)
        os.makedirs(tmp_dir)
        for f in glob.glob(path + ".*"):
            shutil.copy2(f, tmp_dir)
        info = {"checkpoint": os.path.basename(path), "step": step, "epoch": epoch,
                **{k: metrics[k] for k in ("top1", "top5", "loss", "ece")}}
        with open(os.path.join(tmp_dir, BEST_FILE), "w") as f:
            json.dump(info, f, indent=1)
        shutil.rmtree(best_dir, ignore_errors=True)
        os.replace(tmp_dir, best_dir)
        return True


def read_best(model_dir: str) -> dict | None:
    path = os.path.join(model_dir, BEST_DIR, BEST_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def best_checkpoint_path(model_dir: str) -> str | None:
    best = read_best(model_dir)
    if best is None:
        return None
    return os.path.join(model_dir, BEST_DIR, best["checkpoint"])

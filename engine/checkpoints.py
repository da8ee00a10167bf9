"""Checkpoints of a run directory: the latest N (--keep_checkpoint_max, 0 = all), the best
--num_best_ckpt_to_keep by top-1 in best/, optionally every evaluated one in periodical/.

Layout of model_dir (see core/rundir.py for the whole run directory):
  ckpt-<step>.{index,data-*}, checkpoint   tf.train.CheckpointManager
  best/ckpt-<step>.*, best/best.json        best.json: the best entry's fields at the top
                                            level (checkpoint, step, epoch, top1, ...) and
                                            "ranking", every kept entry best first
  periodical/ckpt-<step>.*                  --keep_ckpt_every_eval
Which checkpoint a mode uses is decided in one place, `core.rundir.RunDir.checkpoint`.
The step lives in the checkpoint (the optimizer's iteration counter), never parsed from a
file name. Under MultiWorkerMirroredStrategy every worker saves (the save is collective) but
only the chief writes into model_dir; the others write to a temporary directory they then
delete.
"""

from __future__ import annotations

import glob
import json
import os
import shutil

import tensorflow as tf

from core.rundir import BEST_DIR, BEST_FILE, read_best

PERIODICAL_DIR = "periodical"


class RunCheckpoints:
    def __init__(self, checkpoint: tf.train.Checkpoint, model_dir: str, max_to_keep: int,
                 chief: bool, worker: int = 0, num_best: int = 1, rank_by: str = "top1",
                 keep_every_eval: bool = False, create: bool = True):
        self.model_dir = model_dir
        self.chief = chief
        self.num_best = max(1, int(num_best))
        self.rank_by = rank_by
        self.keep_every_eval = keep_every_eval
        self.write_dir = model_dir if chief else os.path.join(model_dir, f".worker{worker}")
        self.checkpoint = checkpoint
        # An evaluation only reads: no manager (it would create model_dir files).
        self.manager = tf.train.CheckpointManager(
            checkpoint, self.write_dir, max_to_keep=max_to_keep or None,
            checkpoint_name="ckpt") if create else None

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

    # --- best checkpoints
    def best_info(self) -> dict | None:
        return read_best(self.model_dir)

    def keep_best(self, path: str, metrics: dict, step: int, epoch: int) -> bool:
        """Adds `path` to best/ when it ranks among the best `num_best` by `rank_by` (ties keep
        the earlier checkpoint); returns whether it is the new best. Chief only. best/ is
        rebuilt in a temporary directory and swapped in."""
        if not self.chief:
            return False
        if self.keep_every_eval:
            _copy_checkpoint(path, os.path.join(self.model_dir, PERIODICAL_DIR))
        best = self.best_info()
        ranking = list((best or {}).get("ranking") or ([best] if best else []))
        entry = {"checkpoint": os.path.basename(path), "step": step, "epoch": epoch,
                 **{k: metrics[k] for k in ("top1", "top5", "loss", "ece", self.rank_by)}}
        if any(e["checkpoint"] == entry["checkpoint"] for e in ranking):
            return False
        ranking = sorted(ranking + [entry], key=lambda e: -e.get(self.rank_by, -1.0))
        # (sorted is stable: of equal scores the earlier checkpoint stays first)
        if entry not in ranking[:self.num_best]:
            return False
        ranking = ranking[:self.num_best]
        best_dir = os.path.join(self.model_dir, BEST_DIR)
        tmp_dir = best_dir + ".tmp"
        shutil.rmtree(tmp_dir, ignore_errors=True)
        os.makedirs(tmp_dir)
        for e in ranking:
            source = path if e is entry else os.path.join(best_dir, e["checkpoint"])
            _copy_checkpoint(source, tmp_dir)
        with open(os.path.join(tmp_dir, BEST_FILE), "w") as f:
            json.dump({**ranking[0], "ranking": ranking}, f, indent=1)
        old_dir = best_dir + ".old"
        shutil.rmtree(old_dir, ignore_errors=True)
        if os.path.isdir(best_dir):
            os.replace(best_dir, old_dir)
        os.replace(tmp_dir, best_dir)
        shutil.rmtree(old_dir, ignore_errors=True)
        return ranking[0] is entry


def _copy_checkpoint(prefix: str, directory: str) -> None:
    os.makedirs(directory, exist_ok=True)
    for f in glob.glob(prefix + ".*"):
        shutil.copy2(f, directory)

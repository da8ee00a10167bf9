"""Checkpoints of a run directory: the latest N (--keep_checkpoint_max, 0 = all), the best
--num_best_ckpt_to_keep by top-1 in best/, optionally every evaluated one in periodical/.

Layout of model_dir (see core/rundir.py for the whole run directory):
  ckpt-<step>.{index,data-*}, checkpoint   tf.train.CheckpointManager
  best/ckpt-<step>.*, best/best.json        best.json: the best entry's fields at the top
                                            level (checkpoint, step, epoch, top1, ...) and
                                            "ranking", every kept entry best first
  periodical/ckpt-<step>.*                  --keep_ckpt_every_eval
  damaged/                                  checkpoint files that failed to read, moved aside
Which checkpoint a mode uses is decided in one place, `core.rundir.RunDir.checkpoint`.
The step lives in the checkpoint (the optimizer's iteration counter); the number in a file
name only orders the candidates. Under MultiWorkerMirroredStrategy every worker saves (the
save is collective) but only the chief writes into model_dir; the others write to a temporary
directory they then delete.

Damaged state never costs the run (`prepare`, `restore_latest`): stale temporaries of an
interrupted save are removed; a missing or unreadable ``checkpoint`` index is rebuilt from the
checkpoint files present (never a restart from step 0); a checkpoint that fails to read is
moved to damaged/ with a warning and the newest intact one is used. best/ is updated in place
so that best.json always names files that exist: new files are copied in first, best.json is
replaced atomically, files it no longer names are removed last.
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from core import fs
from core.errors import RunDirError
from core.rundir import BEST_DIR, BEST_FILE, checkpoint_prefixes, read_best

PERIODICAL_DIR = "periodical"
DAMAGED_DIR = "damaged"
INDEX_FILE = "checkpoint"
# What an interrupted process leaves behind: TensorFlow's "<prefix>_temp" save directory,
# the previous best/ swap directories, other workers' temporary save directories and our
# own atomic-write temporaries.
_STALE = ("ckpt-*_temp*", "best.tmp", "best.old", ".worker*", "*.tmp[0-9]*", ".write_probe_*",
          os.path.join(BEST_DIR, "*.part"), os.path.join(BEST_DIR, "*.tmp[0-9]*"))


def is_out_of_space(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT,
                                                       errno.EFBIG):
        return True
    text = str(error)
    return isinstance(error, (tf.errors.ResourceExhaustedError, tf.errors.OpError)) and any(
        s in text for s in ("No space left", "Disk quota exceeded", "File too large"))


class RunCheckpoints:
    def __init__(self, checkpoint: tf.train.Checkpoint, model_dir: str, max_to_keep: int,
                 chief: bool, worker: int = 0, num_best: int = 1, rank_by: str = "top1",
                 keep_every_eval: bool = False, create: bool = True,
                 log: Callable[[str], Any] = print) -> None:
        self.model_dir = model_dir
        self.chief = chief
        self.num_best = max(1, int(num_best))
        self.rank_by = rank_by
        self.keep_every_eval = keep_every_eval
        self.log = log
        self.write_dir = model_dir if chief else os.path.join(model_dir, f".worker{worker}")
        self.checkpoint = checkpoint
        self.max_to_keep = max_to_keep or None
        if create and chief:
            self.prepare()
        # An evaluation only reads: no manager (it would create model_dir files).
        self.manager = self._make_manager() if create else None

    def _make_manager(self) -> tf.train.CheckpointManager:
        return tf.train.CheckpointManager(self.checkpoint, self.write_dir,
                                          max_to_keep=self.max_to_keep, checkpoint_name="ckpt")

    # --- repairs before a training starts (chief, under the run lock)
    def prepare(self) -> None:
        removed = remove_stale(self.model_dir)
        if removed:
            self.log(f"warning: removed {len(removed)} temporary file(s) of an interrupted "
                     f"process: {', '.join(removed[:5])}" + (" ..." if len(removed) > 5 else ""))
        if fs.isdir(os.path.join(self.model_dir, BEST_DIR)):
            prune_best(os.path.join(self.model_dir, BEST_DIR))
        self._repair_index()

    def _repair_index(self) -> None:
        present = checkpoint_prefixes(self.model_dir)
        index = os.path.join(self.model_dir, INDEX_FILE)
        listed, problem = _read_index(index)
        names = [os.path.basename(p) for p in present]
        if not names:
            if problem == "unreadable":
                self._move_aside([index])
                self.log(f"warning: {index} was unreadable and no checkpoint file is present; "
                         f"moved it to {DAMAGED_DIR}/")
            return
        if listed and listed[-1] == names[-1]:
            return
        if problem == "unreadable":
            self._move_aside([index])
            why = f"{index} was unreadable (moved to {DAMAGED_DIR}/)"
        elif problem == "missing":
            why = f"{index} was missing"
        else:
            why = f"{index} named {listed[-1] if listed else 'no checkpoint'}"
        write_index(self.model_dir, names)
        self.log(f"warning: {why}; rebuilt it from the {len(names)} checkpoint(s) present, "
                 f"latest {names[-1]}")

    # --- restore
    def latest(self) -> str | None:
        prefixes = checkpoint_prefixes(self.model_dir)
        return prefixes[-1] if prefixes else None

    def restore_latest(self) -> str | None:
        """Restores the newest checkpoint that reads; a damaged one is moved to damaged/
        (chief) with a warning naming it. RunDirError when checkpoints exist but none reads
        (nothing is moved then: the run's state is left for a person to look at)."""
        candidates = checkpoint_prefixes(self.model_dir)
        failures = []
        for prefix in reversed(candidates):
            try:
                self.checkpoint.restore(prefix).assert_existing_objects_matched()
            except AssertionError as e:
                raise RunDirError(f"{prefix}: checkpoint does not match the network of "
                                  f"{self.model_dir}/config.yaml "
                                  f"({str(e).splitlines()[0][:200]})") from None
            except (tf.errors.OpError, ValueError, IndexError, OSError, UnicodeError) as e:
                failures.append((prefix, " ".join(str(e).split())[:160] or type(e).__name__))
                continue
            if failures:
                for bad, why in failures:
                    moved = self._move_aside(fs.files_of(bad))
                    self.log(f"warning: checkpoint {bad} cannot be read ({why}); "
                             + (f"moved to {os.path.join(self.model_dir, DAMAGED_DIR)}/"
                                if moved else "left in place (not the chief)"))
                if self.chief:
                    write_index(self.model_dir, [os.path.basename(p) for p in candidates
                                                 if p not in dict(failures)])
                    if self.manager is not None:  # forget the moved ones
                        self.manager = self._make_manager()
                self.log(f"warning: resuming from the newest intact checkpoint {prefix}")
            return prefix
        if failures:
            raise RunDirError(
                f"no checkpoint of {self.model_dir} can be read: "
                + "; ".join(f"{p} ({why})" for p, why in failures)
                + ". Nothing was changed; move them away to start over, or use --clean")
        return None

    def _move_aside(self, files: list[str]) -> bool:
        if not self.chief or not files:
            return False
        target = os.path.join(self.model_dir, DAMAGED_DIR)
        fs.makedirs(target)
        for f in files:
            fs.rename(f, os.path.join(target, os.path.basename(f)))
        return True

    # --- save
    def save(self, step: int) -> str:
        try:
            path = self.manager.save(checkpoint_number=step)
        except (tf.errors.OpError, OSError) as e:
            if not is_out_of_space(e):
                raise
            remove_stale(self.write_dir)
            raise RunDirError(
                f"model_dir {self.model_dir}: no space left on its disk while saving the "
                f"checkpoint of step {step}; the last good checkpoint is kept: "
                f"{self.latest() or 'none'}. Free space and run the same command to "
                "resume") from None
        if not self.chief:
            fs.rmtree(self.write_dir, ignore_errors=True)
            return os.path.join(self.model_dir, os.path.basename(path))
        return path

    # --- best checkpoints
    def best_info(self) -> dict | None:
        return read_best(self.model_dir)

    def keep_best(self, path: str, metrics: dict, step: int, epoch: int) -> bool:
        """Adds `path` to best/ when it ranks among the best `num_best` by `rank_by` (ties keep
        the earlier checkpoint); returns whether it is the new best. Chief only. Idempotent:
        an evaluation redone after an interruption does not add the checkpoint twice."""
        if not self.chief:
            return False
        if self.keep_every_eval:
            copy_checkpoint(path, os.path.join(self.model_dir, PERIODICAL_DIR))
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
        copy_checkpoint(path, best_dir)
        _write_json_atomic(os.path.join(best_dir, BEST_FILE), {**ranking[0],
                                                                "ranking": ranking})
        prune_best(best_dir)
        return ranking[0] is entry


def copy_checkpoint(prefix: str, directory: str) -> None:
    """Copies the files of `prefix` into `directory`, each through a temporary name, so a
    file under its final name is always complete."""
    fs.makedirs(directory)
    for f in fs.files_of(prefix):
        target = os.path.join(directory, os.path.basename(f))
        fs.copy(f, target + ".part")
        fs.rename(target + ".part", target)


def prune_best(best_dir: str) -> None:
    """Removes checkpoint files in best/ that best.json does not name."""
    try:
        best = json.loads(fs.read_text(os.path.join(best_dir, BEST_FILE)))
        keep = {e["checkpoint"] for e in best.get("ranking") or [best]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return  # no readable best.json: leave everything for a person to look at
    for name in fs.listdir(best_dir):
        if name.startswith("ckpt-") and name.split(".")[0] not in keep:
            fs.remove(os.path.join(best_dir, name))


def remove_stale(directory: str) -> list[str]:
    """Removes what an interrupted process left (see _STALE); returns the names. A best/
    lost between the old swap's two renames is put back from best.old first."""
    if not fs.isdir(directory):
        return []
    best_dir, old = os.path.join(directory, BEST_DIR), os.path.join(directory, "best.old")
    if not fs.isdir(best_dir) and fs.isfile(os.path.join(old, BEST_FILE)):
        fs.rename(old, best_dir)
    removed = []
    for pattern in _STALE:
        sub, name = os.path.split(pattern)
        for path in fs.matching(os.path.join(directory, sub) if sub else directory, name):
            if fs.isdir(path):
                fs.rmtree(path, ignore_errors=True)
            else:
                fs.remove(path)
            removed.append(os.path.join(sub, os.path.basename(path)) if sub
                           else os.path.basename(path))
    return sorted(removed)


def write_index(directory: str, names: list[str]) -> None:
    """The CheckpointManager's ``checkpoint`` text file naming `names` (oldest first)."""
    if not names:
        return
    text = f'model_checkpoint_path: "{names[-1]}"\n' + "".join(
        f'all_model_checkpoint_paths: "{n}"\n' for n in names)
    fs.write_atomic(os.path.join(directory, INDEX_FILE), text)


def _read_index(path: str) -> tuple[list[str], str | None]:
    """(checkpoint names the index lists, latest last; problem: None|"missing"|"unreadable")."""
    if not fs.exists(path):
        return [], "missing"
    try:
        text = fs.read_text(path)
    except (OSError, UnicodeError):
        return [], "unreadable"
    latest = re.findall(r'^model_checkpoint_path:\s*"([^"]+)"\s*$', text, re.M)
    everything = re.findall(r'^all_model_checkpoint_paths:\s*"([^"]+)"\s*$', text, re.M)
    if len(latest) != 1:
        return [], "unreadable"
    names = [os.path.basename(n) for n in everything if os.path.basename(n) != os.path.basename(
        latest[0])] + [os.path.basename(latest[0])]
    return names, None


def _write_json_atomic(path: str, value) -> None:
    fs.write_atomic(path, json.dumps(value, indent=1))

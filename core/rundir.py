"""Run directories: the one place that creates, reads, validates and restores a run.

Layout of a run directory (model_dir):
  config.yaml          the resolved settings, written once when the run is created, plus the
                       run's facts (resolved_num_classes, resolved_preprocessing_type,
                       resolved_replicas, data_source, defaults_profile, presets)
  history.jsonl        one line per later command on the run: its mode, command line, the
                       settings it changed (resumed training) or ignored / pointed elsewhere
                       (evaluations); config.yaml is never rewritten
  labels.txt           class names in label order, when known
  ckpt-<step>.*, checkpoint     the latest checkpoints (engine/checkpoints.py)
  best/                the best evaluated checkpoints by top-1, best/best.json
  metrics.jsonl, train/, eval/  the training's own records and TensorBoard scalars ("eval"
                       is written only once best/ is updated: a missing one is redone)
  events.out.tfevents.*  TensorBoard: the run's hparams and config text (train/ and eval/
                       hold the rest; engine/tensorboard.py)
  run.lock             held by the training process (flock; a lock file on gs:// and other
                       URLs); core/runlock.py
  damaged/             checkpoint files that failed to read, moved aside by a resume
  eval_only/<name>/    every --eval_only, on the run's data or other data
  robustness/<kind>/   --robustness reports

A model_dir may be a URL (gs://bucket/runs/r50): every file call goes through core/fs.py.

Which checkpoint (one precedence, `RunDir.checkpoint`):
  an explicit checkpoint prefix (DIR/ckpt-N, DIR/best/ckpt-N) > "best" (best/ by top-1) >
  "latest" (the newest in DIR); "auto" = best/ when the run has one, else the latest.
  Training resumes from the latest (it is the training state); --eval_only, --robustness and
  --export_only take --eval_checkpoint (default latest, as the original); a run used as a
  source -- fine-tuning, run: teachers, the transfer suite, predict -- takes "auto".
"""

from __future__ import annotations

import datetime
import json
import os
import re
import sys
from typing import TYPE_CHECKING, Any

import yaml

from core import fs
from core.errors import RunDirError
from core.settings import SETTINGS, stored_defaults

if TYPE_CHECKING:  # Keras (and TensorFlow) start only when a network is built
    import keras

CONFIG_FILE = "config.yaml"
HISTORY_FILE = "history.jsonl"
LABELS_FILE = "labels.txt"
BEST_DIR = "best"
BEST_FILE = "best.json"
FACTS = ("resolved_num_classes", "resolved_preprocessing_type", "resolved_replicas",
         "data_source", "defaults_profile", "config", "created", "network_from")
WHICH = ("auto", "latest", "best")


def read_config(model_dir: str) -> dict[str, Any] | None:
    """The stored config of a run (settings completed for keys an older run did not store:
    with their legacy value, what such runs did, else their default -- core/settings.py
    stored_defaults), or None when model_dir holds no config.yaml."""
    path = os.path.join(model_dir, CONFIG_FILE)
    if not fs.isfile(path):
        return None
    try:
        stored = yaml.safe_load(fs.read_text(path))
    except (OSError, UnicodeError, yaml.YAMLError) as e:
        raise RunDirError(f"{path}: cannot be read as YAML ({type(e).__name__})") from None
    if not isinstance(stored, dict):
        raise RunDirError(f"{path}: not a run config (expected a mapping)")
    cfg = stored_defaults(stored.get("defaults_profile") or "original")
    cfg.update({k: v for k, v in stored.items() if k in SETTINGS or k in FACTS})
    if "bl_alpha" in cfg and cfg["bl_alpha"] is not None:
        cfg["bl_alpha"] = float(cfg["bl_alpha"])
    return cfg


def is_run_dir(path: str) -> bool:
    return fs.isfile(os.path.join(path, CONFIG_FILE))


class RunDir:
    """An existing run directory and what it stores."""

    def __init__(self, path: str, config: dict[str, Any]):
        self.path = path
        self.config = config

    # --- opening and creating
    @classmethod
    def open(cls, path: str, what: str = "--model_dir") -> "RunDir":
        if not path or not fs.isdir(path):
            raise RunDirError(f"{what}: run directory {path} does not exist")
        config = read_config(path)
        if config is None:
            raise RunDirError(f"{what}: {path} is not a run directory (no {CONFIG_FILE})")
        run = cls(path, config)
        if run.num_classes <= 0:
            raise RunDirError(f"{what}: {os.path.join(path, CONFIG_FILE)} records no class "
                              "count")
        return run

    @classmethod
    def create(cls, path: str, settings: dict[str, Any], facts: dict[str, Any],
               class_names: list[str] | None) -> "RunDir":
        """Writes config.yaml (and labels.txt) of a new run; an existing config.yaml is
        kept as it is (the run exists already)."""
        config_path = os.path.join(path, CONFIG_FILE)
        record = {**settings, **facts,
                  "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
                      timespec="seconds")}
        if not fs.isfile(config_path):
            _write_atomic(config_path, yaml.safe_dump(record, sort_keys=False,
                                                      default_flow_style=None))
            if class_names:
                _write_atomic(os.path.join(path, LABELS_FILE),
                              "".join(f"{n}\n" for n in class_names))
        return cls(path, read_config(path))

    # --- facts
    @property
    def num_classes(self) -> int:
        return int(self.config.get("resolved_num_classes") or self.config.get("num_classes")
                   or 0)

    @property
    def preprocessing_type(self) -> str:
        return (self.config.get("resolved_preprocessing_type")
                or self.config.get("preprocessing_type") or "")

    @property
    def class_names(self) -> list[str] | None:
        path = os.path.join(self.path, LABELS_FILE)
        if not fs.isfile(path):
            return None
        text = fs.read_text(path)
        names = text.removesuffix("\n").split("\n") if text else []
        return names if len(names) == self.num_classes else None

    @property
    def name(self) -> str:
        return os.path.basename(os.path.normpath(self.path))

    # --- history
    def append_history(self, mode: str, **fields: Any) -> None:
        line = {"time": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"), "mode": mode, "argv": sys.argv[1:], **fields}
        fs.append_text(os.path.join(self.path, HISTORY_FILE),
                       json.dumps(line, default=str) + "\n")

    # --- checkpoints
    def latest_checkpoint(self) -> str | None:
        prefixes = checkpoint_prefixes(self.path)
        return prefixes[-1] if prefixes else None

    def best_checkpoint(self) -> str | None:
        return best_checkpoint_path(self.path)

    def checkpoint(self, which: str = "auto", what: str = "--model_dir") -> str:
        """The checkpoint prefix of ``which`` (module doc); RunDirError when there is none."""
        if which not in WHICH:
            return self._explicit(which, what)
        best = self.best_checkpoint() if which in ("auto", "best") else None
        prefix = best or (self.latest_checkpoint() if which in ("auto", "latest") else None)
        if prefix is None:
            kind = {"auto": "", "latest": "latest ", "best": "best "}[which]
            raise RunDirError(f"{what}: no {kind}checkpoint in {self.path}")
        return prefix

    def _explicit(self, prefix: str, what: str) -> str:
        if not fs.isfile(prefix + ".index"):
            raise RunDirError(f"{what}: checkpoint not found: {prefix} (no .index file)")
        home = fs.realpath(self.path)
        if fs.realpath(os.path.dirname(prefix)) not in (home, os.path.join(home, BEST_DIR)):
            # Another run's weights under this run's config would be silently wrong.
            raise RunDirError(f"{what}: {prefix} is not a checkpoint of {self.path}")
        return prefix

    # --- the network
    def build_model(self, dtype_policy: str = "float32") -> keras.Model:
        """The run's network (fresh weights) under ``dtype_policy``; the global policy is
        restored afterwards."""
        import keras

        from nets.factory import build_from_config
        policy = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(dtype_policy)
        try:
            return build_from_config(self.config, self.num_classes)
        except ValueError as e:
            raise RunDirError(f"{os.path.join(self.path, CONFIG_FILE)}: the network it "
                              f"describes cannot be built: {e}") from None
        finally:
            keras.mixed_precision.set_global_policy(policy)

    def restore(self, model: keras.Model, prefix: str) -> None:
        """Restores ``model``'s weights (the whole network) from a checkpoint of this run."""
        import tensorflow as tf
        try:
            status = tf.train.Checkpoint(model=model).restore(prefix).expect_partial()
            status.assert_existing_objects_matched()
        except (tf.errors.OpError, ValueError, IndexError, UnicodeError) as e:
            raise RunDirError(f"checkpoint {prefix} cannot be read "
                              f"({' '.join(str(e).split())[:160]})") from None
        except AssertionError as e:
            raise RunDirError(f"{prefix}: checkpoint does not match the network described by "
                              f"{os.path.join(self.path, CONFIG_FILE)} "
                              f"({str(e).splitlines()[0][:200]})") from None

    def load_model(self, which: str = "auto", dtype_policy: str = "float32",
                   what: str = "--model_dir") -> tuple[keras.Model, str]:
        """(network with the weights of ``which``, checkpoint prefix)."""
        prefix = self.checkpoint(which, what)
        model = self.build_model(dtype_policy)
        self.restore(model, prefix)
        return model, prefix


def open_source(path: str, what: str) -> tuple[RunDir, str]:
    """A run used as a source (fine-tuning, teacher, features, predict): a run directory, or
    a checkpoint prefix inside one (DIR/ckpt-N, DIR/best/ckpt-N). Returns the run and the
    checkpoint: the given one, else best/ if there is one, else the latest."""
    path = os.path.expanduser(path)
    if fs.isdir(path):
        run = RunDir.open(path, what)
        return run, run.checkpoint("auto", what)
    if not fs.isfile(path + ".index"):
        raise RunDirError(f"{what}: {path} is neither a run directory nor a checkpoint "
                          "prefix (no .index file)")
    parent = os.path.dirname(path)
    run_path = parent if is_run_dir(parent) else os.path.dirname(parent)
    if not is_run_dir(run_path):
        raise RunDirError(f"{what}: no {CONFIG_FILE} beside {path} (needed to rebuild its "
                          "network)")
    return RunDir.open(run_path, what), path


# ----------------------------------------------------------------------------- checkpoints
_PREFIX = re.compile(r"^ckpt-(\d+)\.index$")
_DATA = re.compile(r"\.data-(\d+)-of-(\d+)$")


def checkpoint_prefixes(directory: str) -> list[str]:
    """Complete checkpoints ``ckpt-<step>`` in `directory` (an .index and every data shard),
    oldest first. The files present decide, not the ``checkpoint`` index file, which an
    interrupted or damaged run may have left wrong (engine/checkpoints.py rebuilds it)."""
    found = []
    for name in fs.listdir(directory):
        match = _PREFIX.match(name)
        if match:
            prefix = os.path.join(directory, name[:-len(".index")])
            if _has_all_shards(prefix):
                found.append((int(match.group(1)), prefix))
    return [prefix for _, prefix in sorted(found)]


def _has_all_shards(prefix: str) -> bool:
    shards = [f for f in fs.files_of(prefix) if _DATA.search(f)]
    counts = {int(m.group(2)) for m in map(_DATA.search, shards) if m}
    return len(counts) == 1 and len(shards) == counts.pop()


# ----------------------------------------------------------------------------- best/
def read_best(model_dir: str) -> dict | None:
    path = os.path.join(model_dir, BEST_DIR, BEST_FILE)
    if not fs.isfile(path):
        return None
    return json.loads(fs.read_text(path))


def best_checkpoint_path(model_dir: str) -> str | None:
    best = read_best(model_dir)
    if best is None:
        return None
    return os.path.join(model_dir, BEST_DIR, best["checkpoint"])


_write_atomic = fs.write_atomic

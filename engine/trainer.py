"""The training and evaluation loops of `main_classification.py`.

One `run(cfg)` call on a resolved config (core/config.py): open or create the run directory
(core/rundir.py) -> strategy -> data source -> network, optimizer and checkpoint -> resume /
warm start -> train epochs (steps_per_loop steps per tf.function call, checkpoints on the
--save_checkpoints_epochs / --checkpoint_every_* intervals, preemption at step boundaries,
evaluation on the schedule) -> export. Evaluation modes (--eval_only, --export_only:
engine/eval_modes.py; --robustness: engine/robustness_eval.py) read everything about the
network from the run.
Custom loop rather than `Model.fit` because later techniques (mixing inside the step,
saliency gradients, teacher targets, schedule-driven layers) need the step itself.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import nets
import preprocessing
from core import config as config_lib
from core import fs
from core.errors import ConfigError, Preempted, RunDirError, TrainingDiverged
from core.rundir import RunDir, checkpoint_prefixes
from core.runlock import LOCK_FILE, RunLock, describe
from datasets import integrity
from datasets.errors import DataError
from datasets.sidecar import KEY_MISMATCH_MARK
from datasets.source import DataSource, check_labels, resolve_source
from engine import (
    distribute,
    eval_modes,
    finetune,
    inputs,
    metrics,
    mixing,
    optim,
    preemption,
    run_display,
    schedules,
    tensorboard,
    train_step,
    trex,
)
from engine.checkpoints import RunCheckpoints, is_out_of_space
from engine.run_log import RunLog, loss_parts
from kd import targets as kd_targets
from kd.teachers import Ensemble
from kd.teachers import check_specs as check_teacher_specs
from nets.factory import build_from_config
from preprocessing.multicrop import config_from_flags as multicrop_from_flags
from preprocessing.randaugment import parse_randaugment_flag
from preprocessing.train_augment import AugmentConfig, make_train_stages

EVAL_SUM_SHAPES = {"count": [], "loss": [], "top1": [], "top5": [], "skipped": [],
                   "bin_count": [metrics.NUM_ECE_BINS], "bin_conf": [metrics.NUM_ECE_BINS],
                   "bin_correct": [metrics.NUM_ECE_BINS]}
POLICIES = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
MODE_FLAGS = eval_modes.MODE_FLAGS
EVAL_DIR = "eval_only"


# ----------------------------------------------------------------------------- set-up
def check_writable(model_dir: str) -> str:
    """Fails before any work if model_dir cannot be written."""
    try:
        fs.makedirs(model_dir)
        probe = os.path.join(model_dir, f".write_probe_{os.getpid()}")
        fs.write_text(probe, "ok")
        fs.remove(probe)
    except OSError as e:
        raise RunDirError(f"model_dir {model_dir} is not writable ({e.strerror})") from None
    return model_dir


def clean_model_dir(model_dir: str) -> None:
    """--clean: called only once the data source and preprocessing are known to be usable,
    so a bad data flag never costs the previous run, and under the run lock (kept)."""
    for name in fs.listdir(model_dir):
        path = os.path.join(model_dir, name)
        if name == LOCK_FILE:
            continue
        if fs.isdir(path) and not os.path.islink(path):
            fs.rmtree(path)
        else:
            fs.remove(path)


def set_threads(cfg: dict) -> None:
    """--inter/intra_op_parallelism_threads (before TensorFlow starts its pools)."""
    for key, getter, setter in (
            ("inter_op_parallelism_threads", tf.config.threading.get_inter_op_parallelism_threads,
             tf.config.threading.set_inter_op_parallelism_threads),
            ("intra_op_parallelism_threads", tf.config.threading.get_intra_op_parallelism_threads,
             tf.config.threading.set_intra_op_parallelism_threads)):
        n = int(cfg.get(key) or 0)
        if n and getter() != n:
            try:
                setter(n)
            except RuntimeError:
                raise ConfigError(f"--{key} must be set before TensorFlow starts (this "
                                  "process has initialised it already)") from None


def versions() -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=os.path.dirname(os.path.abspath(__file__)),
                                timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {"python": sys.version.split()[0], "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__,
            "platform": platform.platform(), "git_commit": commit or None}


def build_model(cfg: dict, num_classes: int) -> keras.Model:
    """The network of a (complete) config: `nets.factory.build_from_config`."""
    return build_from_config(cfg, num_classes)


def read_label_file(path: str, num_classes: int) -> list[str]:
    """--label_file: one class name per line in label order. One name fewer than the classes
    is the original's 1001-class ImageNet layout (label 0 = background, its label_offset 1):
    "background" is put first."""
    try:
        with open(path) as f:
            names = [line.strip() for line in f if line.strip()]
    except OSError as e:
        raise ConfigError(f"--label_file {path}: cannot be read ({e.strerror})") from None
    if len(names) == num_classes - 1:
        names = ["background"] + names
    if len(names) != num_classes:
        raise ConfigError(f"--label_file {path}: {len(names)} names for {num_classes} "
                          "classes")
    return names


def eval_namespace(cfg: dict, source_key: str) -> str:
    """The eval_only/<name> directory name of an evaluation: the data's name, plus the
    preprocessing when it differs from the run's."""
    name = source_key
    changed = cfg.get("changed") or {}
    if "preprocessing_type" in changed and cfg["preprocessing_type"]:
        name += "@" + cfg["preprocessing_type"]
    if "dct_method" in changed:
        name += "@dct-" + (cfg["dct_method"] or "default")
    return re.sub(r"[^A-Za-z0-9_.@+-]", "_", name)


def eval_schedule(epoch: int, cfg: dict) -> bool:
    """Evaluate after epoch `epoch` (1-based)?"""
    epochs = cfg["train_epochs"]
    return (epoch % cfg["epochs_between_evals"] == 0 or epoch == epochs
            or epoch >= cfg["ratio_fine_eval"] * epochs)


# ----------------------------------------------------------------------------- the run
class Run:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        # cfg["mode"] is what the command line asked for; a config edited in code (tests,
        # notebooks: dict(cfg, eval_only=True)) asks through the mode flags themselves.
        self.mode = cfg.get("mode") or "train"
        if self.mode == "train":
            self.mode = config_lib.mode_of(cfg)
        self.evaluating = self.mode != "train"
        set_threads(cfg)
        if cfg["deterministic"]:
            tf.config.experimental.enable_op_determinism()
        self.strategy = distribute.make_strategy(cfg["num_gpus"], cfg["num_cpu_replicas"],
                                                 cfg.get("all_reduce_alg"))
        self.chief = distribute.is_chief(self.strategy)
        self.replicas = self.strategy.num_replicas_in_sync
        if cfg["batch_size"] % self.replicas or cfg["val_batch_size"] % self.replicas:
            raise ConfigError(
                f"--batch_size ({cfg['batch_size']}) and --val_batch_size "
                f"({cfg['val_batch_size']}) must be divisible by the {self.replicas} replicas")
        self.model_dir = cfg["model_dir"]
        # An evaluation reads the run as it is; training checks it can write before any work.
        self.run_dir = (RunDir.open(self.model_dir, MODE_FLAGS[self.mode]) if self.evaluating
                        else None)
        if cfg["pretrained_model_checkpoint_path"] and not cfg.get("existing_run"):
            finetune.resolve_pretrained(cfg["pretrained_model_checkpoint_path"])
        keras.utils.set_random_seed(cfg["seed"])
        keras.mixed_precision.set_global_policy(POLICIES[cfg["dtype"]])

        self.source = resolve_source(cfg["dataset_name"], cfg["data_dir"],
                                     train_regex=cfg["train_regex"],
                                     val_regex=cfg["val_regex"],
                                     num_classes=cfg["num_classes"] or None,
                                     skip_corrupt_records=cfg["skip_corrupt_records"])
        # Damaged or missing shards: refused here (or counted, --skip_corrupt_records).
        self.shards = integrity.Shards(
            self.source, training=not self.evaluating,
            sidecar_dirs=[cfg[k] for k in ("kd_logits_path", "reinforce_data_path")
                          if cfg.get(k)])
        self.shards.check(say=print if self.chief else (lambda _: None))
        self.num_classes = self.source.num_classes
        check_labels(self.source)
        self._check_against_run()
        config_lib.check_against_data(cfg, self.source.train_size, self.source.eval_size,
                                      self.num_classes, self.replicas)
        prep_name = cfg["preprocessing_type"] or self.source.default_preprocessing
        if self.run_dir is not None and "preprocessing_type" not in (cfg.get("changed") or {}):
            prep_name = self.run_dir.preprocessing_type or prep_name
        try:
            self.prep = preprocessing.get_preprocessing(
                prep_name, dct_method=cfg["dct_method"],
                training_random_crop=cfg["training_random_crop"])
        except ValueError as e:
            raise ConfigError(f"--preprocessing_type: {e}") from None
        if not (cfg["multicrop"] or self.evaluating):  # multi-crop draws its own crops
            try:
                self.prep = dataclasses.replace(self.prep, crop_sampler=cfg["crop_sampler"])
            except ValueError as e:
                raise ConfigError(f"--crop_sampler: {e}") from None
        train_size = self.source.train_size or 0
        self.steps_per_epoch = train_size // cfg["batch_size"]
        if self.evaluating:  # no training pieces (no teachers, side-cars, augmentation)
            self.train_fn, self.kd, self.input_multiplier = None, kd_targets.TargetSource("off"), 1
            self.train_batch_fn = None
        else:
            self._training_inputs(train_size)
        self.schedule_steps = cfg["train_epochs"] * self.steps_per_epoch
        self.total_steps = self.schedule_steps
        if cfg["max_train_steps"]:
            self.total_steps = min(self.total_steps, cfg["max_train_steps"])
        shuffle = cfg["shuffle_buffer"] or (10_000 if cfg["dataset_name"] == "imagenet"
                                            else min(1_000, max(train_size, 1)))
        self.pipeline = inputs.PipelineConfig(self.num_classes, cfg["batch_size"], shuffle,
                                              cfg["seed"], cfg["strict"],
                                              self.input_multiplier)
        self.eval_pipeline = inputs.PipelineConfig(self.num_classes, cfg["val_batch_size"],
                                                   shuffle, cfg["seed"], cfg["strict"])
        # Every check that needs no model_dir is done: only now is it created (a bad flag
        # leaves no empty run directory behind). One training per model_dir (the chief
        # holds the lock); released by train() or on any failure from here on.
        self._created_dir = not self.evaluating and not fs.exists(self.model_dir)
        if not self.evaluating:
            check_writable(self.model_dir)
        self.lock = (RunLock(self.model_dir).acquire()
                     if not self.evaluating and self.chief else None)
        try:
            self._finish_setup()
        except BaseException:
            self.close()
            if self._created_dir and set(fs.listdir(self.model_dir)) <= {LOCK_FILE}:
                fs.rmtree(self.model_dir, ignore_errors=True)
            raise

    def close(self) -> None:
        """Releases the run lock (training); safe to call twice."""
        if getattr(self, "lock", None) is not None:
            self.lock.release()

    def _finish_setup(self):
        cfg = self.cfg
        if self.lock is not None and self.lock.previous:
            print(f"warning: took over the run lock of {describe(self.lock.previous)}, "
                  "which is no longer running", flush=True)
        if cfg["clean"] and self.chief:
            clean_model_dir(self.model_dir)
        if self.evaluating:
            key = os.path.basename(os.path.normpath(os.path.expanduser(
                cfg["data_dir"] if "data_dir" in (cfg.get("changed") or {}) and cfg["data_dir"]
                else cfg["dataset_name"]))) or "data"
            self.eval_dir = os.path.join(self.model_dir, EVAL_DIR, eval_namespace(cfg, key))
            self.log = RunLog(self.eval_dir, self.chief, write=self.mode == "eval",
                              writers=("eval",))
        else:
            self.log = RunLog(self.model_dir, self.chief)
        self._build()
        if self.chief:
            self._record_run()

    def _check_against_run(self):
        """An evaluation of other data: the network's class count must fit it."""
        if self.run_dir is None:
            return
        expected = self.run_dir.num_classes
        if self.num_classes != expected:
            raise ConfigError(
                f"{MODE_FLAGS[self.mode]}: {self.source.description} has {self.num_classes} "
                f"classes but the network of {self.model_dir} predicts {expected} (pass data "
                "with the same classes, or leave the data flags out to use the run's)")
        self.num_classes = expected

    def _training_inputs(self, train_size: int):
        cfg = self.cfg
        self.train_fn, self.train_batch_fn = make_train_stages(self.prep, AugmentConfig(
            autoaugment_type=cfg["autoaugment_type"] or "",
            randaugment=(parse_randaugment_flag(cfg["randaugment"]) if cfg["randaugment"]
                         else None),
            random_erasing=float(cfg["random_erasing"]),
            randaugment_fill=int(cfg["randaugment_fill"]),
            autoaugment_magnitudes=cfg["autoaugment_magnitudes"]),
            multicrop_from_flags(cfg, self.prep.train_size))
        if cfg["mixup_type"] == "2" and (cfg["batch_size"] // self.replicas) % 2:
            raise ConfigError(f"--mixup_type=2 mixes the two halves of each replica's batch: "
                              f"--batch_size ({cfg['batch_size']}) / {self.replicas} "
                              "replica(s) must be even")
        self.kd = kd_targets.from_config(cfg, self.source, self.num_classes, self.prep.name)
        if self.kd.mode == "online":  # loaded later (under the strategy): check it now,
            check_teacher_specs(cfg["teacher"])  # before --clean can delete anything
        if cfg["train_epochs"] > 0 and self.steps_per_epoch == 0:
            raise ConfigError(
                f"the training split has {train_size} images, fewer than --batch_size "
                f"({cfg['batch_size']})")
        # --mixup_type=1 reads 2x batch per step (the original's type 1; steps unchanged).
        self.input_multiplier = mixing.INPUT_MULTIPLIER.get(str(cfg["mixup_type"]), 1)

    # --- network, optimizer, checkpoint
    def _build(self):
        cfg = self.cfg
        with self.strategy.scope():
            try:
                self.model = build_model(cfg, self.num_classes)
            except ValueError as e:
                raise ConfigError(f"network: {e}") from None
            self.lr = schedules.from_config(cfg, max(self.steps_per_epoch, 1),
                                            max(self.schedule_steps, 1))
            self.optimizer = optim.make_optimizer(cfg, self.lr)
            self.optimizer.build(self.model.trainable_variables)
            self.decay_vars = optim.decayed_variables(self.model)
            # Online distillation: the teacher's variables live under the strategy too.
            self.teacher = (Ensemble(cfg["teacher"], self.num_classes)
                            if self.kd.mode == "online" else None)
            # t-ReX with OCM: the class-means memory and the EMA network that fills it.
            self.ocm = (trex.OnlineClassMeans(cfg, self.model, build_model, self.num_classes)
                        if cfg.get("head") == "trex" and cfg.get("memory_size") else None)
            checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer,
                                             **(self.ocm.checkpoint_items() if self.ocm
                                                else {}))
        self.ckpts = RunCheckpoints(checkpoint, self.model_dir, cfg["keep_checkpoint_max"],
                                    self.chief, distribute.worker_id(self.strategy),
                                    num_best=cfg["num_best_ckpt_to_keep"],
                                    keep_every_eval=cfg["keep_ckpt_every_eval"],
                                    rank_by="recall_at_1" if cfg["zeroshot_eval"] else "top1",
                                    create=not self.evaluating, log=self.log.say)

    def _record_run(self):
        """A new run writes its config once; a later command appends to the history."""
        cfg = self.cfg
        if self.evaluating:
            self.run_dir.append_history(
                self.mode, data=self.source.description, preprocessing=self.prep.name,
                pointed_elsewhere=sorted(cfg.get("changed") or {}),
                ignored=cfg.get("ignored") or [])
            if cfg.get("ignored"):
                self.log.say(f"{MODE_FLAGS[self.mode]}: the run's own settings are used; "
                             f"ignored --{', --'.join(cfg['ignored'])}")
            return
        existing = RunDir.open(self.model_dir) if cfg.get("existing_run") else None
        if existing is None:
            facts = {"resolved_num_classes": self.num_classes,
                     "resolved_preprocessing_type": self.prep.name,
                     "resolved_replicas": self.replicas,
                     "resolved_steps_per_epoch": self.steps_per_epoch,
                     "data_source": self.source.description,
                     "defaults_profile": cfg.get("defaults_profile", "original"),
                     "config": list(cfg.get("config") or [])}
            inherited = cfg.get("inherited")
            if inherited:
                facts["network_from"] = inherited["from"]
                changed = inherited["changed"]
                self.log.say(f"network: the backbone of {inherited['from']}"
                             + (" (replacing the preset's/default " + ", ".join(
                                 f"{k} {config_lib._show(a)} -> {config_lib._show(b)}"
                                 for k, (a, b) in changed.items()) + ")" if changed else ""))
            self.run_dir = RunDir.create(self.model_dir, config_lib.settings_of(cfg), facts,
                                         self._class_names())
            self.log.say(f"new run {self.model_dir}: settings from "
                         + ("the small-image defaults" if cfg.get("defaults_profile")
                            == "small_images" else "the original's defaults")
                         + (f", presets {', '.join(cfg['config'])}" if cfg.get("config")
                            else "") + " and the command line")
        else:
            self.run_dir = existing
            changed = cfg.get("changed") or {}
            existing.append_history("train", changed=changed)
            if changed:
                self.log.say("settings changed for this run (recorded in history.jsonl): "
                             + ", ".join(f"{k} {config_lib._show(old)} -> "
                                         f"{config_lib._show(new)}"
                                         for k, (old, new) in changed.items()))
        fs.write_text(os.path.join(self.model_dir, "versions.json"),
                      json.dumps(versions(), indent=1))

    def _class_names(self) -> list[str] | None:
        label_file = self.cfg.get("label_file")
        if label_file:
            return read_label_file(label_file, self.num_classes)
        names = self.source.class_names
        return list(names) if names and len(names) == self.num_classes else None

    @property
    def class_names(self) -> list[str] | None:
        """--label_file of this command, else the run's labels.txt, else the data's."""
        if self.cfg.get("label_file") and (not self.cfg.get("existing_run")
                                           or "label_file" in (self.cfg.get("changed") or {})):
            return self._class_names()
        names = self.run_dir.class_names if self.run_dir is not None else None
        return names or self._class_names()

    @property
    def step(self) -> int:
        return int(self.optimizer.iterations.numpy())

    # --- datasets
    def _train_iterator(self, epoch: int, skip_steps: int):
        def fn(ctx):
            return inputs.train_dataset(self.source, self.train_fn, self.pipeline, epoch,
                                        skip_steps, self.steps_per_epoch, ctx,
                                        self.kd.record_options, self.kd.replay_fn,
                                        self.train_batch_fn)
        return iter(self.strategy.distribute_datasets_from_function(fn))

    def _eval_iterator(self, source=None, preprocess_record=None):
        source = source or self.source
        preprocess_record = preprocess_record or (lambda record: self.prep.eval(
            record["encoded"]))
        eval_size = source.eval_size
        pipelines = distribute.num_workers(self.strategy)

        def fn(ctx):
            return inputs.eval_dataset(source, preprocess_record, self.prep.eval_size,
                                       self.eval_pipeline, eval_size, ctx)
        steps = inputs.eval_steps(eval_size, self.cfg["val_batch_size"], pipelines)
        return iter(self.strategy.distribute_datasets_from_function(fn)), steps

    # --- steps
    def _make_train_loop(self):
        strategy, optimizer = self.strategy, self.optimizer
        step_fn = train_step.make_step_fn(self.cfg, self.model, optimizer, self.num_classes,
                                          self.replicas, self.decay_vars, self.teacher)
        # DropBlock layers read a keep_prob variable; it is set from the optimizer step
        # before every step, in cross-replica context, so it is right on every replica and
        # after a resume.
        drop_blocks = nets.dropblock_layers(self.model)
        ocm = self.ocm
        if ocm is not None:
            drop_blocks += nets.dropblock_layers(ocm.ema)
        kp_start, kp_end = self.cfg["dropblock_kp"]
        schedule_steps = self.schedule_steps

        def set_keep_prob():
            kp = schedules.dropblock_keep_prob(optimizer.iterations, kp_start, kp_end,
                                               schedule_steps)
            for layer in drop_blocks:
                layer.keep_prob.assign(kp)

        @tf.function
        def train_loop(iterator, steps):
            totals = {k: tf.constant(0.0) for k in ("loss", "ce", "l2", "correct",
                                                    "skipped")}
            for _ in tf.range(steps):
                set_keep_prob()
                batch = next(iterator)
                if ocm is not None:  # class vectors <- memory class means, before the step
                    ocm.set_prototypes()
                out = strategy.run(step_fn, args=(batch,))
                if ocm is not None:  # after it: EMA update, then the EMA net fills the memory
                    ocm.update_ema()
                    embeddings, labels = strategy.run(ocm.embed_fn, args=(batch,))
                    ocm.memory.write(strategy.gather(embeddings, axis=0),
                                     strategy.gather(labels, axis=0))
                totals = {k: totals[k] + strategy.reduce("SUM", out[k], axis=None)
                          for k in totals}
            return totals

        return train_loop

    def _make_eval_loop(self):
        strategy, model, num_classes = self.strategy, self.model, self.num_classes

        def step_fn(batch):
            logits = model(batch["image"], training=False)
            sums = metrics.batch_sums(logits, batch["label"], batch["weight"], num_classes)
            sums["skipped"] = tf.cast(tf.reduce_sum(batch["skipped"]), tf.float32)
            return sums

        @tf.function
        def eval_loop(iterator, steps):
            acc = {k: tf.zeros(shape) for k, shape in EVAL_SUM_SHAPES.items()}
            for _ in tf.range(steps):
                out = strategy.run(step_fn, args=(next(iterator),))
                acc = {k: acc[k] + strategy.reduce("SUM", out[k], axis=None) for k in acc}
            return acc

        return eval_loop

    # --- evaluation
    def evaluate(self, source: DataSource | None = None,
                 preprocess_record: Callable[[dict], tf.Tensor] | None = None,
                 reliability: bool = False) -> dict:
        """Metrics of the model on ``source``'s eval split (default: the run's), images made
        by ``preprocess_record`` (default: the run's eval preprocessing)."""
        source = source or self.source
        iterator, steps = self._eval_iterator(source, preprocess_record)
        if not hasattr(self, "_eval_loop"):
            self._eval_loop = self._make_eval_loop()
        t0 = time.time()
        sums = self._eval_loop(iterator, tf.constant(steps))
        acc = metrics.Accumulator()
        acc.add({k: v.numpy() for k, v in sums.items() if k != "skipped"})
        result = acc.result(reliability)
        result["skipped"] = int(source.eval_size - result.get("count", 0))
        # The split's size; an evaluation of fewer images is not one of the split.
        result["expected"] = int(source.eval_size)
        result["complete"] = bool(result.get("count", 0) == result["expected"] and not (
            source is self.source and self.shards.eval_incomplete))
        if self.cfg["zeroshot_eval"] and preprocess_record is None:
            from engine import zeroshot
            result.update(zeroshot.evaluate(self.model, source, self.prep,
                                            self.cfg["val_batch_size"],
                                            self.cfg["recall_at_k"],
                                            self.cfg["eval_similarity"]))
        result["seconds"] = round(time.time() - t0, 2)
        return result

    def report_eval(self, result: dict, epoch: int, tag: str = "eval", record: bool = True,
                     **extra: Any) -> None:
        step = self.step
        self.log.say(f"{tag} step {step} epoch {epoch}: top-1 {result['top1']:.4f} | "
                     f"top-5 {result['top5']:.4f} | ECE {result['ece']:.4f} | loss "
                     f"{result['loss']:.4f} ({result['count']} images"
                     + (f", {result['skipped']} of {result['expected']} not evaluated: "
                        "undecodable or unreadable" if result['skipped'] else "") + ")")
        if not result.get("complete", True):
            self.log.say(f"WARNING: {tag} step {step} is INCOMPLETE: {result['count']} of the "
                         f"{result['expected']} images of the eval split were evaluated "
                         "(undecodable images or damaged shards); its metrics are not those "
                         "of the split")
        recall = {k: v for k, v in result.items() if k.startswith("recall_at_")}
        if recall:
            self.log.say(f"{tag} step {step}: " + " | ".join(
                f"{k.replace('recall_at_', 'R@')} {v:.4f}" for k, v in recall.items())
                + f" ({result['retrieval_queries']} retrieval queries)")
        self.log.scalars("eval", step, {**{k: result[k] for k in ("top1", "top5", "ece",
                                                                 "loss")}, **recall})
        self.log.flush()
        if record:
            self.log.record(tag, step=step, epoch=epoch, **result, **extra)

    def train(self) -> dict:
        """Trains to the end (or to a preemption: `Preempted` after a checkpoint), then
        exports when asked. Releases the run lock however it ends."""
        watch = preemption.PreemptionWatch(self.strategy, self.chief,
                                           self.cfg["checkpoint_every_minutes"]).install()
        try:
            return self._train(watch)
        finally:
            watch.uninstall()
            self.close()

    def _train(self, watch: preemption.PreemptionWatch) -> dict:
        cfg = self.cfg
        resumed = self.ckpts.restore_latest()
        if resumed:
            self.log.say(f"resuming from {resumed} (step {self.step})")
            self.log.record("resume", step=self.step, checkpoint=resumed)
        elif cfg["pretrained_model_checkpoint_path"]:
            prefix = finetune.warm_start(self.model, cfg["pretrained_model_checkpoint_path"])
            self.log.say(f"fine-tuning from {prefix}: all weights but the classifier "
                         "restored (BN statistics included)")
        if not resumed and self.log.write:
            tensorboard.log_new_run(self)
        self.log.say(f"data: {self.source.description} | {self.num_classes} classes | "
                     f"preprocessing {self.prep.name} | {self.replicas} replica(s) | "
                     f"{self.steps_per_epoch} steps/epoch"
                     + (f" reading {self.input_multiplier}x batch (--mixup_type=1)"
                        if self.input_multiplier > 1 else "")
                     + f" | model_dir {self.model_dir}")
        self.log.say(self._summary_line())
        self.clock = run_display.RunClock(self.total_steps)
        self._last_path, self._saved_step = resumed, self.step if resumed else None
        self._watch = watch
        watch.saved()
        result, stopped = None, False
        evaluated = self.log.evaluated_steps()
        if resumed and self._eval_due(self.step) and self.step not in evaluated:
            # Evaluation is part of the state: an interruption during it is made good now.
            self.log.say(f"the evaluation of {resumed} did not complete: evaluating it now")
            result, stopped = self._evaluate_and_keep(self.step // self.steps_per_epoch)
        train_loop = self._make_train_loop()
        spl = cfg["steps_per_loop"]
        # --save_checkpoints_epochs as steps (or --checkpoint_every_steps when shorter); an
        # evaluated epoch end and the last step are always saved (best/ copies the
        # evaluated checkpoint).
        ckpt_every = max(1, round(cfg["save_checkpoints_epochs"] * self.steps_per_epoch))
        if cfg["checkpoint_every_steps"]:
            ckpt_every = min(ckpt_every, cfg["checkpoint_every_steps"])
        while self.step < self.total_steps and not stopped:
            self._check_preemption()
            epoch, offset = divmod(self.step, self.steps_per_epoch)
            stop_at = min(self.steps_per_epoch, self.total_steps - epoch * self.steps_per_epoch)
            iterator = self._train_iterator(epoch, offset)
            progress = run_display.EpochProgress(
                epoch, cfg["train_epochs"], self.steps_per_epoch, offset, self.chief,
                self.clock, lambda: self.step, self._evals_left, stop_at=stop_at)
            done, sums, t_epoch = offset, {}, time.time()
            while done < stop_at:
                n = min(spl, stop_at - done, ckpt_every - self.step % ckpt_every)
                t0 = time.time()
                out = {k: float(v) for k, v in train_loop(iterator, tf.constant(n)).items()}
                dt = time.time() - t0
                self.clock.trained(n, dt)
                # The total (ce + l2): a weight that overflows diverges the run as surely as
                # a non-finite cross-entropy.
                if not math.isfinite(out["loss"]):
                    raise TrainingDiverged(
                        f"loss became {out['loss']} at step {self.step}; stopped. The last "
                        f"good checkpoint is kept: "
                        f"{self.ckpts.latest() or 'none (no epoch finished)'}")
                done += n
                for k, v in out.items():
                    sums[k] = sums.get(k, 0.0) + v
                steps_done = done - offset
                lr = float(self.lr(self.step))
                img_s = n * cfg["batch_size"] / max(dt, 1e-9)
                progress.update(done, [("loss", sums["ce"] / steps_done),
                                       ("top1", sums["correct"] / (steps_done * cfg["batch_size"])),
                                       ("lr", lr), ("img/s", img_s)])
                self.log.scalars("train", self.step, {
                    **loss_parts(out, n), "lr": lr,
                    "top1": out["correct"] / (n * cfg["batch_size"]), "images_per_sec": img_s})
                if done < stop_at:
                    self._check_preemption(save=self.step % ckpt_every == 0)
            seconds = time.time() - t_epoch
            steps_done = done - offset
            summary = {**loss_parts(sums, steps_done),
                       "top1": sums["correct"] / (steps_done * cfg["batch_size"]),
                       "lr": float(self.lr(self.step)),
                       "images_per_sec": steps_done * cfg["batch_size"] / max(seconds, 1e-9),
                       "skipped_images": int(sums["skipped"])}
            progress.close(done, [("loss", summary["loss"]), ("top1", summary["top1"]),
                                  ("lr", summary["lr"]), ("img/s", summary["images_per_sec"])])
            if summary["skipped_images"]:
                self.log.say(f"skipped {summary['skipped_images']} undecodable image(s) in "
                             f"epoch {epoch + 1} (use --strict to fail instead)")
            self.log.flush()
            finished_epoch = done == self.steps_per_epoch
            epoch_1 = epoch + 1
            evaluate = self._eval_due(self.step)
            if evaluate or self.step % ckpt_every == 0:
                self._save()
            self.log.record("train", step=self.step, epoch=epoch_1 if finished_epoch
                            else epoch + done / self.steps_per_epoch,
                            seconds=round(seconds, 2), **summary)
            if evaluate:
                t0 = time.time()
                result, stopped = self._evaluate_and_keep(epoch_1)
                self.clock.evaluated(time.time() - t0)
        if result is None:  # nothing left to train (finished run resumed)
            result = self._finished_result(evaluated)
        if cfg["export_dir"] and self.chief:
            result["export"] = eval_modes.export(self, source_checkpoint=self._last_path)
        return result

    # --- around the loop: checkpoints, preemption, evaluation
    def _evals_left(self) -> int:
        """Evaluations still due after the current step (epoch ends and the last step)."""
        spe = max(self.steps_per_epoch, 1)
        ends = range((self.step // spe + 1) * spe, self.total_steps + 1, spe)
        return sum(self._eval_due(s) for s in ends) + (self.total_steps % spe != 0
                                                       and self.step < self.total_steps)

    def _summary_line(self) -> str:
        """run_display.summary_line of this run (GMACs from a fixed-size copy of the
        network, built outside the strategy and dropped)."""
        from nets.model_stats import config_macs, count_params
        size = self.prep.train_size
        try:
            macs = config_macs(self.cfg, self.num_classes, size)
        except (ValueError, TypeError):  # a network whose arithmetic is not countable
            macs = None
        return run_display.summary_line(
            self.cfg, params=count_params(self.model), macs=macs, image_size=size,
            data=self.source.description,
            steps_per_epoch=self.steps_per_epoch, total_steps=self.total_steps,
            start_step=self.step, replicas=self.replicas,
            precision=POLICIES[self.cfg["dtype"]])

    def _eval_due(self, step: int) -> bool:
        """Is `step` evaluated: the end of a scheduled epoch, or the last step."""
        if step >= self.total_steps:
            return True
        epoch, offset = divmod(step, max(self.steps_per_epoch, 1))
        return offset == 0 and epoch > 0 and eval_schedule(epoch, self.cfg)

    def _save(self) -> str | None:
        # Step 0 is never saved: the initial weights come back from the seed (or the
        # pretrained checkpoint) on the next run.
        if self._saved_step != self.step and self.step > 0:
            self._last_path = self.ckpts.save(self.step)
            self._saved_step = self.step
        self._watch.saved()
        return self._last_path

    def _check_preemption(self, save: bool = False) -> None:
        """At a step boundary: save when the step or time interval asks; on SIGTERM/SIGINT
        (any worker) save and stop with `Preempted`."""
        stop, save_now = self._watch.decide()
        if save or save_now:
            self._save()
        if stop:
            self.log.record("preempted", step=self.step, signal=self._watch.signal_name,
                            checkpoint=self._last_path)
            self.log.flush()
            saved = (f"with checkpoint {self._last_path}" if self._last_path
                     else "before any training step")
            raise Preempted(f"{self._watch.signal_name} received: stopped at "
                            f"step {self.step} {saved}; run the same command again to resume")

    def _evaluate_and_keep(self, epoch: int) -> tuple[dict, bool]:
        """Evaluates the checkpoint just saved, updates best/, then records the evaluation
        (the record is what marks it done: an interruption before it means "redo").
        Returns (result, stop for --stop_threshold)."""
        result = self.evaluate(reliability=self.log.write)
        reliability = result.pop("reliability", None)  # an image, not a metrics.jsonl field
        self.report_eval(result, epoch, record=False)
        if reliability:
            tensorboard.log_reliability(self.log.writers["eval"], self.step, reliability,
                                        f"step {self.step} (ECE {result['ece']:.3f})")
        if not result.get("complete", True):
            self.log.say(f"warning: this evaluation read {result['count']} of "
                         f"{result.get('expected')} images: best/ is not updated from it")
        elif self.ckpts.keep_best(self._last_path, result, self.step, epoch):
            key = self.ckpts.rank_by
            self.log.say(f"new best {key} {result[key]:.4f} -> "
                         f"{os.path.join(self.model_dir, 'best')}")
        self.log.record("eval", step=self.step, epoch=epoch, checkpoint=self._last_path,
                        **result)
        threshold = self.cfg["stop_threshold"]
        if threshold is not None and result["top1"] >= threshold:
            self.log.say(f"top-1 {result['top1']:.4f} >= --stop_threshold {threshold}: "
                         f"training stops at step {self.step}")
            return result, True
        return result, False

    def _finished_result(self, evaluated: dict) -> dict:
        """A finished run run again: its recorded evaluation, or a new one when the run has
        none at this step."""
        recorded = evaluated.get(self.step)
        if recorded is not None:
            self.log.say(f"training already complete at step {self.step}; its evaluation: "
                         f"top-1 {recorded['top1']:.4f} ({recorded['count']} images)")
            return {k: v for k, v in recorded.items() if k not in ("event", "time")}
        result = self.evaluate()
        self.report_eval(result, self.step // max(self.steps_per_epoch, 1))
        return result


def run(cfg: dict) -> dict:
    the_run = None
    try:
        the_run = Run(cfg)
        try:
            if the_run.mode == "robustness":
                from engine import robustness_eval
                return robustness_eval.run(the_run)
            if the_run.mode == "export":
                return eval_modes.export_only(the_run)
            if the_run.mode == "eval":
                return eval_modes.eval_only(the_run)
            return the_run.train()
        finally:
            the_run.close()
    except tf.errors.InvalidArgumentError as e:
        raise data_error_from(e, cfg) from None
    except tf.errors.DataLossError as e:  # a damaged shard: name it
        if the_run is None:
            raise
        raise the_run.shards.diagnose(e) from None
    except (OSError, tf.errors.OpError) as e:
        if not is_out_of_space(e):
            raise
        kept = checkpoint_prefixes(cfg["model_dir"]) if cfg["model_dir"] else []
        latest = kept[-1] if kept else None
        raise RunDirError(f"model_dir {cfg['model_dir']}: no space left on its disk "
                          f"({' '.join(str(e).split())[:160]}); the last good checkpoint is "
                          f"kept: {latest or 'none'}") from None


def data_error_from(error: Exception, cfg: dict) -> Exception:
    """Turns an in-pipeline failure into one readable line (or keeps a real bug as is)."""
    text = " ".join(str(error).split())
    for mark in (inputs.LABEL_ERROR_MARK, kd_targets.LOGITS_ERROR_MARK, KEY_MISMATCH_MARK):
        if mark in text:
            start = text.index(mark)
            detail = text[start:].split("[[")[0].split(" [Op:")[0].strip()
            # tf.debugging.Assert prints "msg] [value] [msg] [value": make it one sentence
            detail = detail.replace("\\'", "'").replace("] [", " ").rstrip("]").strip()
            return DataError(detail)
    parse = re.search(r"(Feature: \S+ \(data type: \w+\) is required but could not be found|"
                      r"Could not parse example input)", text)
    if parse:  # record-level damage with intact checksums: never skipped as an image
        return DataError(f"a record in {cfg['data_dir'] or cfg['dataset_name']} is not a "
                         f"tf.train.Example with image/encoded and image/class/label "
                         f"({parse.group(1)})")
    if cfg["strict"] and any(w in text for w in ("JPEG", "jpeg", "decode", "image")):
        first = str(error).strip().splitlines()[0][:200]
        return DataError(f"undecodable image in {cfg['dataset_name']} (--strict): {first}")
    return error

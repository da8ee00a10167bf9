"""Frozen pooled backbone features of a pretrained run, extracted once and cached
(spec trex.md §5 "Feature pre-extraction").

The run is opened with ``core.rundir.open_source`` (a run directory -> best/, else latest;
or a checkpoint prefix inside a run), its network rebuilt from its config.yaml and restored.
The feature is the output of the pooling layer (``avg_pool``, or ``gem_pool`` with pool_type
gem): any embedding, t-ReX projector or classifier after it is dropped, as the original throws
the projector away. Images get the pretrained run's *eval* preprocessing (its
``resolved_preprocessing_type``) unless overridden -- never augmentation.

Cache: ``<cache_dir>/<target>/features_{trainval,test}.npz`` ({"X": float32 [N, D],
"Y": int64 [N]}) with ``features_meta.json`` beside. The meta records what the features
depend on -- checkpoint path, SHA-256 of its ``.index`` file (a retrained checkpoint at
the same path changes it), preprocessing, dataset name and data_dir, pooling layer -- and
the cache is reused only when all of them match; otherwise it is re-extracted and the
differing key is logged. Files are written to a temporary name and renamed, so an
interrupted extraction never leaves a half cache that looks valid.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import preprocessing
from core import fs
from core.errors import ConfigError, FinetuneError, RunDirError
from core.rundir import open_source
from datasets.source import DataSource, resolve_source

POOL_LAYERS = ("avg_pool", "gem_pool")
SPLITS = ("trainval", "test")
META = "features_meta.json"
IDENTITY_KEYS = ("checkpoint", "index_sha256", "preprocessing", "dataset", "data_dir",
                 "pool_layer")


@dataclass
class Target:
    """One --targets item: ``name`` or ``name=data_dir`` (name as --dataset_name takes)."""
    name: str
    data_dir: str | None = None

    @property
    def key(self) -> str:
        """Directory-safe name of the cache and report entry."""
        base = os.path.basename(os.path.normpath(os.path.expanduser(self.name))) or "dataset"
        return re.sub(r"[^A-Za-z0-9_.+-]", "_", base)


def parse_targets(text: str, flag: str = "--targets") -> list[Target]:
    targets = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        name, _, data_dir = item.partition("=")
        if not name.strip():
            raise ConfigError(f"{flag}: empty dataset name in {item!r}")
        targets.append(Target(name.strip(), data_dir.strip() or None))
    if not targets and flag == "--targets":
        raise ConfigError(f"{flag}: no dataset given (e.g. {flag}=digits,food101=/data/food)")
    keys = [t.key for t in targets]
    dup = next((k for k in keys if keys.count(k) > 1), None)
    if dup:
        raise ConfigError(f"{flag}: two targets share the name {dup!r}")
    return targets


def index_digest(prefix: str) -> str:
    h = hashlib.sha256()
    with tf.io.gfile.GFile(prefix + ".index", "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def pool_layer_name(model: keras.Model) -> str:
    names = {layer.name for layer in model.layers}
    for name in POOL_LAYERS:
        if name in names:
            return name
    raise FinetuneError(f"the pretrained network has no pooling layer named "
                        f"{' or '.join(POOL_LAYERS)}")


@dataclass
class Backbone:
    model: object  # keras.Model: image -> pooled feature
    prefix: str
    cfg: dict
    pool_layer: str
    digest: str

    @property
    def preprocessing_type(self) -> str:
        return self.cfg.get("resolved_preprocessing_type") or self.cfg.get(
            "preprocessing_type") or ""


def load_backbone(pretrained: str) -> Backbone:
    """The pooled-feature network of a run directory or checkpoint prefix."""
    import keras
    if not pretrained:
        raise ConfigError("--pretrained: no run directory or checkpoint given")
    try:
        run, prefix = open_source(pretrained, "--pretrained")
        model = run.build_model()
        run.restore(model, prefix)
    except RunDirError as e:
        raise FinetuneError(str(e)) from None
    cfg = run.config
    pool = pool_layer_name(model)
    features = keras.Model(model.inputs, model.get_layer(pool).output, name="features")
    return Backbone(features, fs.abspath(prefix), cfg, pool, index_digest(prefix))


def _records(source: DataSource, split: str) -> tf.data.Dataset:
    # Fixed order: seed 0 for the train split (its files are interleaved with the seed).
    return source.train_records(seed=0) if split == "trainval" else source.eval_records()


def extract_split(backbone: Backbone, source: DataSource, split: str,
                  prep: preprocessing.Preprocessing,
                  batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(X float32 [N, D], Y int64 [N]) of one split, in the records' order."""
    ds = _records(source, split).map(
        lambda r: (prep.eval(r["encoded"]), tf.cast(r["label"], tf.int64)),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    model = backbone.model

    @tf.function(reduce_retracing=True)
    def embed(images):
        return tf.cast(model(images, training=False), tf.float32)

    xs, ys = [], []
    for images, labels in ds:
        xs.append(embed(images).numpy())
        ys.append(labels.numpy())
    if not xs:
        raise ConfigError(f"{source.description}: the {split} split has no images")
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def _save_npz(path: str, X, Y) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        np.savez(f, X=X, Y=Y)
    os.replace(tmp, path)


def load_npz(path: str) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as z:
        return z["X"].astype(np.float32), z["Y"].astype(np.int64)


def _cached(directory: str, meta: dict, log) -> tuple[dict, dict] | None:
    """The cached splits if the meta matches and all files load; else None (logged)."""
    path = os.path.join(directory, META)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            old = json.load(f)
    except (OSError, ValueError):
        log(f"{path}: unreadable, re-extracting")
        return None
    for key in IDENTITY_KEYS:
        if old.get(key) != meta[key]:
            log(f"feature cache {directory}: {key} changed ({old.get(key)!r} -> "
                f"{meta[key]!r}), re-extracting")
            return None
    try:
        splits = {s: load_npz(os.path.join(directory, f"features_{s}.npz")) for s in SPLITS}
    except (OSError, ValueError, KeyError) as e:
        log(f"feature cache {directory}: {e}, re-extracting")
        return None
    return splits, old


def resolve_target(target: Target) -> DataSource:
    return resolve_source(target.name, target.data_dir)


def features_for(backbone: Backbone, target: Target, cache_dir: str, *,
                 preprocessing_type: str = "", batch_size: int = 128,
                 log: Callable[[str], Any] = print,
                 source: DataSource | None = None) -> dict:
    """{"trainval": (X, Y), "test": (X, Y), "num_classes", "dataset", "cached", "meta"}."""
    source = source or resolve_target(target)
    prep_name = preprocessing_type or backbone.preprocessing_type or source.default_preprocessing
    try:
        prep = preprocessing.get_preprocessing(prep_name)
    except ValueError as e:
        raise ConfigError(f"--preprocessing_type: {e}") from None
    meta = {"checkpoint": backbone.prefix, "index_sha256": backbone.digest,
            "preprocessing": prep.name, "dataset": target.name,
            "data_dir": os.path.abspath(target.data_dir) if target.data_dir else None,
            "pool_layer": backbone.pool_layer}
    directory = os.path.join(cache_dir, target.key)
    hit = _cached(directory, meta, log)
    if hit is not None:
        splits, old = hit
        log(f"{target.key}: reusing cached features in {directory}")
        return {"trainval": splits["trainval"], "test": splits["test"],
                "num_classes": int(old.get("num_classes") or source.num_classes),
                "dataset": source.description, "cached": True, "meta": old}
    if not source.has_eval:
        raise ConfigError(f"--targets {target.name}: {source.description} has no eval split "
                          "(needed as the test set)")
    os.makedirs(directory, exist_ok=True)
    if os.path.exists(os.path.join(directory, META)):
        os.remove(os.path.join(directory, META))  # stale until the new extraction is whole
    t0 = time.time()
    splits = {}
    for split in SPLITS:
        try:
            splits[split] = extract_split(backbone, source, split, prep, batch_size)
        except tf.errors.OpError as e:
            raise ConfigError(f"--targets {target.name}: reading the {split} split failed: "
                              f"{e.message.splitlines()[0] if e.message else e}") from None
        _save_npz(os.path.join(directory, f"features_{split}.npz"), *splits[split])
    meta.update(num_classes=int(source.num_classes), dim=int(splits["test"][0].shape[1]),
                sizes={s: int(len(splits[s][1])) for s in SPLITS},
                seconds=round(time.time() - t0, 2))
    tmp = os.path.join(directory, META + ".tmp")
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(tmp, os.path.join(directory, META))
    log(f"{target.key}: extracted {meta['sizes']['trainval']} trainval + "
        f"{meta['sizes']['test']} test features ({meta['dim']}-d, {prep.name}) in "
        f"{meta['seconds']:.0f} s -> {directory}")
    return {"trainval": splits["trainval"], "test": splits["test"],
            "num_classes": int(source.num_classes), "dataset": source.description,
            "cached": False, "meta": meta}

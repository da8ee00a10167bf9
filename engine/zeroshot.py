"""``--zeroshot_eval``: retrieval Recall@k of the network's pooled features on the eval split
(the original's zero-shot evaluation, ``metric/recall_metric.py``; spec assemble-resnet.md
§5), next to the classification metrics. Every eval image with a label >= 0 is a query over
all the others (label -1: a distractor, gallery only); rules in ``engine.retrieval``. With
it on, best/ ranks checkpoints by ``recall_at_1`` instead of top-1.
"""

from __future__ import annotations

from collections.abc import Iterable

import keras
import numpy as np
import tensorflow as tf

from datasets.source import DataSource
from engine import retrieval
from engine.features import pool_layer_name
from preprocessing import Preprocessing


def pooled_features(model: keras.Model, source: DataSource, prep: Preprocessing,
                    batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(features [N, D] float32, labels [N]) of the eval split, in record order."""
    features = keras.Model(model.inputs, model.get_layer(pool_layer_name(model)).output)
    ds = source.eval_records().map(
        lambda r: (prep.eval(r["encoded"]), tf.cast(r["label"], tf.int64)),
        num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(2)
    xs, ys = [], []
    for images, labels in ds:
        xs.append(np.asarray(features(images, training=False), np.float32))
        ys.append(labels.numpy())
    if not xs:
        return np.zeros((0, 0), np.float32), np.zeros((0,), np.int64)
    return np.concatenate(xs), np.concatenate(ys)


def evaluate(model: keras.Model, source: DataSource, prep: Preprocessing, batch_size: int,
             ks: Iterable[int], metric: str) -> dict:
    """{"recall_at_<k>": fraction, ..., "retrieval_queries": n}."""
    x, y = pooled_features(model, source, prep, batch_size)
    result = retrieval.recall_at_k(x, y, ks, metric)
    out = {f"recall_at_{k}": v for k, v in result["recall"].items()}
    out["retrieval_queries"] = result["queries"]
    return out

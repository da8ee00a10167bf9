"""SavedModel export with two signatures, its labels and facts, then a reload-and-compare check.

- `serving_default`: a batch of encoded JPEG/PNG bytes -> {"probabilities" float32 [N, C],
  "classes" int32 [N] (the argmax), "class_names" string [N] (the argmax class's name: the
  given class names, else "class_<index>")}; the eval preprocessing of the run's
  preprocessing_type runs inside the graph (decode, resize of the shorter side, center crop,
  mean subtraction).
- `preprocessed`: a float32 batch [N, S, S, 3] already preprocessed -> {"logits"}; S is the
  eval size of the preprocessing type (not fixed at 224 as in the original).

Beside the SavedModel, `<export_dir>/labels.txt` (one class name per line, in label order:
the names the signature returns) and `<export_dir>/export_info.json` ({"preprocessing_type",
"image_size", "num_classes", "source_run", "checkpoint"}) are written, so `engine/predict.py`
(``--export_dir``) needs nothing else.

The exported model is reloaded with `tf.saved_model.load` and its top-1 on the eval split,
from raw bytes, must equal the Keras model's top-1 on the same images; the comparison is
written to `<export_dir>/model_performance.json`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from core import fs

LABELS_FILE = "labels.txt"
INFO_FILE = "export_info.json"
INFO_KEYS = ("preprocessing_type", "image_size", "num_classes", "source_run", "checkpoint")


def default_class_names(num_classes: int) -> list[str]:
    return [f"class_{i}" for i in range(num_classes)]


def _num_classes(model: keras.Model, image_size: int) -> int:
    outputs = getattr(model, "outputs", None)
    if outputs and outputs[0].shape[-1] is not None:
        return int(outputs[0].shape[-1])
    probe = model(tf.zeros([1, image_size, image_size, 3], tf.float32), training=False)
    return int(probe.shape[-1])


def export_saved_model(model: keras.Model, preprocess_eval: Callable[[tf.Tensor], tf.Tensor],
                       image_size: int, export_dir: str, class_names: list[str] | None = None,
                       info: dict | None = None) -> None:
    """Writes the SavedModel (module doc), labels.txt and export_info.json to export_dir.

    class_names: names in label order (None: "class_<index>"); ValueError when their count
    is not the model's class count. info: values of export_info.json's keys (source_run,
    checkpoint, preprocessing_type, ...); image_size and num_classes are filled in, and
    preprocessing_type too when preprocess_eval is a `Preprocessing`'s bound `eval`.
    """
    num_classes = _num_classes(model, image_size)
    if class_names is None:
        class_names = default_class_names(num_classes)
    class_names = [str(n) for n in class_names]
    if len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names for a model with {num_classes} "
                         "classes")
    if any("\n" in n for n in class_names):
        raise ValueError("class names must not contain newlines (labels.txt is one per line)")
    names_table = tf.constant(class_names, tf.string)

    def serve_bytes(encoded):
        images = tf.map_fn(preprocess_eval, encoded,
                           fn_output_signature=tf.TensorSpec([image_size, image_size, 3],
                                                             tf.float32))
        logits = tf.cast(model(images, training=False), tf.float32)
        classes = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return {"probabilities": tf.nn.softmax(logits),
                "classes": classes,
                "class_names": tf.gather(names_table, classes)}

    def serve_preprocessed(images):
        return {"logits": tf.cast(model(images, training=False), tf.float32)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serve_bytes,
                         input_signature=[tf.TensorSpec([None], tf.string, name="images")])
    archive.add_endpoint("preprocessed", serve_preprocessed,
                         input_signature=[tf.TensorSpec([None, image_size, image_size, 3],
                                                        tf.float32, name="images")])
    archive.write_out(export_dir, verbose=False)

    facts = {"preprocessing_type": getattr(getattr(preprocess_eval, "__self__", None), "name",
                                           None),
             "source_run": None, "checkpoint": None}
    facts.update(info or {})
    facts.update(image_size=int(image_size), num_classes=num_classes)
    ordered = {k: facts.get(k) for k in INFO_KEYS}
    ordered.update({k: v for k, v in facts.items() if k not in ordered})
    fs.write_text(os.path.join(export_dir, LABELS_FILE), "".join(f"{n}\n" for n in class_names))
    fs.write_text(os.path.join(export_dir, INFO_FILE), json.dumps(ordered, indent=1, default=str))


def verify_export(export_dir: str, model: keras.Model, eval_records: tf.data.Dataset,
                  preprocess_eval: Callable[[tf.Tensor], tf.Tensor], batch_size: int) -> dict:
    """Top-1 of the reloaded SavedModel (from bytes) vs the Keras model on the same images,
    and the largest absolute difference of their probabilities."""
    serving = tf.saved_model.load(export_dir).signatures["serving_default"]

    def with_image(record):
        return record["encoded"], preprocess_eval(record["encoded"]), record["label"]

    # Undecodable images are dropped for both sides alike.
    ds = eval_records.map(with_image, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors()
    ds = ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    n = agree = exported_correct = model_correct = 0
    max_diff = 0.0
    for encoded, images, labels in ds:
        out = serving(images=encoded)
        exported = out["classes"].numpy()
        logits = model(images, training=False)
        direct = np.argmax(logits.numpy(), axis=-1)
        max_diff = max(max_diff, float(np.abs(out["probabilities"].numpy()
                                              - tf.nn.softmax(logits).numpy()).max()))
        labels = labels.numpy()
        n += len(labels)
        agree += int((exported == direct).sum())
        exported_correct += int((exported == labels).sum())
        model_correct += int((direct == labels).sum())
    result = {"num_images": n,
              "exported_top1": exported_correct / max(n, 1),
              "model_top1": model_correct / max(n, 1),
              "prediction_agreement": agree / max(n, 1), "max_prob_diff": max_diff}
    result["match"] = result["exported_top1"] == result["model_top1"]
    fs.write_text(os.path.join(export_dir, "model_performance.json"), json.dumps(result, indent=1))
    return result

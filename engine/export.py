"""SavedModel export with two signatures, then a reload-and-compare check.

- `serving_default`: a batch of encoded JPEG/PNG bytes -> {"probabilities", "classes"}; the
  eval preprocessing of the run's preprocessing_type runs inside the graph (decode, resize
  of the shorter side, center crop, mean subtraction).
- `preprocessed`: a float32 batch [N, S, S, 3] already preprocessed -> {"logits"}; S is the
  eval size of the preprocessing type (not fixed at 224 as in the original).
The exported model is reloaded with `tf.saved_model.load` and its top-1 on the eval split,
from raw bytes, must equal the Keras model's top-1 on the same images; the comparison is
written to `<export_dir>/model_performance.json`.
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import tensorflow as tf


def export_saved_model(model: keras.Model, preprocess_eval, image_size: int,
                       export_dir: str) -> None:
    def serve_bytes(encoded):
        images = tf.map_fn(preprocess_eval, encoded,
                           fn_output_signature=tf.TensorSpec([image_size, image_size, 3],
                                                             tf.float32))
        logits = tf.cast(model(images, training=False), tf.float32)
        return {"probabilities": tf.nn.softmax(logits),
                "classes": tf.argmax(logits, axis=-1, output_type=tf.int32)}

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


def verify_export(export_dir: str, model: keras.Model, eval_records: tf.data.Dataset,
                  preprocess_eval, batch_size: int) -> dict:
    """Top-1 of the reloaded SavedModel (from bytes) vs the Keras model on the same images."""
    serving = tf.saved_model.load(export_dir).signatures["serving_default"]

    def with_image(record):
        return record["encoded"], preprocess_eval(record["encoded"]), record["label"]

    # Undecodable images are dropped for both sides alike.
    ds = eval_records.map(with_image, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors()
    ds = ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    n = agree = exported_correct = model_correct = 0
    for encoded, images, labels in ds:
        exported = serving(images=encoded)["classes"].numpy()
        direct = np.argmax(model(images, training=False).numpy(), axis=-1)
        labels = labels.numpy()
        n += len(labels)
        agree += int((exported == direct).sum())
        exported_correct += int((exported == labels).sum())
        model_correct += int((direct == labels).sum())
    result = {"num_images": n,
              "exported_top1": exported_correct / max(n, 1),
              "model_top1": model_correct / max(n, 1),
              "prediction_agreement": agree / max(n, 1)}
    result["match"] = result["exported_top1"] == result["model_top1"]
    with open(os.path.join(export_dir, "model_performance.json"), "w") as f:
        json.dump(result, f, indent=1)
    return result

"""--export_format: the run's network as a `.keras` file, a LiteRT `.tflite` or an ONNX model,
each reloaded and checked on the eval split (the SavedModel is engine/export.py).

Every artifact lies in --export_dir beside `labels.txt` (one class name per line, label order):

- ``keras``: ``model.keras`` (`model.save`; reloads with `keras.saving.load_model`, the nets/
  layers are registered serializable).
- ``litert``: ``model.tflite`` (Keras' ``model.export(format="litert")``, input
  [N, S, S, 3] with N dynamic); checked with ai_edge_litert's interpreter.
- ``onnx``: ``model.onnx`` (Keras' ``model.export(format="onnx")``, tf2onnx); the class names
  are also in its metadata (``metadata_props["class_names"]``, a JSON list); checked with
  onnxruntime.

Unlike the SavedModel (JPEG bytes in), these take the preprocessed float32 image batch
[N, S, S, 3] and return logits [N, C] (softmax gives the probabilities); the exact
preprocessing is written to ``export_formats.json`` (`preprocessing_description`). The check:
on the eval split, the reloaded artifact's top-1 vs the Keras model's (agreement) and the
largest absolute difference of the softmax probabilities; written to
``model_performance_<format>.json`` and to ``export_formats.json``. A check fails (RuntimeError)
below ``MIN_AGREEMENT`` or above ``MAX_PROB_DIFF``.

An --export_dir URL (``gs://...``; ``ram://`` in the tests) works as a local one: the
converters and runtimes (Keras' zip writer, tf2onnx, onnx, LiteRT, onnxruntime) read and write
local files only, so each artifact is written to a local staging directory and copied to the
URL through core/fs.py (tf.io.gfile), and the check reads a local copy of what lies at the URL.

TensorFlow is imported inside the functions; core/config.py asks
`core.export_libraries.missing_library` before TensorFlow starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from core import fs
from core.export_libraries import missing_library  # noqa: F401 (the tests and bench ask it here)

if TYPE_CHECKING:  # TensorFlow starts only when an export does
    import keras
    import tensorflow as tf

    from preprocessing import Preprocessing

FORMATS = ("savedmodel", "keras", "litert", "onnx")
FILES = {"keras": "model.keras", "litert": "model.tflite", "onnx": "model.onnx"}
INFO_FILE = "export_formats.json"
MIN_AGREEMENT = 0.99
MAX_PROB_DIFF = 1e-3


def preprocessing_description(prep: Preprocessing) -> dict:
    """What a caller does to an image before feeding keras/litert/onnx (prep: a
    preprocessing.registry.Preprocessing)."""
    from preprocessing import common
    s = prep.eval_size
    kernel = ("bilinear, half_pixel_centers=True" if prep.half_pixel_centers else
              "bilinear, align_corners=False, half_pixel_centers=False (TF1 resize_images)")
    if prep.kind == "small":
        geometry = f"resize to {s}x{s} ({kernel}; skipped when already {s}x{s})"
    else:
        geometry = (f"resize the shorter side to {prep.eval_resize} keeping the aspect ratio "
                    f"(new = int32(float32(dim) * {prep.eval_resize} / min(h, w)); {kernel}), "
                    f"then center crop {s}x{s} (offset (dim - {s}) // 2)")
    return {"preprocessing_type": prep.name,
            "input": f"float32 [N, {s}, {s}, 3], RGB, channels last",
            "steps": [f"decode to uint8 RGB (JPEG with dct_method={prep.dct_method})",
                      geometry + ", float32, not rounded",
                      f"subtract the RGB means {list(common.MEAN_RGB)} (0-255 scale, no "
                      "division by a std)"],
            "output": "logits float32 [N, num_classes]; softmax gives the probabilities",
            "same_as": f"preprocessing.registry.get_preprocessing({prep.name!r}).eval(bytes)"}


def export_formats(model: keras.Model, formats: Sequence[str], export_dir: str,
                   prep: Preprocessing, class_names: list[str],
                   info: dict | None = None) -> dict:
    """Writes each of `formats` (not savedmodel) to export_dir; returns {format: path}."""
    import tensorflow as tf
    fs.makedirs(export_dir)
    s = prep.eval_size
    spec = [tf.TensorSpec([None, s, s, 3], tf.float32, name="images")]
    paths = {}
    for fmt in formats:
        paths[fmt] = os.path.join(export_dir, FILES[fmt])
        with _local_file(paths[fmt], upload=True) as path:
            _write_format(model, fmt, path, spec, prep, class_names)
    fs.write_text(os.path.join(export_dir, "labels.txt"), "".join(f"{n}\n" for n in class_names))
    _write_info(export_dir, {"preprocessing_description": preprocessing_description(prep),
                             **(info or {}),
                             "formats": {f: {"file": FILES[f], "class_names": (
                                 "labels.txt; metadata_props['class_names'] (JSON)"
                                 if f == "onnx" else "labels.txt")} for f in formats}})
    return paths


@contextlib.contextmanager
def _local_file(path: str, upload: bool) -> Iterator[str]:
    """A local path for ``path``'s file: itself when local; for a URL a file in a temporary
    directory, filled from the URL first (``upload=False``: for reading) or copied to it when
    the block ends (``upload=True``: for writing); the directory is removed either way."""
    if fs.is_local(path):
        yield path
        return
    stage = tempfile.mkdtemp(prefix="export_")
    try:
        local = os.path.join(stage, os.path.basename(path))
        if not upload:
            fs.copy(path, local)
        yield local
        if upload:
            fs.copy(local, path)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _write_format(model: keras.Model, fmt: str, path: str, spec: list,
                  prep: Preprocessing, class_names: list[str]) -> None:
    """One artifact of ``fmt`` to the local ``path``."""
    if fmt == "keras":
        model.save(path)
    elif fmt == "litert":
        model.export(path, format="litert", verbose=False, input_signature=spec)
    elif fmt == "onnx":
        import onnx
        model.export(path, format="onnx", verbose=False, input_signature=spec)
        proto = onnx.load(path)
        onnx.helper.set_model_props(proto, {"class_names": json.dumps(class_names),
                                            "preprocessing_type": prep.name})
        onnx.save(proto, path)
    else:
        raise ValueError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")


def _write_info(export_dir: str, update: dict) -> None:
    path = os.path.join(export_dir, INFO_FILE)
    facts = json.loads(fs.read_text(path)) if fs.isfile(path) else {}
    for key, value in update.items():
        if key == "formats":
            for fmt, more in value.items():
                facts.setdefault("formats", {}).setdefault(fmt, {}).update(more)
        else:
            facts[key] = value
    fs.write_text(path, json.dumps(facts, indent=1, default=str))


class _Keras:
    def __init__(self, path):
        import keras
        self.model = keras.saving.load_model(path)

    def __call__(self, images):
        return np.asarray(self.model(images, training=False))


class _LiteRT:
    def __init__(self, path, num_threads=None):
        from ai_edge_litert.interpreter import Interpreter
        self.interpreter = Interpreter(model_path=path, num_threads=num_threads)
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]
        self.shape = None

    def __call__(self, images):
        if self.shape != images.shape:
            self.interpreter.resize_tensor_input(self.input, images.shape)
            self.interpreter.allocate_tensors()
            self.shape = images.shape
        self.interpreter.set_tensor(self.input, images)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output).copy()


class _Onnx:
    def __init__(self, path):
        import onnxruntime
        self.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        names = self.session.get_modelmeta().custom_metadata_map.get("class_names")
        self.class_names = json.loads(names) if names else None

    def __call__(self, images):
        return self.session.run(None, {self.input: images})[0]


LOADERS = {"keras": _Keras, "litert": _LiteRT, "onnx": _Onnx}


def _softmax(logits):
    z = np.exp(logits - logits.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def verify_formats(paths: dict, model: keras.Model, eval_records: tf.data.Dataset,
                   preprocess_eval: Callable[[tf.Tensor], tf.Tensor], batch_size: int) -> dict:
    """Each reloaded artifact vs the Keras model on the eval split (one pass over the data):
    {format: {"num_images", "exported_top1", "model_top1", "prediction_agreement",
    "max_prob_diff", "match"}}; also written beside the artifacts."""
    import tensorflow as tf
    loaded = {}
    for fmt, path in paths.items():
        with _local_file(path, upload=False) as local:  # the runtimes read local files (module doc)
            loaded[fmt] = LOADERS[fmt](local)

    def with_image(record):
        return preprocess_eval(record["encoded"]), record["label"]

    ds = eval_records.map(with_image, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors()
    ds = ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    n = model_correct = 0
    tally = {fmt: {"agree": 0, "correct": 0, "diff": 0.0} for fmt in loaded}
    for images, labels in ds:
        images, labels = images.numpy(), labels.numpy()
        want = _softmax(np.asarray(model(images, training=False), np.float64))
        direct = want.argmax(-1)
        n += len(labels)
        model_correct += int((direct == labels).sum())
        for fmt, predict in loaded.items():
            got = _softmax(np.asarray(predict(images), np.float64))
            top = got.argmax(-1)
            t = tally[fmt]
            t["agree"] += int((top == direct).sum())
            t["correct"] += int((top == labels).sum())
            t["diff"] = max(t["diff"], float(np.abs(got - want).max()))
    results = {}
    for fmt, t in tally.items():
        r = {"num_images": n, "exported_top1": t["correct"] / max(n, 1),
             "model_top1": model_correct / max(n, 1),
             "prediction_agreement": t["agree"] / max(n, 1), "max_prob_diff": t["diff"]}
        r["match"] = (r["prediction_agreement"] >= MIN_AGREEMENT
                      and r["max_prob_diff"] <= MAX_PROB_DIFF)
        results[fmt] = r
        export_dir = os.path.dirname(paths[fmt])
        fs.write_text(os.path.join(export_dir, f"model_performance_{fmt}.json"),
                      json.dumps(r, indent=1))
    if paths:
        _write_info(os.path.dirname(next(iter(paths.values()))),
                    {"formats": {fmt: {"check": r} for fmt, r in results.items()}})
    return results

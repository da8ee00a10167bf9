"""Top-k predictions for image files, from a run directory or an exported SavedModel.

    python -m engine.predict --model_dir=RUN [--checkpoint=auto|latest|best|PREFIX] \
        [--top_k=5] [--batch_size=32] [--output=preds.jsonl|preds.csv] IMAGE_OR_FOLDER [...]
    python -m engine.predict --export_dir=EXPORT [--top_k=5] [--output=...] IMAGE_OR_FOLDER [...]

Exactly one of ``--model_dir`` / ``--export_dir``:

- ``--model_dir``: a run directory (or a checkpoint prefix inside one, DIR/ckpt-N,
  DIR/best/ckpt-N). Its network is rebuilt from config.yaml and restored from
  ``--checkpoint``: "auto" (default: best/ when the run has one, else the latest), "latest",
  "best", or a checkpoint prefix (absolute, or relative to the run directory). Images get
  the eval preprocessing of the run's preprocessing_type; class names come from the run's
  labels.txt (else "class_<index>").
- ``--export_dir``: a SavedModel written by `engine/export.py`; its ``serving_default``
  signature is called with the encoded bytes (the preprocessing is inside the graph). Class
  names come from the export's labels.txt, else the signature's ``class_names`` output for
  the top-1 and "class_<index>" for the others.

Arguments are image files or folders; folders are walked recursively for .jpg, .jpeg, .png,
.bmp and .gif files (case-insensitive), in sorted path order; a file given by name is read
whatever its extension. A file reached twice is predicted once.

Output: one line per image on stdout, ``<path>\\t<name1> 0.9123\\t<name2> 0.0456 ...`` (top-k
by probability, ties by class index). ``--output`` also writes the predictions to a file,
chosen by its extension:
  .jsonl  one {"path", "top_k": [{"class", "index", "probability"}, ...]} per line;
  .csv    a header ``path,top1_class,top1_index,top1_probability,top2_class,...`` and one
          row per image.
``--top_k`` defaults to 5, or to the class count when that is smaller; an explicit value
must lie in 1..num_classes.

Bad input -- a path that does not exist, a folder without images, both or neither of
``--model_dir``/``--export_dir``, a bad ``--top_k``, ``--checkpoint`` or ``--output``, an
unusable run or export -- prints exactly one ``error: <message>`` line on stderr and exits
with code 2, writing nothing. Undecodable images are skipped: stderr gets one line
``warning: skipped N undecodable image(s): first <path>`` and the exit code is 0 as long as
at least one image was predicted; when none could be decoded it is an ``error:`` naming the
first file (exit 2).

Library: `predict_files(paths, model_dir=..., export_dir=..., checkpoint=..., top_k=...)`
returns the list of {"path", "top_k"} dicts (and `PredictResult.skipped` lists the
undecodable files); `collect_images(paths)` is the file walk.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from core.errors import RunDirError, UserError  # noqa: E402

if TYPE_CHECKING:  # numpy loads only when predicting
    import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
OUTPUT_FORMATS = (".jsonl", ".csv")
DEFAULT_TOP_K = 5


class PredictError(UserError):
    """Bad input to predict (paths, flags, an unusable model source)."""


class PredictResult(list):
    """The predictions (a list of {"path", "top_k"} dicts) plus ``skipped``: the paths of
    undecodable images that were left out."""

    def __init__(self, predictions: Iterable[dict] = (), skipped: Iterable[str] = ()) -> None:
        super().__init__(predictions)
        self.skipped = list(skipped)


# ----------------------------------------------------------------------------- inputs
def collect_images(paths: list[str]) -> list[str]:
    """Image files of ``paths`` (files as given; folders walked recursively, sorted);
    PredictError for a missing path or a folder without images."""
    if not paths:
        raise PredictError("no images given (pass image files or folders as arguments)")
    found, seen = [], set()
    for path in paths:
        if os.path.isfile(path):
            files = [path]
        elif os.path.isdir(path):
            files = sorted(
                os.path.join(root, name)
                for root, _, names in os.walk(path)
                for name in names if name.lower().endswith(IMAGE_EXTENSIONS))
            if not files:
                raise PredictError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in "
                                   f"folder {path}")
        else:
            raise PredictError(f"no such file or folder: {path}")
        for f in files:
            key = os.path.realpath(f)
            if key not in seen:
                seen.add(key)
                found.append(f)
    return found


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise PredictError(f"{path}: cannot be read ({e.strerror or type(e).__name__})") \
            from None


def resolve_top_k(top_k: int | None, num_classes: int) -> int:
    if top_k is None:
        return min(DEFAULT_TOP_K, num_classes)
    if not 1 <= top_k <= num_classes:
        raise PredictError(f"--top_k={top_k}: must be between 1 and the model's class count "
                           f"({num_classes})")
    return int(top_k)


def output_format(output: str | None) -> str | None:
    if not output:
        return None
    ext = os.path.splitext(output)[1].lower()
    if ext not in OUTPUT_FORMATS:
        raise PredictError(f"--output={output}: unknown format (use a .jsonl or .csv file "
                           "name)")
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        raise PredictError(f"--output={output}: folder {parent} does not exist")
    return ext


def _check_source(model_dir: str | None, export_dir: str | None) -> None:
    if bool(model_dir) == bool(export_dir):
        raise PredictError("give exactly one of --model_dir (a run directory) and "
                           "--export_dir (an exported SavedModel)")


# ----------------------------------------------------------------------------- predictors
class RunPredictor:
    """A run's network restored from a checkpoint, with the run's eval preprocessing."""

    def __init__(self, model_dir: str, checkpoint: str = "auto"):
        from core import fs
        from core.rundir import WHICH, RunDir, open_source
        model_dir = os.path.expanduser(model_dir)
        if fs.isdir(model_dir):
            run = RunDir.open(model_dir, "--model_dir")
            which = checkpoint or "auto"
            if which not in WHICH and not os.path.isabs(which) \
                    and not fs.isfile(which + ".index") \
                    and fs.isfile(os.path.join(run.path, which) + ".index"):
                which = os.path.join(run.path, which)
            prefix = run.checkpoint(which, "--checkpoint" if which not in WHICH
                                    else "--model_dir")
        else:  # a checkpoint prefix inside a run
            if checkpoint not in (None, "", "auto"):
                raise PredictError("--checkpoint: not allowed when --model_dir is already a "
                                   f"checkpoint prefix ({model_dir})")
            run, prefix = open_source(model_dir, "--model_dir")
        self.run, self.prefix = run, prefix
        self.num_classes = run.num_classes
        self.class_names = run.class_names or _default_names(self.num_classes)
        from preprocessing import get_preprocessing
        try:
            self.prep = get_preprocessing(run.preprocessing_type)
        except ValueError as e:
            raise RunDirError(f"{os.path.join(run.path, 'config.yaml')}: {e}") from None

    def load(self) -> None:
        import tensorflow as tf
        self.model = self.run.build_model()
        self.run.restore(self.model, self.prefix)
        self._forward = tf.function(
            lambda x: tf.nn.softmax(tf.cast(self.model(x, training=False), tf.float32)),
            reduce_retracing=True)
        self._prep_fn = tf.function(self.prep.eval)

    def preprocess(self, encoded: bytes) -> np.ndarray | None:
        """The eval-preprocessed image, or None when it cannot be decoded."""
        import tensorflow as tf
        try:
            return self._prep_fn(tf.constant(encoded)).numpy()
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
            return None

    def probabilities(self, items: list[np.ndarray]) -> np.ndarray:
        """Probabilities [n, C] of preprocessed images (``preprocess`` outputs)."""
        import numpy as np
        return self._forward(np.stack(items)).numpy()


class ExportPredictor:
    """An exported SavedModel's serving_default (bytes in, probabilities out)."""

    def __init__(self, export_dir: str):
        export_dir = os.path.expanduser(export_dir)
        if not os.path.isdir(export_dir):
            raise PredictError(f"--export_dir: folder {export_dir} does not exist")
        if not os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
            raise PredictError(f"--export_dir: {export_dir} is not a SavedModel (no "
                               "saved_model.pb)")
        self.export_dir = export_dir
        self.info = {}
        info_path = os.path.join(export_dir, "export_info.json")
        if os.path.isfile(info_path):
            try:
                with open(info_path) as f:
                    self.info = json.load(f)
            except (OSError, ValueError) as e:
                raise PredictError(f"{info_path}: cannot be read as JSON "
                                   f"({type(e).__name__})") from None
        self.num_classes = int(self.info.get("num_classes") or 0) or None
        self.class_names = None
        labels = os.path.join(export_dir, "labels.txt")
        if os.path.isfile(labels):
            with open(labels) as f:
                self.class_names = [line.rstrip("\n") for line in f]

    def load(self) -> None:
        import tensorflow as tf
        try:
            loaded = tf.saved_model.load(self.export_dir)
        except Exception as e:  # a corrupt or foreign SavedModel: one line, not a trace
            raise PredictError(f"--export_dir: {self.export_dir} cannot be loaded "
                               f"({type(e).__name__}: {str(e).splitlines()[0][:200]})") \
                from None
        if "serving_default" not in loaded.signatures:
            raise PredictError(f"--export_dir: {self.export_dir} has no serving_default "
                               "signature")
        self._loaded = loaded  # keeps the signature's variables alive
        self.serving = loaded.signatures["serving_default"]
        outputs = self.serving.structured_outputs
        if "probabilities" not in outputs:
            raise PredictError(f"--export_dir: {self.export_dir}: serving_default has no "
                               "'probabilities' output (not an engine/export.py SavedModel)")
        width = outputs["probabilities"].shape[-1]
        if width is not None:
            self.num_classes = int(width)
        if self.num_classes is None:
            raise PredictError(f"--export_dir: {self.export_dir}: class count unknown (no "
                               "export_info.json and no static output width)")
        if self.class_names is not None and len(self.class_names) != self.num_classes:
            self.class_names = None
        self._input_name = next(iter(self.serving.structured_input_signature[1]))
        self._decode = tf.function(_decodes)

    def preprocess(self, encoded: bytes) -> bytes | None:
        """The bytes themselves when they decode as an image, else None."""
        import tensorflow as tf
        try:
            self._decode(tf.constant(encoded))
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
            return None
        return encoded

    def probabilities(self, items: list[bytes]) -> np.ndarray:
        import tensorflow as tf
        out = self.serving(**{self._input_name: tf.constant(items, tf.string)})
        self.last_top1_names = ([n.decode("utf-8", "replace") for n in
                                 out["class_names"].numpy()]
                                if "class_names" in out else None)
        return out["probabilities"].numpy()


def _decodes(encoded):
    from preprocessing import decode
    return decode(encoded)


def _default_names(num_classes: int) -> list[str]:
    return [f"class_{i}" for i in range(num_classes)]


# ----------------------------------------------------------------------------- prediction
def predict_files(paths: list[str], *, model_dir: str | None = None,
                  export_dir: str | None = None, checkpoint: str = "auto",
                  top_k: int | None = None, batch_size: int = 32) -> PredictResult:
    """Top-k predictions of the images in ``paths`` (files and folders, see
    `collect_images`) from a run (``model_dir``, ``checkpoint``) or an export
    (``export_dir``). Returns a `PredictResult`: a list of {"path": str, "top_k": [{"class":
    str, "index": int, "probability": float}, ...]} in input order, with ``.skipped`` the
    undecodable files left out. PredictError / RunDirError (UserError) on bad input, also
    when no image could be decoded. top_k None: min(5, class count)."""
    _check_source(model_dir, export_dir)
    if batch_size < 1:
        raise PredictError(f"--batch_size={batch_size}: must be >= 1")
    files = collect_images(list(paths))
    predictor = RunPredictor(model_dir, checkpoint) if model_dir else \
        ExportPredictor(export_dir)
    if model_dir:  # the class count is known before loading anything
        top_k = resolve_top_k(top_k, predictor.num_classes)
    predictor.load()
    if not model_dir:
        top_k = resolve_top_k(top_k, predictor.num_classes)
    names = predictor.class_names

    import numpy as np
    predictions, skipped = [], []
    batch_paths, batch_items = [], []

    def flush():
        probs = predictor.probabilities(batch_items)
        top1_names = getattr(predictor, "last_top1_names", None)
        for i, (path, row) in enumerate(zip(batch_paths, probs)):
            order = np.argsort(-row, kind="stable")[:top_k]
            entries = []
            for rank, idx in enumerate(order):
                idx = int(idx)
                if names is not None:
                    name = names[idx]
                elif rank == 0 and top1_names is not None:
                    name = top1_names[i]
                else:
                    name = f"class_{idx}"
                entries.append({"class": name, "index": idx, "probability": float(row[idx])})
            predictions.append({"path": path, "top_k": entries})
        batch_paths.clear()
        batch_items.clear()

    for path in files:
        item = predictor.preprocess(_read(path))
        if item is None:
            skipped.append(path)
            continue
        batch_paths.append(path)
        batch_items.append(item)
        if len(batch_items) == batch_size:
            flush()
    if batch_items:
        flush()
    if not predictions:
        raise PredictError(f"{skipped[0]}: cannot be decoded as an image"
                           + (f" (nor can the other {len(skipped) - 1})"
                              if len(skipped) > 1 else ""))
    return PredictResult(predictions, skipped)


# ----------------------------------------------------------------------------- output
def format_line(prediction: dict) -> str:
    return "\t".join([prediction["path"]] + [f"{e['class']} {e['probability']:.4f}"
                                              for e in prediction["top_k"]])


def render(predictions: list[dict], fmt: str) -> str:
    if fmt == ".jsonl":
        return "".join(json.dumps(p) + "\n" for p in predictions)
    k = max(len(p["top_k"]) for p in predictions)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path"] + [f"top{r}_{c}" for r in range(1, k + 1)
                                for c in ("class", "index", "probability")])
    for p in predictions:
        writer.writerow([p["path"]] + [v for e in p["top_k"]
                                       for v in (e["class"], e["index"],
                                                 repr(e["probability"]))])
    return buf.getvalue()


def write_output(predictions: list[dict], output: str) -> None:
    """Writes ``predictions`` to ``output`` (format by extension), atomically."""
    text = render(predictions, output_format(output))
    tmp = f"{output}.tmp{os.getpid()}"
    with open(tmp, "w", newline="") as f:
        f.write(text)
    os.replace(tmp, output)


# ----------------------------------------------------------------------------- CLI
def _flag_values():
    from absl import flags
    fv = flags.FlagValues()
    flags.DEFINE_string("model_dir", None, "A run directory (or a checkpoint prefix in one).",
                        flag_values=fv)
    flags.DEFINE_string("export_dir", None, "An exported SavedModel (engine/export.py).",
                        flag_values=fv)
    flags.DEFINE_string("checkpoint", "auto", "With --model_dir: auto (best/, else the "
                        "latest), latest, best, or a checkpoint prefix.", flag_values=fv)
    flags.DEFINE_integer("top_k", None, "Classes listed per image (default min(5, class "
                         "count)).", flag_values=fv)
    flags.DEFINE_integer("batch_size", 32, "Images per forward pass.", flag_values=fv)
    flags.DEFINE_string("output", None, "Also write the predictions to this .jsonl or .csv "
                        "file.", flag_values=fv)
    return fv


def main(argv: list[str] | None = None) -> int:
    """The CLI (module doc); returns the exit code. Flags live in a private FlagValues, so
    main can be called more than once in a process."""
    from absl import flags
    argv = list(sys.argv if argv is None else argv)
    fv = _flag_values()
    from core.console import help_text, wants_help
    if wants_help(argv):
        sys.stdout.write(help_text(__doc__, fv))
        return 0
    try:
        rest = fv(argv)
    except flags.Error as e:
        print(f"error: {str(e).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    try:
        _check_source(fv.model_dir, fv.export_dir)
        if fv.top_k is not None and fv.top_k < 1:
            raise PredictError(f"--top_k={fv.top_k}: must be >= 1")
        output_format(fv.output)
        collect_images(rest[1:])  # path errors before TensorFlow starts
        result = predict_files(rest[1:], model_dir=fv.model_dir, export_dir=fv.export_dir,
                               checkpoint=fv.checkpoint, top_k=fv.top_k,
                               batch_size=fv.batch_size)
        if fv.output:
            write_output(result, fv.output)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for p in result:
        print(format_line(p))
    if result.skipped:
        print(f"warning: skipped {len(result.skipped)} undecodable image(s): first "
              f"{result.skipped[0]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

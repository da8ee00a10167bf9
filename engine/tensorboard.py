"""What a run shows in TensorBoard beyond the scalars of engine/run_log.py.

Layout under model_dir (TensorBoard runs are directories):
  .           hparams (the hparams plugin's session: config.yaml's scalar settings, and the
              eval metrics top1, top5, ece, loss of the "eval" run) and the config as text
  train/      scalars (loss = the objective's cross-entropy, l2, total_loss, lr, top1,
              images_per_sec) and `train_views`: a grid of the first training batch
  eval/       scalars (top1, top5, ece, loss) and `reliability`: the diagram per evaluation
  eval_only/<name>/    --eval_only's scalars and reliability diagram
  robustness/<kind>/   --robustness's figures (the same PNGs as its report)

All of it is written once, at the start of a new run (step 0), except the per-evaluation
images; a resumed run adds nothing at its start. Only the chief writes.
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf
from numpy.typing import ArrayLike

from core import fs
from preprocessing.common import MEAN_RGB

if TYPE_CHECKING:  # engine.trainer imports this module; matplotlib is an extra
    from matplotlib.figure import Figure

    from engine.trainer import Run

EVAL_METRICS = ("top1", "top5", "ece", "loss")  # tags of the "eval" run
GRID_IMAGES = 16


# ----------------------------------------------------------------------------- hparams
def hparam_values(config: dict) -> dict:
    """config.yaml's settings as hparams values: str, bool, int and float as they are; None
    as "none" (the plugin takes no null); lists and mappings as their JSON text (a list is
    one setting, e.g. "[0.5, 0.75]", not one column per element)."""
    out = {}
    for key, value in config.items():
        if value is None:
            out[key] = "none"
        elif isinstance(value, (bool, int, str)):
            out[key] = value
        elif isinstance(value, float):
            # The plugin's float is a double; inf/nan would show as text nowhere else.
            out[key] = value if math.isfinite(value) else str(value)
        else:
            out[key] = json.dumps(value, sort_keys=True, default=str)
    return out


def log_run_start(model_dir: str, config: dict, config_text: str) -> None:
    """The hparams session and the config text of a new run, in model_dir's own events (the
    session's directory: its "eval" sub-run holds the metrics the hparams table shows).

    Each run also writes the experiment (hparams_config): TensorBoard over several runs
    uses one run's, so the table's columns are that run's settings (the same keys for runs
    of one version of the code)."""
    from tensorboard.plugins.hparams import api as hp
    values = hparam_values(config)
    writer = tf.summary.create_file_writer(model_dir)
    try:
        with writer.as_default(step=0):
            hp.hparams_config(
                hparams=[hp.HParam(k) for k in values],
                metrics=[hp.Metric(tag, group="eval", display_name=f"eval {tag}")
                         for tag in EVAL_METRICS])
            hp.hparams(values, trial_id=os.path.basename(os.path.normpath(model_dir)))
            # A fenced block: TensorBoard renders text as markdown, and YAML's indentation
            # and "#" must survive it.
            tf.summary.text("config", f"```yaml\n{config_text.rstrip()}\n```")
    finally:
        writer.close()


# ----------------------------------------------------------------------------- images
def denormalize(images: ArrayLike) -> np.ndarray:
    """preprocessing.common.normalize's output (0-255 minus the RGB mean) -> uint8."""
    images = np.asarray(images, np.float32) + np.asarray(MEAN_RGB, np.float32)
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)


def grid(images: np.ndarray, columns: int | None = None, pad: int = 2) -> np.ndarray:
    """uint8 [N, H, W, 3] -> one uint8 [rows*(H+pad)+pad, columns*(W+pad)+pad, 3] image,
    row-major, white gaps (a gap of the views' own colour would hide their borders)."""
    n, h, w, c = images.shape
    columns = columns or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / columns))
    out = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, c), 255, np.uint8)
    for i in range(n):
        r, col = divmod(i, columns)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        out[y:y + h, x:x + w] = images[i]
    return out


def view_grids(batch: dict, count: int = GRID_IMAGES) -> dict[str, np.ndarray]:
    """{tag: uint8 grid} of a training batch as the input pipeline yields it: "image"
    [B, H, W, 3], or with multi-crop [B, V, H, W, 3] (the views of the first images, one
    image's views side by side per row) and "local" [B, L, h, w, 3] (its own grid, another
    size)."""
    out = {}
    for key, tag in (("image", "train_views"), ("local", "train_views_local")):
        if key not in batch:
            continue
        images = np.asarray(batch[key])
        columns = None
        if images.ndim == 5:  # [B, V, ...]: whole images' views, rows of V
            per_image = images.shape[1]
            images = images[:max(1, count // per_image)].reshape((-1,) + images.shape[2:])
            columns = per_image
        out[tag] = grid(denormalize(images[:count]), columns)
    return out


def log_train_views(writer: tf.summary.SummaryWriter, batch: dict,
                    step: int = 0) -> dict[str, np.ndarray]:
    """The first training batch's views as grids in the "train" writer. What the input
    pipeline yields: augmentation (crop, flip, AutoAugment/RandAugment, RandomErasing,
    multi-crop, replayed reinforcement views) is in it; batch mixing (mixup, CutMix, R-Mix)
    happens inside the train step and is not. Returns the grids."""
    grids = view_grids(batch)
    with writer.as_default(step=step):
        for tag, image in grids.items():
            tf.summary.image(tag, image[None], step=step,
                             description="the first training batch of one replica, "
                                         "augmented, before batch mixing")
    writer.flush()
    return grids


def png_image(png: bytes) -> np.ndarray:
    """PNG bytes -> uint8 [1, H, W, 3] for tf.summary.image (alpha dropped: matplotlib's
    figures are opaque)."""
    return tf.io.decode_png(png, channels=3).numpy()[None]


def log_pngs(writer: tf.summary.SummaryWriter, step: int, pngs: dict) -> None:
    """{tag: PNG bytes or a PNG file's path} as images at ``step``."""
    with writer.as_default(step=step):
        for tag, png in pngs.items():
            if isinstance(png, str):
                with fs.open_file(png, "rb") as f:
                    png = f.read()
            tf.summary.image(tag, png_image(png), step=step)
    writer.flush()


def figure_png(fig: Figure) -> bytes:
    """A matplotlib figure as PNG bytes (closed after)."""
    from engine import plots
    buffer = io.BytesIO()
    plots.save_figure(fig, buffer)
    return buffer.getvalue()


_warned_no_plots = []


def log_reliability(writer: tf.summary.SummaryWriter, step: int, reliability: dict,
                    title: str = "") -> None:
    """An evaluation's reliability diagram (engine/plots.py) as the image "reliability".
    Without matplotlib (the [plots] extra) nothing is drawn: one warning line per process."""
    from engine import plots
    if plots.missing():
        if not _warned_no_plots:
            _warned_no_plots.append(True)
            print(f"warning: no reliability diagrams in TensorBoard: {plots.missing()}",
                  file=sys.stderr, flush=True)
        return
    log_pngs(writer, step, {"reliability": figure_png(
        plots.reliability_figure(reliability, title))})


# ----------------------------------------------------------------------------- a new run
def first_train_batch(run: Run) -> dict:
    """The first batch that this worker's first replica trains on: the run's own
    epoch-0 pipeline (engine/inputs.py, the trainer's arguments), built a second time and
    read once, so the training's iterator loses nothing. Deterministic (seeded shuffle,
    stateless augmentation seeds, ordered interleaves), hence the same images; it costs
    one fill of the shuffle buffer."""
    from engine import distribute, inputs
    context = tf.distribute.InputContext(
        num_input_pipelines=distribute.num_workers(run.strategy),
        input_pipeline_id=distribute.worker_id(run.strategy),
        num_replicas_in_sync=run.replicas)
    ds = inputs.train_dataset(run.source, run.train_fn, run.pipeline, 0, 0,
                              run.steps_per_epoch, context, run.kd.record_options,
                              run.kd.replay_fn, run.train_batch_fn)
    return {k: v.numpy() for k, v in next(iter(ds.take(1))).items()
            if k in ("image", "local")}


def log_new_run(run: Run) -> None:
    """At the start of a new run (step 0): hparams and config text (model_dir) and the
    first training batch's views ("train")."""
    text = fs.read_text(os.path.join(run.model_dir, "config.yaml"))
    log_run_start(run.model_dir, run.run_dir.config, text)
    if run.steps_per_epoch:
        log_train_views(run.log.writers["train"], first_train_batch(run), step=0)

"""``main_classification.py --robustness=...``: clean and corrupted evaluation of one
checkpoint, reported as CE / mCE (``engine.robustness``), a text table, report.json, and
PNG figures (error per corruption, error versus severity, reliability diagrams).

On the fly, each eval image is decoded, resized and centre-cropped as the ImageNet-C
generator does (``preprocessing.pil_resize.imagenet_c_crop``: torchvision ``Resize`` +
``CenterCrop`` of a PIL image, to the model's eval resize and size; a ``small_<N>`` model
gets ``Resize(N)`` + ``CenterCrop(N)``, what ``datasets.build_corrupted
--resize_size=N --crop_size=N`` writes), then the corruption with its per-image seed
(``registry.image_seed``), then -- like the published files -- a JPEG round trip at
``--corruption_jpeg_quality``, then the model's normalisation. Nothing is written to disk.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import tensorflow as tf

from core import fs
from core.errors import ConfigError
from datasets import corrupted
from datasets.source import DataSource
from engine import eval_modes, plots, robustness
from preprocessing import Preprocessing, common, pil_resize
from preprocessing.corruptions import registry

if TYPE_CHECKING:  # engine.trainer imports this module
    from engine.trainer import Run


def corrupt_record_fn(prep: Preprocessing, name: str, severity: int, seed: int,
                      jpeg_quality: int) -> Callable[[dict], tf.Tensor]:
    """record -> normalised float image: ImageNet-C crop, corruption, JPEG round trip.

    The crop is the benchmark's (PIL's antialiased resize), not the model's accuracy-eval
    resize: the corrupted images are the ones ``datasets.build_corrupted`` writes."""
    resize = prep.eval_resize if prep.kind == "imagenet" else prep.eval_size

    def preprocess(record):
        image = pil_resize.imagenet_c_crop(record["encoded"], resize, prep.eval_size,
                                           prep.dct_method)
        image_seed = registry.image_seed(record["filename"], record["encoded"], name,
                                         severity, seed)
        image = registry.corrupt(image, name, severity, image_seed)
        if jpeg_quality:
            image = tf.io.decode_jpeg(tf.io.encode_jpeg(image, quality=jpeg_quality),
                                      dct_method=common.DCT_METHOD)
            image = tf.ensure_shape(image, [prep.eval_size, prep.eval_size, 3])
        return common.normalize(image)
    return preprocess


def stored_record_fn(size: int) -> Callable[[dict], tf.Tensor]:
    """record -> normalised float image for files already at their final size (resized to
    ``size`` only when they are not)."""
    def preprocess(record):
        image = common.decode(record["encoded"])
        shape = tf.shape(image)
        image = tf.cond(tf.logical_and(shape[0] == size, shape[1] == size),
                        lambda: tf.cast(image, tf.float32),
                        lambda: tf.image.resize(image, [size, size], antialias=True))
        return common.normalize(tf.ensure_shape(image, [size, size, 3]))
    return preprocess


def _first_images(source: DataSource, count: int) -> DataSource:
    """The first ``count`` eval images of ``source`` (the same ones for every corruption)."""
    if not count or count >= (source.eval_size or 0):
        return source

    def records(input_context=None):
        ds = source.eval_records().take(count)
        if input_context is not None and input_context.num_input_pipelines > 1:
            ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
        return ds

    return DataSource(kind=source.kind, num_classes=source.num_classes,
                      class_names=source.class_names, train_size=None, eval_size=count,
                      default_preprocessing=source.default_preprocessing,
                      description=f"first {count} eval images of {source.description}",
                      _eval_fn=records)


def _label_offset(run, name: str) -> int:
    # TFDS imagenet2012_corrupted labels are 0..999; the original's 1001-class layout
    # (label 0 = background) needs +1.
    return 1 if name == "imagenet2012_corrupted" and run.num_classes == 1001 else 0


def _inputs(run, kind, location, data_dir, name, severity):
    cfg = run.cfg
    if kind == "on_the_fly":
        return (_first_images(run.source, cfg["robustness_max_images"]),
                corrupt_record_fn(run.prep, name, severity, cfg["corruption_seed"],
                                  cfg["corruption_jpeg_quality"]))
    if kind == "tree":
        source = corrupted.tree_source(location, name, severity, run.class_names,
                                       run.num_classes)
    else:
        source = corrupted.tfds_source(location, name, severity, data_dir, run.num_classes,
                                       _label_offset(run, location))
    return source, stored_record_fn(run.prep.eval_size)


def _evaluated_dataset(cfg, kind, location) -> str:
    # A TFDS corrupted set names its data; on the fly and a tree hold the run's own classes
    # (a tree's folders are read through the run's class names), so dataset_name says it.
    return location if kind == "tfds" else cfg["dataset_name"]


def _load_baseline(path):
    if not path:
        return None
    try:
        report = json.loads(fs.read_text(path))
        report["clean"]["error"], report["corruptions"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"--robustness_baseline {path}: not a report.json of "
                          "--robustness") from None
    return report


def run(the_run: Run) -> dict:
    cfg = the_run.cfg
    kind, location, data_dir = corrupted.parse_flag(cfg["robustness"])
    names = registry.parse_corruptions(cfg["corruptions"])
    severities = registry.parse_severities(cfg["severities"])
    baseline = _load_baseline(cfg["robustness_baseline"])
    out_dir = cfg["robustness_dir"] or os.path.join(the_run.model_dir, "robustness", kind)
    path = eval_modes.restore_for_eval(the_run, "--robustness")
    log = the_run.log.say
    log(f"robustness of {path}: {len(names)} corruption(s) x severities "
        f"{','.join(map(str, severities))} ({cfg['robustness']})")

    clean_source = (_first_images(the_run.source, cfg["robustness_max_images"])
                    if kind == "on_the_fly" else the_run.source)
    clean = the_run.evaluate(clean_source, reliability=True)
    log(f"clean: top-1 {clean['top1']:.4f} | ECE {clean['ece']:.4f} ({clean['count']} images)")
    results = {}
    for name in names:
        results[name] = {}
        for severity in severities:
            source, preprocess = _inputs(the_run, kind, location, data_dir, name, severity)
            result = the_run.evaluate(source, preprocess, reliability=True)
            results[name][severity] = result
            log(f"{name} {severity}: top-1 {result['top1']:.4f} | ECE {result['ece']:.4f} "
                f"({result['count']} images, {result['seconds']:.0f} s)")

    report = robustness.summarize(results, clean, baseline, cfg["robustness_baseline"] or "",
                                  dataset=_evaluated_dataset(cfg, kind, location))
    if the_run.chief:
        for warning in report["warnings"]:
            print(f"warning: {warning}", file=sys.stderr, flush=True)
    report.update(checkpoint=path, source=cfg["robustness"], seed=cfg["corruption_seed"],
                  jpeg_quality=(cfg["corruption_jpeg_quality"] if kind == "on_the_fly"
                                else None),
                  images=clean["count"])
    report["reliability"] = {"clean": clean["reliability"]}
    for name, per_severity in results.items():
        for severity, result in per_severity.items():
            report["reliability"][f"{name}_{severity}"] = result["reliability"]
    if the_run.chief:
        figures = _write(report, out_dir, os.path.basename(os.path.normpath(the_run.model_dir)),
                         baseline)
        # The same figures in TensorBoard: out_dir is a run of its own (robustness/<kind>
        # under model_dir by default), at the checkpoint's step.
        from engine import tensorboard
        writer = tf.summary.create_file_writer(out_dir)
        try:
            tensorboard.log_pngs(writer, the_run.step, figures)
        finally:
            writer.close()
    table = robustness.format_table(report)
    print(table)
    log(f"report, table and figures in {out_dir}" if not plots.missing() else
        f"report and table in {out_dir} (no figures: matplotlib is not installed)")
    return {"robustness": report, "table": table, "out_dir": out_dir}


def _write(report: dict, out_dir: str, title: str, baseline: dict | None = None) -> dict:
    """report.json, table.txt and the PNG figures; returns {name: PNG path} (empty, with one
    warning line, without matplotlib)."""
    fs.makedirs(out_dir)
    fs.write_text(os.path.join(out_dir, "report.json"), json.dumps(report, indent=1))
    fs.write_text(os.path.join(out_dir, "table.txt"), robustness.format_table(report) + "\n")
    if plots.missing():
        print(f"warning: no robustness figures: {plots.missing()}", file=sys.stderr,
              flush=True)
        return {}
    figures = plots.robustness_figures(report, out_dir, title, baseline)
    reliability = report["reliability"]
    figures.append(plots.reliability_diagram(reliability["clean"],
                              os.path.join(out_dir, "reliability_clean.png"),
                              f"{title}: clean (ECE {report['clean']['ece']:.3f})"))
    # One corrupted diagram: all corrupted images pooled (per-severity diagrams would be 95).
    pooled = {"count": [0] * len(reliability["clean"]["count"])}
    pooled["confidence"] = [0.0] * len(pooled["count"])
    pooled["accuracy"] = [0.0] * len(pooled["count"])
    for key, r in reliability.items():
        if key == "clean":
            continue
        for b, n in enumerate(r["count"]):
            pooled["count"][b] += n
            pooled["confidence"][b] += n * r["confidence"][b]
            pooled["accuracy"][b] += n * r["accuracy"][b]
    for b, n in enumerate(pooled["count"]):
        pooled["confidence"][b] /= max(n, 1)
        pooled["accuracy"][b] /= max(n, 1)
    figures.append(plots.reliability_diagram(
        pooled, os.path.join(out_dir, "reliability_corrupted.png"),
        f"{title}: all corrupted images"))
    return {os.path.splitext(os.path.basename(path))[0]: path for path in figures}

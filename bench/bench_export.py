"""Inference img/s of the exported network: LiteRT vs SavedModel vs Keras (and ONNX when asked).

Command (repository root, venv active; needs requirements-export.txt):

    python bench/bench_export.py --image_size 224 --batch_sizes 1,8 --images 8 --repeats 3 \
        --formats keras,savedmodel,litert,onnx --json_out results/bench_export.json

A ResNet-50 (``nets.build_resnet(50, 1000)``, random weights, seed 0, float32) is exported the
way ``--export_dir --export_format=...`` does it (engine/export.py, engine/export_formats.py)
into a temporary folder, each artifact reloaded, and timed on the same preprocessed float32
batch [N, S, S, 3] (random, fixed seed; no decoding or input pipeline measured):
- keras:      ``keras.saving.load_model(model.keras)``, ``model(x, training=False)`` in a
              ``tf.function`` (as bench/bench_resnet50.py's infer).
- savedmodel: ``tf.saved_model.load(dir).signatures["preprocessed"]`` (the float input
              signature; ``serving_default`` adds JPEG decoding).
- litert:     ai_edge_litert ``Interpreter(model.tflite, num_threads=<cpu count>)`` resized to
              the batch; ``set_tensor`` + ``invoke`` + ``get_tensor``.
- onnx:       onnxruntime ``InferenceSession`` (CPUExecutionProvider, default threads).
Per batch size, the formats are interleaved over ``--repeats`` rounds (each times ``--images``
images per format, after one untimed warm-up call) and the median img/s is reported, so
machine noise hits every format alike. The largest absolute logit difference of each format
from the Keras model on the timed batch is reported too (beside the largest |logit|, for scale).
"""

import argparse
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from bench import environment  # noqa: E402
from engine import export_formats  # noqa: E402
from engine.export import export_saved_model  # noqa: E402
from nets import build_resnet  # noqa: E402
from preprocessing.registry import get_preprocessing  # noqa: E402

FORMATS = ("keras", "savedmodel", "litert", "onnx")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--resnet_size", type=int, default=50)
    p.add_argument("--base_width", type=int, default=64)
    p.add_argument("--image_size", type=int, default=224)
    p.add_argument("--batch_sizes", default="1,8", help="comma list")
    p.add_argument("--images", type=int, default=8, help="timed images per format per round")
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds; median reported")
    p.add_argument("--formats", default="keras,savedmodel,litert",
                   help=f"comma list of {', '.join(FORMATS)}")
    p.add_argument("--json_out", default=None)
    return p.parse_args(argv)


def load_runners(formats, export_dir):
    runners = {}
    for fmt in formats:
        if fmt == "savedmodel":
            sig = tf.saved_model.load(export_dir).signatures["preprocessed"]
            runners[fmt] = lambda x, sig=sig: sig(images=tf.constant(x))["logits"].numpy()
        elif fmt == "keras":
            model = keras.saving.load_model(os.path.join(export_dir, export_formats.FILES[fmt]))
            fn = tf.function(lambda x, model=model: model(x, training=False))
            runners[fmt] = lambda x, fn=fn: fn(tf.constant(x)).numpy()
        elif fmt == "litert":
            runners[fmt] = export_formats.LOADERS[fmt](
                os.path.join(export_dir, export_formats.FILES[fmt]), num_threads=os.cpu_count())
        else:
            runners[fmt] = export_formats.LOADERS[fmt](
                os.path.join(export_dir, export_formats.FILES[fmt]))
    return runners


def main(argv=None):
    args = parse_args(argv)
    formats = [f for f in args.formats.split(",") if f]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise SystemExit(f"error: --formats: unknown {', '.join(unknown)}")
    for fmt in formats:
        problem = export_formats.missing_library(fmt)
        if problem:
            raise SystemExit(f"error: {problem}")
    keras.utils.set_random_seed(0)
    s = args.image_size
    model = build_resnet(args.resnet_size, 1000, input_shape=(s, s, 3),
                         base_width=args.base_width)
    prep = get_preprocessing(f"imagenet_{s}")
    export_seconds = {}
    with tempfile.TemporaryDirectory() as export_dir:
        if "savedmodel" in formats:
            start = time.perf_counter()
            export_saved_model(model, prep.eval, s, export_dir)
            export_seconds["savedmodel"] = time.perf_counter() - start
        for fmt in formats:
            if fmt != "savedmodel":
                start = time.perf_counter()
                export_formats.export_formats(model, [fmt], export_dir, prep,
                                              [f"class_{i}" for i in range(1000)])
                export_seconds[fmt] = time.perf_counter() - start
        runners = load_runners(formats, export_dir)
        rng = np.random.default_rng(0)
        rows = []
        for batch in [int(b) for b in args.batch_sizes.split(",")]:
            x = rng.normal(0, 60, (batch, s, s, 3)).astype(np.float32)
            want = np.asarray(model(x, training=False))
            diffs = {}
            for fmt, run in runners.items():  # warm-up (tracing, allocation)
                diffs[fmt] = float(np.abs(np.asarray(run(x)) - want).max())
            calls = max(1, args.images // batch)
            samples = {fmt: [] for fmt in runners}
            for _ in range(args.repeats):
                for fmt, run in runners.items():
                    start = time.perf_counter()
                    for _ in range(calls):
                        run(x)
                    samples[fmt].append(calls * batch / (time.perf_counter() - start))
            for fmt in runners:
                rows.append(dict(format=fmt, batch_size=batch,
                                 img_s=statistics.median(samples[fmt]),
                                 samples=samples[fmt], max_abs_logit_diff=diffs[fmt],
                                 max_abs_logit=float(np.abs(want).max())))
    env = environment.describe()
    print(f"\nResNet-{args.resnet_size} (width {args.base_width}), {s} px, float32, "
          f"{args.images} images x {args.repeats} rounds per format (median img/s); "
          f"{env['machine']['cpu']}, {env['machine']['cpu_count']} CPUs, {env['date']}\n")
    print(f"| format | batch | img/s | vs {formats[0]} | max abs logit diff vs Keras model "
          "| max abs logit |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        base = next(q["img_s"] for q in rows
                    if q["batch_size"] == r["batch_size"] and q["format"] == formats[0])
        r["vs_first"] = r["img_s"] / base
        print(f"| {r['format']} | {r['batch_size']} | {r['img_s']:.2f} | {r['vs_first']:.2f} "
              f"| {r['max_abs_logit_diff']:.2e} | {r['max_abs_logit']:.3g} |")
    report = {"config": vars(args), "export_seconds": export_seconds, "results": rows,
              **env}
    if args.json_out:
        path = pathlib.Path(args.json_out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=1))
        print(f"\nwrote {path}")
    return report


if __name__ == "__main__":
    main()

"""Throughput of our ResNet-50 (v1.5) vs keras.applications.ResNet50 (v1), train and inference.

Command (repository root, venv active):

    TF_CPP_MIN_LOG_LEVEL=2 python bench/bench_resnet50.py --warmup 2 --steps 5 --repeats 3 \
        --batch_size 16 --image_size 224 --json_out runs/bench_resnet50.json

Models (both 1000 classes, logits output, input fixed at image_size):
- ours:  ``nets.build_resnet(50, 1000)``: ResNet v1.5 (stride on the 3x3 conv of the bottleneck),
  bias-free convs, symmetric "fixed padding" (ZeroPadding2D) before the stride-2 3x3 convs,
  classifier Dense in float32.
- keras: ``keras.applications.ResNet50(weights=None, classifier_activation=None)``: ResNet v1
  (stride on the first 1x1 conv), convs with bias, "same" padding on the 3x3 convs, classifier
  in the global policy's compute dtype. v1.5 does about 0.2 GFLOPs (~5%) more work per image at
  224 px than v1, because its stride-2 3x3 convs see the full-resolution map.

Each precision (float32, then the ``mixed_bfloat16`` global policy) builds both models, warms up
both, then measures A/B/A/B... (``--repeats`` rounds, each timing ``--steps`` steps per model) so
machine noise hits both equally; the table reports the median img/s over rounds.
- train:  one ``tf.function``: forward (training=True), sparse CE from logits, gradient,
  SGD(momentum 0.9) apply. Identical code for both models.
- infer:  ``tf.function`` of ``model(x, training=False)``.
Inputs are random (fixed seed) and stay on the device; no input pipeline is measured.
"""

import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from nets import build_resnet  # noqa: E402
from nets.model_stats import multiply_accumulates  # noqa: E402

PRECISIONS = ("float32", "mixed_bfloat16")
MODES = ("train", "infer")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=5, help="timed steps per model per round")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per model before timing")
    p.add_argument("--repeats", type=int, default=3,
                   help="interleaved A/B rounds; the median is reported")
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--image_size", type=int, default=224)
    p.add_argument("--json_out", default=None, help="also write the results to this JSON file")
    return p.parse_args(argv)


def build_models(image_size):
    shape = (image_size, image_size, 3)
    ours = build_resnet(50, 1000, input_shape=shape)
    theirs = keras.applications.ResNet50(weights=None, input_shape=shape, classes=1000,
                                         classifier_activation=None)
    return {"ours": ours, "keras": theirs}


def make_train_step(model):
    optimizer = keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = loss_fn(y, logits)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return train_step


def make_infer_step(model):
    @tf.function
    def infer_step(x, y):
        del y
        return model(x, training=False)

    return infer_step


def run_steps(fn, x, y, n):
    """Seconds for n calls; the last result is pulled to the host so all work has finished."""
    start = time.perf_counter()
    out = None
    for _ in range(n):
        out = fn(x, y)
    out.numpy()
    return time.perf_counter() - start


def bench_precision(policy, args, x, y):
    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy(policy)
    try:
        models = build_models(args.image_size)
        fns = {(name, mode): (make_train_step(m) if mode == "train" else make_infer_step(m))
               for name, m in models.items() for mode in MODES}
        for fn in fns.values():
            run_steps(fn, x, y, args.warmup)  # includes tracing
        results = {}
        for mode in MODES:
            samples = {"ours": [], "keras": []}
            for _ in range(args.repeats):
                for name in ("ours", "keras"):
                    seconds = run_steps(fns[(name, mode)], x, y, args.steps)
                    samples[name].append(args.steps * args.batch_size / seconds)
            results[mode] = samples
        return results
    finally:
        keras.mixed_precision.set_global_policy("float32")


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(args.batch_size, args.image_size, args.image_size, 3))
                    .astype("float32"))
    y = tf.constant(rng.integers(0, 1000, size=(args.batch_size,)).astype("int32"))

    macs = {name: multiply_accumulates(m) for name, m in build_models(args.image_size).items()}
    work = macs["ours"] / macs["keras"]
    rows = []
    for policy in PRECISIONS:
        per_mode = bench_precision(policy, args, x, y)
        for mode in MODES:
            s = per_mode[mode]
            ours, theirs = statistics.median(s["ours"]), statistics.median(s["keras"])
            rows.append(dict(mode=mode, precision=policy, ours_img_s=ours, keras_img_s=theirs,
                             ratio=ours / theirs, work_adjusted_ratio=ours / theirs * work,
                             ours_samples=s["ours"], keras_samples=s["keras"]))

    print(f"\nResNet-50, batch {args.batch_size}, {args.image_size} px, warmup {args.warmup}, "
          f"steps {args.steps}, repeats {args.repeats} (median img/s)")
    print(f"MACs per image: ours {macs['ours'] / 1e9:.3f} G, keras {macs['keras'] / 1e9:.3f} G "
          f"(ours does {work:.3f}x the arithmetic)\n")
    print("| mode | precision | ours (v1.5) img/s | keras (v1) img/s | ours/keras "
          "| ours/keras x MAC ratio |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['mode']} | {r['precision']} | {r['ours_img_s']:.2f} | {r['keras_img_s']:.2f} "
              f"| {r['ratio']:.3f} | {r['work_adjusted_ratio']:.3f} |")

    if args.json_out:
        report = dict(
            config=vars(args), macs=macs,
            versions=dict(tensorflow=tf.__version__, keras=keras.__version__,
                          python=platform.python_version()),
            machine=dict(platform=platform.platform(), cpu_count=os.cpu_count(),
                         devices=[d.name for d in tf.config.list_logical_devices()]),
            results=rows,
        )
        path = pathlib.Path(args.json_out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2))
        print(f"\nwrote {path}")


if __name__ == "__main__":
    main()

"""Train-step time of no mixing vs mixup vs CutMix vs R-Mix on the same network, one run.

Command (repository root, venv active):

    python bench/bench_mixing.py --resnet_size 18 --base_width 16 --image_size 32 \
        --batch_size 128 --steps 10 --repeats 3 --json_out results/bench_mixing.json

Each mode is the framework's own train step (engine/train_step.py: targets, mixing, forward,
soft CE + L2, SGD update) in a tf.function over random inputs held in memory, so only the
step is timed, not the input pipeline. Modes are interleaved over `--repeats` rounds (each
times `--steps` steps per mode) and the median ms/step is reported with its ratio to no
mixing. The R-Mix paper claims about 2x CutMix's compute (one extra forward+backward for the
saliency) and a third less than saliency-optimising mixers (Co-Mixup, PuzzleMix).
"""

import argparse
import json
import os
import pathlib
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from bench import environment  # noqa: E402
from core import config  # noqa: E402
from engine import optim, train_step  # noqa: E402
from engine.trainer import POLICIES, build_model  # noqa: E402

MODES = ("0", "mixup", "cutmix", "rmix")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--resnet_size", type=int, default=18)
    p.add_argument("--base_width", type=int, default=16)
    p.add_argument("--stem_type", default="small", choices=["small", "default"])
    p.add_argument("--image_size", type=int, default=32)
    p.add_argument("--num_classes", type=int, default=10)
    p.add_argument("--batch_size", type=int, default=128)
    p.add_argument("--dtype", default="bf16", choices=sorted(POLICIES))
    p.add_argument("--steps", type=int, default=10, help="timed steps per mode per round")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json_out", default=None)
    return p.parse_args(argv)


def make_runner(mode: str, args, batch):
    cfg = config.make_config(
        mixup_type=mode, resnet_size=args.resnet_size, base_width=args.base_width,
        stem_type=args.stem_type, batch_size=args.batch_size, dtype=args.dtype)
    model = build_model(cfg, args.num_classes)
    optimizer = optim.make_optimizer(cfg, 0.01)
    optimizer.build(model.trainable_variables)
    step_fn = train_step.make_step_fn(cfg, model, optimizer, args.num_classes, 1,
                                      optim.decayed_variables(model))

    @tf.function
    def run(n):
        for _ in tf.range(n):
            out = step_fn(batch)
        return out["loss"]

    return run


def main(argv=None):
    args = parse_args(argv)
    keras.mixed_precision.set_global_policy(POLICIES[args.dtype])
    keras.utils.set_random_seed(0)
    shape = [args.batch_size, args.image_size, args.image_size, 3]
    batch = {"image": tf.random.stateless_uniform(shape, [1, 2], -120.0, 130.0),
             "label": tf.random.stateless_uniform([args.batch_size], [3, 4], 0,
                                                  args.num_classes, tf.int32),
             "skipped": tf.zeros([args.batch_size], tf.int32)}
    runners = {mode: make_runner(mode, args, batch) for mode in MODES}
    for run in runners.values():
        float(run(tf.constant(args.warmup)))
    samples = {mode: [] for mode in MODES}
    for _ in range(args.repeats):
        for mode, run in runners.items():
            t0 = time.perf_counter()
            float(run(tf.constant(args.steps)))
            samples[mode].append((time.perf_counter() - t0) / args.steps * 1000)
    base = statistics.median(samples["0"])
    rows = [{"mode": "none" if m == "0" else m, "ms_per_step": statistics.median(s),
             "vs_none": statistics.median(s) / base, "samples_ms": s}
            for m, s in samples.items()]
    cutmix = next(r for r in rows if r["mode"] == "cutmix")["ms_per_step"]
    print(f"ResNet-{args.resnet_size} width {args.base_width}, {args.image_size} px, batch "
          f"{args.batch_size}, {args.dtype}, median of {args.repeats} x {args.steps} steps")
    for r in rows:
        print(f"{r['mode']:<8} {r['ms_per_step']:8.1f} ms/step  {r['vs_none']:5.2f}x none  "
              f"{r['ms_per_step'] / cutmix:5.2f}x cutmix")
    report = {"config": vars(args), "results": rows,
              **environment.describe()}
    if args.json_out:
        pathlib.Path(args.json_out).write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()

"""Teacher-target costs in one run: reinforcement generation throughput and size, and
training throughput of ERM vs reinforced replay vs online distillation.

Command (repository root, venv active; CIFAR-10 TFRecords built as in
results/cifar10_r18_small.md):

    python bench/bench_kd.py --data /tmp/data/cifar10_tfr --work /tmp/bench_kd \
        --json_out results/bench_kd.json

1. A teacher: ResNet-18 at width --teacher_width trained --teacher_steps steps (its accuracy
   does not matter for timing; only its size does).
2. Generation: `kd.reinforce` over the image shards matching --pattern (one CIFAR shard,
   3,125 images, by default) with NS, K, RandAugment(2, 9) and RandomErasing 0.25:
   samples/s and bytes/sample on disk.
3. Training: the student (ResNet-18 width 16, 32 px) on the same shard, each mode run twice,
   for --short and --long steps; steady-state ms/step = (t_long - t_short) / (long - short),
   so tracing and start-up cancel. Modes: ERM with the same augmentation as stored
   (RandAugment + RandomErasing, one-hot CE), reinforced replay (`--reinforce_data_path`),
   online KD (`--teacher`, the teacher runs in every step). The issue's goal: replay
   <= 1.05x ERM.
"""

import argparse
import json
import os
import pathlib
import shutil
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import keras  # noqa: E402

from bench import environment  # noqa: E402
from core import config  # noqa: E402
from engine import trainer  # noqa: E402
from kd import reinforce as dr  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="/tmp/data/cifar10_tfr", help="TFRecord directory")
    p.add_argument("--work", default="/tmp/bench_kd", help="scratch directory (recreated)")
    p.add_argument("--pattern", default="train-00000-of-*", help="image shards used")
    p.add_argument("--num_samples", type=int, default=20)
    p.add_argument("--top_k", type=int, default=10)
    p.add_argument("--teacher_width", type=int, default=32)
    p.add_argument("--teacher_steps", type=int, default=20)
    p.add_argument("--batch_size", type=int, default=128)
    p.add_argument("--short", type=int, default=10)
    p.add_argument("--long", type=int, default=40)
    p.add_argument("--dtype", default="bf16")
    p.add_argument("--json_out", default=None)
    return p.parse_args(argv)


def run_seconds(work, name, steps, args, **overrides):
    model_dir = os.path.join(work, f"{name}_{steps}")
    cfg = config.make_config(
        model_dir=model_dir, dataset_name=args.data, train_regex=args.pattern,
        val_regex="validation-00000-of-*", preprocessing_type="small_32", resnet_size=18,
        base_width=16, stem_type="small", batch_size=args.batch_size, val_batch_size=500,
        train_epochs=2, lr_warmup_epochs=0.0, max_train_steps=steps, steps_per_loop=steps,
        dtype=args.dtype, clean=True, **overrides)
    t0 = time.perf_counter()
    the_run = trainer.Run(cfg)
    # Only the training steps are timed: the end-of-run evaluation is replaced by a stub.
    the_run.evaluate = lambda: {"top1": 0.0, "top5": 0.0, "ece": 0.0, "loss": 0.0,
                                "count": 0, "skipped": 0, "seconds": 0.0}
    the_run.train()
    return time.perf_counter() - t0


def main(argv=None):
    args = parse_args(argv)
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    teacher_dir = os.path.join(args.work, "teacher")
    t_cfg = config.make_config(
        model_dir=teacher_dir, dataset_name=args.data, train_regex=args.pattern,
        val_regex="validation-00000-of-*", preprocessing_type="small_32", resnet_size=18,
        base_width=args.teacher_width, batch_size=args.batch_size, val_batch_size=500,
        train_epochs=2, lr_warmup_epochs=0.0, max_train_steps=args.teacher_steps,
        steps_per_loop=args.teacher_steps, dtype=args.dtype)
    trainer.run(t_cfg)
    keras.mixed_precision.set_global_policy("float32")
    teacher = f"run:{teacher_dir}"

    spec = dr.AugmentationSpec("small_32", (2, 9, 0.0), 0.25, seed=0)
    out = os.path.join(args.work, "reinforced")
    t0 = time.perf_counter()
    header = dr.reinforce(teacher, args.data, out, spec, num_samples=args.num_samples,
                          top_k=args.top_k, pattern=args.pattern, log=lambda *_: None)
    gen_seconds = time.perf_counter() - t0
    images = sum(e["records"] for e in header["shards"].values())
    generation = {"images": images, "samples": images * args.num_samples,
                  "seconds": gen_seconds,
                  "samples_per_s": images * args.num_samples / gen_seconds,
                  "bytes_per_sample": header["bytes_per_sample"],
                  "bytes_per_sample_payload": header["bytes_per_sample_payload"]}

    modes = {
        "erm": dict(randaugment="2,9", random_erasing=0.25),
        "reinforced": dict(kd_temp=1.0, kd_label_weight=0.0, reinforce_data_path=out),
        "online_kd": dict(kd_temp=1.0, kd_label_weight=0.0, teacher=teacher,
                          randaugment="2,9", random_erasing=0.25),
    }
    rows = []
    for name, overrides in modes.items():
        short = run_seconds(args.work, name, args.short, args, **overrides)
        long = run_seconds(args.work, name, args.long, args, **overrides)
        ms = (long - short) / (args.long - args.short) * 1000
        rows.append({"mode": name, "ms_per_step": ms,
                     "img_s": args.batch_size / (ms / 1000), "t_short": short, "t_long": long})
    erm = rows[0]["ms_per_step"]
    for r in rows:
        r["vs_erm"] = r["ms_per_step"] / erm
    report = {"config": vars(args), "generation": generation, "training": rows,
              **environment.describe()}
    print(f"generation: {images} images x NS {args.num_samples} = "
          f"{generation['samples']} samples in {gen_seconds:.1f} s "
          f"({generation['samples_per_s']:.1f} samples/s), "
          f"{generation['bytes_per_sample']:.1f} B/sample on disk "
          f"({generation['bytes_per_sample_payload']} B payload)")
    for r in rows:
        print(f"{r['mode']:<11} {r['ms_per_step']:8.1f} ms/step {r['img_s']:7.1f} img/s "
              f"{r['vs_erm']:5.2f}x ERM")
    if args.json_out:
        pathlib.Path(args.json_out).write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()

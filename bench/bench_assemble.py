"""Parameters, GMACs and inference throughput of the paper's network rows (Table 7).

Command (repository root, venv active):

    python bench/bench_assemble.py --batch_size 16 --image_size 224 --steps 3 --repeats 3 \
        --json_out runs/bench_assemble.json

Rows are `nets.build_resnet` configurations of the assembled-cnn ablation (Lee et al. 2020,
Table 7). Throughput is measured for every row in one process and one run, interleaved
round-robin (row A, B, C, ... then again) so machine noise hits every row alike; the table
reports the median img/s and the ratio to vanilla R50 beside the paper's P40 ratio
(img/s out of 536). The paper's "D+BL" rows use the BL shortcut (which already average-pools)
and `use_resnet_d=False`, as the published models do.
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
from nets.model_stats import count_params, multiply_accumulates  # noqa: E402

AA = dict(anti_alias_type="sconv", anti_alias_filter_size=3)
# (paper row, description, build_resnet kwargs, P40 img/s or None)
ROWS = [
    ("E0", "R50", dict(), 536),
    ("E1", "R50-D", dict(use_resnet_d=True), 493),
    ("E4", "R50-D + SE", dict(use_resnet_d=True, use_se_block=True), 420),
    ("E6", "R50-D + SK", dict(use_resnet_d=True, use_sk_block=True), 359),
    ("E9", "R50 BL + SK", dict(resnet_version=2, use_sk_block=True), 359),
    ("E10", "R50 BL + SK + AA", dict(resnet_version=2, use_sk_block=True, **AA), 312),
    ("-", "R50-D + SK + AA (no BL)", dict(use_resnet_d=True, use_sk_block=True, **AA),
     None),
    ("E12", "R152 BL(a=1,b=2) + SK + AA", dict(resnet_size=152, resnet_version=2, bl_alpha=1,
                                                bl_beta=2, use_sk_block=True, **AA), 143),
]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--image_size", type=int, default=224)
    p.add_argument("--steps", type=int, default=3, help="timed steps per row per round")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--precisions", default="float32,mixed_bfloat16")
    p.add_argument("--json_out", default=None)
    return p.parse_args(argv)


def build(kw, shape):
    kw = dict(kw)
    return build_resnet(kw.pop("resnet_size", 50), 1000, input_shape=shape, **kw)


def key_of(row, kw):
    return row + str(sorted(kw.items()))


def timed(fn, x, n):
    start = time.perf_counter()
    out = None
    for _ in range(n):
        out = fn(x)
    out.numpy()
    return time.perf_counter() - start


def main(argv=None):
    args = parse_args(argv)
    shape = (args.image_size, args.image_size, 3)
    x = tf.constant(np.random.default_rng(0).normal(size=(args.batch_size, *shape)),
                    tf.float32)
    stats = {}
    for row, _, kw, _ in ROWS:
        m = build(kw, shape)
        stats[key_of(row, kw)] = (count_params(m), multiply_accumulates(m))
    speed = {}
    for policy in args.precisions.split(","):
        keras.backend.clear_session()
        keras.mixed_precision.set_global_policy(policy)
        fns = {}
        for row, _, kw, _ in ROWS:
            model = build(kw, shape)
            fns[key_of(row, kw)] = tf.function(
                lambda t, model=model: model(t, training=False))
        for fn in fns.values():
            timed(fn, x, args.warmup)
        samples = {k: [] for k in fns}
        for _ in range(args.repeats):
            for key, fn in fns.items():
                samples[key].append(args.steps * args.batch_size / timed(fn, x, args.steps))
        speed[policy] = {k: statistics.median(v) for k, v in samples.items()}
        keras.mixed_precision.set_global_policy("float32")

    base_key = key_of("E0", {})
    policies = list(speed)
    print(f"\nbatch {args.batch_size}, {args.image_size} px, inference, median of "
          f"{args.repeats} rounds x {args.steps} steps\n")
    head = "| row | network | params (M) | GMACs | " + " | ".join(
        f"{p} img/s | ratio" for p in policies) + " | paper P40 ratio |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    report = []
    for row, desc, kw, p40 in ROWS:
        paper = f"{p40 / 536:.3f} ({p40})" if p40 else "-"
        key = key_of(row, kw)
        params, macs = stats[key]
        cells = []
        entry = dict(row=row, network=desc, params=params, macs=macs, paper_p40=p40)
        for p in policies:
            ips = speed[p][key]
            ratio = ips / speed[p][base_key]
            cells.append(f"{ips:.2f} | {ratio:.3f}")
            entry[p] = dict(img_s=ips, ratio=ratio)
        print(f"| {row} | {desc} | {params / 1e6:.2f} | {macs / 1e9:.2f} | "
              + " | ".join(cells) + f" | {paper} |")
        report.append(entry)
    if args.json_out:
        path = pathlib.Path(args.json_out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dict(
            config=vars(args), rows=report,
            versions=dict(tensorflow=tf.__version__, keras=keras.__version__),
            machine=dict(platform=platform.platform(), cpu_count=os.cpu_count())), indent=1))
        print(f"\nwrote {path}")


if __name__ == "__main__":
    main()

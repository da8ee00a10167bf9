"""How often AutoAugment replaces a whole training image by its fill, per policy and size.

Command (repository root, venv active; about 1 minute on 2 cores):

    python bench/bench_autoaugment_blank.py --json_out results/autoaugment_blank.json

For every policy of preprocessing/autoaugment.py, image side (--sides) and magnitude setting
(--autoaugment_magnitudes: relative, original), `--seeds` calls of `autoaugment.augment` with
seeds 0..N-1, each on its own random-content uint8 image (numpy default_rng([side, seed])):
the share of outputs whose every value equals the fill (128). Under `original` (250 px /
100 px, the TF original's) Translate and Cutout outrun small images; `relative` scales them
with the side (issue 20).
"""

import argparse
import json
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import environment  # noqa: E402
from preprocessing import augment_ops, autoaugment  # noqa: E402


def blank_share(policy: str, side: int, magnitudes: str, seeds: int) -> float:
    run = tf.function(lambda image, seed: autoaugment.augment(image, policy, seed, magnitudes))
    blank = 0
    for seed in range(seeds):
        image = np.random.default_rng([side, seed]).integers(0, 256, (side, side, 3), np.uint8)
        out = run(tf.constant(image), tf.constant(seed, tf.int64)).numpy()
        blank += bool((out == augment_ops.FILL_VALUE).all())
    return blank / seeds


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--policies", default=",".join(sorted(autoaugment.POLICIES)))
    p.add_argument("--sides", default="32,64,224")
    p.add_argument("--seeds", type=int, default=400)
    p.add_argument("--json_out", default="")
    args = p.parse_args(argv)
    policies = args.policies.split(",")
    for name in policies:
        if name not in autoaugment.POLICIES:
            raise SystemExit(f"error: --policies: unknown policy {name!r}; expected some of "
                             f"{', '.join(sorted(autoaugment.POLICIES))}")
    sides = [int(s) for s in args.sides.split(",")]
    rows = []
    print(f"outputs wholly equal to the fill ({augment_ops.FILL_VALUE}), {args.seeds} seeds")
    print(f"{'policy':9s} {'side':>5s} " + " ".join(f"{m:>9s}" for m in autoaugment.MAGNITUDES))
    for policy in policies:
        for side in sides:
            row = {"policy": policy, "side": side}
            for m in autoaugment.MAGNITUDES:
                row[m] = blank_share(policy, side, m, args.seeds)
            rows.append(row)
            print(f"{policy:9s} {side:5d} " + " ".join(f"{100 * row[m]:8.1f}%"
                                                       for m in autoaugment.MAGNITUDES))
    report = {"config": vars(args), "fill": augment_ops.FILL_VALUE, "rows": rows,
              **environment.describe()}
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(report, f, indent=1)
    return report


if __name__ == "__main__":
    main()

"""Throughput of the ImageNet-C corruptions at 224 px: our TensorFlow versions
(preprocessing/corruptions, in a tf.data map as the on-the-fly evaluation runs them) against
the reference imagecorruptions-imaug (NumPy/SciPy/OpenCV), on the same cores in one run.

Command (repository root, venv active; ../shared/data beside the repository):

    OMP_NUM_THREADS=1 python bench/bench_corruptions.py --threads 1 --num_images 50 \
        --json_out results/bench_corruptions.json

Images: the first --num_images Imagenette JPEGs, shorter side 256 -> centre crop 224, held
in memory as uint8, severities 1..5 in turn (image i at severity 1 + i mod 5). Ours: one
pass per severity, a tf.data map with `--threads` threads (private pool, intra-op 1) over
that severity's images repeated --repeat times, after one warm-up pass (tracing, XLA
compilation); the rate is the passes' steady state, and the set-up of each pass (creating
its iterator instantiates the map function, ~0.25 ms per graph op, which a real pass over
thousands of images pays once) is reported apart. Reference: a Python loop
calling imagecorruptions.corrupt with OpenCV limited to `--threads` threads and NumPy's
BLAS to one (OMP_NUM_THREADS=1 in the command), after one warm-up call per corruption (the
numba JIT of glass_blur). img/s per core = img/s / threads. Averages: time-averaged (the
whole suite's images per second, i.e. the harmonic mean, where slow corruptions weigh what
they cost), the same with every pass's set-up paid once per --pass_size images, the plain
mean of the rates, and the mean and geometric mean of the per-corruption speed-ups. The
issue's goal: ours >= 5x the reference averaged over the 15 standard ones.
"""

import argparse
import json
import os
import pathlib
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import environment  # noqa: E402
from bench.bench_augment import DEFAULT_TAR, load_jpegs  # noqa: E402
from preprocessing import imagenet  # noqa: E402
from preprocessing.common import to_uint8  # noqa: E402
from preprocessing.corruptions import registry  # noqa: E402
from preprocessing.corruptions.names import ALL, STANDARD  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(DEFAULT_TAR),
                   help="Imagenette tar.gz (or a folder of JPEGs, searched recursively)")
    p.add_argument("--num_images", type=int, default=50, help="images per corruption")
    p.add_argument("--threads", type=int, default=1, help="threads for both implementations")
    p.add_argument("--corruptions", default="all", help="all, standard, extra or a list")
    p.add_argument("--size", type=int, default=224, help="crop size (shorter side size/0.875)")
    p.add_argument("--repeat", type=int, default=4,
                   help="ours: each image corrupted this many times (different seeds)")
    p.add_argument("--pass_size", type=int, default=3925,
                   help="images per (corruption, severity) pass of a real evaluation, for the "
                        "rate with each pass's set-up included (3925: Imagenette val)")
    p.add_argument("--json_out", default=None)
    return p.parse_args(argv)


def crops(jpegs, size):
    fn = tf.function(lambda e: to_uint8(imagenet.eval_float(e, size, int(size / 0.875))))
    return np.stack([fn(tf.constant(j)).numpy() for j in jpegs])


def ours_rate(name, images, threads, repeat):
    """(img/s, set-up ms per pass) of a tf.data map over the images (each repeated
    ``repeat`` times), one pass per severity as the on-the-fly evaluation makes them. The
    rate is the steady state of a pass; creating a pass's iterator (which instantiates the
    map function's graph, ~0.25 ms per op) is timed apart and reported as set-up: a real
    pass over a validation set of thousands of images pays it once."""
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    options.threading.max_intra_op_parallelism = 1
    options.autotune.enabled = False
    passes = []
    for severity in range(1, 6):
        subset = np.concatenate([images[severity - 1::5]] * repeat)
        ds = tf.data.Dataset.from_tensor_slices(subset).enumerate()
        ds = ds.map(lambda i, x, s=severity: registry.corrupt(
            x, name, s, tf.stack([i, tf.constant(s, tf.int64)])),
            num_parallel_calls=threads, deterministic=False)
        passes.append(ds.prefetch(4).with_options(options))
    for ds in passes:  # warm-up: traces (and XLA-compiles) every severity's graph
        for _ in ds:
            pass
    setup = drain = 0.0
    count = 0
    for ds in passes:
        start = time.perf_counter()
        iterator = iter(ds)
        began = time.perf_counter()
        for _ in iterator:
            count += 1
        setup += began - start
        drain += time.perf_counter() - began
    return count / drain, 1e3 * setup / len(passes)


def reference_rate(name, images):
    from imagecorruptions import corrupt
    np.random.seed(0)
    corrupt(images[0], corruption_name=name, severity=1)  # numba JIT, texture cache
    start = time.perf_counter()
    for i, image in enumerate(images):
        corrupt(image, corruption_name=name, severity=1 + i % 5)
    return len(images) / (time.perf_counter() - start)


def main(argv=None):
    args = parse_args(argv)
    try:
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    except RuntimeError:
        pass
    import cv2
    cv2.setNumThreads(args.threads)
    names = registry.parse_corruptions(args.corruptions)
    images = crops(load_jpegs(args.data, args.num_images), args.size)
    rows = []
    for name in names:
        ours, setup_ms = ours_rate(name, images, args.threads, args.repeat)
        ref = reference_rate(name, images)
        rows.append({"corruption": name, "ours_img_s_per_core": ours / args.threads,
                     "reference_img_s_per_core": ref / args.threads, "speedup": ours / ref,
                     "ours_setup_ms_per_pass": setup_ms})
        print(f"{name:<18} ours {ours / args.threads:8.1f} | reference "
              f"{ref / args.threads:8.1f} img/s/core | {ours / ref:5.2f}x "
              f"| set-up {setup_ms:.0f} ms per pass", flush=True)
    summary = {}
    for label, group in (("standard_15", STANDARD), ("all_19", ALL)):
        sel = [r for r in rows if r["corruption"] in group]
        if len(sel) == len(group):
            summary[label] = {
                # time-averaged: images of every corruption per second of the whole suite
                # (the harmonic mean of the rates), where the slow corruptions count fully.
                "ours_suite_img_s_per_core": statistics.harmonic_mean(
                    r["ours_img_s_per_core"] for r in sel),
                "reference_suite_img_s_per_core": statistics.harmonic_mean(
                    r["reference_img_s_per_core"] for r in sel),
                "ours_mean_img_s_per_core": statistics.mean(r["ours_img_s_per_core"] for r in sel),
                "reference_mean_img_s_per_core": statistics.mean(
                    r["reference_img_s_per_core"] for r in sel),
                "mean_speedup": statistics.mean(r["speedup"] for r in sel),
                "geomean_speedup": float(np.exp(np.mean([np.log(r["speedup"]) for r in sel]))),
            }
            s = summary[label]
            s["suite_speedup"] = (s["ours_suite_img_s_per_core"]
                                  / s["reference_suite_img_s_per_core"])
            # The same with every pass's set-up paid once per --pass_size images.
            n = args.pass_size
            s["ours_suite_img_s_per_core_with_setup"] = statistics.harmonic_mean(
                n / (n / r["ours_img_s_per_core"] + r["ours_setup_ms_per_pass"] / 1e3)
                for r in sel)
            s["suite_speedup_with_setup"] = (s["ours_suite_img_s_per_core_with_setup"]
                                             / s["reference_suite_img_s_per_core"])
            print(f"{label}: whole suite (time-averaged) ours {s['ours_suite_img_s_per_core']:.1f} "
                  f"vs reference {s['reference_suite_img_s_per_core']:.1f} img/s/core = "
                  f"{s['suite_speedup']:.2f}x ({s['suite_speedup_with_setup']:.2f}x with each "
                  f"pass's set-up paid once per {n} images)")
            ours, reference = s["ours_mean_img_s_per_core"], s["reference_mean_img_s_per_core"]
            print(f"{label}: ours {ours:.1f} vs reference "
                  f"{reference:.1f} img/s/core on average "
                  f"(ratio of means {ours / reference:.2f}x; "
                  f"mean speedup {s['mean_speedup']:.2f}x, geomean {s['geomean_speedup']:.2f}x)")
    if args.json_out:
        out = {"machine": environment.describe(), "args": vars(args), "results": rows,
               "summary": summary}
        pathlib.Path(args.json_out).write_text(json.dumps(out, indent=1) + "\n")
    return rows


if __name__ == "__main__":
    main()

"""RandAugment(2, 9) + RandomErasing per CPU core: our tf.data pipeline against torchvision's
PIL path, on the same Imagenette JPEG bytes, interleaved in one process.

Command (repository root, venv active; ../shared/data beside the repository):

    python bench/bench_augment_vs_torchvision.py --num_images 400 --repeats 3 \\
        --json_out results/bench_augment_vs_torchvision.json

Pipelines, each: JPEG bytes -> decode -> random-resized crop 224 -> flip -> [augment] ->
normalised float32.
  ours (tf.data, private thread pool 1 + intra-op 1, batches of --batch_size):
    base, and RandAugment(2, 9) [+ RandomErasing(0.25)] on two paths that give the same
    pixels: "per-image" (train_augment.make_train_fn, what the trainer ran before) and
    "batched" (train_augment.make_train_stages, what it runs now).
  torchvision (torch.set_num_threads(1), a plain loop, as a DataLoader worker runs it):
    Image.open + convert("RGB"), RandomResizedCrop(224), RandomHorizontalFlip,
    [RandAugment(2, 9)], ToTensor, Normalize, [RandomErasing(0.25)].
Per-op costs (ms per 224-px image): ours each op alone (per-image op in a tf.data map, and
the batched op on groups of --group images -- the size a batch of 64 gives each op slot is
~9; RandomErasing (p = 1, one box) as in training: box and noise per image, written per batch),
torchvision each op alone on a PIL 224 image (its RandAugment op at magnitude bin 9).
"Per core" is images per CPU second of the whole process (time.process_time over each
pass), so work on threads beside the one tf.data thread (TensorFlow's and XLA's own pools)
is counted; images per wall-clock second are reported beside it.  Ours is timed in steady
state, as training runs it: each pipeline keeps one iterator (over the images repeated)
across its passes, as the trainer keeps one per epoch; what a fresh iterator costs before
its first batch (optimising and instantiating the map functions) is reported apart, as CPU
seconds per iterator (per epoch in training).  The ratio ours /
torchvision and the cores one GPU at --gpu_img_s needs (gpu_img_s / per-core img/s) are
reported for the per-image and the batched path.  torchvision is imported before
TensorFlow (torchvision after TensorFlow segfaults in this environment).
"""

import argparse
import io
import json
import os
import pathlib
import statistics
import sys
import time

import torch  # noqa: E402  (torch and torchvision before TensorFlow)
from PIL import Image  # noqa: E402
from torchvision import transforms as T  # noqa: E402
from torchvision.transforms import autoaugment as tv_aa  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import tensorflow as tf  # noqa: E402

from bench import environment  # noqa: E402
from bench.bench_augment import DEFAULT_TAR, Steady, load_jpegs, start_up_s  # noqa: E402
from preprocessing import augment_ops as A  # noqa: E402
from preprocessing import augment_ops_batch as AB  # noqa: E402
from preprocessing import get_preprocessing  # noqa: E402
from preprocessing import pil_geometry_batch as PGB  # noqa: E402
from preprocessing import randaugment as RA  # noqa: E402
from preprocessing import random_erasing as RE  # noqa: E402
from preprocessing import random_erasing_batch as REB  # noqa: E402
from preprocessing.train_augment import AugmentConfig, make_train_fn, make_train_stages  # noqa

AUGMENTS = {"base": AugmentConfig(), "ra": AugmentConfig(randaugment=(2, 9.0, 0.0)),
            "ra+erasing": AugmentConfig(randaugment=(2, 9.0, 0.0), random_erasing=0.25)}
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(DEFAULT_TAR), help="Imagenette tar.gz or JPEG folder")
    p.add_argument("--num_images", type=int, default=400)
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds; median kept")
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--group", type=int, default=16, help="images per batched-op call (per-op)")
    p.add_argument("--op_images", type=int, default=64, help="images per per-op timing")
    p.add_argument("--gpu_img_s", type=float, default=2500.0,
                   help="train img/s of one GPU to feed (an input you state)")
    p.add_argument("--json_out", default=None)
    args = p.parse_args(argv)
    for name in ("num_images", "repeats", "batch_size", "group", "op_images"):
        if getattr(args, name) < 1:
            raise SystemExit(f"error: --{name} must be >= 1, got {getattr(args, name)}")
    if args.batch_size > args.num_images or args.group > args.op_images \
            or args.op_images > args.num_images:
        raise SystemExit("error: need --group <= --op_images <= --num_images and "
                         "--batch_size <= --num_images")
    return args


# ------------------------------------------------------------------ ours
def _options(ds):
    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    options.threading.max_intra_op_parallelism = 1
    options.autotune.enabled = False
    return ds.with_options(options)


def ours_dataset(jpegs, per_image, per_batch, batch):
    ds = tf.data.Dataset.from_tensor_slices(jpegs).enumerate()
    ds = ds.map(lambda i, e: per_image(e, tf.stack([tf.constant(0, tf.int64), i])))
    ds = ds.batch(batch, drop_remainder=True)  # static batch, as engine.inputs.train_dataset
    if per_batch is not None:
        ds = ds.map(per_batch)
    # No prefetch: a batch is computed when asked for, on the asking thread, so no work of
    # one pipeline runs (and is counted) while another is being timed.
    return _options(ds)


# ------------------------------------------------------------ torchvision
def tv_pipeline(name):
    steps = [T.RandomResizedCrop(224), T.RandomHorizontalFlip()]
    if name != "base":
        steps.append(T.RandAugment(2, 9))
    steps += [T.ToTensor(), T.Normalize(MEAN, STD)]
    if name == "ra+erasing":
        steps.append(T.RandomErasing(0.25))
    transform = T.Compose(steps)

    def run(jpegs):
        start = time.perf_counter()
        for data in jpegs:
            transform(Image.open(io.BytesIO(data)).convert("RGB"))
        return len(jpegs) / (time.perf_counter() - start)
    return run


# ----------------------------------------------------------------- per op
def per_op_costs(jpegs, args):
    """ms per 224-px image of each RandAugment op (magnitude 9) and of one erase."""
    prep = get_preprocessing("imagenet")
    crops = tf.stack([prep.train_uint8(e, [0, i]) for i, e in
                      enumerate(jpegs[:args.op_images])])
    pil = [Image.fromarray(c) for c in crops.numpy()]
    space = tv_aa.RandAugment(2, 9)._augmentation_space(31, (224, 224))
    n, g = int(crops.shape[0]), args.group
    rows = {}
    for name in A.RANDAUGMENT_NAMES:
        arg = RA.magnitude_to_arg(name, 9.0, 1.0, 224, 224)
        # RandAugment's geometry: torchvision's on PIL ("pil"), fill 0 (the defaults).
        one, batched = ((A.PIL_GEOMETRIC[name], PGB.PIL_GEOMETRIC[name])
                        if name in A.GEOMETRIC else (A.OPS[name], AB.OPS[name]))
        kw = {"fill": 0} if name in A.GEOMETRIC else {}
        single = _options(tf.data.Dataset.from_tensor_slices(crops).map(
            lambda x, op=one, kw=kw: op(x, arg, tf.zeros([2], tf.int32), **kw)).batch(n))
        grouped = _options(tf.data.Dataset.from_tensor_slices(crops).batch(g, True).map(
            lambda x, op=batched, kw=kw: op(x, tf.fill(tf.shape(x)[:1], arg), None, **kw)))
        mags, _ = space[name]
        magnitude = float(mags[9].item()) if mags.ndim > 0 else 0.0

        def tv(name=name, magnitude=magnitude):
            start = time.perf_counter()
            for img in pil:
                tv_aa._apply_op(img, name, magnitude, T.InterpolationMode.NEAREST, None)
            return len(pil) / (time.perf_counter() - start)
        rows[name] = (single, grouped, tv)
    erase = RE.sample_params([1, 2], (224, 224), 1.0)
    tensors = [T.Normalize(MEAN, STD)(T.ToTensor()(img)) for img in pil]
    tv_erase = T.RandomErasing(1.0)

    def tv_er():
        start = time.perf_counter()
        for t in tensors:
            tv_erase(t)
        return len(tensors) / (time.perf_counter() - start)
    rows["RandomErasing"] = (
        _options(tf.data.Dataset.from_tensor_slices(crops).map(
            lambda x: RE.apply(x, erase)).batch(n)),
        _options(tf.data.Dataset.from_tensor_slices(crops).map(  # as in training
            lambda x: (x, REB.erase_parts(erase, [224, 224, 3]))).batch(g, True).map(
            lambda x, parts: REB.apply_parts(x, parts["box"], parts["noise"].flat_values))),
        tv_er)
    out = {}
    for name, (single, grouped, tv) in rows.items():
        single, grouped = Steady(single, 1), Steady(grouped, n // g)
        for run in (single, grouped, single, grouped):
            run()  # warm-up: trace, compile, fill the iterators
        tv()
        rates = [(single(), grouped(), tv()) for _ in range(3)]
        best = [max(r[i] for r in rates) for i in range(3)]
        out[name] = {"ours_per_image_ms": 1e3 / best[0], "ours_batched_ms": 1e3 / best[1],
                     "torchvision_ms": 1e3 / best[2]}
    return out


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(1)
    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.threading.set_intra_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already initialised (called from tests)
        pass
    jpegs = load_jpegs(args.data, args.num_images)
    prep = get_preprocessing("imagenet")
    batches = args.num_images // args.batch_size
    datasets, runs = {}, {}
    for name, aug in AUGMENTS.items():
        paths = {"per-image": (make_train_fn(prep, aug), None)}
        if name != "base":
            paths["batched"] = make_train_stages(prep, aug)
        for path, (per_image, per_batch) in paths.items():
            key = f"ours {name} {path}"
            datasets[key] = ours_dataset(jpegs, per_image, per_batch, args.batch_size)
            runs[key] = Steady(datasets[key], batches)
        runs[f"torchvision {name}"] = tv_pipeline(name)
    for name, run in runs.items():  # trace / compile / warm every pipeline: two passes
        for _ in range(2):
            run(jpegs)
    start_up = {name: start_up_s(ds) for name, ds in datasets.items()}
    samples = {name: [] for name in runs}  # images per wall-clock second
    cpu_samples = {name: [] for name in runs}  # images per CPU second of the whole process
    for _ in range(args.repeats):
        for name, run in runs.items():
            cpu = time.process_time()
            wall_rate = run(jpegs)
            cpu = time.process_time() - cpu
            samples[name].append(wall_rate)
            cpu_samples[name].append(batches * args.batch_size / cpu
                                     if not name.startswith("torchvision")
                                     else len(jpegs) / cpu)
    wall_rates = {name: statistics.median(s) for name, s in samples.items()}
    # Per core = per CPU second of the process (all its threads: TF's and XLA's own pools
    # may run beside the one tf.data thread), so a pipeline that spreads over several cores
    # is not counted as one core's throughput.
    rates = {name: statistics.median(s) for name, s in cpu_samples.items()}
    summary = {}
    for name in AUGMENTS:
        tv_rate = rates[f"torchvision {name}"]
        for path in ("per-image", "batched"):
            key = f"ours {name} {path}"
            if key in rates:
                summary[f"{name} {path}"] = {
                    "ours_img_s_per_core": rates[key], "torchvision_img_s_per_core": tv_rate,
                    "ratio_ours_over_torchvision": rates[key] / tv_rate,
                    "ratio_by_wall_clock": wall_rates[key] / wall_rates[f"torchvision {name}"],
                    "cores_for_gpu": args.gpu_img_s / rates[key],
                    "ours_start_up_cpu_s": start_up[key],
                    "torchvision_cores_for_gpu": args.gpu_img_s / tv_rate}
    ops = per_op_costs(jpegs, args)
    report = {"config": vars(args), "img_s_per_core": rates, "img_s_wall": wall_rates,
              "samples": samples, "cpu_samples": cpu_samples,
              "start_up_cpu_s": start_up,
              "summary": summary, "per_op_ms": ops, **environment.describe()}
    print(f"{'pipeline':<34} {'img/s/core':>10} {'img/s wall':>10}   (per CPU second of the "
          f"process; {args.num_images} Imagenette JPEGs, median of {args.repeats})")
    for name, rate in rates.items():
        print(f"{name:<34} {rate:>10.1f} {wall_rates[name]:>10.1f}")
    for name, row in summary.items():
        print(f"{name:<22} ours/torchvision {row['ratio_ours_over_torchvision']:.2f} per core "
              f"({row['ratio_by_wall_clock']:.2f} by wall clock); a GPU at "
              f"{args.gpu_img_s:.0f} img/s needs {row['cores_for_gpu']:.1f} cores "
              f"(torchvision {row['torchvision_cores_for_gpu']:.1f}); start-up "
              f"{row['ours_start_up_cpu_s']:.2f} s of CPU per iterator")
    print(f"{'op (224 px, magnitude 9)':<26} {'ours/img':>9} {'batched':>9} {'torchvision':>12}"
          "  ms/img")
    for name, row in ops.items():
        print(f"{name:<26} {row['ours_per_image_ms']:>9.3f} {row['ours_batched_ms']:>9.3f} "
              f"{row['torchvision_ms']:>12.3f}")
    if args.json_out:
        pathlib.Path(args.json_out).write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()

"""The issue-4 benchmark scripts run end to end at toy sizes and write their reports
(timings themselves are never asserted: speed goals live in the benchmarks)."""

import json
import os

import pytest
from conftest import SHARED_DATA

IMAGENETTE = os.path.join(SHARED_DATA, "imagenette2-224.tar.gz")


def test_bench_mixing_reports_every_mode(tmp_path):
    from bench import bench_mixing
    out = tmp_path / "mixing.json"
    report = bench_mixing.main(["--base_width", "4", "--image_size", "16", "--batch_size", "8",
                                "--steps", "1", "--warmup", "1", "--repeats", "1",
                                "--dtype", "fp32", "--json_out", str(out)])
    modes = [r["mode"] for r in report["results"]]
    assert modes == ["none", "mixup", "cutmix", "rmix"]
    assert all(r["ms_per_step"] > 0 for r in report["results"])
    assert json.loads(out.read_text())["results"][0]["vs_none"] == 1.0


@pytest.mark.skipif(not os.path.exists(IMAGENETTE), reason="needs ../shared/data Imagenette")
def test_bench_augment_runs_every_pipeline(tmp_path):
    from bench import bench_augment
    report = bench_augment.main(["--num_images", "8", "--batch_size", "4", "--repeats", "1",
                                 "--json_out", str(tmp_path / "aug.json")])
    names = [r["pipeline"] for r in report["results"]]
    assert names == ["base", "autoaugment", "randaugment", "ra+erasing", "aa+erasing",
                     "keras_ra"]
    assert report["goal"]["cores_per_gpu_for_2x"] > 0


def test_steady_keeps_one_iterator_across_passes():
    """Passes continue one iterator over the repeated data (as training keeps one per
    epoch) instead of re-creating it, whose start-up start_up_s times apart."""
    import tensorflow as tf

    from bench.bench_augment import Steady, start_up_s
    ds = tf.data.Dataset.range(9).batch(3, drop_remainder=True)  # 3 batches a pass
    run = Steady(ds, 2)
    assert run() > 0 and run() > 0  # 4 batches taken: 0-2, 3-5, 6-8, then 0-2 again
    assert next(run.iterator).numpy().tolist() == [3, 4, 5]
    assert start_up_s(ds) > 0


def test_bench_augment_names_a_missing_archive(tmp_path):
    from bench import bench_augment
    with pytest.raises(SystemExit, match="--data .*does not exist"):
        bench_augment.main(["--data", str(tmp_path / "none.tar.gz")])


@pytest.mark.skipif(not os.path.exists(IMAGENETTE), reason="needs ../shared/data Imagenette")
def test_bench_corruptions_compares_with_the_reference(tmp_path):
    from bench import bench_corruptions
    out = tmp_path / "corruptions.json"
    rows = bench_corruptions.main(["--num_images", "5", "--size", "32",
                                   "--corruptions", "contrast,zoom_blur",
                                   "--json_out", str(out)])
    assert [r["corruption"] for r in rows] == ["zoom_blur", "contrast"]  # benchmark order
    assert all(r["ours_img_s_per_core"] > 0 and r["reference_img_s_per_core"] > 0 for r in rows)
    assert json.loads(out.read_text())["summary"] == {}  # a partial list has no averages


def test_fault_drill_names_an_unknown_drill(tmp_path, capsys):
    from bench import fault_drill
    with pytest.raises(SystemExit):
        fault_drill.main(["--work", str(tmp_path / "drill"), "--only", "kill9,meteor"])
    assert "unknown drill(s) meteor" in capsys.readouterr().err


@pytest.mark.skipif(not os.path.exists(IMAGENETTE), reason="needs ../shared/data Imagenette")
def test_bench_augment_vs_torchvision_runs(tmp_path):
    """In a child process: torchvision must be imported before TensorFlow."""
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = tmp_path / "vs_tv.json"
    subprocess.run([sys.executable, os.path.join(root, "bench", "bench_augment_vs_torchvision.py"),
                    "--num_images", "8", "--batch_size", "4", "--repeats", "1",
                    "--op_images", "4", "--group", "2", "--json_out", str(out)],
                   check=True, cwd=root, capture_output=True)
    report = json.loads(out.read_text())
    assert set(report["summary"]) == {"ra per-image", "ra batched", "ra+erasing per-image",
                                      "ra+erasing batched", "base per-image"}
    assert len(report["per_op_ms"]) == 15 and report["summary"]["ra batched"]["cores_for_gpu"] > 0
    row = report["summary"]["ra+erasing batched"]
    assert row["ratio_by_wall_clock"] > 0 and row["ours_img_s_per_core"] == \
        report["img_s_per_core"]["ours ra+erasing batched"]
    assert set(report["img_s_wall"]) == set(report["img_s_per_core"])
    # ours timed in steady state; a fresh iterator's start-up reported apart, per pipeline
    assert set(report["start_up_cpu_s"]) == {k for k in report["img_s_per_core"]
                                             if k.startswith("ours")}
    assert all(v > 0 for v in report["start_up_cpu_s"].values())
    assert row["ours_start_up_cpu_s"] == report["start_up_cpu_s"]["ours ra+erasing batched"]

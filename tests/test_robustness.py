"""Robustness evaluation: the mCE arithmetic on a hand-made table, flag parsing, the
corrupted-tree generator (layout, resume), reading that tree, the on-the-fly path giving
the same pixels and errors as the generated files, TFDS corrupted sets (mocked), the report
files, and bad input."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from core import config
from core.errors import ConfigError
from datasets import build_corrupted, corrupted
from datasets import digits as digits_lib
from datasets.errors import DataError
from engine import plots, robustness, robustness_eval, trainer
from preprocessing.corruptions import names, registry

TINY = dict(resnet_size=18, base_width=4, batch_size=32, val_batch_size=120,
            steps_per_loop=4, lr_warmup_epochs=0.0, train_epochs=1)
PICK = dict(corruptions="contrast,gaussian_noise", severities="1,5")


# ------------------------------------------------------------------- arithmetic
def _table(error_of):
    """{corruption: {severity: {"top1", "count"}}} with error error_of(c_index, s)."""
    return {c: {s: {"top1": 1.0 - error_of(i, s), "count": 100, "ece": 0.01 * s}
                for s in range(1, 6)} for i, c in enumerate(names.ALL)}


def test_mce_matches_hand_computation():
    results = _table(lambda i, s: 0.1 * s + 0.01 * i)  # E_c = 0.3 + 0.01 i
    report = robustness.summarize(results, {"top1": 0.8, "count": 100}, dataset="imagenet")
    assert report["normaliser"] == "alexnet_imagenet" and report["warnings"] == []
    ce = [(0.3 + 0.01 * i) / robustness.ALEXNET_ERROR[c] for i, c in enumerate(names.ALL)]
    rel = [(0.3 + 0.01 * i - 0.2) / (robustness.ALEXNET_ERROR[c] - robustness.ALEXNET_CLEAN_ERROR)
           for i, c in enumerate(names.ALL)]
    assert report["corruptions"]["fog"]["error"] == pytest.approx(0.3 + 0.01 * 9)
    assert report["mce_15"] == pytest.approx(np.mean(ce[:15]))
    assert report["mce_19"] == pytest.approx(np.mean(ce))
    assert report["mce_15"] != pytest.approx(report["mce_19"])
    assert report["relative_mce_15"] == pytest.approx(np.mean(rel[:15]))
    assert report["relative_mce_15_excluded"] == 0 and report["relative_mce_19_excluded"] == 0
    assert report["mean_error_19"] == pytest.approx(np.mean([0.3 + 0.01 * i for i in range(19)]))
    assert report["severity_errors"][5] == pytest.approx(0.5 + 0.01 * 9)
    assert report["corruptions"]["snow"]["severity_ece"][2] == pytest.approx(0.02)
    table = robustness.format_table(report)
    assert "mCE 15 standard" in table and "all 19" in table and "snow" in table


def test_pooled_error_weights_by_count():
    per_severity = {1: {"top1": 0.9, "count": 100}, 2: {"top1": 0.5, "count": 300}}
    assert robustness.pooled_error(per_severity) == pytest.approx((10 + 150) / 400)


def test_baseline_normalisation_and_partial_reports():
    base = robustness.summarize(_table(lambda i, s: 0.5), {"top1": 0.7, "count": 100})
    part = {"fog": _table(lambda i, s: 0.25)["fog"]}
    report = robustness.summarize(part, {"top1": 0.9, "count": 100}, base, "vanilla.json")
    assert report["corruptions"]["fog"]["ce"] == pytest.approx(0.5)
    assert report["corruptions"]["fog"]["relative_ce"] == pytest.approx((0.25 - 0.1) / (0.5 - 0.3))
    assert report["mce_15"] is None and report["mce_evaluated"] == pytest.approx(0.5)
    assert report["normaliser"] == "baseline:vanilla.json" and report["warnings"] == []
    assert "not comparable" in robustness.format_table(report)
    with pytest.raises(ConfigError, match="baseline report b.json has no result for snow"):
        robustness.summarize({"snow": part["fog"]}, {"top1": 0.9, "count": 1},
                             {"clean": {"error": 0.3}, "corruptions": {}}, "b.json")


def test_alexnet_constants_on_other_data_warn():
    results = _table(lambda i, s: 0.5)
    for dataset in ("imagenet", "imagenet2012", "imagenet2012_corrupted"):
        assert robustness.summarize(results, {"top1": 0.7}, dataset=dataset)["warnings"] == []
    report = robustness.summarize(results, {"top1": 0.7}, dataset="cifar10")
    assert report["warnings"] == [
        "CE is normalised by AlexNet's ImageNet errors but the evaluated data is dataset "
        "'cifar10', not ImageNet: CE and mCE are not comparable with published ImageNet-C "
        "numbers; normalise by another run with --robustness_baseline=<its report.json>"]
    assert "warning: CE is normalised by AlexNet's" in robustness.format_table(report)
    unnamed = robustness.summarize(results, {"top1": 0.7})
    assert "data that was not named, not ImageNet" in unnamed["warnings"][0]


def test_relative_ce_undefined_below_the_minimum_gap():
    # Baseline: clean 30 %, fog only 0.05 pp worse (relative CE would be ~1000), gaussian_noise
    # 0.5 pp *better*, the rest 20 pp worse.
    gap = {"fog": 0.0005, "gaussian_noise": -0.005}
    base = robustness.summarize(_table(lambda i, s: 0.3 + gap.get(names.ALL[i], 0.2)),
                                {"top1": 0.7}, dataset="imagenet")
    report = robustness.summarize(_table(lambda i, s: 0.6), {"top1": 0.9}, base, "b.json")
    fog = report["corruptions"]["fog"]
    assert fog["relative_ce"] is None
    assert report["corruptions"]["gaussian_noise"]["relative_ce"] is None
    assert fog["relative_ce_undefined"] == ("normaliser's corrupted - clean error gap 0.05 pp "
                                            "is below the 1 pp minimum")
    assert report["corruptions"]["snow"]["relative_ce"] == pytest.approx(0.5 / 0.2)
    assert report["relative_mce_15"] == pytest.approx(0.5 / 0.2)  # the 13 defined ones
    assert report["relative_mce_15_excluded"] == 2 and report["relative_mce_19_excluded"] == 2
    assert report["relative_ce_min_gap"] == robustness.MIN_RELATIVE_GAP == 0.01
    assert json.loads(json.dumps(report))["corruptions"]["fog"]["relative_ce"] is None
    table = robustness.format_table(report)
    assert "(over 13 of 15: 2 n/a excluded)" in table
    assert "rel.CE n/a (undefined) for gaussian_noise, fog: the normaliser's" in table
    assert [line for line in table.splitlines() if line.startswith("fog ")][0].endswith("   n/a")
    # a baseline no corruption hurts: no relative CE at all, and no mean of nothing
    flat = robustness.summarize(_table(lambda i, s: 0.3), {"top1": 0.7}, dataset="imagenet")
    none = robustness.summarize(_table(lambda i, s: 0.6), {"top1": 0.9}, flat, "flat.json")
    assert none["relative_mce_15"] is None and none["relative_mce_15_excluded"] == 15
    assert "relative mCE undefined (all 15 n/a)" in robustness.format_table(none)


def test_severity_curves_have_distinct_styles():
    report = robustness.summarize(_table(lambda i, s: 0.1 * s), {"top1": 0.9},
                                  dataset="imagenet")
    ax = plots.severity_figure(report).axes[0]
    curves = [curve for curve in ax.get_lines() if curve.get_label() in names.ALL]
    assert len(curves) == 19
    styles = {(curve.get_color(), curve.get_linestyle(), curve.get_marker()) for curve in curves}
    assert len(styles) == 19
    # even the unmarked curves differ in colour or line style
    assert len({(curve.get_color(), curve.get_linestyle()) for curve in curves}) == 19
    plots._pyplot().close("all")


def test_baseline_bars_stand_next_to_ours(tmp_path):
    base = robustness.summarize(_table(lambda i, s: 0.5), {"top1": 0.7}, dataset="imagenet")
    part = {c: _table(lambda i, s: 0.25)[c] for c in ("fog", "snow", "contrast")}
    report = robustness.summarize(part, {"top1": 0.9}, base, "vanilla/report.json")
    alone = plots.errors_figure(report).axes[0]
    assert len(alone.patches) == 3
    ax = plots.errors_figure(report, base).axes[0]
    assert len(ax.patches) == 6
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    assert heights == [25.0] * 3 + [50.0] * 3  # ours and the baseline's errors
    assert "baseline vanilla/report.json" in [t.get_text() for t in ax.get_legend().get_texts()]
    plots._pyplot().close("all")
    paths = plots.robustness_figures(report, str(tmp_path), "t", base)
    assert all(os.path.getsize(p) > 1000 for p in paths)


def test_flag_parsing():
    assert registry.parse_corruptions("standard") == names.STANDARD
    assert registry.parse_corruptions("saturate,fog") == ("fog", "saturate")  # benchmark order
    assert registry.parse_severities("2-4") == (2, 3, 4)
    assert registry.parse_severities("5,1") == (1, 5)
    with pytest.raises(ValueError, match="unknown corruption 'fogg'"):
        registry.parse_corruptions("fog,fogg")
    with pytest.raises(ValueError, match="each must be in 1..5"):
        registry.parse_severities("0-5")
    assert corrupted.parse_flag("on_the_fly")[0] == "on_the_fly"
    with pytest.raises(DataError, match="expected one of on_the_fly"):
        corrupted.parse_flag("imagenet-c")
    with pytest.raises(DataError, match="not a corrupted TFDS dataset"):
        corrupted.parse_flag("tfds:imagenet2012")
    with pytest.raises(DataError, match="tree:/no/such: directory does not exist"):
        corrupted.parse_flag("tree:/no/such")


def test_config_rejects_bad_robustness_flags():
    with pytest.raises(ConfigError, match="--corruptions: unknown corruption 'blur'"):
        config.make_config(robustness="on_the_fly", corruptions="blur")
    with pytest.raises(ConfigError, match="--severities"):
        config.make_config(robustness="on_the_fly", severities="6")
    with pytest.raises(ConfigError, match="--robustness_baseline: file not found"):
        config.make_config(robustness="on_the_fly", robustness_baseline="/no/report.json")
    with pytest.raises(ConfigError, match="--robustness with --clean"):
        config.make_config(robustness="on_the_fly", clean=True)


def test_reliability_diagram_from_accumulated_bins(tmp_path):
    from engine import metrics
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 10)).astype(np.float32) * 3
    labels = rng.integers(0, 10, 200)
    acc = metrics.Accumulator()
    acc.add({k: v.numpy() for k, v in metrics.batch_sums(
        logits, labels, np.ones(200, np.float32), 10).items()})
    result = acc.result(reliability=True)
    rel = result["reliability"]
    assert sum(rel["count"]) == 200
    probs = tf.nn.softmax(logits).numpy()
    assert result["ece"] == pytest.approx(metrics.expected_calibration_error(probs, labels))
    path = plots.reliability_diagram(rel, str(tmp_path / "r.png"), "test")
    assert os.path.getsize(path) > 1000


# ------------------------------------------------------------ end to end (digits)
@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A 2-step digits model, the digits eval split as a class-folder tree, and its
    corrupted copy written by the generator."""
    root = tmp_path_factory.mktemp("robust")
    cfg = config.make_config(model_dir=str(root / "run"), **TINY)  # one epoch: 44 steps
    trainer.run(cfg)
    _, evaluation = digits_lib.load_digits_splits()
    val = root / "val"
    for encoded, label, name in zip(evaluation.encoded, evaluation.labels,
                                    evaluation.filenames):
        os.makedirs(val / str(label), exist_ok=True)
        (val / str(label) / name).write_bytes(encoded)
    tree = root / "digits-c"
    written = build_corrupted.build(str(val), str(tree), resize_size=32, crop_size=32, **PICK)
    return cfg, str(val), str(tree), written


def test_generator_layout_and_resume(setup):
    _, val, tree, written = setup
    assert written == 360 * 4
    first = sorted(os.listdir(os.path.join(val, "3")))[0]
    out = os.path.join(tree, "contrast", "5", "3", os.path.splitext(first)[0] + ".jpg")
    image = tf.io.decode_jpeg(open(out, "rb").read()).numpy()
    assert image.shape == (32, 32, 3)
    assert build_corrupted.build(val, tree, resize_size=32, crop_size=32, **PICK) == 0
    os.remove(out)
    assert build_corrupted.build(val, tree, resize_size=32, crop_size=32, **PICK) == 4
    assert os.path.exists(out)
    assert not [f for _, _, fs in os.walk(tree) for f in fs if ".tmp-" in f]


def test_generator_rejects_bad_input(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        build_corrupted.build(str(tmp_path / "none"), str(tmp_path / "out"))
    with pytest.raises(ValueError, match="--crop_size must be >= 32"):
        build_corrupted.build(str(tmp_path), str(tmp_path / "out"), resize_size=16,
                              crop_size=16)


def test_on_the_fly_pixels_equal_generated_files(setup):
    cfg, val, tree, _ = setup
    from preprocessing import get_preprocessing
    prep = get_preprocessing("small_32")
    name = sorted(os.listdir(os.path.join(val, "7")))[0]
    encoded = open(os.path.join(val, "7", name), "rb").read()
    record = {"encoded": tf.constant(encoded), "filename": tf.constant(name)}
    for corruption, severity in (("gaussian_noise", 5), ("contrast", 1)):
        fly = robustness_eval.corrupt_record_fn(prep, corruption, severity, 0, 85)(record)
        path = os.path.join(tree, corruption, str(severity), "7",
                            os.path.splitext(name)[0] + ".jpg")
        stored = robustness_eval.stored_record_fn(32)({"encoded": tf.constant(
            open(path, "rb").read())})
        np.testing.assert_array_equal(fly.numpy(), stored.numpy())
    noisy = robustness_eval.corrupt_record_fn(prep, "gaussian_noise", 5, 0, 85)(record)
    reseeded = robustness_eval.corrupt_record_fn(prep, "gaussian_noise", 5, 1, 85)(record)
    assert np.abs(reseeded.numpy() - noisy.numpy()).max() > 0  # --corruption_seed matters


def test_tree_and_on_the_fly_reports_agree(setup, tmp_path, capfd):
    cfg, _, tree, _ = setup
    capfd.readouterr()
    fly = trainer.run(dict(cfg, robustness="on_the_fly", robustness_dir=str(tmp_path / "fly"),
                           **PICK))
    warnings = [line for line in capfd.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: CE is normalised by AlexNet's ImageNet errors but the "
                        "evaluated data is dataset 'digits', not ImageNet: CE and mCE are not "
                        "comparable with published ImageNet-C numbers; normalise by another "
                        "run with --robustness_baseline=<its report.json>"]
    disk = trainer.run(dict(cfg, robustness=f"tree:{tree}",
                            robustness_dir=str(tmp_path / "tree"), **PICK))
    a, b = fly["robustness"], disk["robustness"]
    for c in ("contrast", "gaussian_noise"):
        assert a["corruptions"][c]["severity_errors"] == b["corruptions"][c]["severity_errors"]
    assert a["clean"]["count"] == 360 and a["mce_15"] is None
    assert a["clean"]["error"] < 0.7  # a model that learned something
    assert a["corruptions"]["gaussian_noise"]["severity_errors"][5] > a["clean"]["error"]
    for f in ("report.json", "table.txt", "errors_per_corruption.png", "error_vs_severity.png",
              "reliability_clean.png", "reliability_corrupted.png"):
        assert os.path.getsize(tmp_path / "fly" / f) > 0, f
    saved = json.load(open(tmp_path / "fly" / "report.json"))
    assert saved["normaliser"] == "alexnet_imagenet" and saved["dataset"] == "digits"
    assert "not ImageNet" in saved["warnings"][0]
    assert saved["corruptions"]["contrast"]["ce"] == pytest.approx(
        a["corruptions"]["contrast"]["ce"])
    # normalise by a baseline report (any non-ImageNet dataset): no warning
    capfd.readouterr()
    again = trainer.run(dict(cfg, robustness="on_the_fly", robustness_max_images=100,
                             robustness_baseline=str(tmp_path / "fly" / "report.json"),
                             robustness_dir=str(tmp_path / "rel"), **PICK))
    assert again["robustness"]["clean"]["count"] == 100
    report = again["robustness"]
    assert report["normaliser"] == "baseline:" + str(tmp_path / "fly" / "report.json")
    assert report["warnings"] == []
    assert "warning:" not in capfd.readouterr().err


def test_tree_errors_name_the_missing_folder(setup, tmp_path):
    cfg, _, tree, _ = setup
    with pytest.raises(DataError, match="has no fog/1/"):
        trainer.run(dict(cfg, robustness=f"tree:{tree}", corruptions="fog", severities="1",
                         robustness_dir=str(tmp_path)))
    bad = tmp_path / "bad" / "contrast" / "1" / "not_a_class"
    os.makedirs(bad)
    (bad / "x.png").write_bytes(b"")
    with pytest.raises(DataError, match="not_a_class is not one of the 10 classes"):
        trainer.run(dict(cfg, robustness=f"tree:{tmp_path / 'bad'}", corruptions="contrast",
                         severities="1", robustness_dir=str(tmp_path)))


def test_tfds_corrupted_set_is_read():
    import tensorflow_datasets as tfds
    with tfds.testing.mock_data(num_examples=24):
        source = corrupted.tfds_source("cifar10_corrupted", "fog", 3, None, 10)
        assert source.eval_size == 24 and "cifar10_corrupted/fog_3" in source.description
        record = next(iter(source.eval_records()))
        image = robustness_eval.stored_record_fn(32)(record)
        assert image.shape == (32, 32, 3)


# ------------------------------------------------------------------- the registry
def test_registry_has_the_19_and_each_works_in_a_pipeline_at_small_sizes():
    assert tuple(registry.CORRUPTIONS) == names.ALL and len(names.ALL) == 19
    rng = np.random.default_rng(0)
    for shape in ((32, 32, 3), (40, 56, 3)):
        image = tf.constant(rng.integers(0, 256, shape, dtype=np.uint8))
        for name in names.ALL:
            ds = tf.data.Dataset.from_tensors(image).map(
                lambda x, n=name: registry.corrupt(x, n, 5, tf.constant([1, 2], tf.int64)))
            out = next(iter(ds))
            assert out.dtype == tf.uint8 and out.shape == shape, name
            assert np.any(out.numpy() != image.numpy()), name


def test_image_seed_depends_on_the_file_and_the_corruption_only():
    a = registry.image_seed(tf.constant("a.jpg"), tf.constant(b"x"), "fog", 3)
    assert np.array_equal(a, registry.image_seed(tf.constant("a.jpg"), tf.constant(b"y"),
                                                 "fog", 3))
    for other in (registry.image_seed(tf.constant("b.jpg"), tf.constant(b"x"), "fog", 3),
                  registry.image_seed(tf.constant("a.jpg"), tf.constant(b"x"), "fog", 4),
                  registry.image_seed(tf.constant("a.jpg"), tf.constant(b"x"), "frost", 3),
                  registry.image_seed(tf.constant("a.jpg"), tf.constant(b"x"), "fog", 3, 1)):
        assert not np.array_equal(a, other)
    # no file name: the image bytes key it
    assert not np.array_equal(registry.image_seed(tf.constant(""), tf.constant(b"x"), "fog", 3),
                              registry.image_seed(tf.constant(""), tf.constant(b"y"), "fog", 3))


def test_mce_script_fails_clearly_without_a_run(tmp_path):
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, DATA_DIR=str(tmp_path / "no_imagenet"),
               MODEL_DIR=str(tmp_path / "run"), NUM_GPUS="0", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(["bash", os.path.join(root, "scripts", "eval_vanila_mCE_on_imagenet.sh")],
                          capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 2
    assert f"error: --robustness: run directory {tmp_path}/run does not exist" in proc.stderr

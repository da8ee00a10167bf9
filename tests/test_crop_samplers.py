"""Random-resized-crop samplers (preprocessing/crop_samplers.py) against torchvision 0.29's
``RandomResizedCrop.get_params``: distributions (KS, 20k draws), the centre-crop fallback,
replay of stored windows, and the --crop_sampler setting (defaults, old runs, side-cars).

The torchvision draws come from a child process (tests/torchvision_crops.py): torchvision
segfaults when imported after TensorFlow.
"""

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT
from scipy.stats import ks_2samp

from core import config, settings
from core.errors import ConfigError
from core.rundir import RunDir
from datasets.errors import DataError
from kd import reinforce as dr
from preprocessing import common, crop_samplers, get_preprocessing, imagenet, multicrop

N = 20_000
H, W = 375, 500  # an ImageNet-typical 4:3 photo
# Two-sample KS critical value for n = m = N (asymptotic, sqrt(-ln(a / 2) / 2) * sqrt(2 / N)),
# at a family-wise alpha of 0.01 over the 12 statistics compared (3 cases x 4, Bonferroni):
# 0.0197.
KS_CRITICAL = np.sqrt(-np.log(0.01 / 12 / 2) / 2) * np.sqrt(2 / N)
# (name, scale, path): the torchvision reference cases, in the child's order.
CASES = [("imagenet", (0.08, 1.0)), ("global", (0.25, 1.0)), ("local", (0.05, 0.25))]
# Shapes whose every torchvision try fails (h >= sqrt(0.05 * H * W / (4/3)) > H or the
# transpose), so the window is the deterministic centre crop.
FALLBACK_SHAPES = [(10, 1000), (1000, 10), (12, 640), (640, 12), (13, 641)]
# The inception sampler's measured difference from torchvision (same image, 20k draws each;
# the same numbers are in preprocessing/crop_samplers.py and multicrop.py): area-fraction
# mean (torchvision's, ours) and the KS statistics of the area fraction, aspect ratio, y, x.
INCEPTION_MEASURED = {
    "imagenet": dict(mean=(0.4348, 0.3850), ks=(0.1094, 0.0132, 0.0669, 0.0526)),
    "global": dict(mean=(0.5208, 0.4888), ks=(0.0852, 0.0408, 0.0434, 0.0333)),
    "local": dict(mean=(0.1499, 0.1366), ks=(0.1015, 0.0750, 0.0272, 0.0164)),
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """{case name: int64 [N, 4] torchvision windows (y, x, h, w)} and the fallback rows."""
    out = str(tmp_path_factory.mktemp("tv") / "windows.npz")
    args = [f"{H}:{W}:{lo}:{hi}:{N}" for _, (lo, hi) in CASES]
    args += [f"{h}:{w}:{lo}:{hi}:20" for h, w in FALLBACK_SHAPES
             for _, (lo, hi) in CASES]
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "torchvision_crops.py"), out]
                   + args, check=True, timeout=300, env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))
    data = np.load(out)
    ref = {name: data[f"case{k}"] for k, (name, _) in enumerate(CASES)}
    k = len(CASES)
    for shape in FALLBACK_SHAPES:
        for name, _ in CASES:
            ref[(shape, name)] = data[f"case{k}"]
            k += 1
    return ref


def window_fn(name, sampler):
    """(seed, shape) -> window through the code path a run uses."""
    if name == "imagenet":
        return lambda seed, shape: imagenet.sample_crop_params(seed, shape, sampler=sampler)
    scale = dict(CASES)[name]
    return lambda seed, shape: multicrop.sample_crop_window(seed, shape, scale, sampler)


def draw(name, sampler, shape=(H, W), n=N):
    """int32 [n, 4] windows from seeds (i, 5), i < n, vectorised in one graph."""
    fn = window_fn(name, sampler)
    seeds = tf.stack([tf.range(n), tf.fill([n], 5)], axis=1)
    shape = tf.constant(shape, tf.int32)
    run = tf.function(lambda s: tf.map_fn(lambda x: fn(x, shape), s,
                                          fn_output_signature=tf.int32,
                                          parallel_iterations=64))
    return run(seeds).numpy()


def statistics(ours, theirs, shape=(H, W)):
    """Area-fraction means (theirs, ours) and KS of area fraction, aspect ratio, y, x."""
    area = lambda a: a[:, 2] * a[:, 3] / (shape[0] * shape[1])  # noqa: E731
    ratio = lambda a: a[:, 3] / a[:, 2]  # noqa: E731
    ks = tuple(ks_2samp(f(ours), f(theirs)).statistic
               for f in (area, ratio, lambda a: a[:, 0], lambda a: a[:, 1]))
    return (area(theirs).mean(), area(ours).mean()), ks


def in_bounds(windows, shape):
    y, x, h, w = windows.T
    return bool(np.all((y >= 0) & (x >= 0) & (h > 0) & (w > 0) & (y + h <= shape[0])
                       & (x + w <= shape[1])))


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_torchvision_sampler_matches_torchvision_in_distribution(reference, name):
    ours = draw(name, "torchvision")
    assert in_bounds(ours, (H, W))
    (mean_ref, mean), ks = statistics(ours, reference[name])
    print(f"{name}: area mean {mean:.4f} (torchvision {mean_ref:.4f}), KS area/ratio/y/x "
          f"{' '.join(f'{k:.4f}' for k in ks)} (critical {KS_CRITICAL:.4f})")
    assert max(ks) < KS_CRITICAL, ks


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_inception_sampler_differs_by_the_documented_amount(reference, name):
    ours = draw(name, "inception")
    assert in_bounds(ours, (H, W))
    (mean_ref, mean), ks = statistics(ours, reference[name])
    print(f"{name}: inception area mean {mean:.4f} (torchvision {mean_ref:.4f}), KS "
          f"area/ratio/y/x {' '.join(f'{k:.4f}' for k in ks)}")
    expected = INCEPTION_MEASURED[name]
    assert ks[0] > KS_CRITICAL  # the difference is real, not sampling noise
    assert (mean_ref, mean) == pytest.approx(expected["mean"], abs=2e-3)
    assert ks == pytest.approx(expected["ks"], abs=3e-3)


@pytest.mark.parametrize("shape", FALLBACK_SHAPES)
def test_centre_crop_fallback_equals_torchvision_s_window(reference, shape):
    for name, _ in CASES:
        theirs = reference[(shape, name)]
        assert (theirs == theirs[0]).all()  # every try failed: the centre crop
        ours = draw(name, "torchvision", shape, n=20)
        np.testing.assert_array_equal(ours, np.broadcast_to(theirs[0], ours.shape))
        # The inception sampler falls back to the whole image instead.
        assert (draw(name, "inception", shape, n=3) == [0, 0, *shape]).all()


def test_samplers_are_stateless_and_graph_safe_with_dynamic_sizes():
    fn = tf.function(lambda seed, shape: crop_samplers.torchvision_window(seed, shape),
                     input_signature=[tf.TensorSpec([2], tf.int64), tf.TensorSpec([2], tf.int32)])
    for shape in [(7, 9), (375, 500), (1000, 10), (1, 1)]:
        windows = np.stack([fn(tf.constant([s, 1], tf.int64), shape).numpy() for s in range(8)])
        assert in_bounds(windows, shape)
        np.testing.assert_array_equal(fn(tf.constant([3, 1], tf.int64), shape), windows[3])
    # The float64 centre-crop clamp of torchvision (w / 0.75, h * 4/3, round half to even).
    np.testing.assert_array_equal(crop_samplers.centre_fallback([100, 120]), [0, 0, 100, 120])
    np.testing.assert_array_equal(crop_samplers.centre_fallback([10, 1000]), [0, 493, 10, 13])
    np.testing.assert_array_equal(crop_samplers.centre_fallback([1000, 10]), [493, 0, 13, 10])
    with pytest.raises(ValueError, match="crop sampler 'tv' is not one of"):
        crop_samplers.check_sampler("tv")


def jpeg(h=97, w=131):
    rng = np.random.default_rng(0)
    return tf.io.encode_jpeg(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), quality=90)


def test_imagenet_path_replays_torchvision_windows_with_the_fused_decode():
    enc = jpeg()
    tv = get_preprocessing("imagenet_32", crop_sampler="torchvision")
    inc = get_preprocessing("imagenet_32")
    seed = tf.constant([4, 2])
    params = tv.sample_params(enc, seed)
    crop_seed = common.split_seed(seed, 2)[0]
    np.testing.assert_array_equal(params["crop"],
                                  crop_samplers.torchvision_window(crop_seed, [97, 131]))
    assert not np.array_equal(params["crop"], inc.sample_params(enc, seed)["crop"])
    replayed = tv.train_uint8_from_params(enc, params)
    np.testing.assert_array_equal(replayed, tv.train_uint8(enc, seed))
    # Fused decode-and-crop of the torchvision window = full decode, then the slice.
    fused = common.decode_and_crop(enc, params["crop"])
    np.testing.assert_array_equal(fused, common.apply_crop(common.decode(enc), params["crop"]))
    for bad, match in [(dict(name="small_32"), "applies only to imagenet"),
                       (dict(name="imagenet", training_random_crop=False), "needs training_"),
                       (dict(name="imagenet", crop_sampler="tv"), "is not one of")]:
        kw = dict(dict(crop_sampler="torchvision"), **bad)
        with pytest.raises(ValueError, match=match):
            get_preprocessing(kw.pop("name"), **kw)


def test_multicrop_replays_and_follows_the_setting():
    cfg = multicrop.MultiCropConfig(1, 2, global_size=32, local_size=16, sampler="torchvision")
    enc, seed = jpeg(), tf.constant([9, 9])
    params = multicrop.sample_params(enc, seed, cfg)
    a, b = multicrop.apply_params(enc, params, cfg), multicrop.crops_uint8(enc, seed, cfg)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    inception = multicrop.sample_params(enc, seed, dataclasses.replace(cfg, sampler="inception"))
    assert not np.array_equal(params["local_crop"], inception["local_crop"])
    made = config.make_config(multicrop="1,2", crop_sampler="torchvision")
    assert multicrop.config_from_flags(made, 32).sampler == "torchvision"
    assert multicrop.config_from_flags(config.make_config(multicrop="1,2"), 32).sampler == \
        "inception"


def test_reinforcement_records_the_sampler_and_replays_the_stored_window():
    spec = dr.AugmentationSpec("imagenet_32", None, 0.0, seed=1, crop_sampler="torchvision")
    old = dr.AugmentationSpec("imagenet_32", None, 0.0, seed=1)
    assert spec.as_header()["crop_sampler"] == "torchvision"
    assert "crop_sampler" not in old.as_header()  # side-cars of before stay identical
    assert dr.AugmentationSpec.from_header(spec.as_header()) == spec
    assert dr.AugmentationSpec.from_header(old.as_header()).crop_sampler == "inception"
    prep = spec.preprocessing()
    enc = jpeg()
    seed = dr.sample_seed(spec, tf.constant("key"), 3)
    words = dr.sample_words(enc, seed, spec, prep)
    geo = prep.sample_params(enc, tf.random.experimental.stateless_fold_in(seed, 1))
    np.testing.assert_array_equal(words[:4], geo["crop"])  # the torchvision window
    params = dr.unpack_words(words, seed, spec)
    np.testing.assert_array_equal(dr.render(enc, params, spec, prep),
                                  prep.train_uint8_from_params(enc, geo))
    header = {"augmentation": spec.as_header(), "num_samples": 2}
    _, replay_prep = dr.make_replay_fn(header, num_classes=10)
    assert replay_prep.crop_sampler == "torchvision"  # fresh views use the recorded one
    dr.check_crop_sampler(header, "torchvision", "/sc")
    with pytest.raises(DataError, match="generated with crop sampler 'torchvision', this run "
                       "uses 'inception' \\(pass --crop_sampler=torchvision\\)"):
        dr.check_crop_sampler(header, "inception", "/sc")
    dr.check_crop_sampler({"augmentation": old.as_header()}, "inception", "/sc")
    with pytest.raises(DataError, match="--crop_sampler: crop sampler 'torchvision' applies "
                       "only to imagenet"):
        dr.reinforce("keras:/none.keras@small_32", "/nonexistent", "/nonexistent/out",
                     dataclasses.replace(spec, preprocessing_type="small_32"))


def old_run(tmp_path, presets=()):
    """A run directory whose config.yaml was written before --crop_sampler existed."""
    cfg = config.make_config(list(presets), model_dir=str(tmp_path / "run"))
    stored = {k: v for k, v in config.settings_of(cfg).items() if k != "crop_sampler"}
    os.makedirs(cfg["model_dir"])
    RunDir.create(cfg["model_dir"], stored, {"defaults_profile": cfg["defaults_profile"]},
                  None)
    return cfg["model_dir"]


def test_setting_default_presets_and_refusals():
    assert settings.SETTINGS["crop_sampler"].choices == crop_samplers.SAMPLERS
    assert settings.LEGACY_VALUES["crop_sampler"] == crop_samplers.LEGACY == "inception"
    assert config.make_config()["crop_sampler"] == "inception"
    presets = os.path.join(ROOT, "configs")
    for name in os.listdir(presets):
        tv = (name.startswith("dr_") and "imagenet" in name) or "multicrop" in name \
            or "trex" in name
        cfg = config.make_config([os.path.join(presets, name)], model_dir="/nonexistent/run")
        assert cfg["crop_sampler"] == ("torchvision" if tv else "inception"), name
    with pytest.raises(ConfigError, match="--crop_sampler: crop sampler 'torchvision' applies "
                       "only to imagenet\\* types; 'small_32' uses a pad-and-crop"):
        config.make_config(preprocessing_type="small_32", crop_sampler="torchvision")
    with pytest.raises(ConfigError, match="--crop_sampler: .* needs training_random_crop"):
        config.make_config(preprocessing_type="imagenet_64", crop_sampler="torchvision",
                           training_random_crop=False)
    # Multi-crop draws its own crops with the sampler, whatever the preprocessing.
    config.make_config(preprocessing_type="small_32", crop_sampler="torchvision",
                       multicrop="1,2")


def test_old_runs_resume_with_inception_whatever_the_default(tmp_path, monkeypatch,
                                                             capsys):
    preset = os.path.join(ROOT, "configs", "imagenette_r18_multicrop.yaml")
    run = old_run(tmp_path, [preset])
    tv_default = dataclasses.replace(settings.SETTINGS["crop_sampler"], default="torchvision")
    monkeypatch.setitem(settings.SETTINGS, "crop_sampler", tv_default)
    assert settings.defaults()["crop_sampler"] == "torchvision"  # a new run's
    cfg = config.make_config(model_dir=run)
    assert cfg["crop_sampler"] == "inception" and cfg["changed"] == {}
    assert multicrop.config_from_flags(cfg, 64).sampler == "inception"
    # A preset that now says torchvision (the multi-crop ones do) does not switch it: the
    # run keeps inception and says so; the same value on the command line is an error.
    cfg = config.make_config([preset], model_dir=run)
    assert cfg["crop_sampler"] == "inception" and "crop_sampler" not in cfg["changed"]
    assert "warning: the preset's crop_sampler=torchvision is not the run's " \
        "crop_sampler=inception" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="--crop_sampler=torchvision contradicts the run's "
                       "crop_sampler=inception .*a resumed run keeps it"):
        config.make_config(model_dir=run, crop_sampler="torchvision")
    evaluation = config.make_config(model_dir=run, crop_sampler="torchvision", eval_only=True)
    assert evaluation["ignored"] == ["crop_sampler"]


def test_trainer_builds_the_run_s_sampler_and_records_it(tmp_path):
    from engine import trainer
    run = str(tmp_path / "run")
    tiny = dict(resnet_size=18, base_width=4, batch_size=32, val_batch_size=128,
                train_epochs=1, max_train_steps=1, lr_warmup_epochs=0.0)
    made = trainer.Run(config.make_config(model_dir=run, preprocessing_type="imagenet_16",
                                          crop_sampler="torchvision", **tiny))
    made.close()
    assert made.prep.crop_sampler == "torchvision"
    path = os.path.join(run, "config.yaml")
    text = open(path).read()
    assert "crop_sampler: torchvision\n" in text
    # The same run as if written before the setting existed: it resumes with inception.
    with open(path, "w") as f:
        f.write(text.replace("crop_sampler: torchvision\n", ""))
    resumed = trainer.Run(config.make_config(model_dir=run, **tiny))
    resumed.close()
    assert resumed.prep.crop_sampler == "inception"

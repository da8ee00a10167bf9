"""--randaugment_fill: one setting (default 0, torchvision's), 128 for run directories and
side-cars written before it existed, recorded by dataset reinforcement and checked on replay."""

import os

import numpy as np
import pytest
import tensorflow as tf
import yaml

from core import config, rundir
from core.settings import SETTINGS, stored_defaults
from datasets.errors import DataError
from kd import reinforce as dr
from preprocessing import get_preprocessing, randaugment

TRANSLATE = {"op_indices": tf.constant([3]), "magnitudes": tf.constant([9.0]),
             "signs": tf.constant([1.0])}  # TranslateX, uncovers the left columns


def test_setting_and_legacy_value():
    s = SETTINGS["randaugment_fill"]
    assert (s.default, s.legacy, s.low, s.high, s.kind) == (0, 128, 0, 255, "int")
    assert stored_defaults()["randaugment_fill"] == 128
    # Only settings that declare a legacy value differ from their default.
    assert {k for k, v in stored_defaults().items() if v != SETTINGS[k].default} == \
        {"randaugment_fill", "autoaugment_magnitudes"}


def test_old_run_directory_keeps_128_new_run_gets_0(tmp_path):
    new = config.make_config(model_dir=str(tmp_path / "new"))
    assert new["randaugment_fill"] == 0
    old = tmp_path / "old"
    os.makedirs(old)
    stored = config.settings_of(new)
    del stored["randaugment_fill"]  # a config.yaml written before the setting existed
    (old / rundir.CONFIG_FILE).write_text(config.to_yaml(stored))
    assert rundir.read_config(str(old))["randaugment_fill"] == 128
    assert config.make_config(model_dir=str(old), eval_only=True)["randaugment_fill"] == 128
    stored["randaugment_fill"] = 0  # a stored value wins over the legacy one
    (old / rundir.CONFIG_FILE).write_text(config.to_yaml(stored))
    assert rundir.read_config(str(old))["randaugment_fill"] == 0


@pytest.mark.parametrize("value", [-1, 256])
def test_out_of_range_is_a_config_error(tmp_path, value):
    with pytest.raises(config.ConfigError, match="--randaugment_fill must be"):
        config.make_config(model_dir=str(tmp_path / "r"), randaugment_fill=value)


def test_dr_presets_use_ml_drs_fill():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for name in sorted(os.listdir(os.path.join(root, "configs"))):
        if name.startswith("dr_"):
            with open(os.path.join(root, "configs", name)) as f:
                assert yaml.safe_load(f)["randaugment_fill"] == 0, name


def test_sidecar_header_records_fill_and_old_headers_mean_128():
    spec = dr.AugmentationSpec("small_32", (2, 9, 0.0), 0.25, randaugment_fill=7)
    header = {"augmentation": spec.as_header()}
    assert header["augmentation"]["randaugment_fill"] == 7
    assert dr.AugmentationSpec.from_header(header["augmentation"]) == spec
    dr.check_fill(header, 7, "/sc")
    with pytest.raises(DataError, match="generated with --randaugment_fill=7, this run "
                                        "has 0 \\(pass --randaugment_fill=7\\)"):
        dr.check_fill(header, 0, "/sc")
    old = dict(header["augmentation"])
    del old["randaugment_fill"], old["randaugment_geometry"]
    legacy = dr.AugmentationSpec.from_header(old)
    assert (legacy.randaugment_fill, legacy.randaugment_geometry) == (128, "tf")
    dr.check_fill({"augmentation": old}, 128, "/sc")
    with pytest.raises(DataError, match="--randaugment_fill=128"):
        dr.check_fill({"augmentation": old}, 0, "/sc")
    no_ra = dict(old, randaugment=None)  # without RandAugment the fill does not matter
    dr.check_fill({"augmentation": no_ra}, 0, "/sc")


def test_replay_renders_with_the_recorded_fill_and_geometry():
    prep = get_preprocessing("small_32")
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), np.uint8)
    encoded = tf.io.encode_png(image)
    geo = prep.sample_params(encoded, tf.constant([1, 2], tf.int64))
    base = prep.train_uint8_from_params(encoded, geo)
    params = {"geo": geo, "ra": TRANSLATE}
    for fill, geometry in ((7, "pil"), (128, "tf")):
        spec = dr.AugmentationSpec("small_32", (1, 9, 0.0), randaugment_fill=fill,
                                   randaugment_geometry=geometry)
        got = dr.render(encoded, params, spec, prep).numpy()
        want = randaugment.apply(base, TRANSLATE, fill=fill, geometry=geometry).numpy()
        np.testing.assert_array_equal(got, want)
        assert (got[:, :4] == fill).all()  # int(150/331 * 32 * 0.3) = 4 columns uncovered


def test_reinforce_cli_refuses_a_bad_fill(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT
    proc = subprocess.run([sys.executable, "-m", "kd.reinforce", "--teacher=keras:/none.keras",
                           f"--data_dir={tmp_path}", f"--output_dir={tmp_path}/o",
                           "--randaugment_fill=300"], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), timeout=120)
    assert proc.returncode == 2
    assert [line for line in proc.stderr.splitlines() if line.startswith("error:")] == [
        "error: --randaugment_fill: fill must be an integer in 0..255, got 300"]

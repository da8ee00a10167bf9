"""Dataset reinforcement with mixing samples: stored partner, mixup and CutMix replay the
teacher's mixed view, valid stored parameters, header checks, the in-memory limit."""

import os

import numpy as np
import pytest
import tensorflow as tf
from test_reinforce import NS, K, image_records, reinforced_digits, stored_records

from core import config
from datasets import sidecar
from datasets.errors import DataError
from engine import trainer
from kd import reinforce as dr
from kd import reinforce_mixing as mixing
from kd import targets
from kd.teachers import Ensemble
from preprocessing import get_preprocessing
from preprocessing.common import normalize

SPEC = dr.AugmentationSpec("small_32", (2, 9, 0.0), 0.5, seed=3, mixing=("mixup", "cutmix"))
SHARDS = ("train-00000-of-00002", "train-00001-of-00002")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    # 128 images x NS = 2: the 256 samples the mixing-statistics test counts
    data, teacher, out, header = reinforced_digits(tmp_path_factory.mktemp("drmix"), SPEC,
                                                   limit=128)
    pool = mixing.PartnerPool.from_files([os.path.join(data, n) for n in SHARDS], 1.0)
    return data, teacher, out, header, pool


def test_layout_and_header(setup):
    *_, header, pool = setup
    # own 14 words, head 2 + 2 + 6, partner 14: 38 words = 76 B + 4K
    assert SPEC.own_words == 14 and SPEC.words == header["words_per_sample"] == 38
    assert header["bytes_per_sample_payload"] == 2 * 38 + 4 * K
    assert header["augmentation"]["mixing"] == ["mixup", "cutmix"]
    assert header["partners"] == pool.header() and pool.size == 128
    # a spec without mixing writes the header fields it always wrote
    assert "mixing" not in dr.AugmentationSpec("small_32").as_header()


def test_replay_gives_the_teachers_mixed_views(setup):
    data, teacher, out, _, pool = setup
    prep = get_preprocessing("small_32")
    probs_fn = Ensemble(teacher).logits_from_views
    mixed = 0
    for rec, img in list(zip(stored_records(out), image_records(data)))[:8]:
        words, views = dr.sample_views(img["encoded"], img["filename"], SPEC, prep, NS, pool)
        np.testing.assert_array_equal(words.numpy(), rec["dr_params"].numpy())
        for j in range(NS):
            seed = dr.sample_seed(SPEC, img["filename"], j)
            params = dr.unpack_words(rec["dr_params"][j], seed, SPEC)
            replayed = dr.render(img["encoded"], params, SPEC, prep, pool)
            diff = np.abs(replayed.numpy().astype(int) - views[j].numpy().astype(int)).max()
            assert diff <= 1
            own = dr.render(img["encoded"], {k: v for k, v in params.items()
                                             if k not in ("mix", "partner")}, SPEC, prep)
            mixed += int(params["mix"]["partner_index"] >= 0)
            if params["mix"]["partner_index"] < 0:
                np.testing.assert_array_equal(own.numpy(), views[j].numpy())
        # the stored top-K are the teacher's on the *mixed* views
        probs = tf.nn.softmax(probs_fn(normalize(views))).numpy()
        ids = rec["dr_ids"].numpy().astype(int)
        np.testing.assert_allclose(rec["dr_probs"].numpy().astype(np.float32),
                                   np.take_along_axis(probs, ids, axis=1), rtol=2e-3, atol=1e-4)
    assert mixed > 0


def test_stored_mixing_parameters_are_valid(setup):
    _, _, out, header, pool = setup
    counts = {"none": 0, "mixup": 0, "cutmix": 0, "both": 0}
    keys = set(pool.keys.tolist())
    for name in SHARDS:
        for rec in stored_records(out, name):
            for words in rec["dr_params"].numpy():
                m = mixing.unpack_head(words[SPEC.own_words:SPEC.own_words + 10], SPEC.mixing)
                index, on_m, on_c = (int(m["partner_index"]), bool(m["mixup_on"]),
                                     bool(m["cutmix_on"]))
                counts[{(0, 0): "none", (1, 0): "mixup", (0, 1): "cutmix",
                        (1, 1): "both"}[(on_m, on_c)]] += 1
                assert (index >= 0) == (on_m or on_c) and -1 <= index < pool.size
                partner = words[SPEC.own_words + 10:]
                if index >= 0:
                    assert pool.keys[index] in keys and partner[2] > 0  # crop height
                else:
                    assert not partner.any()
                if on_m:
                    assert 0.0 <= float(m["mixup_lam"]) <= 0.5
                if on_c:
                    y1, x1, y2, x2 = m["box"].numpy()
                    assert 0 <= y1 <= y2 <= 32 and 0 <= x1 <= x2 <= 32
                    assert 0.0 <= float(m["cutmix_lam"]) <= 1.0
                    side = int(32 * np.sqrt(1 - float(m["cutmix_lam"])))
                    assert y2 - y1 <= side + 1 and x2 - x1 <= side + 1
    # 128 images x NS = 2: 256 samples, each case 1/4 as DR (both mixes fire independently,
    # p = 0.5)
    assert all(30 <= c <= 100 for c in counts.values()), counts


def test_replay_fn_targets_and_clean_samples(setup):
    data, _, out, header, pool = setup
    replay, _ = dr.make_replay_fn(header, 10, p=1.0, pool=pool)
    replay = tf.function(replay)  # as in the tf.data pipeline: graph mode
    for i, (img, side) in enumerate(list(zip(image_records(data), stored_records(out)))[:6]):
        rec = dict(img, **{k: v for k, v in side.items() if k != "key"})
        got = replay(rec, tf.constant([i, 1], tf.int64))
        assert float(tf.reduce_sum(got["teacher_probs"])) == pytest.approx(1.0, abs=1e-5)
        _, views = dr.sample_views(rec["encoded"], rec["filename"], SPEC,
                                   get_preprocessing("small_32"), NS, pool)
        gaps = [np.abs(got["image"].numpy() - normalize(v).numpy()).max() for v in views]
        assert min(gaps) <= 1.0 + 1e-4  # one uint8 step (normalize keeps the 0-255 scale)
    clean = dr.make_replay_fn(header, 10, p=0.0, pool=pool)[0](rec, tf.constant([5, 9],
                                                                                 tf.int64))
    np.testing.assert_array_equal(clean["teacher_probs"].numpy(), np.eye(10)[int(rec["label"])])
    with pytest.raises(ValueError, match="PartnerPool"):
        dr.make_replay_fn(header, 10)


def test_reruns_with_another_mixing_config_are_refused(setup):
    data, teacher, out, header, _ = setup
    for other in (dr.AugmentationSpec("small_32", (2, 9, 0.0), 0.5, seed=3, mixing=("mixup",)),
                  dr.AugmentationSpec("small_32", (2, 9, 0.0), 0.5, seed=3)):
        with pytest.raises(DataError, match="another job \\(augmentation"):
            dr.reinforce(teacher, data, out, other, num_samples=NS, top_k=K,
                         log=lambda *_: None)
    cfg = {"mixup_type": "0", "reinforce_partner_max_gib": 1.0}
    files = [os.path.join(data, n) for n in SHARDS]
    assert targets._partner_pool(cfg, header, out, files).header() == header["partners"]
    with pytest.raises(DataError, match="partners were drawn from"):
        targets._partner_pool(cfg, header, out, files[:1])
    with pytest.raises(DataError, match="unset --mixup_type=mixup"):
        targets._partner_pool(dict(cfg, mixup_type="mixup"), header, out, files)
    with pytest.raises(ValueError, match="unknown mixing mixap"):
        mixing.parse_flag("mixap,cutmix")
    assert mixing.parse_flag("cutmix, mixup") == ("mixup", "cutmix")


def test_partner_table_over_the_limit_is_one_line(setup, tmp_path):
    data, teacher, *_ = setup
    with pytest.raises(DataError) as e:
        dr.reinforce(teacher, data, str(tmp_path / "x"), SPEC, num_samples=1, top_k=K,
                     partner_max_gib=1e-6, log=lambda *_: None)
    msg = str(e.value)
    assert "\n" not in msg and "2 training shards hold" in msg and "--partner_max_gib" in msg
    assert "over the 1e-06 GiB limit" in msg and "--reinforce_partner_max_gib" in msg


def test_training_on_mixing_samples(setup, tmp_path):
    data, _, out, _, _ = setup
    common = dict(dataset_name=data, resnet_size=18, base_width=4, batch_size=16,
                  val_batch_size=120, steps_per_loop=1, lr_warmup_epochs=0.0, train_epochs=1,
                  max_train_steps=2, kd_temp=1.0, kd_label_weight=0.0,
                  reinforce_data_path=out, preprocessing_type="small_32")
    result = trainer.run(config.make_config(model_dir=str(tmp_path / "run"),
                                            num_cpu_replicas=2, **common))
    assert np.isfinite(result["loss"])
    cfg = config.make_config(model_dir=str(tmp_path / "run2"), reinforce_partner_max_gib=1e-6,
                             **common)
    with pytest.raises(DataError, match="over the 1e-06 GiB limit"):
        trainer.run(cfg)
    assert sidecar.read_header(out)["partners"]["count"] == 128

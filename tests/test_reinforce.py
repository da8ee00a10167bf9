"""Dataset reinforcement: packed parameters, exact replay of the teacher's view, densified
targets, fp16 top-K, sizes, resumable/sharded generation, header checks, and training."""

import os

import numpy as np
import pytest
import tensorflow as tf
from test_kd import keras_teacher, write_digit_shards

from core import config
from datasets import sidecar
from datasets.errors import DataError
from engine import trainer
from kd import reinforce as dr
from kd.teachers import Ensemble
from preprocessing import get_preprocessing
from preprocessing.common import normalize

SPEC = dr.AugmentationSpec("small_32", (2, 9, 0.0), 0.5, seed=3)
NS, K = 2, 5  # 2 samples per image: generation traces each per-image view NS times


def reinforced_digits(root, spec, limit=64):
    """`limit` digits (64) in 2 shards, a tiny Keras teacher and their reinforcement (NS, K)
    under ``root``: (data dir, teacher spec, side-car dir, header)."""
    data = write_digit_shards(str(root / "tfr"), num_shards=2, limit=limit)
    teacher = keras_teacher(str(root / "t.keras"))
    out = str(root / "reinforced")
    header = dr.reinforce(teacher, data, out, spec, num_samples=NS, top_k=K,
                          log=lambda *_: None)
    return data, teacher, out, header


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return reinforced_digits(tmp_path_factory.mktemp("dr"), SPEC)


def stored_records(out, name="train-00000-of-00002"):
    h = sidecar.read_header(out)
    parse = dr.parse_sidecar(h["num_samples"], h["top_k"], h["words_per_sample"])
    return list(tf.data.TFRecordDataset(os.path.join(out, name)).batch(8).map(parse).unbatch())


def image_records(data, name="train-00000-of-00002"):
    from datasets.tfrecords import parse_record
    return list(tf.data.TFRecordDataset(os.path.join(data, name)).map(parse_record))


def test_packing_round_trip():
    prep = get_preprocessing("small_32")
    encoded = image_records_first()
    seed = dr.sample_seed(SPEC, tf.constant("k"), 2)
    words = dr.sample_words(encoded, seed, SPEC, prep)
    assert words.dtype == tf.int16 and words.shape == (SPEC.words,) == (14,)
    p = dr.unpack_words(words, seed, SPEC)
    geo = prep.sample_params(encoded, tf.random.experimental.stateless_fold_in(seed, 1))
    np.testing.assert_array_equal(p["geo"]["crop"], geo["crop"])
    ra = dr.randaugment.sample_params(tf.random.experimental.stateless_fold_in(seed, 2), 2, 9.0)
    np.testing.assert_array_equal(p["ra"]["op_indices"], ra["op_indices"])
    np.testing.assert_allclose(p["ra"]["magnitudes"] * p["ra"]["signs"],
                               ra["magnitudes"] * ra["signs"], rtol=1e-3)


def image_records_first():
    from datasets import digits
    return tf.constant(digits.load_digits_splits()[0].encoded[0])


def test_densify_sums_to_one_and_keeps_the_top_k():
    d = dr.densify(tf.constant([3, 7], tf.int16), tf.constant([0.5, 0.3], tf.float16), 10)
    assert float(tf.reduce_sum(d)) == pytest.approx(1.0, abs=1e-6)
    assert float(d[3]) == pytest.approx(0.5) and float(d[7]) == pytest.approx(0.3, abs=1e-3)
    assert float(d[0]) == pytest.approx(0.2 / 8, rel=1e-3)
    over = dr.densify(tf.constant([0, 1]), tf.constant([0.6, 0.6]), 4)  # fp16 rounding > 1
    np.testing.assert_allclose(over.numpy(), [0.5, 0.5, 0, 0], atol=1e-7)


def replayed_and_generated_views(data, out, spec, count):
    """(record, views generation rendered) of the first `count` images, after checking that
    each view rendered from the stored words equals the generated one pixel for pixel."""
    prep = get_preprocessing(spec.preprocessing_type)
    for rec, img in list(zip(stored_records(out), image_records(data)))[:count]:
        _, views = dr.sample_views(img["encoded"], img["filename"], spec, prep, NS)
        for j in range(NS):
            seed = dr.sample_seed(spec, img["filename"], j)
            replayed = dr.render(img["encoded"], dr.unpack_words(rec["dr_params"][j], seed,
                                                                 spec), spec, prep)
            np.testing.assert_array_equal(replayed, views[j])
        yield rec, views


def test_replayed_views_are_the_teachers_views(setup):
    data, teacher, out, header = setup
    ens = Ensemble(teacher)
    for rec, views in replayed_and_generated_views(data, out, SPEC, 6):
        # the stored top-K are the teacher's probabilities on those views (fp16 precision)
        probs = tf.nn.softmax(ens.logits_from_views(normalize(views))).numpy()
        ids = rec["dr_ids"].numpy().astype(int)
        got = rec["dr_probs"].numpy().astype(np.float32)
        want = np.take_along_axis(probs, ids, axis=1)
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=1e-4)
        assert np.all(np.diff(got, axis=1) <= 0)  # sorted top-K
        np.testing.assert_array_equal(np.sort(probs, axis=1)[:, ::-1][:, :K].round(3),
                                      want.round(3))


def test_replay_fn_renders_one_stored_sample_with_its_target(setup):
    data, _, out, header = setup
    replay, prep = dr.make_replay_fn(header, 10, p=1.0)
    rec = dict(image_records(data)[1], **{k: v for k, v in stored_records(out)[1].items()
                                          if k != "key"})
    _, views = dr.sample_views(rec["encoded"], rec["filename"], SPEC, prep, NS)
    out_view = replay(rec, tf.constant([5, 9], tf.int64))
    matches = [j for j in range(NS)
               if np.array_equal(out_view["image"].numpy(), normalize(views[j]).numpy())]
    assert len(matches) >= 1
    j = matches[0]
    want = dr.densify(rec["dr_ids"][j], rec["dr_probs"][j], 10).numpy()
    np.testing.assert_allclose(out_view["teacher_probs"].numpy(), want, atol=1e-7)
    fresh = dr.make_replay_fn(header, 10, p=0.0)[0](rec, tf.constant([5, 9], tf.int64))
    np.testing.assert_array_equal(fresh["teacher_probs"].numpy(),
                                  np.eye(10)[int(rec["label"])])


def test_bytes_per_sample(setup):
    *_, header = setup
    assert header["bytes_per_sample_payload"] == 2 * 14 + 4 * K
    # K=10 with RandAugment(2) + RandomErasing: 68 B payload, DR's budget is 73 B
    assert 2 * SPEC.words + 4 * 10 == 68
    # per image: the key, feature names and TFRecord framing, shared by its NS samples
    overhead = (header["bytes_per_sample"] - header["bytes_per_sample_payload"]) * NS
    assert 0 < overhead < 160


def test_sharded_generation_equals_one_process_and_reruns_are_checked(setup, tmp_path):
    data, teacher, out, _ = setup
    other = str(tmp_path / "two")
    for index in (1, 0):
        dr.reinforce(teacher, data, other, SPEC, num_samples=NS, top_k=K, num_shards=2,
                     shard_index=index, log=lambda *_: None)
    for name in ("train-00000-of-00002", "train-00001-of-00002"):
        a = open(os.path.join(out, name), "rb").read()
        assert a == open(os.path.join(other, name), "rb").read()
    with pytest.raises(DataError, match="another job \\(augmentation"):
        dr.reinforce(teacher, data, other, dr.AugmentationSpec("small_32"), num_samples=NS,
                     top_k=K, log=lambda *_: None)
    with pytest.raises(DataError, match="another job \\(num_samples"):
        dr.reinforce(teacher, data, other, SPEC, num_samples=NS + 1, top_k=K,
                     log=lambda *_: None)


def test_training_on_reinforced_data_on_two_replicas(setup, tmp_path):
    data, _, out, _ = setup
    common = dict(dataset_name=data, resnet_size=18, base_width=4, batch_size=16,
                  val_batch_size=120, steps_per_loop=1, lr_warmup_epochs=0.0, train_epochs=1,
                  max_train_steps=2, kd_temp=1.0, kd_label_weight=0.0,
                  reinforce_data_path=out)
    cfg = config.make_config(model_dir=str(tmp_path / "run"), num_cpu_replicas=2,
                             preprocessing_type="small_32", **common)
    result = trainer.run(cfg)
    assert result["count"] == 360 and np.isfinite(result["loss"])
    cfg = config.make_config(model_dir=str(tmp_path / "run2"), preprocessing_type="small_24",
                             **common)
    with pytest.raises(DataError, match="generated with preprocessing 'small_32'"):
        trainer.run(cfg)
    cfg = config.make_config(model_dir=str(tmp_path / "run3"), preprocessing_type="small_32",
                             randaugment_fill=128, **common)
    with pytest.raises(DataError, match="generated with --randaugment_fill=0, this run has 128"):
        trainer.run(cfg)

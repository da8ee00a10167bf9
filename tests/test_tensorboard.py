"""What a tiny training run leaves for TensorBoard, read back with TensorBoard's own event
reader: hparams, config text, the grid of augmented views, loss/l2 apart, reliability
diagrams; and the --eval_only and --robustness figures."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import metadata as hp_metadata
from tensorboard.plugins.hparams import plugin_data_pb2

from core import config
from engine import tensorboard, trainer
from preprocessing.common import MEAN_RGB

TINY = dict(resnet_size=18, base_width=4, batch_size=32, val_batch_size=128,
            steps_per_loop=4, lr_warmup_epochs=0.0)


def accumulator(directory):
    acc = event_accumulator.EventAccumulator(directory, size_guidance={
        event_accumulator.IMAGES: 0, event_accumulator.TENSORS: 0,
        event_accumulator.SCALARS: 0})
    acc.Reload()
    return acc


def scalars(acc, tag):
    # Scalars written by tf.summary (TF2) are tensor events.
    return {e.step: float(tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)}


def images(acc, tag):
    """[(step, [uint8 image, ...])] of a tf.summary.image tag (a tensor of
    [width, height, png, png, ...] strings)."""
    out = []
    for event in acc.Tensors(tag):
        value = tf.make_ndarray(event.tensor_proto)
        out.append((event.step, [tf.io.decode_png(png).numpy() for png in value[2:]]))
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tb")
    # weight decay large enough that l2 is far from float noise next to the cross-entropy
    cfg = config.make_config(model_dir=str(tmp / "run"), train_epochs=2, max_train_steps=6,
                             weight_decay=1e-3, label_smoothing=0.1, **TINY)
    run = trainer.Run(cfg)
    run.train()
    return run


@pytest.mark.slow
def test_hparams_and_config_text(trained):
    acc = accumulator(trained.model_dir)
    content = acc.PluginTagToContent(hp_metadata.PLUGIN_NAME)
    start = hp_metadata.parse_session_start_info_plugin_data(
        content[hp_metadata.SESSION_START_INFO_TAG])
    hparams = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
               for k, v in start.hparams.items()}
    assert hparams["resnet_size"] == 18 and hparams["base_width"] == 4
    assert hparams["weight_decay"] == pytest.approx(1e-3)
    assert hparams["dataset_name"] == "digits"
    assert hparams["resolved_num_classes"] == 10
    assert json.loads(hparams["piecewise_lr_decay_rates"]) == trained.cfg[
        "piecewise_lr_decay_rates"]  # a list: one setting, as JSON text
    experiment = plugin_data_pb2.HParamsPluginData.FromString(
        content[hp_metadata.EXPERIMENT_TAG]).experiment
    metrics = {(m.name.group, m.name.tag) for m in experiment.metric_infos}
    assert metrics == {("eval", t) for t in ("top1", "top5", "ece", "loss")}
    assert "weight_decay" in {h.name for h in experiment.hparam_infos}

    text = acc.Tensors("config")
    assert [e.step for e in text] == [0]
    body = tf.make_ndarray(text[0].tensor_proto).item().decode()
    with open(os.path.join(trained.model_dir, "config.yaml")) as f:
        assert body == f"```yaml\n{f.read().rstrip()}\n```"


@pytest.mark.slow
def test_grid_of_the_first_training_batch(trained):
    acc = accumulator(os.path.join(trained.model_dir, "train"))
    (step, grids), = images(acc, "train_views")
    assert step == 0 and len(grids) == 1
    image = grids[0]
    size = trained.prep.train_size  # 32 px digits: 16 views, 4 x 4 tiles with 2 px gaps
    assert image.shape == (4 * (size + 2) + 2, 4 * (size + 2) + 2, 3)
    # The tiles are replica 0's first batch of the training's own distributed iterator,
    # de-normalised.
    batch = next(trained._train_iterator(0, 0))
    first = trained.strategy.experimental_local_results(batch["image"])[0].numpy()
    want = np.clip(np.rint(first + np.asarray(MEAN_RGB)), 0, 255).astype(np.uint8)
    for i in range(16):
        r, c = divmod(i, 4)
        tile = image[2 + r * (size + 2):2 + r * (size + 2) + size,
                     2 + c * (size + 2):2 + c * (size + 2) + size]
        np.testing.assert_array_equal(tile, want[i], err_msg=f"tile {i}")
    assert len({want[i].tobytes() for i in range(16)}) == 16  # 16 distinct views


@pytest.mark.slow
def test_loss_is_the_cross_entropy_and_l2_is_apart(trained):
    acc = accumulator(os.path.join(trained.model_dir, "train"))
    loss, l2, total = (scalars(acc, t) for t in ("loss", "l2", "total_loss"))
    assert sorted(loss) == sorted(l2) == sorted(total) == [4, 6]
    for step in loss:
        assert l2[step] > 0.01 * loss[step]  # wd 1e-3: an l2 term that matters
        assert loss[step] + l2[step] == pytest.approx(total[step], rel=1e-5)
    with open(os.path.join(trained.model_dir, "metrics.jsonl")) as f:
        train = [r for r in map(json.loads, f) if r["event"] == "train"]
    assert [r["step"] for r in train] == [6]
    assert train[0]["loss"] + train[0]["l2"] == pytest.approx(train[0]["total_loss"], rel=1e-5)
    # The L2 term is the one of the weights: wd * sum ||w||^2 / 2 over the decayed variables.
    from engine import optim
    now = float(optim.l2_penalty(trained.decay_vars, trained.cfg["weight_decay"]))
    assert l2[6] == pytest.approx(now, rel=0.05)


@pytest.mark.slow
def test_reliability_diagram_per_evaluation(trained):
    acc = accumulator(os.path.join(trained.model_dir, "eval"))
    (step, (image,)), = images(acc, "reliability")
    assert step == 6
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 300
    assert image.std() > 10  # a figure, not a blank canvas
    assert set(scalars(acc, "top1")) == {6}
    with open(os.path.join(trained.model_dir, "metrics.jsonl")) as f:
        evals = [r for r in map(json.loads, f) if r["event"] == "eval"]
    assert "reliability" not in evals[0]  # an image, not a record field


@pytest.mark.slow
def test_eval_only_logs_its_reliability_diagram(trained):
    trainer.run(config.make_config(model_dir=trained.model_dir, eval_only=True))
    directory = os.path.join(trained.model_dir, "eval_only", "digits")
    (step, (image,)), = images(accumulator(directory), "reliability")
    assert step == 6
    with open(os.path.join(directory, "reliability.png"), "rb") as f:
        png = tf.io.decode_png(f.read(), channels=3).numpy()
    np.testing.assert_array_equal(image, png)


@pytest.mark.slow
def test_robustness_figures_go_to_tensorboard(trained):
    trainer.run(dict(config.make_config(model_dir=trained.model_dir,
                                        robustness="on_the_fly"),
                     corruptions="contrast", severities="1", robustness_max_images=64))
    directory = os.path.join(trained.model_dir, "robustness", "on_the_fly")
    acc = accumulator(directory)
    for tag in ("errors_per_corruption", "error_vs_severity", "reliability_clean",
                "reliability_corrupted"):
        (step, (image,)), = images(acc, tag)
        assert step == 6
        with open(os.path.join(directory, tag + ".png"), "rb") as f:
            want = tf.io.decode_png(f.read(), channels=3).numpy()
        np.testing.assert_array_equal(image, want, err_msg=tag)


def test_view_grids_of_multicrop_batches():
    batch = {"image": np.zeros((4, 2, 8, 8, 3), np.float32) - np.asarray(MEAN_RGB),
             "local": np.zeros((4, 3, 4, 4, 3), np.float32)}
    batch["image"][1, 1] += 255  # image 1's second global view: white
    grids = tensorboard.view_grids(batch, count=6)
    # 3 images x 2 global views: rows of one image's views
    assert grids["train_views"].shape == (3 * 10 + 2, 2 * 10 + 2, 3)
    assert (grids["train_views"][12:20, 12:20] == 255).all()
    assert (grids["train_views"][12:20, 2:10] == 0).all()
    assert grids["train_views_local"].shape == (2 * 6 + 2, 3 * 6 + 2, 3)


def test_hparam_values_are_plugin_types():
    values = tensorboard.hparam_values({"a": None, "b": [1, 2], "c": 0.5, "d": True,
                                        "e": float("inf"), "f": {"x": 1}})
    assert values == {"a": "none", "b": "[1, 2]", "c": 0.5, "d": True, "e": "inf",
                      "f": '{"x": 1}'}
    from tensorboard.plugins.hparams import api as hp
    hp.hparams_pb(values)  # the plugin accepts every value

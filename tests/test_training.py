"""End-to-end runs of the trainer on tiny networks: 2 replicas, resume, fine-tune, export,
NaN guard. Networks are ResNet-18 at width 4 on 16 px digits, a few steps each."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from core import config
from core.errors import FinetuneError, TrainingDiverged
from engine import finetune, trainer

TINY = dict(resnet_size=18, base_width=4, batch_size=32, val_batch_size=128,
            steps_per_loop=4, lr_warmup_epochs=0.0, train_epochs=1, preprocessing_type="small_16")


def tiny_config(tmp_path, name="run", **overrides):
    return config.make_config(model_dir=str(tmp_path / name), **{**TINY, **overrides})


def read_jsonl(model_dir):
    with open(os.path.join(model_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def checkpoint_values(prefix):
    reader = tf.train.load_checkpoint(prefix)
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
            if "model" in k}


def test_two_steps_on_two_replicas(tmp_path):
    cfg = tiny_config(tmp_path, num_cpu_replicas=2, max_train_steps=2)
    run = trainer.Run(cfg)
    assert run.replicas == 2
    result = run.train()
    assert run.step == 2
    assert result["count"] == 360  # every eval example counted once over 2 replicas
    assert 0.0 <= result["top1"] <= 1.0 and 0.0 <= result["ece"] <= 1.0
    events = [e["event"] for e in read_jsonl(cfg["model_dir"])]
    assert events == ["train", "eval"]
    assert tf.train.latest_checkpoint(cfg["model_dir"]).endswith("ckpt-2")
    assert os.path.isfile(os.path.join(cfg["model_dir"], "config.yaml"))
    assert os.path.isfile(os.path.join(cfg["model_dir"], "versions.json"))
    assert os.path.isdir(os.path.join(cfg["model_dir"], "best"))


def test_resume_after_stop_gives_same_weights(tmp_path):
    common = dict(train_epochs=2, deterministic=True, learning_rate_decay_type="cosine",
                  lr_warmup_epochs=0.5, batch_size=128)
    straight = tiny_config(tmp_path, "straight", **common)
    trainer.run(straight)
    # Stop in the middle of epoch 2 (11 steps/epoch at batch 128), then resume.
    stopped = tiny_config(tmp_path, "stopped", max_train_steps=15, **common)
    trainer.run(stopped)
    assert tf.train.latest_checkpoint(stopped["model_dir"]).endswith("ckpt-15")
    trainer.run(dict(stopped, max_train_steps=0))
    a = checkpoint_values(tf.train.latest_checkpoint(straight["model_dir"]))
    b = checkpoint_values(tf.train.latest_checkpoint(stopped["model_dir"]))
    assert tf.train.latest_checkpoint(stopped["model_dir"]).endswith("ckpt-22")
    assert a.keys() == b.keys() and len(a) > 20
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """One source run (3 steps) that the fine-tuning tests only read."""
    cfg = tiny_config(tmp_path_factory.mktemp("finetune"), "source", max_train_steps=3)
    trainer.run(cfg)
    return cfg


def test_finetune_swaps_head_and_keeps_bn_statistics(tmp_path, source):
    target_cfg = tiny_config(tmp_path, "target", num_classes=12)
    model = trainer.build_model(target_cfg, 12)
    prefix = finetune.warm_start(model, source["model_dir"])
    bn = model.get_layer("stage2_block1_bn1")
    restored = trainer.build_model(source, 10)
    tf.train.Checkpoint(model=restored).restore(prefix).expect_partial()
    ref = restored.get_layer("stage2_block1_bn1")
    for got, want in zip(bn.get_weights(), ref.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert not np.allclose(ref.moving_mean.numpy(), 0.0)  # statistics were trained
    assert model.get_layer("classifier").get_weights()[0].shape[-1] == 12


def test_finetune_architecture_mismatch_names_the_layer(tmp_path, source):
    model = trainer.build_model(tiny_config(tmp_path, "t", resnet_size=34), 10)
    with pytest.raises(FinetuneError, match="stage1_block3"):
        finetune.warm_start(model, source["model_dir"])


def test_finetune_run_end_to_end(tmp_path, source):
    target = tiny_config(tmp_path, "ft", max_train_steps=2,
                         pretrained_model_checkpoint_path=source["model_dir"])
    result = trainer.run(target)
    assert result["count"] == 360


def test_missing_pretrained_checkpoint_fails_before_work(tmp_path):
    # found while the settings are resolved (the new run inherits the source's network)
    with pytest.raises(FinetuneError, match="neither a run directory nor a checkpoint"):
        tiny_config(tmp_path, pretrained_model_checkpoint_path=str(tmp_path / "nope"))
    assert not os.path.exists(tmp_path / "run")


def test_export_reload_gives_same_predictions(tmp_path):
    export_dir = str(tmp_path / "export")
    cfg = tiny_config(tmp_path, max_train_steps=3, export_dir=export_dir)
    run = trainer.Run(cfg)
    result = run.train()
    check = result["export"]
    assert check["match"] and check["num_images"] == 360
    loaded = tf.saved_model.load(export_dir)
    assert set(loaded.signatures) == {"serving_default", "preprocessed"}
    records = list(run.source.eval_records().take(8))
    encoded = tf.stack([r["encoded"] for r in records])
    images = tf.stack([run.prep.eval(r["encoded"]) for r in records])
    want = run.model(images, training=False).numpy()
    logits = loaded.signatures["preprocessed"](images=images)["logits"].numpy()
    np.testing.assert_allclose(logits, want, rtol=1e-4, atol=1e-4)
    out = loaded.signatures["serving_default"](images=encoded)
    np.testing.assert_array_equal(out["classes"].numpy(), want.argmax(-1))
    np.testing.assert_allclose(out["probabilities"].numpy().sum(-1), 1.0, rtol=1e-5)
    with open(os.path.join(export_dir, "model_performance.json")) as f:
        assert json.load(f)["match"] is True


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    cfg = tiny_config(tmp_path, train_epochs=2, base_learning_rate=1e4,
                      learning_rate_decay_type="fixed", steps_per_loop=1)
    with pytest.raises(TrainingDiverged, match="loss became"):
        trainer.run(cfg)
    latest = tf.train.latest_checkpoint(cfg["model_dir"])
    if latest is not None:  # any checkpoint that was written holds finite weights only
        for value in checkpoint_values(latest).values():
            assert np.all(np.isfinite(value))


def test_eval_only_latest_and_best(tmp_path):
    cfg = tiny_config(tmp_path, max_train_steps=2)
    trained = trainer.run(cfg)
    again = trainer.run(dict(cfg, eval_only=True))
    assert again["top1"] == pytest.approx(trained["top1"])
    best = trainer.run(dict(cfg, eval_only=True, eval_checkpoint="best"))
    assert best["count"] == 360
    assert os.path.getsize(os.path.join(cfg["model_dir"], "eval_only", "digits",
                                        "reliability.png")) > 1000


def test_bf16_training_step(tmp_path):
    cfg = tiny_config(tmp_path, max_train_steps=2, dtype="bf16")
    run = trainer.Run(cfg)
    run.train()
    assert run.model.get_layer("stage1_block1_conv1").compute_dtype == "bfloat16"
    assert run.model.get_layer("classifier").compute_dtype == "float32"


def test_fp16_training_step_with_loss_scaling(tmp_path):
    cfg = tiny_config(tmp_path, max_train_steps=2, dtype="fp16")
    run = trainer.Run(cfg)
    run.train()
    assert run.step >= 1
    assert type(run.optimizer).__name__ == "LossScaleOptimizer"


def _keep_probs(model):
    import nets
    return [float(layer.keep_prob.numpy()) for layer in nets.dropblock_layers(model)]


@pytest.mark.parametrize("replicas", [0, 2])
def test_dropblock_keep_prob_follows_the_schedule_and_resume(tmp_path, replicas):
    # 44 steps/epoch, 2 epochs -> 88 schedule steps; keep_prob 1.0 -> 0.5 linearly. The value
    # is set from the optimizer step before each step, so after N steps it is kp(N - 1).
    kw = dict(resnet_size=18, base_width=4, use_dropblock=True, dropblock_kp=["1.0", "0.5"],
              train_epochs=2, num_cpu_replicas=replicas, steps_per_loop=2)
    cfg = tiny_config(tmp_path, max_train_steps=4, **kw)
    run = trainer.Run(cfg)
    run.train()
    kps = _keep_probs(run.model)
    assert len(kps) >= 10 and all(k == pytest.approx(1.0 - 0.5 * 3 / 88) for k in kps)
    resumed = trainer.Run(dict(cfg, max_train_steps=10))
    resumed.train()
    assert _keep_probs(resumed.model)[0] == pytest.approx(1.0 - 0.5 * 9 / 88)


def test_assembled_big_little_network_trains_and_fine_tunes(tmp_path):
    assembled = dict(resnet_size=50, base_width=8, resnet_version=2, stem_type="default",
                     use_sk_block=True, anti_alias_type="sconv", anti_alias_filter_size=3,
                     use_dropblock=True, zero_gamma=True, preprocessing_type="small_32")
    source = tiny_config(tmp_path, "source", max_train_steps=2, **assembled)
    result = trainer.run(source)
    assert result["count"] == 360
    target = trainer.build_model(tiny_config(tmp_path, "target", **assembled), 12)
    finetune.warm_start(target, source["model_dir"])
    # Flags that change the weights must match the checkpoint (the original's issue #4).
    wrong = trainer.build_model(tiny_config(tmp_path, "wrong", **dict(assembled, bl_beta=2)), 12)
    with pytest.raises(FinetuneError, match="architecture mismatch"):
        finetune.warm_start(wrong, source["model_dir"])


def test_finetuning_inherits_the_source_backbone(tmp_path):
    """A new run with --pretrained_model_checkpoint_path builds the source's network: its
    backbone settings replace defaults and presets; the command line still wins."""
    source = tiny_config(tmp_path, "source", max_train_steps=1, use_resnet_d=True,
                         base_width=8)
    trainer.run(source)
    ft = config.make_config(model_dir=str(tmp_path / "ft"),
                            pretrained_model_checkpoint_path=source["model_dir"],
                            batch_size=32, val_batch_size=128, steps_per_loop=1,
                            max_train_steps=1, train_epochs=1, lr_warmup_epochs=0.0)
    assert ft["use_resnet_d"] is True and ft["base_width"] == 8
    assert ft["inherited"]["changed"]["base_width"] == [16, 8]
    assert trainer.run(ft)["count"] == 360
    explicit = config.make_config(model_dir=str(tmp_path / "ft2"), base_width=16,
                                  pretrained_model_checkpoint_path=source["model_dir"])
    assert explicit["base_width"] == 16 and explicit["use_resnet_d"] is True
    with pytest.raises(FinetuneError, match="--pretrained_model_checkpoint_path"):
        config.make_config(model_dir=str(tmp_path / "ft3"),
                           pretrained_model_checkpoint_path=str(tmp_path / "missing"))

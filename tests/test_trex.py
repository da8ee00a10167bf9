"""t-ReX (Sariyildiz et al. 2023, spec trex.md): projector and cosine classifier layers, the
OCM class-means memory, and the trainer's t-ReX mode (multi-crop, EMA network filling the
memory) on 2 logical CPU devices, resume, eval and transfer into a linear head."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from nets_checks import check_train_step_and_round_trips

import nets
from core import config
from core.errors import ConfigError
from engine import distribute, finetune, trainer
from engine.ocm import ClassMeanMemory

TINY = dict(resnet_size=18, base_width=4, batch_size=32, val_batch_size=128,
            steps_per_loop=3, lr_warmup_epochs=0.0, train_epochs=1, head="trex",
            pr_hidden_layers=1, pr_hidden_dim=32, pr_bottleneck_dim=16, memory_size=48,
            multicrop="1,2", multicrop_local_size=16)
HEAD = dict(hidden_layers=2, hidden_dim=24, bottleneck_dim=8, tau=0.1)


def tiny_config(tmp_path, name="run", **overrides):
    return config.make_config(model_dir=str(tmp_path / name), **{**TINY, **overrides})


# ------------------------------------------------------------------ layers
def test_trex_network_trains_and_round_trips(tmp_path):
    model = nets.build_resnet(18, 5, base_width=4, stem_type="small", trex_head=HEAD)
    assert [layer.name for layer in model.layers[-3:]] == ["avg_pool", "projector", "classifier"]
    x = np.random.default_rng(0).random((4, 32, 32, 3), np.float32)
    check_train_step_and_round_trips(model, x, np.array([0, 1, 2, 3]), 5, tmp_path)


def test_projector_structure_and_init():
    proj = nets.Projector(hidden_layers=3, hidden_dim=64, bottleneck_dim=16)
    out = proj(np.random.default_rng(0).normal(size=(8, 40)).astype(np.float32) * 50.0)
    assert out.shape == (8, 16)
    kinds = [type(layer).__name__ for layer in proj._flatten_layers(include_self=False)]
    assert kinds.count("Dense") == 4 and kinds.count("BatchNormalization") == 3
    assert not proj.bottleneck.use_bias
    assert 0.01 < float(np.std(proj.blocks[0][0].kernel.numpy())) < 0.02  # trunc-normal .02
    # Input L2 normalisation: the output does not depend on the feature's scale.
    a = np.random.default_rng(1).normal(size=(4, 40)).astype(np.float32)
    np.testing.assert_allclose(proj(a, training=False), proj(a * 100.0, training=False),
                               rtol=1e-4, atol=1e-5)
    plain = nets.Projector(hidden_layers=0, bottleneck_dim=4, input_l2_norm=False)
    np.testing.assert_allclose(plain(a * 2.0), 2.0 * plain(a).numpy(), rtol=1e-5)


def test_cosine_classifier_logits():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 6)).astype(np.float32)
    clf = nets.CosineClassifier(3, tau=0.1)
    clf.build((None, 6))
    w = rng.normal(size=(6, 3)).astype(np.float32)
    w[:, 2] = 0.0  # an empty OCM class
    clf.kernel.assign(w)
    cos = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (
        w / np.maximum(np.linalg.norm(w, axis=0, keepdims=True), 1e-12))
    np.testing.assert_allclose(clf(x).numpy(), cos / 0.1, rtol=1e-5, atol=1e-5)
    assert np.all(clf(x).numpy()[:, 2] == 0.0)
    assert np.abs(clf(x).numpy()).max() <= 10.0 + 1e-4  # |cos| / tau
    linear = nets.CosineClassifier(3, tau=0.0)
    linear.build((None, 6))
    linear.kernel.assign(w)
    np.testing.assert_allclose(linear(x).numpy(), x @ w, rtol=1e-5, atol=1e-5)
    fixed = nets.CosineClassifier(3, learnable=False)
    fixed.build((None, 6))
    assert fixed.trainable_weights == [] and len(fixed.non_trainable_weights) == 1
    again = nets.CosineClassifier.from_config(fixed.get_config())
    assert (again.tau, again.learnable, again.num_classes) == (0.1, False, 3)


# ------------------------------------------------------------------ OCM memory
def test_memory_fifo_write_wraps_and_class_sums():
    memory = ClassMeanMemory(size=5, dim=2, num_classes=3, seed=0)
    assert set(np.unique(memory.labels.numpy())) <= {0, 1, 2}
    start = memory.features.numpy().copy()
    memory.write(np.array([[1, 0], [0, 1], [1, 1]], np.float32), np.array([0, 1, 0]))
    assert int(memory.pointer.numpy()) == 3
    np.testing.assert_array_equal(memory.features.numpy()[3:], start[3:])  # untouched
    # 4 more rows: only 2 fit before the end; the rest is dropped and the pointer wraps.
    memory.write(np.array([[2, 0], [0, 2], [9, 9], [9, 9]], np.float32),
                 np.array([1, 1, 2, 2]))
    assert int(memory.pointer.numpy()) == 0
    np.testing.assert_array_equal(memory.labels.numpy(), [0, 1, 0, 1, 1])
    np.testing.assert_array_equal(memory.class_sums().numpy(),
                                  [[2, 1], [2, 3], [0, 0]])  # class 2 now empty
    protos = memory.prototypes().numpy()
    np.testing.assert_allclose(protos[0], np.array([2, 1]) / np.sqrt(5), rtol=1e-6)
    np.testing.assert_array_equal(protos[2], [0, 0])
    memory.write(np.array([[5, 5]], np.float32), np.array([2]))
    assert int(memory.pointer.numpy()) == 1 and memory.labels.numpy()[0] == 2


def test_memory_write_under_mirrored_strategy():
    if len(tf.config.list_logical_devices("CPU")) < 2:
        pytest.skip("needs 2 logical CPU devices")
    # The trainer's strategy: two strategies over the same devices collide in collectives.
    strategy = distribute.make_strategy(None, 2)
    with strategy.scope():
        memory = ClassMeanMemory(size=6, dim=2, num_classes=4, seed=1)

    @tf.function
    def step():
        def replica_fn():
            r = tf.cast(tf.distribute.get_replica_context().replica_id_in_sync_group,
                        tf.float32)
            return tf.fill([3, 2], r + 1.0), tf.fill([3], tf.cast(r, tf.int32) + 2)
        emb, labels = strategy.run(replica_fn)
        memory.write(strategy.gather(emb, axis=0), strategy.gather(labels, axis=0))

    step()
    for values in (memory.features.values, memory.labels.values, memory.pointer.values):
        np.testing.assert_array_equal(values[0].numpy(), values[1].numpy())
    assert int(memory.pointer.numpy()) == 0  # 2 x 3 rows fill the 6 entries: wrap
    np.testing.assert_array_equal(memory.labels.numpy(), [2, 2, 2, 3, 3, 3])
    np.testing.assert_array_equal(memory.class_sums().numpy(), [[0, 0], [0, 0], [3, 3],
                                                                [6, 6]])


# ------------------------------------------------------------------ trainer
def test_trex_ocm_run_on_two_replicas(tmp_path):
    cfg = tiny_config(tmp_path, num_cpu_replicas=2, max_train_steps=3)
    run = trainer.Run(cfg)
    assert run.replicas == 2 and run.ocm is not None
    start_w = run.model.get_layer("stage1_block1_conv1").get_weights()[0]
    result = run.train()
    assert run.step == 3 and result["count"] == 360
    ocm, clf = run.ocm, run.model.get_layer("classifier")
    assert all(v is not clf.kernel for v in run.model.trainable_variables)  # OCM: not learned
    # 3 steps x 32 global crops into 48 entries: 32, then 16 (cut at the end, wrap), 32.
    assert int(ocm.memory.pointer.numpy()) == 32
    labels = ocm.memory.labels.numpy()
    assert np.all((labels >= 0) & (labels < 10))
    # The EMA net moved a little (momentum .999) away from the student's start.
    ema_w = ocm.ema.get_layer("stage1_block1_conv1").get_weights()[0]
    assert not np.array_equal(ema_w, start_w)
    assert np.abs(ema_w - start_w).max() < 0.1 * np.abs(start_w).max()
    sums_after_3 = ocm.memory.class_sums().numpy()

    # Resume for one more step: memory and EMA net come back from the checkpoint, the
    # classifier is set to the memory's class sums before the step and not trained.
    resumed = trainer.Run(dict(cfg, max_train_steps=4))
    resumed.train()
    kernel = resumed.model.get_layer("classifier").kernel.numpy()
    np.testing.assert_allclose(kernel, sums_after_3.T, rtol=1e-6, atol=1e-6)
    assert int(resumed.ocm.memory.pointer.numpy()) == 0  # 16 more rows, then wrap

    # eval_only restores model, memory and EMA net; the prototype logits are reproduced.
    last = read_last_eval(cfg["model_dir"])
    again = trainer.run(dict(cfg, max_train_steps=4, eval_only=True))
    assert again["top1"] == pytest.approx(last["top1"])


def read_last_eval(model_dir):
    import json
    import os
    with open(os.path.join(model_dir, "metrics.jsonl")) as f:
        events = [json.loads(line) for line in f]
    return [e for e in events if e["event"] == "eval"][-1]


def test_trex_without_memory_learns_the_cosine_classifier(tmp_path):
    cfg = tiny_config(tmp_path, memory_size=0, max_train_steps=2, multicrop="")
    run = trainer.Run(cfg)
    assert run.ocm is None
    kernel = run.model.get_layer("classifier").kernel
    assert any(v is kernel for v in run.model.trainable_variables)
    before = kernel.numpy().copy()
    run.train()
    assert not np.array_equal(before, kernel.numpy())


def test_trex_run_fine_tunes_into_a_linear_head(tmp_path):
    source = tiny_config(tmp_path, "source", max_train_steps=2)
    trainer.run(source)
    target = config.make_config(model_dir=str(tmp_path / "ft"), resnet_size=18, base_width=4,
                                batch_size=32, val_batch_size=128, train_epochs=1,
                                lr_warmup_epochs=0.0, max_train_steps=1, num_classes=12,
                                pretrained_model_checkpoint_path=source["model_dir"])
    model = trainer.build_model(target, 12)
    prefix = finetune.warm_start(model, source["model_dir"])
    restored = trainer.build_model(source, 10)
    tf.train.Checkpoint(model=restored).restore(prefix).expect_partial()
    for name in ("stem_conv", "stage4_block2_conv2"):
        for got, want in zip(model.get_layer(name).get_weights(),
                             restored.get_layer(name).get_weights()):
            np.testing.assert_array_equal(got, want)
    assert isinstance(model.get_layer("classifier"), keras.layers.Dense)

    # The transfer suite reads the pooled backbone feature, not the projector's output.
    from engine.features import load_backbone
    backbone = load_backbone(source["model_dir"])
    assert backbone.pool_layer == "avg_pool"
    x = np.random.default_rng(0).random((2, 32, 32, 3), np.float32)
    np.testing.assert_allclose(
        backbone.model(x).numpy(),
        keras.Model(restored.inputs, restored.get_layer("avg_pool").output)(x).numpy(),
        rtol=1e-6, atol=1e-6)
    assert backbone.model.output.shape[-1] == 32  # width 4 x 8, not the projector's 16


@pytest.mark.parametrize("overrides, message", [
    (dict(head="linear"), "--pr_hidden_layers applies to the t-ReX head: set --head=trex"),
    (dict(memory_size=-1), "--memory_size must be >= 0"),
    (dict(memory_ema=1.0), "--memory_ema must be < 1, got 1.0"),
    (dict(clf_tau=0.0), "needs --clf_tau > 0"),
    (dict(multicrop="", mixup_type="mixup"), "cannot be combined with --mixup_type"),
    (dict(pr_hidden_layers=-1), "--pr_hidden_layers must be >= 0"),
])
def test_bad_trex_flags(tmp_path, overrides, message):
    with pytest.raises(ConfigError, match=message):
        tiny_config(tmp_path, **overrides)

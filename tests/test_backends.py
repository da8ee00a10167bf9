"""nets/ is Keras-only: the same networks (the assembled ResNet, the t-ReX head) build and run
under the JAX backend (ResNet-26: the bottleneck blocks of ResNet-50, half as many, every
tweak on), each called as Keras' JAX trainer calls a model (a jitted stateless call).
requirements-test.txt pins jax, so CI runs it; skipped only where jax
is absent."""

import importlib.util
import os
import subprocess
import sys

import pytest
from conftest import ROOT

SCRIPT = """
import jax, numpy as np, keras
assert keras.backend.backend() == "jax", keras.backend.backend()
from nets import build_resnet, dropblock_layers


def run(model, x, training):  # as Keras' JAX trainer runs a model: one jitted stateless call
    call = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x, training=training)[0])
    return np.asarray(call([v.value for v in model.trainable_variables],
                           [v.value for v in model.non_trainable_variables], x))


m = build_resnet(26, 10, base_width=8, use_resnet_d=True, use_se_block=True,
                 use_sk_block=True, anti_alias_type="sconv,max", anti_alias_filter_size=3,
                 use_dropblock=True, zero_gamma=True, pool_type="gem", embedding_size=16)
x = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
assert run(m, x, False).shape == (2, 10)
assert np.isfinite(run(m, x, True)).all()
t = build_resnet(18, 5, base_width=8, trex_head=dict(hidden_layers=2, hidden_dim=32,
                                                      bottleneck_dim=16, tau=0.1))
logits = run(t, x, True)
assert logits.shape == (2, 5) and np.isfinite(logits).all() and np.abs(logits).max() <= 10.0001
print("ok", len(dropblock_layers(m)))
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_assembled_network_runs_under_jax():
    # XLA's LLVM at -O0: the ~110 variable initialisers and the two forward passes each
    # compile once; optimising that code costs more than running it here.
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=ROOT,
               XLA_FLAGS="--xla_backend_optimization_level=0 "
                         "--xla_llvm_disable_expensive_passes=true")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("ok")

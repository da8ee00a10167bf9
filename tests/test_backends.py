"""nets/ is Keras-only: the same networks (the assembled ResNet, the t-ReX head) build and run
under the JAX backend (ResNet-26: the bottleneck blocks of ResNet-50, half as many, every
tweak on). requirements-test.txt pins jax, so CI runs it; skipped only where jax
is absent."""

import importlib.util
import os
import subprocess
import sys

import pytest
from conftest import ROOT

SCRIPT = """
import numpy as np, keras
assert keras.backend.backend() == "jax", keras.backend.backend()
from nets import build_resnet, dropblock_layers
m = build_resnet(26, 10, base_width=8, use_resnet_d=True, use_se_block=True,
                 use_sk_block=True, anti_alias_type="sconv,max", anti_alias_filter_size=3,
                 use_dropblock=True, zero_gamma=True, pool_type="gem", embedding_size=16)
x = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
assert m(x, training=False).shape == (2, 10)
assert np.isfinite(np.asarray(m(x, training=True))).all()
t = build_resnet(18, 5, base_width=8, trex_head=dict(hidden_layers=2, hidden_dim=32,
                                                      bottleneck_dim=16, tau=0.1))
logits = np.asarray(t(x, training=True))
assert logits.shape == (2, 5) and np.isfinite(logits).all() and np.abs(logits).max() <= 10.0001
print("ok", len(dropblock_layers(m)))
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_assembled_network_runs_under_jax():
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("ok")

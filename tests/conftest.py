"""Shared test set-up: quiet TensorFlow, the repo on sys.path, and 2 logical CPU devices
(created before TensorFlow initialises) so MirroredStrategy runs on 2 replicas."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(2)])
except RuntimeError:  # already initialised by an earlier import; tests needing 2 skip
    pass

SHARED_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")


@pytest.fixture(autouse=True)
def _float32_policy():
    import keras
    yield
    keras.mixed_precision.set_global_policy("float32")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: trains a network for a few steps")

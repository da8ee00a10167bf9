"""Picks the tf.distribute strategy for a run.

- TF_CONFIG set            -> MultiWorkerMirroredStrategy (one process per worker).
- --num_cpu_replicas=N > 0 -> the CPU is split into N logical devices, MirroredStrategy over
                              them (data parallelism without GPUs; used by the tests).
- --num_gpus=N (>= 1, -1 = all visible) -> MirroredStrategy over N GPUs (also for N=1, as
                              the original after its "fix error when num_gpus=1" commit).
- otherwise                -> the default strategy on whatever device TF picks.
The global batch is split evenly over `num_replicas_in_sync` replicas.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from core.errors import ConfigError


def configure_cpu_replicas(n: int) -> None:
    """Must run before TensorFlow initialises its devices."""
    if n <= 0:
        return
    cpus = tf.config.list_physical_devices("CPU")
    current = tf.config.get_logical_device_configuration(cpus[0])
    if current is not None and len(current) == n:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(n)])
    except RuntimeError:
        raise ConfigError("--num_cpu_replicas must be set before TensorFlow starts "
                          "(devices are already initialised)") from None


# One MirroredStrategy per device set and process: two strategies over the same devices
# number their collective ops independently and their all-reduces collide ("Shape mismatch
# in the collective instance ..."), e.g. when a process runs a second training.
_MIRRORED: dict[tuple, tf.distribute.MirroredStrategy] = {}


def _cross_device_ops(all_reduce_alg: str | None):
    """The original's --all_reduce_alg (None: TensorFlow picks NCCL on GPUs)."""
    if not all_reduce_alg:
        return None
    if all_reduce_alg == "nccl":
        return tf.distribute.NcclAllReduce()
    if all_reduce_alg == "hierarchical_copy":
        return tf.distribute.HierarchicalCopyAllReduce()
    raise ConfigError(f"--all_reduce_alg={all_reduce_alg!r}: use nccl or hierarchical_copy")


def _mirrored(devices: list[str], all_reduce_alg: str | None = None
              ) -> tf.distribute.MirroredStrategy:
    key = (tuple(devices), all_reduce_alg or "")
    if key not in _MIRRORED:
        _MIRRORED[key] = tf.distribute.MirroredStrategy(
            devices, cross_device_ops=_cross_device_ops(all_reduce_alg))
    return _MIRRORED[key]


def make_strategy(num_gpus: int | None, num_cpu_replicas: int = 0,
                  all_reduce_alg: str | None = None) -> tf.distribute.Strategy:
    if os.environ.get("TF_CONFIG"):
        try:
            json.loads(os.environ["TF_CONFIG"])
        except ValueError:
            raise ConfigError("TF_CONFIG is set but is not valid JSON") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    if all_reduce_alg and num_cpu_replicas > 0:
        # NCCL and hierarchical copy are GPU algorithms; CPU replicas reduce on the host.
        raise ConfigError(f"--all_reduce_alg={all_reduce_alg} needs GPUs (--num_gpus), not "
                          "--num_cpu_replicas")
    if num_cpu_replicas > 0:
        configure_cpu_replicas(num_cpu_replicas)
        devices = [d.name for d in tf.config.list_logical_devices("CPU")][:num_cpu_replicas]
        return _mirrored(devices)
    gpus = tf.config.list_physical_devices("GPU")
    if num_gpus is None:
        num_gpus = 1 if gpus else 0
    if num_gpus == -1:
        num_gpus = len(gpus)
    if num_gpus > len(gpus):
        raise ConfigError(f"--num_gpus={num_gpus} but only {len(gpus)} GPU(s) are visible")
    if num_gpus >= 1:
        return _mirrored([f"/gpu:{i}" for i in range(num_gpus)], all_reduce_alg)
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the process that writes checkpoints, summaries and exports."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type in (None, "chief") or (task_type == "worker" and task_id == 0)


def worker_id(strategy: tf.distribute.Strategy) -> int:
    resolver = getattr(strategy, "cluster_resolver", None)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and resolver is not None:
        return int(resolver.task_id or 0)
    return 0


def num_workers(strategy: tf.distribute.Strategy) -> int:
    """Input pipelines = worker processes (one per worker under tf.distribute)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and resolver is not None:
        spec = resolver.cluster_spec()
        return sum(spec.num_tasks(job) for job in spec.jobs if job in ("chief", "worker"))
    return 1

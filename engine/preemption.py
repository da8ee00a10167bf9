"""Preemption and the checkpoint interval: decisions taken around the train loop, between
two `steps_per_loop` calls (the Model Garden habit: an action around the loop, not inside it).

SIGTERM (what preemptible VMs, Kubernetes and Slurm send before killing) and SIGINT (Ctrl-C)
only set a flag; the trainer reads it at the next step boundary, saves a checkpoint and ends
with `core.errors.Preempted` (exit code 75, EX_TEMPFAIL: "rerun the same command"). A second
SIGINT interrupts at once, for a user who does not want to wait.

Under MultiWorkerMirroredStrategy a preemption usually reaches one worker only, and a save
is collective, so every boundary the workers agree: each contributes [preempted, save due]
and the sum over all replicas decides for all. The time-based interval is measured on the
chief's clock only, so the workers never disagree about it. Single-process strategies need
no collective and skip it.
"""

from __future__ import annotations

import signal
import threading
import time

import tensorflow as tf

SIGNALS = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "SIGINT"}


class PreemptionWatch:
    def __init__(self, strategy: tf.distribute.Strategy, chief: bool, every_minutes: float):
        self.strategy = strategy
        self.chief = chief
        self.every_seconds = every_minutes * 60.0
        self.signal_name: str | None = None
        self._previous: dict = {}
        self._last_save_time = time.monotonic()
        self._multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        self._agree_fn = None

    # --- signals
    def install(self) -> "PreemptionWatch":
        if threading.current_thread() is not threading.main_thread():
            return self  # signal handlers can only be set from the main thread
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _on_signal(self, signum, frame):
        if self.signal_name is not None and signum == signal.SIGINT:
            self.uninstall()
            raise KeyboardInterrupt  # the second Ctrl-C: stop now
        self.signal_name = SIGNALS.get(signum, str(signum))

    # --- decisions at a step boundary
    def saved(self) -> None:
        """A checkpoint was just written (for any reason): the time interval restarts."""
        self._last_save_time = time.monotonic()

    def decide(self) -> tuple[bool, bool]:
        """(stop for a preemption, save now) -- the same answer on every worker. The step
        interval (--checkpoint_every_steps) is the trainer's: it is the same everywhere."""
        stop = self.signal_name is not None
        save = (self.chief and self.every_seconds > 0
                and time.monotonic() - self._last_save_time >= self.every_seconds)
        if not self._multi_worker:
            return stop, save or stop
        votes = self._agree(tf.constant([float(stop), float(save)]))
        stop, save = bool(votes[0] > 0), bool(votes[1] > 0)
        if stop and self.signal_name is None:
            self.signal_name = "SIGTERM/SIGINT to another worker"
        return stop, save or stop

    def _agree(self, flags: tf.Tensor):
        if self._agree_fn is None:
            strategy = self.strategy

            @tf.function
            def agree(flags):
                per_replica = strategy.run(tf.identity, args=(flags,))
                return strategy.reduce("SUM", per_replica, axis=None)
            self._agree_fn = agree
        return self._agree_fn(flags).numpy()

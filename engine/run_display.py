"""What a training run prints: a one-line summary at start, and progress lines that carry
the epoch's and the whole run's elapsed time and ETA (chief only).

On a terminal the progress line is rewritten in place; written to a file (a log, `nohup`,
a scheduler's capture) one line is printed every `LOG_INTERVAL_S` seconds and at the end of
each epoch, so a log shows the run's ETA without carriage-return noise.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

LOG_INTERVAL_S = 30.0


def clock(seconds: float | None) -> str:
    """h:mm:ss ("?" when unknown)."""
    if seconds is None:
        return "?"
    s = int(round(max(seconds, 0.0)))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class RunClock:
    """The run's elapsed time (this process) and ETA: the training steps left at the
    seconds per step measured so far in this process, plus the evaluations still due at
    their measured mean (none measured yet: counted as 0 and said so with a '+')."""

    def __init__(self, total_steps: int, now: Callable[[], float] = time.time):
        self.total_steps = total_steps
        self.now = now
        self.start = now()
        self.train_seconds = 0.0
        self.train_steps = 0
        self.eval_seconds: list[float] = []

    def trained(self, steps: int, seconds: float) -> None:
        self.train_steps += steps
        self.train_seconds += seconds

    def evaluated(self, seconds: float) -> None:
        self.eval_seconds.append(seconds)

    def eta(self, step: int, evals_left: int) -> float | None:
        if not self.train_steps:
            return None
        left = (self.total_steps - step) * self.train_seconds / self.train_steps
        if self.eval_seconds:
            left += evals_left * sum(self.eval_seconds) / len(self.eval_seconds)
        return left

    def text(self, step: int, evals_left: int) -> str:
        eta = self.eta(step, evals_left)
        unmeasured = "+" if evals_left and not self.eval_seconds and eta is not None else ""
        return (f"run {clock(self.now() - self.start)} elapsed, ETA {clock(eta)}{unmeasured}"
                f" (step {step}/{self.total_steps})")


class EpochProgress:
    """One epoch's progress line: step, loss, top-1, LR, img/s, epoch ETA and the run's
    elapsed time and ETA (`RunClock`). Prints only on the chief."""

    def __init__(self, epoch: int, epochs: int, steps: int, start_step: int, chief: bool,
                 run_clock: RunClock | None = None, run_step: Callable[[], int] | None = None,
                 evals_left: Callable[[], int] | None = None, stream: TextIO | None = None,
                 now: Callable[[], float] = time.time, stop_at: int | None = None):
        self.epoch, self.epochs, self.steps = epoch, epochs, steps
        self.stop_at = steps if stop_at is None else stop_at  # a run may end mid-epoch
        self.chief, self.run_clock = chief, run_clock
        self.run_step = run_step or (lambda: 0)
        self.evals_left = evals_left or (lambda: 0)
        self.stream = stream or sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.now = now
        self.start, self.start_step = now(), start_step
        self.last_line_at = self.start
        self.width = 0

    def line(self, done: int, values: list) -> str:
        v = dict(values)
        parts = [f"epoch {self.epoch + 1}/{self.epochs} step {done}/{self.steps}"]
        if "loss" in v:
            parts.append(f"loss {v['loss']:.4f}")
        if "top1" in v:
            parts.append(f"top-1 {v['top1']:.4f}")
        if "lr" in v:
            parts.append(f"lr {v['lr']:.4g}")
        if "img/s" in v:
            parts.append(f"{v['img/s']:.0f} img/s")
        elapsed = self.now() - self.start
        rate = (done - self.start_step) / elapsed if elapsed > 0 else 0.0
        epoch_eta = (self.stop_at - done) / rate if rate > 0 else None
        parts.append(f"epoch {clock(elapsed)} elapsed, ETA {clock(epoch_eta)}")
        if self.run_clock is not None:
            parts.append(self.run_clock.text(self.run_step(), self.evals_left()))
        return " | ".join(parts)

    def _emit(self, text: str, final: bool) -> None:
        if self.tty:
            pad = max(self.width - len(text), 0)
            self.width = len(text)
            self.stream.write("\r" + text + " " * pad + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def update(self, done: int, values: list) -> None:
        if not self.chief:
            return
        if self.tty or self.now() - self.last_line_at >= LOG_INTERVAL_S:
            self.last_line_at = self.now()
            self._emit(self.line(done, values), final=False)

    def close(self, done: int, values: list) -> None:
        if self.chief:
            self._emit(self.line(done, values), final=True)


def network_words(cfg: dict) -> str:
    """"ResNet-50 v2 (D, SK, BL a2 b4, anti-alias sconv, SE, DropBlock, zero-gamma), width
    64"-style description of a config's network."""
    tweaks = []
    if cfg.get("use_resnet_d"):
        tweaks.append("D")
    if cfg.get("use_sk_block"):
        tweaks.append("SK")
    if float(cfg.get("bl_alpha") or 1) > 1:
        tweaks.append(f"BL a{float(cfg['bl_alpha']):g} b{float(cfg['bl_beta']):g}")
    if cfg.get("anti_alias_type"):
        tweaks.append(f"anti-alias {cfg['anti_alias_type']}")
    if cfg.get("use_se_block"):
        tweaks.append("SE")
    if cfg.get("use_dropblock"):
        tweaks.append("DropBlock")
    if cfg.get("zero_gamma"):
        tweaks.append("zero-gamma")
    if cfg.get("head") == "trex":
        tweaks.append("t-ReX head")
    words = f"ResNet-{cfg['resnet_size']} v{cfg['resnet_version']}"
    if tweaks:
        words += f" ({', '.join(tweaks)})"
    return words + f", width {cfg['base_width']}"


def summary_line(cfg: dict, *, params: int, macs: int | None, image_size: int,
                 data: str, steps_per_epoch: int, total_steps: int,
                 start_step: int, replicas: int, precision: str) -> str:
    """The one line a run prints before training: network, parameters, GMACs per image,
    data, steps, replicas, precision."""
    macs_words = f"{macs / 1e9:.2f} GMACs/image at {image_size} px" if macs else \
        "GMACs not counted"
    steps = f"{total_steps} steps ({steps_per_epoch}/epoch x {cfg['train_epochs']} epochs)"
    if start_step:
        steps += f", {total_steps - start_step} left"
    return (f"run: {network_words(cfg)} | {params / 1e6:.2f} M params | {macs_words} | "
            f"{data} | {steps} | global batch "
            f"{cfg['batch_size']} on {replicas} replica(s) | {precision}")

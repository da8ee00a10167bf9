"""PNG figures of the evaluation reports (matplotlib, headless Agg backend): robustness
error per corruption and error versus severity, and reliability diagrams (Guo et al. 2017,
"On Calibration of Modern Neural Networks", Fig. 1) for clean and corrupted data."""

from __future__ import annotations

import io
import os

import numpy as np

from core import fs


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")  # no display on training machines
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path):
    fs.makedirs(os.path.dirname(path) or ".")
    fig.tight_layout()
    png = io.BytesIO()  # matplotlib writes local files only: the bytes go through core/fs
    fig.savefig(png, format="png", dpi=110)
    _pyplot().close(fig)
    fs.write_bytes(path, png.getvalue())
    return path


def robustness_figures(report: dict, out_dir: str, title: str = "") -> list[str]:
    """errors_per_corruption.png and error_vs_severity.png of a `engine.robustness` report."""
    plt = _pyplot()
    names = list(report["corruptions"])
    errors = [100 * report["corruptions"][n]["error"] for n in names]
    clean = 100 * report["clean"]["error"]

    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(names) + 2), 4))
    ax.bar(range(len(names)), errors, color="tab:blue")
    ax.axhline(clean, color="black", linestyle="--", label=f"clean {clean:.1f} %")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right")
    ax.set_ylabel("top-1 error over severities (%)")
    ax.set_title(title or "error per corruption")
    ax.legend()
    paths = [_save(fig, os.path.join(out_dir, "errors_per_corruption.png"))]

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in names:
        sev = report["corruptions"][name]["severity_errors"]
        ax.plot([0] + list(sev), [clean] + [100 * e for e in sev.values()], alpha=0.5,
                linewidth=1, label=name)
    mean = report["severity_errors"]
    ax.plot([0] + list(mean), [clean] + [100 * e for e in mean.values()], color="black",
            linewidth=3, label="mean")
    ax.set_xlabel("severity (0 = clean)")
    ax.set_ylabel("top-1 error (%)")
    ax.set_title(title or "error versus severity")
    ax.legend(fontsize=6, ncol=2)
    paths.append(_save(fig, os.path.join(out_dir, "error_vs_severity.png")))
    return paths


def reliability_diagram(reliability: dict, path: str, title: str = "") -> str:
    """Accuracy and mean confidence per equal-width confidence bin, with the bin counts.

    reliability: {"count", "confidence", "accuracy"} lists per bin (``metrics.Accumulator``
    with ``reliability=True``); empty bins are left out."""
    plt = _pyplot()
    count = np.asarray(reliability["count"], np.float64)
    num_bins = len(count)
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    centers = (edges[:-1] + edges[1:]) / 2
    full = count > 0
    acc = np.asarray(reliability["accuracy"], np.float64)
    conf = np.asarray(reliability["confidence"], np.float64)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.5, 5.5), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    width = 1.0 / num_bins
    top.bar(centers[full], acc[full], width=width, edgecolor="black", label="accuracy")
    top.bar(centers[full], conf[full] - acc[full], bottom=acc[full], width=width,
            color="tab:red", alpha=0.35, edgecolor="tab:red", label="gap to confidence")
    top.plot([0, 1], [0, 1], "k--", linewidth=1)
    top.set_ylabel("accuracy")
    top.set_ylim(0, 1)
    top.set_title(title)
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(centers, count / max(count.sum(), 1), width=width, color="gray")
    bottom.set_xlabel("confidence (max softmax probability)")
    bottom.set_ylabel("fraction")
    bottom.set_xlim(0, 1)
    return _save(fig, path)

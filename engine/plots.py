"""PNG figures of the evaluation reports (matplotlib, headless Agg backend): robustness
error per corruption and error versus severity, and reliability diagrams (Guo et al. 2017,
"On Calibration of Modern Neural Networks", Fig. 1) for clean and corrupted data.

matplotlib is optional (the [plots] extra): without it `missing()` says so and the
evaluation modes write their reports without figures, with one `warning:` line."""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from core import fs

if TYPE_CHECKING:  # matplotlib is the optional [plots] extra
    from matplotlib.figure import Figure


def missing() -> str | None:
    """Why no figure can be drawn (matplotlib, the [plots] extra, is not installed), else
    None. The evaluation modes then skip their figures with one warning line."""
    from core.extras import installed
    from core.extras import missing as missing_message
    if installed("matplotlib"):
        return None
    return missing_message("drawing the PNG figures", "matplotlib", "plots")


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        from core.errors import UserError
        raise UserError(missing()) from None
    matplotlib.use("Agg")  # no display on training machines
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig: Figure, target: str | BinaryIO) -> None:
    """Writes ``fig`` as PNG to a path or a binary file object, then closes it."""
    fig.tight_layout()
    fig.savefig(target, dpi=110, format="png")
    _pyplot().close(fig)


def _save(fig, path):
    fs.makedirs(os.path.dirname(path) or ".")
    png = io.BytesIO()  # matplotlib writes local files only: the bytes go through core/fs
    save_figure(fig, png)
    fs.write_bytes(path, png.getvalue())
    return path


# error_vs_severity.png has up to 19 curves and tab10 only 10 colours: colour, line style and
# marker cycle at coprime lengths (10, 4, 7), so no two of the first 140 curves look alike.
_LINESTYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "v", "D", "x", "+")


def curve_styles(count: int) -> list[dict]:
    """``count`` distinct (color, linestyle, marker) keyword sets for ``ax.plot``."""
    return [{"color": f"C{i % 10}", "linestyle": _LINESTYLES[i % 4],
             "marker": _MARKERS[i % 7]} for i in range(count)]


def errors_figure(report: dict, baseline: dict | None = None, title: str = "") -> Figure:
    """Error per corruption; with a baseline report, its bar next to ours."""
    plt = _pyplot()
    names = list(report["corruptions"])
    x = np.arange(len(names))
    errors = [100 * report["corruptions"][n]["error"] for n in names]
    clean = 100 * report["clean"]["error"]
    fig, ax = plt.subplots(figsize=(max(6.0, (0.7 if baseline else 0.45) * len(names) + 2), 4))
    if baseline is None:
        ax.bar(x, errors, color="tab:blue")
    else:
        label = report["normaliser"].removeprefix("baseline:")
        base = [100 * baseline["corruptions"][n]["error"] for n in names]
        base_clean = 100 * baseline["clean"]["error"]
        ax.bar(x - 0.2, errors, width=0.4, color="tab:blue", label="this run")
        ax.bar(x + 0.2, base, width=0.4, color="tab:orange", label=f"baseline {label}")
        ax.axhline(base_clean, color="tab:orange", linestyle=":",
                   label=f"baseline clean {base_clean:.1f} %")
    ax.axhline(clean, color="black", linestyle="--", label=f"clean {clean:.1f} %")
    ax.set_xticks(x, names, rotation=60, ha="right")
    ax.set_ylabel("top-1 error over severities (%)")
    ax.set_title(title or "error per corruption")
    ax.legend(fontsize=7)
    return fig


def severity_figure(report: dict, title: str = "") -> Figure:
    """Error versus severity: one curve per corruption (distinct styles) and the mean."""
    plt = _pyplot()
    clean = 100 * report["clean"]["error"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    names = list(report["corruptions"])
    for name, style in zip(names, curve_styles(len(names))):
        sev = report["corruptions"][name]["severity_errors"]
        ax.plot([0] + list(sev), [clean] + [100 * e for e in sev.values()], alpha=0.7,
                linewidth=1, markersize=4, label=name, **style)
    mean = report["severity_errors"]
    ax.plot([0] + list(mean), [clean] + [100 * e for e in mean.values()], color="black",
            linewidth=3, label="mean")
    ax.set_xlabel("severity (0 = clean)")
    ax.set_ylabel("top-1 error (%)")
    ax.set_title(title or "error versus severity")
    ax.legend(fontsize=6, ncol=2)
    return fig


def robustness_figures(report: dict, out_dir: str, title: str = "",
                       baseline: dict | None = None) -> list[str]:
    """errors_per_corruption.png (next to ``baseline``'s errors when given) and
    error_vs_severity.png of a `engine.robustness` report."""
    return [_save(errors_figure(report, baseline, title),
                  os.path.join(out_dir, "errors_per_corruption.png")),
            _save(severity_figure(report, title), os.path.join(out_dir, "error_vs_severity.png"))]


def reliability_diagram(reliability: dict, path: str, title: str = "") -> str:
    """`reliability_figure` written to ``path``."""
    return _save(reliability_figure(reliability, title), path)


def reliability_figure(reliability: dict, title: str = "") -> Figure:
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
    return fig

"""Corruption-robustness arithmetic: CE, mCE, relative mCE (Hendrycks & Dietterich, ICLR
2019, "Benchmarking Neural Network Robustness to Common Corruptions and Perturbations").

For a corruption c, the error E_c is pooled over its severities (wrong / count summed over
s = 1..5). CE_c = E_c / E_c^norm, where the normaliser is AlexNet (ImageNet; the published
constants) or a baseline run's report (any other dataset: say which). Relative CE_c =
(E_c - E_clean) / (E_c^norm - E_clean^norm). mCE averages CE_c over the 15 standard
corruptions -- the published benchmark -- and, separately labelled, over all 19 as the
original assembled-cnn did (15 + the 4 "validation" corruptions of Hendrycks' code).
"""

from __future__ import annotations

import numpy as np

from core.errors import ConfigError
from preprocessing.corruptions.names import ALL, STANDARD


# AlexNet's pooled top-1 error per corruption: the 15 from Hendrycks' evaluation code, the 4
# extra from assembled-cnn's mce/eval_robustness.py (its ALEXNET_CE).
ALEXNET_ERROR = {
    "gaussian_noise": 0.886428, "shot_noise": 0.894468, "impulse_noise": 0.922640,
    "defocus_blur": 0.819880, "glass_blur": 0.826268, "motion_blur": 0.785948,
    "zoom_blur": 0.798360, "snow": 0.866816, "frost": 0.826572, "fog": 0.819324,
    "brightness": 0.564592, "contrast": 0.853204, "elastic_transform": 0.646056,
    "pixelate": 0.717840, "jpeg_compression": 0.606500,
    "speckle_noise": 0.8454, "gaussian_blur": 0.7871, "spatter": 0.7175, "saturate": 0.6583,
}
# AlexNet's clean top-1 error (torchvision AlexNet, 56.52 % top-1: the model the constants
# above were measured with); used only for relative CE.
ALEXNET_CLEAN_ERROR = 0.4348
ALEXNET = "AlexNet (Hendrycks & Dietterich 2019 constants; ImageNet only)"


def pooled_error(per_severity: dict) -> float:
    """E_c from {severity: {"top1", "count"}}: wrong images over all severities / images."""
    wrong = sum((1.0 - r["top1"]) * r["count"] for r in per_severity.values())
    count = sum(r["count"] for r in per_severity.values())
    return wrong / count if count else float("nan")


def _ratio(num, den):
    # A baseline that no corruption hurts (error equal to its clean error) has no relative
    # CE: reported as None ("--"), never as inf.
    return num / den if abs(den) > 1e-12 else None


def _mean(values):
    return float(np.mean(values)) if values and None not in values else None


def summarize(results: dict, clean: dict, baseline: dict | None = None,
              baseline_name: str = "") -> dict:
    """The robustness report.

    results: {corruption: {severity (int): eval result with "top1", "count" (, "ece")}}.
    clean: the clean eval result. baseline: a previous report (``summarize`` output, e.g.
    of the vanilla model) to normalise by instead of AlexNet; it must cover every evaluated
    corruption. mCE / relative mCE over 15 (19) are None unless all 15 (19) were evaluated.
    """
    unknown = sorted(set(results) - set(ALL))
    if unknown:
        raise ConfigError(f"unknown corruption(s) {', '.join(unknown)}")
    if baseline is not None:
        missing = [c for c in results if c not in baseline.get("corruptions", {})]
        if missing:
            raise ConfigError(f"baseline report {baseline_name} has no result for "
                              f"{', '.join(missing)}")
        norm_error = {c: baseline["corruptions"][c]["error"] for c in results}
        norm_clean = baseline["clean"]["error"]
        normaliser = f"baseline run {baseline_name}"
    else:
        norm_error, norm_clean, normaliser = ALEXNET_ERROR, ALEXNET_CLEAN_ERROR, ALEXNET
    clean_error = 1.0 - clean["top1"]

    corruptions = {}
    for name in (c for c in ALL if c in results):
        per_severity = results[name]
        error = pooled_error(per_severity)
        corruptions[name] = {
            "severity_errors": {int(s): 1.0 - r["top1"] for s, r in sorted(per_severity.items())},
            "severity_ece": {int(s): r["ece"] for s, r in sorted(per_severity.items())
                             if "ece" in r},
            "error": error,
            "ce": _ratio(error, norm_error[name]),
            "relative_ce": _ratio(error - clean_error, norm_error[name] - norm_clean),
        }

    def over(group, key):
        if not all(c in corruptions for c in group):
            return None
        return _mean([corruptions[c][key] for c in group])

    severities = sorted({s for c in corruptions.values() for s in c["severity_errors"]})
    return {
        "normaliser": normaliser,
        "clean": {"error": clean_error, "top1": clean["top1"], "ece": clean.get("ece"),
                  "count": clean.get("count")},
        "corruptions": corruptions,
        "mce_15": over(STANDARD, "ce"),
        "mce_19": over(ALL, "ce"),
        "relative_mce_15": over(STANDARD, "relative_ce"),
        "relative_mce_19": over(ALL, "relative_ce"),
        "mean_error_15": over(STANDARD, "error"),
        "mean_error_19": over(ALL, "error"),
        "mce_evaluated": _mean([c["ce"] for c in corruptions.values()]),
        "mean_error_evaluated": _mean([c["error"] for c in corruptions.values()]),
        "evaluated": list(corruptions),
        "severity_errors": {s: _mean([c["severity_errors"][s] for c in corruptions.values()
                                      if s in c["severity_errors"]]) for s in severities},
    }


def _pct(value):
    return "  --  " if value is None else f"{100 * value:6.2f}"


def format_table(report: dict) -> str:
    """The report as a fixed-width text table (errors and CEs in %)."""
    severities = list(report["severity_errors"])
    head = (f"{'corruption':<18}" + "".join(f"   s{s}  " for s in severities)
            + "  error     CE  rel.CE")
    lines = [f"normalised by {report['normaliser']}",
             f"clean error {_pct(report['clean']['error'])} %", head, "-" * len(head)]
    for name, c in report["corruptions"].items():
        lines.append(f"{name:<18}" + "".join(f" {_pct(c['severity_errors'].get(s))}"
                                             for s in severities)
                     + f" {_pct(c['error'])} {_pct(c['ce'])} {_pct(c['relative_ce'])}")
    lines.append("-" * len(head))
    lines.append(f"{'per severity':<18}" + "".join(f" {_pct(report['severity_errors'][s])}"
                                                   for s in severities))
    for label, n in (("15 standard", 15), ("all 19 (as assembled-cnn)", 19)):
        lines.append(f"mCE {label}: {_pct(report[f'mce_{n}'])} % | relative mCE "
                     f"{_pct(report[f'relative_mce_{n}'])} % | mean error "
                     f"{_pct(report[f'mean_error_{n}'])} %")
    if report["mce_15"] is None:
        lines.append(f"mCE over the {len(report['evaluated'])} evaluated corruption(s): "
                     f"{_pct(report['mce_evaluated'])} % (not comparable with published mCE)")
    return "\n".join(lines)

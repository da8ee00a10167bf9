"""Corruption-robustness arithmetic: CE, mCE, relative mCE (Hendrycks & Dietterich, ICLR
2019, "Benchmarking Neural Network Robustness to Common Corruptions and Perturbations").

For a corruption c, the error E_c is pooled over its severities (wrong / count summed over
s = 1..5). CE_c = E_c / E_c^norm, where the normaliser is AlexNet (ImageNet; the published
constants) or a baseline run's report (any other dataset: say which). Relative CE_c =
(E_c - E_clean) / (E_c^norm - E_clean^norm). mCE averages CE_c over the 15 standard
corruptions -- the published benchmark -- and, separately labelled, over all 19 as the
original assembled-cnn did (15 + the 4 "validation" corruptions of Hendrycks' code).

The report's ``normaliser`` names what divided the errors: ``alexnet_imagenet`` or
``baseline:<path>``. AlexNet's constants on data that is not ImageNet give numbers that look
like published mCEs but are not: the report then carries a ``warnings`` entry (printed as a
``warning:`` line by the caller). Relative CE_c is undefined (None, "n/a") where the
normaliser's gap E_c^norm - E_clean^norm is below ``MIN_RELATIVE_GAP`` (1 percentage
point): a gap of a few images' worth (a small subset, a baseline hardly hurt by a
corruption) makes the ratio noise over noise (1216 was reported). Relative mCE averages the
defined entries only and reports how many it excluded; it is None when none is defined.
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
# The data AlexNet's constants were measured on: the registry's two ImageNet entries and the
# TFDS ImageNet-C (what --robustness=tfds:NAME names). Anything else gets a warning.
IMAGENET_DATA = ("imagenet", "imagenet2012", "imagenet2012_corrupted")
# Smallest normaliser gap (corrupted - clean error, as a fraction) for which relative CE is
# reported; AlexNet's smallest is 0.13 (brightness), so only baselines can fall below it.
MIN_RELATIVE_GAP = 0.01


def pooled_error(per_severity: dict) -> float:
    """E_c from {severity: {"top1", "count"}}: wrong images over all severities / images."""
    wrong = sum((1.0 - r["top1"]) * r["count"] for r in per_severity.values())
    count = sum(r["count"] for r in per_severity.values())
    return wrong / count if count else float("nan")


def _ratio(num, den):
    # A baseline with no error on a corruption gives no CE: None ("--"), never inf.
    return num / den if abs(den) > 1e-12 else None


def _mean(values):
    return float(np.mean(values)) if values and None not in values else None


def _relative(error, clean_error, norm_error, norm_clean):
    """(relative CE or None, why it is undefined or None)."""
    gap = norm_error - norm_clean
    if gap < MIN_RELATIVE_GAP:  # also a negative gap: the normaliser improved when corrupted
        return None, (f"normaliser's corrupted - clean error gap {100 * gap:.2f} pp is below "
                      f"the {100 * MIN_RELATIVE_GAP:g} pp minimum")
    return (error - clean_error) / gap, None


def alexnet_warning(dataset: str | None) -> str | None:
    """The warning for AlexNet's ImageNet constants normalising ``dataset`` (None: fine)."""
    if dataset in IMAGENET_DATA:
        return None
    what = f"dataset {dataset!r}" if dataset else "data that was not named"
    return (f"CE is normalised by AlexNet's ImageNet errors but the evaluated data is {what}, "
            "not ImageNet: CE and mCE are not comparable with published ImageNet-C numbers; "
            "normalise by another run with --robustness_baseline=<its report.json>")


def summarize(results: dict, clean: dict, baseline: dict | None = None,
              baseline_name: str = "", dataset: str | None = None) -> dict:
    """The robustness report.

    results: {corruption: {severity (int): eval result with "top1", "count" (, "ece")}}.
    clean: the clean eval result. baseline: a previous report (``summarize`` output, e.g.
    of the vanilla model) to normalise by instead of AlexNet; it must cover every evaluated
    corruption. dataset: the evaluated data (registry dataset_name or TFDS corrupted set),
    checked against AlexNet's ImageNet; None (not named) warns too. mCE / relative mCE over
    15 (19) are None unless all 15 (19) were evaluated.
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
        normaliser, description = f"baseline:{baseline_name}", "another run's --robustness report"
        warnings = []
    else:
        norm_error, norm_clean = ALEXNET_ERROR, ALEXNET_CLEAN_ERROR
        normaliser, description = "alexnet_imagenet", ALEXNET
        warnings = [w for w in [alexnet_warning(dataset)] if w]
    clean_error = 1.0 - clean["top1"]

    corruptions = {}
    for name in (c for c in ALL if c in results):
        per_severity = results[name]
        error = pooled_error(per_severity)
        relative, why = _relative(error, clean_error, norm_error[name], norm_clean)
        corruptions[name] = {
            "severity_errors": {int(s): 1.0 - r["top1"] for s, r in sorted(per_severity.items())},
            "severity_ece": {int(s): r["ece"] for s, r in sorted(per_severity.items())
                             if "ece" in r},
            "error": error,
            "ce": _ratio(error, norm_error[name]),
            "relative_ce": relative,
            "relative_ce_undefined": why,
        }

    def over(group, key):
        if not all(c in corruptions for c in group):
            return None
        return _mean([corruptions[c][key] for c in group])

    def relative_over(group):
        # (mean of the defined relative CEs, how many were undefined); (None, None) when the
        # group was not fully evaluated.
        if not all(c in corruptions for c in group):
            return None, None
        defined = [corruptions[c]["relative_ce"] for c in group
                   if corruptions[c]["relative_ce"] is not None]
        return _mean(defined), len(group) - len(defined)

    severities = sorted({s for c in corruptions.values() for s in c["severity_errors"]})
    (rel_15, excluded_15), (rel_19, excluded_19) = relative_over(STANDARD), relative_over(ALL)
    return {
        "normaliser": normaliser,
        "normaliser_description": description,
        "dataset": dataset,
        "warnings": warnings,
        "relative_ce_min_gap": MIN_RELATIVE_GAP,
        "clean": {"error": clean_error, "top1": clean["top1"], "ece": clean.get("ece"),
                  "count": clean.get("count")},
        "corruptions": corruptions,
        "mce_15": over(STANDARD, "ce"),
        "mce_19": over(ALL, "ce"),
        "relative_mce_15": rel_15,
        "relative_mce_15_excluded": excluded_15,
        "relative_mce_19": rel_19,
        "relative_mce_19_excluded": excluded_19,
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


def _relative_mce(report, n):
    value, excluded = report[f"relative_mce_{n}"], report[f"relative_mce_{n}_excluded"]
    if excluded is None:  # the group was not fully evaluated
        return f"relative mCE {_pct(None)} %"
    if value is None:
        return f"relative mCE undefined (all {n} n/a)"
    return (f"relative mCE {_pct(value)} %"
            + (f" (over {n - excluded} of {n}: {excluded} n/a excluded)" if excluded else ""))


def format_table(report: dict) -> str:
    """The report as a fixed-width text table (errors and CEs in %; n/a = undefined)."""
    severities = list(report["severity_errors"])
    head = (f"{'corruption':<18}" + "".join(f"   s{s}  " for s in severities)
            + "  error     CE  rel.CE")
    lines = [f"normaliser: {report['normaliser']} ({report['normaliser_description']})"]
    lines += [f"warning: {w}" for w in report["warnings"]]
    lines += [f"clean error {_pct(report['clean']['error'])} %", head, "-" * len(head)]
    undefined = []
    for name, c in report["corruptions"].items():
        relative = _pct(c["relative_ce"])
        if c["relative_ce_undefined"]:
            relative = "   n/a"
            undefined.append(name)
        lines.append(f"{name:<18}" + "".join(f" {_pct(c['severity_errors'].get(s))}"
                                             for s in severities)
                     + f" {_pct(c['error'])} {_pct(c['ce'])} {relative}")
    lines.append("-" * len(head))
    lines.append(f"{'per severity':<18}" + "".join(f" {_pct(report['severity_errors'][s])}"
                                                   for s in severities))
    for label, n in (("15 standard", 15), ("all 19 (as assembled-cnn)", 19)):
        lines.append(f"mCE {label}: {_pct(report[f'mce_{n}'])} % | {_relative_mce(report, n)}"
                     f" | mean error {_pct(report[f'mean_error_{n}'])} %")
    if report["mce_15"] is None:
        lines.append(f"mCE over the {len(report['evaluated'])} evaluated corruption(s): "
                     f"{_pct(report['mce_evaluated'])} % (not comparable with published mCE)")
    if undefined:
        lines.append(f"rel.CE n/a (undefined) for {', '.join(undefined)}: the normaliser's "
                     f"corrupted - clean error gap is below the "
                     f"{100 * report['relative_ce_min_gap']:g} pp minimum")
    return "\n".join(lines)

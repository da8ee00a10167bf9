"""Transfer suite: linear probes (and optional Recall@k retrieval) of one pretrained
checkpoint's frozen features on several datasets (spec trex.md §5; assemble-resnet.md §5).

    python -m engine.transfer_suite --pretrained=RUN_DIR --targets=name[=data_dir],...
        --out_dir=DIR [--cache_dir=DIR] [--probe=sklearn|tf|auto] [--seed=0]
        [--retrieval_targets=name[=data_dir],...] [--recall_k=1,2,4,8] [--metric=cosine]
        [--batch_size=128] [--preprocessing_type=TYPE] [--max_iter=2000] [--tf_epochs=100]
        [--large_threshold=200000] [--val_fraction=0.2] [--exclude_from_mean=...]

Per target: features cached once (``engine.features``), the probe protocol
(``engine.linear_probe``: seeded 20 % per-class val split, grid search, retrain on
trainval, test top-1 and mean per-class accuracy, log-odds). ``--probe=auto`` uses
scikit-learn up to ``--large_threshold`` trainval images and the TensorFlow SGD probe above
(IN-1K / iNat-size sets, where lbfgs on millions of rows is impractical). The summary is
the mean log-odds and the plain mean top-1 over the targets, except those named in
``--exclude_from_mean`` (IN-1K, as in the original's print_results.py).
Retrieval targets (a --targets key, or another name[=data_dir]) are scored by Recall@k on
their test-split features, every image a query against all the others.

Writes ``<out_dir>/transfer.json`` (everything, search trials included) and
``<out_dir>/transfer.md`` (the tables), and prints the tables. Flags are argparse so that
importing this module never defines absl flags next to main_classification's. Bad input
-> one ``error: ...`` line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError, UserError
from datasets.errors import DataError

if TYPE_CHECKING:  # the probes load only when the suite runs
    from engine.linear_probe import SklearnProbe, TFProbe

PROBES = ("auto", "sklearn", "tf")
LARGE_THRESHOLD = 200_000
EXCLUDE_FROM_MEAN = "imagenet,imagenet2012"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one error line and exit 2, like every other bad input
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    from core.console import prog
    p = _Parser(prog=prog("python -m engine.transfer_suite"),
                description="Linear-probe transfer suite of a pretrained run.")
    p.add_argument("--pretrained", required=True,
                   help="run directory (latest, else best checkpoint) or checkpoint prefix")
    p.add_argument("--targets", required=True,
                   help="comma-separated name[=data_dir] (names as --dataset_name takes)")
    p.add_argument("--out_dir", required=True, help="where transfer.json/.md are written")
    p.add_argument("--cache_dir", default="", help="feature cache (default <out_dir>/features)")
    p.add_argument("--probe", default="auto", choices=PROBES)
    p.add_argument("--large_threshold", type=int, default=LARGE_THRESHOLD,
                   help="--probe=auto: trainval sizes above this use the TF probe")
    p.add_argument("--seed", type=int, default=0, help="seed of the val split and TF probe")
    p.add_argument("--val_fraction", type=float, default=0.2)
    p.add_argument("--max_iter", type=int, default=2000, help="lbfgs iterations per fit")
    p.add_argument("--tf_epochs", type=int, default=100, help="epochs of each TF probe run")
    p.add_argument("--retrieval_targets", default="",
                   help="comma-separated name[=data_dir] scored by Recall@k")
    p.add_argument("--recall_k", default="1,2,4,8")
    p.add_argument("--metric", default="cosine", choices=("cosine", "euclidean"))
    p.add_argument("--chunk_size", type=int, default=1024, help="retrieval queries per chunk")
    p.add_argument("--batch_size", type=int, default=128, help="feature extraction batch")
    p.add_argument("--preprocessing_type", default="",
                   help="override of the pretrained run's eval preprocessing")
    p.add_argument("--exclude_from_mean", default=EXCLUDE_FROM_MEAN,
                   help="comma-separated target names left out of the means")
    return p


def _check_args(args) -> None:
    from engine import retrieval
    for name in ("batch_size", "large_threshold", "tf_epochs", "chunk_size", "max_iter"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name} must be >= 1, got {getattr(args, name)}")
    if not 0.0 < args.val_fraction < 1.0:
        raise ConfigError(f"--val_fraction must be in (0, 1), got {args.val_fraction}")
    try:
        args.ks = retrieval.parse_ks(args.recall_k)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def choose_probe(kind: str, n_trainval: int, threshold: int, num_classes: int,
                 args: argparse.Namespace) -> SklearnProbe | TFProbe:
    from engine import linear_probe
    if kind == "auto":
        kind = "tf" if n_trainval > threshold else "sklearn"
    if kind == "tf":
        return linear_probe.TFProbe(num_classes=num_classes, epochs=args.tf_epochs,
                                    seed=args.seed)
    return linear_probe.SklearnProbe(max_iter=args.max_iter)


def _fmt_params(params: dict) -> str:
    if "C" in params:
        return f"{params['C']:.3g}"
    return f"lr={params['lr']:g}, wd={params['wd']:g}"


def _pct(x) -> str:
    return "-" if x is None else f"{100.0 * x:.2f}"


def format_tables(report: dict) -> str:
    rows = ["| dataset | classes | n_trainval | n_test | probe | best C | val top-1 | "
            "test top-1 | mean per-class | log-odds |",
            "|---|---:|---:|---:|---|---|---:|---:|---:|---:|"]
    for key, r in report["datasets"].items():
        rows.append(f"| {key} | {r['classes']} | {r['n_trainval']} | {r['n_test']} | "
                    f"{r['probe']} | {_fmt_params(r['params'])} | {_pct(r['val_top1'])} | "
                    f"{_pct(r['test_top1'])} | {_pct(r['test_mean_per_class'])} | "
                    f"{r['log_odds']:.4f} |")
    over = report["mean_over"]
    lines = [f"Transfer of {report['pretrained']} ({report['pool_layer']} features, "
             f"{report['preprocessing']}, seed {report['seed']})", ""] + rows + [""]
    if report["mean_log_odds"] is None:
        lines.append("mean log-odds / mean top-1: no dataset left after --exclude_from_mean")
    else:
        lines.append(f"mean log-odds: {report['mean_log_odds']:.4f} | mean top-1: "
                     f"{_pct(report['mean_top1'])} % (over {len(over)} dataset(s): "
                     f"{', '.join(over)})")
    if report.get("retrieval"):
        ks = report["recall_k"]
        lines += ["", f"Retrieval Recall@k ({report['metric']}, test split, each image a "
                      "query against all the others)", "",
                  "| dataset | queries | " + " | ".join(f"R@{k}" for k in ks) + " |",
                  "|---|---:|" + "---:|" * len(ks)]
        for key, r in report["retrieval"].items():
            lines.append(f"| {key} | {r['queries']} | " +
                         " | ".join(_pct(r["recall"][str(k)]) for k in ks) + " |")
    return "\n".join(lines)


def run(args: argparse.Namespace, log: Callable[[str], Any] = print) -> dict:
    import numpy as np

    from engine import features, linear_probe, retrieval
    _check_args(args)
    targets = features.parse_targets(args.targets)
    extra = [t for t in features.parse_targets(args.retrieval_targets, "--retrieval_targets")
             if t.key not in {x.key for x in targets}]
    retrieval_keys = [t.key for t in features.parse_targets(args.retrieval_targets,
                                                            "--retrieval_targets")]
    excluded = {t.strip() for t in args.exclude_from_mean.split(",") if t.strip()}
    cache_dir = args.cache_dir or os.path.join(args.out_dir, "features")
    # Every dataset is resolved before any model is built, so a bad name fails at once.
    sources = {t.key: features.resolve_target(t) for t in targets + extra}
    backbone = features.load_backbone(args.pretrained)
    log(f"pretrained {backbone.prefix}: {backbone.pool_layer} features")
    os.makedirs(args.out_dir, exist_ok=True)

    report = {"pretrained": backbone.prefix, "pool_layer": backbone.pool_layer,
              "preprocessing": args.preprocessing_type or backbone.preprocessing_type,
              "seed": args.seed, "val_fraction": args.val_fraction,
              "log_odds_eps": linear_probe.LOG_ODDS_EPS, "datasets": {}, "retrieval": {},
              "recall_k": args.ks, "metric": args.metric}
    feats = {}
    for target in targets + extra:
        feats[target.key] = features.features_for(
            backbone, target, cache_dir, preprocessing_type=args.preprocessing_type,
            batch_size=args.batch_size, log=log, source=sources[target.key])
    for target in targets:
        f = feats[target.key]
        (X, Y), (Xte, Yte) = f["trainval"], f["test"]
        probe = choose_probe(args.probe, len(Y), args.large_threshold, f["num_classes"], args)
        log(f"{target.key}: {probe.name} probe on {len(Y)} trainval / {len(Yte)} test "
            f"{X.shape[1]}-d features")
        try:
            result = linear_probe.run_probe(probe, X, Y, Xte, Yte,
                                            val_fraction=args.val_fraction, seed=args.seed)
        except ValueError as e:
            raise ConfigError(f"--targets {target.key}: {e}") from None
        result.update(classes=f["num_classes"], n_trainval=int(len(Y)), n_test=int(len(Yte)),
                      dim=int(X.shape[1]), dataset=f["dataset"], features_cached=f["cached"])
        report["datasets"][target.key] = result
        log(f"{target.key}: best {_fmt_params(result['params'])}, val top-1 "
            f"{_pct(result['val_top1'])}, test top-1 {_pct(result['test_top1'])}")
    over = [k for k in report["datasets"] if k not in excluded]
    report["mean_over"] = over
    report["excluded_from_mean"] = [k for k in report["datasets"] if k in excluded]
    ps = [report["datasets"][k]["test_top1"] for k in over]
    report["mean_log_odds"] = linear_probe.mean_log_odds(ps) if ps else None
    report["mean_top1"] = float(np.mean(ps)) if ps else None
    for key in retrieval_keys:
        X, Y = feats[key]["test"]
        r = retrieval.recall_at_k(X, Y, args.ks, args.metric, args.chunk_size)
        r["recall"] = {str(k): v for k, v in r["recall"].items()}
        report["retrieval"][key] = r
    return report


def write(report: dict, out_dir: str) -> str:
    table = format_tables(report)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "transfer.json"), "w") as f:
        json.dump(report, f, indent=1, allow_nan=False)
    with open(os.path.join(out_dir, "transfer.md"), "w") as f:
        f.write(table + "\n")
    return table


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        report = run(args)
        table = write(report, args.out_dir)
    except (UserError, DataError) as e:
        message = "; ".join(str(e).splitlines()) or type(e).__name__
        print(f"error: {message}", file=sys.stderr)
        return 2
    print(table)
    print(f"wrote {os.path.join(args.out_dir, 'transfer.json')} and transfer.md")
    return 0


def cli() -> int:
    """The ``assembled-transfer-suite`` console script (``python -m
    engine.transfer_suite``)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return main()


if __name__ == "__main__":
    sys.exit(cli())

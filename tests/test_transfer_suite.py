"""Transfer suite (issue #7): log-odds, the per-class val split, the C search, the TF
probe, Recall@k, and the CLI end to end on a tiny digits run (features cached once)."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from engine import linear_probe as lp
from engine import retrieval, transfer_suite


# ----------------------------------------------------------------------------- log-odds
def test_log_odds_hand_numbers():
    assert lp.log_odds(0.5) == 0.0
    assert lp.log_odds(0.9) == pytest.approx(math.log(9))
    assert lp.log_odds(0.1) == pytest.approx(-math.log(9))
    assert lp.log_odds(0.75) == pytest.approx(math.log(3))
    assert lp.mean_log_odds([0.5, 0.9, 0.75]) == pytest.approx((math.log(9) + math.log(3)) / 3)
    # Exactly 0 or 1 is clipped to [1e-6, 1 - 1e-6]: finite, symmetric, and beyond any
    # attainable value of a test set under a million images.
    top = math.log((1 - 1e-6) / 1e-6)
    assert lp.log_odds(1.0) == pytest.approx(top) and lp.log_odds(0.0) == pytest.approx(-top)
    assert lp.log_odds(1 - 1 / 50_000) < top
    with pytest.raises(ValueError):
        lp.mean_log_odds([])


def test_mean_per_class_accuracy_weights_classes_equally():
    y = np.array([0, 0, 0, 0, 1])
    pred = np.array([0, 0, 0, 0, 0])
    assert lp.top1(y, pred) == 0.8
    assert lp.mean_per_class_accuracy(y, pred) == 0.5


# ----------------------------------------------------------------------------- split
def test_per_class_split_is_20_percent_at_least_one_seeded_and_disjoint():
    sizes = {0: 1, 1: 2, 2: 5, 3: 10, 4: 23, 5: 100}
    labels = np.concatenate([np.full(n, c) for c, n in sizes.items()])
    np.random.default_rng(0).shuffle(labels)
    train, val = lp.per_class_split(labels, 0.2, seed=3)
    assert len(np.intersect1d(train, val)) == 0
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(len(labels)))
    for c, n in sizes.items():
        assert np.sum(labels[val] == c) == max(1, int(0.2 * n))
    again = lp.per_class_split(labels, 0.2, seed=3)
    assert np.array_equal(again[1], val)
    other = lp.per_class_split(labels, 0.2, seed=4)[1]
    assert not np.array_equal(other, val)
    assert len(other) == len(val)


# ----------------------------------------------------------------------------- C search
def _imbalanced(rng, n0=80, n1=20):
    """Class 0 (majority) at x0 = 0, class 1 at x0 = 1: separable, but a nearly unregularised
    fit is needed to predict class 1 (a tiny weight leaves the intercept's majority vote)."""
    y = np.r_[np.zeros(n0, int), np.ones(n1, int)]
    x = np.c_[y + 0.05 * rng.normal(size=len(y)), 0.05 * rng.normal(size=len(y))]
    return x, y


def test_c_search_picks_the_best_val_accuracy_of_the_grid_it_evaluated():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 10))
    y = rng.integers(0, 4, 400)
    x = centers[y] + 1.5 * rng.normal(size=(400, 10))
    train, val = lp.per_class_split(y, seed=0)
    best, trials = lp.SklearnProbe(max_iter=300).search(x[train], y[train], x[val], y[val])
    cs = [t["C"] for t in trials]
    assert cs[:12] == [10.0 ** e for e in range(-5, 7)]          # the coarse grid, in order
    assert 12 < len(trials) <= 16 and len(set(cs)) == len(cs)   # plus the refinement
    assert all(1e-5 <= c <= 1e6 for c in cs)
    top = max(t["val_top1"] for t in trials)
    tied = sorted(t["C"] for t in trials if t["val_top1"] == top)
    assert best["C"] == tied[(len(tied) - 1) // 2]


def test_c_search_forced_answers():
    rng = np.random.default_rng(1)
    x, y = _imbalanced(rng)
    probe = lp.SklearnProbe(max_iter=500)
    # Val = class-1 images: only weakly regularised fits (large C) get them right.
    xv = np.c_[np.ones(10), np.zeros(10)]
    best, trials = probe.search(x, y, xv, np.ones(10, int))
    by_c = {t["C"]: t["val_top1"] for t in trials}
    assert by_c[1e-5] == 0.0 and by_c[1e6] == 1.0
    assert best["C"] >= 1.0 and by_c[best["C"]] == 1.0
    # Val = class-0 images that look like class 1: only the majority vote of a strongly
    # regularised fit (small C) is right.
    best, trials = probe.search(x, y, xv, np.zeros(10, int))
    by_c = {t["C"]: t["val_top1"] for t in trials}
    assert by_c[1e-5] == 1.0 and by_c[1e6] == 0.0
    assert best["C"] <= 1e-2 and by_c[best["C"]] == 1.0


# ----------------------------------------------------------------------------- TF probe
def _blobs(seed, n, classes=5, dim=16):
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(99).normal(size=(classes, dim)) * 3
    y = rng.integers(0, classes, n)
    return (centers[y] + rng.normal(size=(n, dim))).astype(np.float32), y


def test_tf_probe_matches_sklearn_on_a_separable_set():
    x, y = _blobs(0, 600)
    xt, yt = _blobs(1, 300)
    sk = lp.run_probe(lp.SklearnProbe(max_iter=300), x, y, xt, yt, seed=0)
    tf_probe = lp.TFProbe(num_classes=5, epochs=30, batch_size=128, lrs=(1.0, 10.0),
                          wds=(1e-12, 1e-6))
    tfr = lp.run_probe(tf_probe, x, y, xt, yt, seed=0)
    assert sk["test_top1"] > 0.95
    assert tfr["test_top1"] >= sk["test_top1"] - 0.01
    assert tfr["params"]["lr"] in (1.0, 10.0) and len(tfr["trials"]) == 4


def test_tf_probe_stops_a_diverging_setting_and_picks_a_finite_one():
    x, y = _blobs(2, 200)
    probe = lp.TFProbe(epochs=3, batch_size=64, lrs=(1.0, 1e30), wds=(1e-12,))
    best, trials = probe.search(x[:150], y[:150], x[150:], y[150:])
    assert trials[1]["val_top1"] is None and trials[0]["val_top1"] > 0.9
    assert best == {"lr": 1.0, "wd": 1e-12}
    with pytest.raises(ValueError, match="diverged"):
        lp.TFProbe(epochs=3, lrs=(1e30,), wds=(1e-12,)).search(x[:150], y[:150], x[150:],
                                                               y[150:])


# ----------------------------------------------------------------------------- retrieval
def _angles(degrees):
    r = np.radians(degrees)
    return np.c_[np.cos(r), np.sin(r)]


# a 0 deg L0, b 10 deg L1 (alone in its class), c 22 deg L0, d 90 deg L2, e 100 deg L2,
# f 5 deg distractor. First-hit ranks: a 2 (f, b, c), b none, c 2 (b, f, a), d 0, e 0.
HAND_LABELS = np.array([0, 1, 0, 2, 2, -1])
HAND_RANKS = [2, -1, 2, 0, 0]


@pytest.mark.parametrize("metric,emb", [
    ("cosine", _angles([0, 10, 22, 90, 100, 5]) * np.array([[1], [3], [0.5], [2], [1], [7]])),
    ("euclidean", np.c_[[0.0, 1.0, 2.5, 10.0, 12.0, 2.2], np.zeros(6)]),
])
def test_recall_at_k_hand_set(metric, emb):
    queries, ranks = retrieval.first_hit_ranks(emb, HAND_LABELS, metric)
    assert list(queries) == [0, 1, 2, 3, 4]       # the distractor is never a query
    assert list(ranks) == HAND_RANKS              # the query is never its own neighbour
    r = retrieval.recall_at_k(emb, HAND_LABELS, [1, 2, 3, 8], metric)
    assert r["recall"] == {1: 0.4, 2: 0.4, 3: 0.8, 8: 0.8}
    assert r["queries"] == 5 and r["distractors"] == 1 and r["queries_without_positive"] == 1


def test_recall_distractors_only_in_the_gallery_and_ties_by_index():
    # Two identical distractors: as queries they would find each other; they must not count.
    emb = np.array([[1.0, 0], [1.0, 0], [0, 1.0], [0, 1.0], [1.0, 0.1]])
    labels = np.array([-1, -1, 5, 5, 7])
    r = retrieval.recall_at_k(emb, labels, [1], "euclidean")
    assert r["queries"] == 3 and r["recall"][1] == pytest.approx(2 / 3)
    # Ties are broken by gallery index: query 0's neighbours 1 (L1) and 2 (L0) are tied.
    emb = np.array([[0.0], [1.0], [-1.0]])
    assert list(retrieval.first_hit_ranks(emb, [0, 1, 0], "euclidean")[1]) == [1, -1, 0]


def _reference_ranks(emb, labels, metric):
    """Brute force: stable sort of each query's gallery by similarity."""
    x = np.asarray(emb, np.float64)
    if metric == "cosine":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        sim = x @ x.T
    else:
        sim = -((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    ranks = []
    for q in np.flatnonzero(labels >= 0):
        order = [g for g in np.argsort(-sim[q], kind="stable") if g != q]
        hits = [i for i, g in enumerate(order) if labels[g] == labels[q]]
        ranks.append(hits[0] if hits else -1)
    return ranks


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_recall_chunked_equals_unchunked_and_brute_force(metric):
    rng = np.random.default_rng(7)
    emb = rng.normal(size=(257, 6)).astype(np.float32)
    labels = rng.integers(0, 30, 257)
    labels[rng.random(257) < 0.2] = -1
    whole = retrieval.recall_at_k(emb, labels, [1, 2, 4, 8], metric, chunk_size=10_000)
    ranks = retrieval.first_hit_ranks(emb, labels, metric, chunk_size=10_000)[1]
    assert list(ranks) == _reference_ranks(emb, labels, metric)
    for chunk in (1, 7, 64, 256):
        assert retrieval.recall_at_k(emb, labels, [1, 2, 4, 8], metric, chunk) == whole
    assert 0 < whole["recall"][1] <= whole["recall"][8] < 1


def test_recall_bad_input():
    for bad in ("0", "a", "", "1,-2"):
        with pytest.raises(ValueError, match="--recall_k"):
            retrieval.parse_ks(bad)
    assert retrieval.parse_ks("8, 1,2,2") == [1, 2, 8]
    with pytest.raises(ValueError, match="--metric"):
        retrieval.recall_at_k(np.zeros((3, 2)), [0, 0, 1], [1], "dot")


# ----------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 2-step ResNet-18 (width 4) run on the embedded digits."""
    from core import config
    from engine import trainer
    model_dir = str(tmp_path_factory.mktemp("pretrained") / "run")
    trainer.run(config.make_config(
        model_dir=model_dir, resnet_size=18, base_width=4, batch_size=32, val_batch_size=120,
        steps_per_loop=2, lr_warmup_epochs=0.0, train_epochs=1, max_train_steps=2))
    return model_dir


def _error_line(stderr):
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, stderr[-2000:]
    return lines[0]


def test_cli_end_to_end_and_cache_reuse(tiny_run, tmp_path, capsys):
    out = str(tmp_path / "out")
    args = ["--pretrained=" + tiny_run, "--targets=digits", "--out_dir=" + out,
            "--retrieval_targets=digits", "--recall_k=1,2", "--max_iter=300"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-m", "engine.transfer_suite", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "extracted 1437 trainval + 360 test features" in proc.stdout
    assert "mean log-odds" in proc.stdout
    with open(os.path.join(out, "transfer.json")) as f:
        report = json.load(f)
    row = report["datasets"]["digits"]
    assert (row["classes"], row["n_trainval"], row["n_test"]) == (10, 1437, 360)
    assert row["n_val"] == sum(max(1, int(0.2 * n)) for n in np.bincount(
        np.load(os.path.join(out, "features", "digits", "features_trainval.npz"))["Y"]))
    assert 1e-5 <= row["params"]["C"] <= 1e6 and row["probe"] == "sklearn"
    assert 0.0 < row["test_top1"] <= 1.0
    assert row["log_odds"] == pytest.approx(lp.log_odds(row["test_top1"]))
    assert report["mean_log_odds"] == pytest.approx(row["log_odds"])
    assert report["mean_top1"] == row["test_top1"]
    assert report["pool_layer"] == "avg_pool" and report["preprocessing"] == "small_32"
    assert set(report["retrieval"]["digits"]["recall"]) == {"1", "2"}
    with open(os.path.join(out, "transfer.md")) as f:
        assert "| digits | 10 | 1437 | 360 | sklearn |" in f.read()
    feats = np.load(os.path.join(out, "features", "digits", "features_test.npz"))
    assert feats["X"].dtype == np.float32 and feats["X"].shape == (360, 32)
    assert feats["Y"].dtype == np.int64

    # Second call: the cache is reused and the results are the same.
    capsys.readouterr()
    assert transfer_suite.main(args) == 0
    again = capsys.readouterr().out
    assert "reusing cached features" in again and "extracted" not in again
    with open(os.path.join(out, "transfer.json")) as f:
        second = json.load(f)
    assert second["datasets"]["digits"]["test_top1"] == row["test_top1"]
    assert second["datasets"]["digits"]["features_cached"] is True

    # A different checkpoint digest in the meta -> re-extracted, and the reason logged.
    meta_path = os.path.join(out, "features", "digits", "features_meta.json")
    with open(meta_path) as f:
        meta = json.load(f)
    with open(meta_path, "w") as f:
        json.dump(dict(meta, index_sha256="0" * 64), f)
    assert transfer_suite.main(args[:3] + ["--probe=tf", "--tf_epochs=2"]) == 0
    third = capsys.readouterr().out
    assert "index_sha256 changed" in third and "extracted 1437 trainval" in third
    with open(meta_path) as f:
        assert json.load(f)["index_sha256"] == meta["index_sha256"]


@pytest.mark.parametrize("extra,message", [
    (["--recall_k=0"], "--recall_k: k must be >= 1"),
    (["--recall_k=1,x"], "--recall_k: 'x' is not an integer"),
    (["--probe=svm"], "--probe"),
    (["--batch_size=0"], "--batch_size must be >= 1"),
])
def test_cli_bad_flags(tmp_path, capsys, extra, message):
    args = ["--pretrained=" + str(tmp_path), "--targets=digits", "--out_dir=" + str(tmp_path)]
    assert transfer_suite.main(args + extra) == 2
    assert message in _error_line(capsys.readouterr().err)


def test_cli_bad_run_dirs(tmp_path, capsys):
    base = ["--targets=digits", "--out_dir=" + str(tmp_path / "out")]
    missing = str(tmp_path / "nowhere")
    assert transfer_suite.main(["--pretrained=" + missing] + base) == 2
    assert missing in _error_line(capsys.readouterr().err)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert transfer_suite.main(["--pretrained=" + str(empty)] + base) == 2
    assert "empty is not a run directory (no config.yaml)" in _error_line(
        capsys.readouterr().err)
    assert transfer_suite.main(base) == 2
    assert "--pretrained" in _error_line(capsys.readouterr().err)


def test_cli_unknown_target_exits_2_with_one_line(tmp_path, capsys):
    # Targets are resolved before the network is built, so no pretrained run is needed.
    # In-process: `python -m engine.transfer_suite` exits with main()'s return value (the
    # subprocess of test_cli_end_to_end_and_cache_reuse runs that entry point).
    assert transfer_suite.main(["--pretrained=" + str(tmp_path),
                                "--targets=digits,no_such_set",
                                "--out_dir=" + str(tmp_path)]) == 2
    assert "no_such_set" in _error_line(capsys.readouterr().err)

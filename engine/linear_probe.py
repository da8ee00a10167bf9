"""Linear probe on frozen features, the t-ReX transfer protocol (spec trex.md §5).

1. ``per_class_split``: a seeded random 20 % of each class of trainval is the validation
   set (at least 1 image per class; ``floor(0.2 * n_c)`` otherwise, as ``int(n * 0.2)`` in
   the original). Seeded with NumPy's Generator -- the original's unseeded EuroSAT split
   (§7) is the defect this avoids.
2. Hyper-parameter search on that split, maximising validation top-1. The original used
   Optuna TPE (30 trials); Optuna is not installed here, so the search is a deterministic
   grid instead (same ranges, log scale), which also makes runs repeatable:
   - scikit-learn path (``SklearnProbe``): L2 LogisticRegression, lbfgs, max_iter 2000,
     multinomial (the only multi-class mode of lbfgs in scikit-learn >= 1.7; L2 is
     ``l1_ratio=0``, as ``penalty=`` is deprecated), raw features. C over the coarse grid
     10^-5, 10^-4, ..., 10^6 (12 fits), then a refinement at 10^(e +- 0.5) and
     10^(e +- 0.25) around the best exponent e, clipped to [1e-5, 1e6] (<= 4 fits).
   - TensorFlow path (``TFProbe``, for sets too big for scikit-learn): a linear layer with
     bias on L2-normalised features, SGD momentum 0.9 with PyTorch-style coupled weight
     decay (g + wd * w, on weights and bias, as torch.optim.SGD), batch 1024, cosine
     learning rate set once per epoch, zero initialisation (the problem is convex, so this
     is deterministic and loses nothing). lr x wd jointly over {0.1, 1, 10, 100} x
     {1e-12, 1e-10, 1e-8, 1e-6, 1e-4} (20 runs); a run whose loss becomes non-finite stops
     and scores nothing. Accuracy is the last epoch's, as in the original.
   Ties: for C, the (lower) median of the tied values in ascending order -- on an easy
   set a whole plateau of C ties at the best val top-1, and its middle is the choice least
   at the mercy of one validation image (the smallest C would be the most regularised
   edge of the plateau). For the TF grid, the first tied setting (smallest lr, then wd).
3. Retrain on the whole trainval with the best setting; report test top-1 and the mean
   per-class accuracy (the original's "m_ap").

Summary metric: per dataset p = top-1 (a fraction), logit = ln(p / (1 - p)), averaged over
datasets (``mean_log_odds``). A top-1 of exactly 0 or 1 has an infinite logit, so p is
clipped to [1e-6, 1 - 1e-6] (``LOG_ODDS_EPS``): for any test set under a million images
the clip changes nothing but those two exact cases (the nearest attainable values are
1/n and 1 - 1/n), and it keeps the mean finite and JSON-serialisable.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:  # scikit-learn (an extra) loads only when a probe fits
    from sklearn.linear_model import LogisticRegression

LOG_ODDS_EPS = 1e-6
C_RANGE = (1e-5, 1e6)
COARSE_EXPONENTS = tuple(range(-5, 7))
REFINE_STEPS = (-0.5, -0.25, 0.25, 0.5)
TF_LRS = (0.1, 1.0, 10.0, 100.0)
TF_WDS = (1e-12, 1e-10, 1e-8, 1e-6, 1e-4)
TF_BATCH = 1024
TF_EPOCHS = 100
SMALL_BLAS_ELEMENTS = 4_000_000  # features below this fit with one BLAS thread


# ----------------------------------------------------------------------------- metrics
def log_odds(p: ArrayLike, eps: float = LOG_ODDS_EPS) -> float | np.ndarray:
    """ln(p / (1 - p)) of a top-1 fraction (or array), p clipped to [eps, 1 - eps]."""
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    out = np.log(p) - np.log1p(-p)
    return float(out) if out.ndim == 0 else out


def mean_log_odds(ps: Iterable[float], eps: float = LOG_ODDS_EPS) -> float:
    ps = list(ps)
    if not ps:
        raise ValueError("mean_log_odds: no accuracies")
    return float(np.mean(log_odds(np.asarray(ps, dtype=np.float64), eps)))


def top1(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(y_true == y_pred)) if len(y_true) else 0.0


def mean_per_class_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean over the classes present in y_true of each class's accuracy."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    classes = np.unique(y_true)
    if not len(classes):
        return 0.0
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in classes]))


# ----------------------------------------------------------------------------- split
def per_class_split(labels: ArrayLike, fraction: float = 0.2,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, val indices), sorted, disjoint, covering all of ``labels``:
    per class max(1, floor(fraction * n_c)) random examples go to val."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    labels = np.asarray(labels).reshape(-1)
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        n_val = max(1, int(fraction * len(members)))
        val.append(rng.permutation(members)[:n_val])
    val = np.sort(np.concatenate(val)) if val else np.zeros(0, np.int64)
    train = np.setdiff1d(np.arange(len(labels)), val)
    return train, val


def _check_xy(X, Y, what):
    X = np.asarray(X)
    Y = np.asarray(Y).reshape(-1)
    if X.ndim != 2 or X.shape[0] != Y.shape[0] or X.shape[0] == 0:
        raise ValueError(f"{what}: features {X.shape} and labels {Y.shape} do not match or "
                         "are empty")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{what}: features contain NaN or inf")
    return X, Y.astype(np.int64)


def _pick(trials: list[dict]) -> dict:
    """Highest val top-1; the first in grid order among ties; failed trials (None) lose."""
    best = None
    for t in trials:
        if t["val_top1"] is not None and (best is None or t["val_top1"] > best["val_top1"]):
            best = t
    if best is None:
        raise ValueError("every hyper-parameter setting diverged (non-finite loss)")
    return best


# ----------------------------------------------------------------------------- sklearn
def c_grid_coarse() -> list[float]:
    return [10.0 ** e for e in COARSE_EXPONENTS]


def c_grid_refine(best_c: float) -> list[float]:
    e = math.log10(best_c)
    lo, hi = C_RANGE
    return [10.0 ** (e + d) for d in REFINE_STEPS if lo <= 10.0 ** (e + d) <= hi]


def pick_c(trials: list[dict]) -> float:
    """The C of the best val top-1: the lower median of the tied Cs (ascending)."""
    best = _pick(trials)["val_top1"]
    tied = sorted(t["C"] for t in trials if t["val_top1"] == best)
    return tied[(len(tied) - 1) // 2]


class SklearnProbe:
    """L2 multinomial logistic regression (scikit-learn, lbfgs) with the C search."""

    name = "sklearn"

    def __init__(self, max_iter: int = 2000, coarse: Iterable[float] | None = None,
                 refine: bool = True) -> None:
        self.max_iter = max_iter
        self.coarse = list(coarse) if coarse is not None else c_grid_coarse()
        self.refine = refine

    def fit(self, X: np.ndarray, Y: np.ndarray, C: float) -> LogisticRegression:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits
        clf = LogisticRegression(C=C, l1_ratio=0.0, solver="lbfgs", max_iter=self.max_iter)
        # Multi-threaded BLAS on a small matrix costs more than it saves (1150 x 32 digits
        # features, 2000 iterations: 11 s with 2 OpenBLAS threads, 0.7 s with 1).
        small = np.asarray(X).size < SMALL_BLAS_ELEMENTS
        with warnings.catch_warnings(record=True) as caught, \
                threadpool_limits(1 if small else None, user_api="blas"):
            warnings.simplefilter("always", ConvergenceWarning)
            clf.fit(X, Y)
        clf.converged_ = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        return clf

    def _trial(self, C, Xtr, Ytr, Xva, Yva):
        clf = self.fit(Xtr, Ytr, C)
        return {"C": C, "val_top1": top1(Yva, clf.predict(Xva)), "converged": clf.converged_}

    def search(self, Xtr: np.ndarray, Ytr: np.ndarray, Xva: np.ndarray,
               Yva: np.ndarray) -> tuple[dict, list[dict]]:
        """(best {"C": ...}, every trial in evaluation order)."""
        trials = [self._trial(C, Xtr, Ytr, Xva, Yva) for C in self.coarse]
        if self.refine:
            seen = {t["C"] for t in trials}
            for C in c_grid_refine(pick_c(trials)):
                if C not in seen:
                    trials.append(self._trial(C, Xtr, Ytr, Xva, Yva))
        return {"C": pick_c(trials)}, trials

    def final(self, params: dict, X: np.ndarray, Y: np.ndarray, Xte: np.ndarray,
              Yte: np.ndarray) -> np.ndarray:
        return self.fit(X, Y, params["C"]).predict(Xte)


# ----------------------------------------------------------------------------- TF
def l2_normalize(X: ArrayLike) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(norms, 1e-12)


class TFProbe:
    """Linear classifier trained with SGD in TensorFlow on L2-normalised features."""

    name = "tf"

    def __init__(self, num_classes: int | None = None, epochs: int = TF_EPOCHS,
                 batch_size: int = TF_BATCH, lrs: Sequence[float] = TF_LRS,
                 wds: Sequence[float] = TF_WDS, seed: int = 0,
                 momentum: float = 0.9) -> None:
        self.num_classes = num_classes
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.lrs, self.wds = list(lrs), list(wds)
        self.seed = seed
        self.momentum = momentum
        self._step = None

    def _classes(self, *label_sets) -> int:
        top = max(int(np.max(y)) for y in label_sets if len(y)) + 1
        return max(self.num_classes or 0, top)

    def _make_epoch(self):
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def epoch(X, Y, perm, W, b, mW, mb, lr, wd, momentum, batch):
            n = tf.shape(perm)[0]
            steps = (n + batch - 1) // batch
            total = tf.constant(0.0, tf.float64)
            for i in tf.range(steps):
                idx = perm[i * batch:tf.minimum((i + 1) * batch, n)]
                x, y = tf.gather(X, idx), tf.gather(Y, idx)
                with tf.GradientTape() as tape:
                    logits = tf.matmul(x, W) + b
                    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                        labels=y, logits=logits))
                gW, gb = tape.gradient(loss, [W, b])
                gW, gb = gW + wd * W, gb + wd * b
                mW.assign(momentum * mW + gW)
                mb.assign(momentum * mb + gb)
                W.assign_sub(lr * mW)
                b.assign_sub(lr * mb)
                total += tf.cast(loss, tf.float64) * tf.cast(tf.shape(idx)[0], tf.float64)
            return total / tf.cast(n, tf.float64)

        return epoch

    def train(self, X: np.ndarray, Y: np.ndarray, lr: float, wd: float,
              num_classes: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(W, b) after ``epochs`` epochs, or None if the loss became non-finite."""
        import tensorflow as tf
        if self._step is None:
            self._step = self._make_epoch()
        X = tf.constant(l2_normalize(X))
        Y = tf.constant(np.asarray(Y, np.int64))
        d = int(X.shape[1])
        W = tf.Variable(tf.zeros([d, num_classes]))
        b = tf.Variable(tf.zeros([num_classes]))
        mW, mb = tf.Variable(tf.zeros_like(W)), tf.Variable(tf.zeros_like(b))
        rng = np.random.default_rng(self.seed)
        n = int(X.shape[0])
        for e in range(self.epochs):
            lr_e = 0.5 * lr * (1.0 + math.cos(math.pi * e / self.epochs))
            perm = tf.constant(rng.permutation(n).astype(np.int32))
            loss = self._step(X, Y, perm, W, b, mW, mb, tf.constant(lr_e, tf.float32),
                              tf.constant(wd, tf.float32), tf.constant(self.momentum),
                              tf.constant(self.batch_size))
            if not np.isfinite(float(loss)):
                return None
        W, b = W.numpy(), b.numpy()
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
            return None
        return W, b

    @staticmethod
    def predict(wb: tuple[np.ndarray, np.ndarray], X: np.ndarray) -> np.ndarray:
        W, b = wb
        return np.argmax(l2_normalize(X) @ W + b, axis=1)

    def search(self, Xtr: np.ndarray, Ytr: np.ndarray, Xva: np.ndarray,
               Yva: np.ndarray) -> tuple[dict, list[dict]]:
        k = self._classes(Ytr, Yva)
        trials = []
        for lr in self.lrs:
            for wd in self.wds:
                wb = self.train(Xtr, Ytr, lr, wd, k)
                trials.append({"lr": lr, "wd": wd, "val_top1": (
                    None if wb is None else top1(Yva, self.predict(wb, Xva)))})
        best = _pick(trials)
        return {"lr": best["lr"], "wd": best["wd"]}, trials

    def final(self, params: dict, X: np.ndarray, Y: np.ndarray, Xte: np.ndarray,
              Yte: np.ndarray) -> np.ndarray:
        wb = self.train(X, Y, params["lr"], params["wd"], self._classes(Y, Yte))
        if wb is None:
            raise ValueError(f"the final TF probe diverged (non-finite loss) with {params}")
        return self.predict(wb, Xte)


# ----------------------------------------------------------------------------- protocol
def run_probe(probe: SklearnProbe | TFProbe, X: np.ndarray, Y: np.ndarray, Xte: np.ndarray,
              Yte: np.ndarray, *, val_fraction: float = 0.2, seed: int = 0) -> dict:
    """The whole protocol on one dataset's features; returns the report entry."""
    X, Y = _check_xy(X, Y, "trainval")
    Xte, Yte = _check_xy(Xte, Yte, "test")
    if X.shape[1] != Xte.shape[1]:
        raise ValueError(f"trainval features are {X.shape[1]}-d but test features "
                         f"{Xte.shape[1]}-d")
    tr, va = per_class_split(Y, val_fraction, seed)
    if len(tr) == 0:
        raise ValueError("the validation split took every trainval example (1 per class)")
    params, trials = probe.search(X[tr], Y[tr], X[va], Y[va])
    best_val = _pick([t for t in trials if all(t.get(k) == v for k, v in params.items())])
    pred = probe.final(params, X, Y, Xte, Yte)
    p = top1(Yte, pred)
    return {"probe": probe.name, "params": params, "val_top1": best_val["val_top1"],
            "n_train": int(len(tr)), "n_val": int(len(va)),
            "test_top1": p, "test_mean_per_class": mean_per_class_accuracy(Yte, pred),
            "log_odds": log_odds(p), "trials": trials}

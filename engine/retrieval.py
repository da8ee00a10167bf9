"""Retrieval Recall@k on embeddings (spec assemble-resnet.md §5, the original's
``metric/recall_metric.py``), in NumPy.

Rules:
- similarity: ``cosine`` (dot product of L2-normalised rows; an all-zero row stays zero)
  or ``euclidean`` (negative squared distance, so "larger is nearer" for both);
- every example with a label >= 0 is a query; label -1 marks a distractor, which is only
  ever in the gallery; the gallery of a query is every other example (never itself);
- Recall@k: the fraction of queries with at least one same-label example among their k
  nearest gallery examples. A query whose class has no other example counts as a miss
  (reported as ``queries_without_positive``) -- the original counted it the same way.

Ranking without sorting: the gallery is ordered by (similarity descending, index
ascending), i.e. a stable sort, and the rank of a query's first hit is
``#{s > s_pos} + #{s == s_pos and index < first positive index at s_pos}``. This costs one
pass over a row, breaks ties by index (deterministic, unlike a top-k with arbitrary tie
order), and each query row is computed alone, so chunking over queries (``chunk_size``,
for sets whose full similarity matrix would not fit in memory) gives the same result as
one chunk. Similarities are computed in float64 so the rare near-ties do not depend on
the BLAS blocking of the chunk.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

METRICS = ("cosine", "euclidean")
DISTRACTOR = -1


def parse_ks(text: str | Iterable[int | str]) -> list[int]:
    """"1,2,4,8" (or a list) -> sorted unique positive ints; ValueError naming the bad k."""
    items = text.split(",") if isinstance(text, str) else list(text)
    ks = []
    for item in items:
        item = str(item).strip()
        if not item:
            continue
        try:
            k = int(item)
        except ValueError:
            raise ValueError(f"--recall_k: {item!r} is not an integer") from None
        if k < 1:
            raise ValueError(f"--recall_k: k must be >= 1, got {k}")
        ks.append(k)
    if not ks:
        raise ValueError("--recall_k: no k given (e.g. --recall_k=1,2,4,8)")
    return sorted(set(ks))


def _prepare(embeddings: np.ndarray, metric: str) -> np.ndarray:
    x = np.asarray(embeddings, dtype=np.float64)
    if metric == "cosine":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.where(norms > 0, norms, 1.0)
    return x


def _similarity(queries: np.ndarray, gallery: np.ndarray, gallery_sq: np.ndarray,
                metric: str) -> np.ndarray:
    dots = queries @ gallery.T
    if metric == "cosine":
        return dots
    # -(|q|^2 + |g|^2 - 2 q.g); |q|^2 is constant per row, kept so values are distances.
    return -(np.sum(queries * queries, axis=1, keepdims=True) + gallery_sq[None, :] - 2 * dots)


def first_hit_ranks(embeddings: np.ndarray, labels: np.ndarray, metric: str = "cosine",
                    chunk_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """(query indices, 0-based rank of each query's nearest same-label gallery example;
    -1 when its class has no other example)."""
    if metric not in METRICS:
        raise ValueError(f"--metric: unknown similarity {metric!r} (expected one of "
                         f"{', '.join(METRICS)})")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    x = _prepare(embeddings, metric)
    if x.ndim != 2 or x.shape[0] != labels.shape[0]:
        raise ValueError(f"embeddings {x.shape} and labels {labels.shape} do not match")
    if np.any(labels < DISTRACTOR):
        raise ValueError(f"labels must be >= 0, or -1 for distractors; got {labels.min()}")
    n = x.shape[0]
    gallery_sq = np.sum(x * x, axis=1)
    index = np.arange(n)
    queries = np.flatnonzero(labels != DISTRACTOR)
    ranks = np.empty(len(queries), dtype=np.int64)
    for start in range(0, len(queries), chunk_size):
        q = queries[start:start + chunk_size]
        sim = _similarity(x[q], x, gallery_sq, metric)
        sim[np.arange(len(q)), q] = -np.inf          # the query is not in its own gallery
        positive = labels[None, :] == labels[q][:, None]
        positive[np.arange(len(q)), q] = False
        has_pos = positive.any(axis=1)
        s_pos = np.where(positive, sim, -np.inf).max(axis=1)
        at_best = positive & (sim == s_pos[:, None])
        first_pos = np.where(at_best, index[None, :], n).min(axis=1)
        ahead = (sim > s_pos[:, None]).sum(axis=1)
        ahead += ((sim == s_pos[:, None]) & (index[None, :] < first_pos[:, None])).sum(axis=1)
        ranks[start:start + len(q)] = np.where(has_pos, ahead, -1)
    return queries, ranks


def recall_at_k(embeddings: np.ndarray, labels: np.ndarray,
                ks: str | Iterable[int | str] = (1, 2, 4, 8), metric: str = "cosine",
                chunk_size: int = 1024) -> dict:
    """{"recall": {k: fraction}, "queries": n, "examples": n (queries + distractors; each
    query's gallery is the other n - 1), "distractors": n, "queries_without_positive": n,
    "metric": metric}."""
    ks = parse_ks(ks)
    queries, ranks = first_hit_ranks(embeddings, labels, metric, chunk_size)
    n_q = len(queries)
    hit = ranks >= 0
    recall = {k: (float(np.mean(hit & (ranks < k))) if n_q else 0.0) for k in ks}
    labels = np.asarray(labels).reshape(-1)
    return {"recall": recall, "queries": int(n_q), "examples": int(len(labels)),
            "distractors": int(np.sum(labels == DISTRACTOR)),
            "queries_without_positive": int(np.sum(~hit)), "metric": metric}

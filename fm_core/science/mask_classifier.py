"""Table 3 and Figure 8 of the paper: can a linear classifier tell single-image masks
apart by class, judged only on masks it was not fitted to, and a UMAP of its held-out
outputs. Pure NumPy / SciPy / scikit-learn / umap-learn.

The test: stratified k-fold cross-validation over *every* mask; in each outer fold a
ridge classifier whose regularisation is chosen on that fold's training masks alone
(``RidgeClassifierCV``: efficient leave-one-out over a grid of alphas, i.e. nested
cross-validation); the pooled out-of-fold accuracy with a Wilson interval; and a
permutation test that reruns the whole procedure (alpha selection included) on
shuffled labels, folded by the same stratified splitter.

Features are the masks' symmetric parts (what acts on a real image), one value per
conjugate pair, on the masks' own common [0, 1] scale. They are not standardised:
single-image masks are almost all zeros, and the hundreds of bins that hold only
numerical residue (standard deviations far below 1e-3) would be blown up to unit
variance and drown the few bins a mask keeps (:func:`mask_classifier` measures this
beside the result, on the same folds, as ``standardised_accuracy_pct``).
"""
from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from fm_core.fourier import symmetric_part

#: the ridge penalties the inner cross-validation chooses from
ALPHAS = tuple(np.logspace(-3, 3, 13))


def mask_features(masks: np.ndarray) -> np.ndarray:
    """(N, H, W) masks -> (N, P): the symmetric part (M(k) + M(-k)) / 2, one value per
    conjugate pair {k, -k} (the self-conjugate bins, DC among them, once each)."""
    m = np.asarray(masks, dtype=float)
    if m.ndim != 3:
        raise ValueError(f"masks must have shape (N, H, W), got {m.shape}")
    h, w = m.shape[-2:]
    i, j = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    flat, conj = i * w + j, ((-i) % h) * w + (-j) % w
    keep = (flat <= conj).ravel()
    return symmetric_part(m).reshape(len(m), -1)[:, keep]


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (fractions in [0, 1])."""
    if n <= 0:
        raise ValueError("the Wilson interval needs n > 0")
    from scipy.stats import norm  # here, not at the top: see fm_core.science

    z = norm.ppf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def _model(alphas, standardise: bool):
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ridge = RidgeClassifierCV(alphas=alphas)  # inner CV: leave-one-out on the training masks
    return make_pipeline(StandardScaler(), ridge) if standardise else ridge


def _cross_validate(x, y, folds, alphas, standardise=False, outputs=True) -> dict:
    """Out-of-fold predictions (and decision function) over the given outer folds."""
    pred = np.empty_like(y)
    decision, train, chosen = None, [], []
    for train_idx, test_idx in folds:
        model = _model(alphas, standardise).fit(x[train_idx], y[train_idx])
        pred[test_idx] = model.predict(x[test_idx])
        train.append(100 * model.score(x[train_idx], y[train_idx]))
        if outputs:
            d = model.decision_function(x[test_idx])
            if decision is None:
                decision = np.zeros((len(y),) + d.shape[1:])
            decision[test_idx] = d
            chosen.append(float(model[-1].alpha_ if standardise else model.alpha_))
    return {"accuracy_pct": 100 * float(np.mean(pred == y)), "train_pct": float(np.mean(train)),
            "predictions": pred, "decision_function": decision, "alphas": chosen}


def usable_masks(labels: np.ndarray, n_splits: int) -> tuple[np.ndarray, int]:
    """Which masks enter the test (classes with at least two masks: one can be held out
    while another is fitted) and the number of outer folds (``n_splits``, at most the
    smallest such class). Raises ValueError when fewer than two classes qualify."""
    labels = np.asarray(labels)
    present, counts = np.unique(labels, return_counts=True)
    if (counts >= 2).sum() < 2:
        raise ValueError(f"too few masks to classify: {dict(zip(present.tolist(), counts.tolist()))} masks "
                         "per class; at least two classes with two masks each are needed "
                         "(learn masks for more images)")
    usable = np.isin(labels, present[counts >= 2])
    return usable, int(min(n_splits, counts[counts >= 2].min()))


def mask_classifier(masks: np.ndarray, labels: np.ndarray, n_splits: int = 5, n_permutations: int = 199,
                    seed: int = 0, alphas=ALPHAS, confidence: float = 0.95,
                    scaling_check: bool = True) -> dict:
    """Table 3: can a linear classifier tell single-image masks apart by class?

    Every mask of a class with at least two masks enters a stratified ``n_splits``-fold
    cross-validation (fewer folds when the smallest class is smaller; fixed ``seed``).
    In each outer fold a ridge classifier on :func:`mask_features` is fitted to the
    other folds, its alpha chosen among ``alphas`` by leave-one-out on those masks only,
    and it predicts the held-out fold. The score is the pooled out-of-fold accuracy with
    its Wilson interval at ``confidence`` (the folds' errors are treated as independent
    trials, the usual approximation). The control reruns the same procedure on
    ``n_permutations`` shuffles of the labels (seeded), each folded by the same splitter
    (stratified on the shuffled labels, as ``permutation_test_score`` does); the
    p-value is (1 + #{shuffled accuracy >= true accuracy}) / (1 + n_permutations).

    Returns a dict: ``accuracy_pct``, ``ci_pct`` (low, high), ``train_pct`` (mean over
    outer folds of the accuracy on the masks each model was fitted to), ``p_value``,
    ``null_pct`` and ``null_train_pct`` (per shuffle), ``null_mean_pct``,
    ``null_range_pct`` (2.5 and 97.5 percentiles), ``alphas`` (chosen per outer fold),
    ``n_masks``, ``n_splits``, ``n_permutations``, ``seed``, ``confidence``, ``classes``,
    ``class_counts``, ``chance_pct`` (100 / n classes), ``majority_pct`` (the largest
    class's share), ``labels``, ``fold`` (each mask's outer fold), ``predictions``,
    ``decision_function`` (each mask's held-out output, (N, n classes), or (N,) for two
    classes: Figure 8's input), and ``standardised_accuracy_pct`` (the same test with
    every feature standardised first; None without ``scaling_check``).
    """
    x = mask_features(masks)
    labels = np.asarray(labels)
    if len(labels) != len(x):
        raise ValueError(f"{len(x)} masks but {len(labels)} labels")
    if n_permutations < 1:
        raise ValueError("n_permutations must be at least 1")
    usable, k = usable_masks(labels, n_splits)
    x, y = x[usable], labels[usable]
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    folds = list(splitter.split(x, y))
    fold = np.empty(len(y), dtype=int)
    for f, (_, test_idx) in enumerate(folds):
        fold[test_idx] = f
    rng = np.random.default_rng(seed)
    shuffles = [rng.permutation(y) for _ in range(n_permutations)]
    with threadpool_limits(1):  # small problems: one BLAS thread is several times faster than two
        true = _cross_validate(x, y, folds, alphas)
        # each shuffle is folded by the same splitter, stratified on its own labels (as
        # scikit-learn's permutation_test_score does): folds fixed by the true labels would
        # leave a shuffled class short in training where it is plentiful in the test fold,
        # which pulls the shuffled accuracy below chance and the p-value down with it
        null = [_cross_validate(x, yp, list(splitter.split(x, yp)), alphas, outputs=False) for yp in shuffles]
        standardised = (_cross_validate(x, y, folds, alphas, standardise=True, outputs=False)["accuracy_pct"]
                        if scaling_check else None)
    null_pct = np.array([r["accuracy_pct"] for r in null])
    correct = int(round(true["accuracy_pct"] * len(y) / 100))
    low, high = wilson_interval(correct, len(y), confidence)
    classes, counts = np.unique(y, return_counts=True)
    return {
        "accuracy_pct": true["accuracy_pct"], "ci_pct": (100 * low, 100 * high), "train_pct": true["train_pct"],
        "p_value": float((1 + np.sum(null_pct >= true["accuracy_pct"] - 1e-9)) / (1 + n_permutations)),
        "null_pct": null_pct, "null_train_pct": np.array([r["train_pct"] for r in null]),
        "null_mean_pct": float(null_pct.mean()),
        "null_range_pct": tuple(float(q) for q in np.percentile(null_pct, [2.5, 97.5])),
        "alphas": true["alphas"], "n_masks": int(len(y)), "n_splits": k, "n_permutations": int(n_permutations),
        "seed": seed, "confidence": confidence, "classes": classes, "class_counts": counts,
        "chance_pct": 100.0 / len(classes), "majority_pct": float(100 * counts.max() / len(y)),
        "labels": y, "fold": fold, "predictions": true["predictions"],
        "decision_function": true["decision_function"], "standardised_accuracy_pct": standardised,
    }


def umap_embedding(features: np.ndarray, n_neighbors: int = 20, seed: int = 0) -> np.ndarray:
    """Figure 8: 2-D UMAP of features (e.g. the mask classifier's decision function).

    ``features`` (N, ...) are flattened per row. ``n_neighbors`` (authors' notebook: 20)
    is clipped to N - 1 for small inputs; ``random_state=seed`` fixes the layout.
    Returns (N, 2).
    """
    import umap  # slow to import (numba); only needed here

    x = np.asarray(features, dtype=float).reshape(len(features), -1)
    if len(x) < 3:
        raise ValueError(f"UMAP needs at least 3 points, got {len(x)}")
    reducer = umap.UMAP(n_neighbors=min(n_neighbors, len(x) - 1), n_components=2,
                        random_state=seed, n_jobs=1, init="spectral" if len(x) > 3 else "random")
    return reducer.fit_transform(x)

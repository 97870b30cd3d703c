"""Table 3 and Figure 8 of the paper: can a linear classifier tell single-image masks
apart by class (true against shuffled labels, on held-out masks), and a UMAP of its
outputs. Pure NumPy / scikit-learn / umap-learn."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def _balanced_indices(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of a class-balanced subset: each class subsampled to the smallest count."""
    classes, counts = np.unique(labels, return_counts=True)
    keep = [rng.choice(np.flatnonzero(labels == c), counts.min(), replace=False) for c in classes]
    return np.sort(np.concatenate(keep))


def _fit_and_score(x, y, seed, test_size, C):
    n_classes = len(np.unique(y))
    # a stratified split needs one test image per class: small runs get a larger share
    n_test = max(int(np.ceil(test_size * len(y))), n_classes)
    if len(y) - n_test < n_classes:
        raise ValueError(f"too few masks for a train/test split: {len(y)} balanced masks, "
                         f"{n_classes} classes (learn masks for more images)")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=n_test, stratify=y, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
    model.fit(x_train, y_train)
    scores = 100 * model.score(x_train, y_train), 100 * model.score(x_test, y_test)
    return model, scores, (len(y_train), len(y_test))


def _summary(train: list[float], test: list[float]) -> dict:
    train, test = np.array(train), np.array(test)
    return {"train": train, "test": test,
            "train_mean": float(train.mean()), "train_std": float(train.std()),
            "test_mean": float(test.mean()), "test_std": float(test.std())}


def mask_classifier(masks: np.ndarray, labels: np.ndarray, seeds: Sequence[int] = (0, 1, 2, 3, 4),
                    test_size: float = 0.15, balance: bool = True, C: float = 1.0) -> dict:
    """Table 3: can a linear classifier tell single-image masks apart by class?

    For each seed: subsample every class to the smallest class count (``balance``),
    split 85/15 stratified (at least one test mask per class), fit StandardScaler +
    LogisticRegression on the flattened masks, and score train and test accuracy. The same is done with the labels
    shuffled (seeded) as a control: its *test* accuracy should sit at chance. With about
    as many pixels as masks (or more) a linear classifier memorises even shuffled labels,
    so the shuffled *train* accuracy is high here even for small ``C`` (the paper reports
    19.5%, from a classifier trained differently); the test accuracy is the control.

    Returns a dict with keys
    ``"true_labels"`` and ``"shuffled_labels"``: each a dict with ``"train"``, ``"test"``
    (per-seed accuracies in %, arrays) and ``"train_mean"``, ``"train_std"``,
    ``"test_mean"``, ``"test_std"`` (floats, %, std over seeds with ddof=0);
    ``"seeds"`` (list), ``"classes"`` (array), ``"chance_pct"`` (100 / n classes),
    ``"n_per_class"`` (int; None without ``balance``), ``"n_train"``, ``"n_test"`` (ints,
    the first seed's split sizes);
    ``"decision_function"``: held-out outputs for *every* mask, (N, n_classes) (or (N,)
    for two classes): each mask's from a classifier of a stratified 5-fold split that
    did not see it (``cross_val_predict``), the input to Figure 8's UMAP.
    """
    x = np.asarray(masks, dtype=float).reshape(len(masks), -1)
    labels = np.asarray(labels)
    present, counts = np.unique(labels, return_counts=True)
    if (counts >= 2).sum() < 2:
        raise ValueError(f"too few masks to classify: {dict(zip(present.tolist(), counts.tolist()))} masks "
                         "per class; at least two classes with two masks each are needed")
    usable = np.isin(labels, present[counts >= 2])  # a class with one mask cannot be split
    x, labels = x[usable], labels[usable]
    true_train, true_test, shuf_train, shuf_test = [], [], [], []
    decision = n_train = n_test = None
    for seed in seeds:
        rng = np.random.default_rng(seed)
        idx = _balanced_indices(labels, rng) if balance else np.arange(len(labels))
        model, (train, test), sizes = _fit_and_score(x[idx], labels[idx], seed, test_size, C)
        true_train.append(train)
        true_test.append(test)
        if n_train is None:
            n_train, n_test = sizes
        _, (train, test), _ = _fit_and_score(x[idx], rng.permutation(labels[idx]), seed, test_size, C)
        shuf_train.append(train)
        shuf_test.append(test)
    classes, counts = np.unique(labels, return_counts=True)
    folds = StratifiedKFold(n_splits=max(2, min(5, int(counts.min()))), shuffle=True, random_state=seeds[0])
    decision = cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000)),
                                 x, labels, cv=folds, method="decision_function")
    return {
        "true_labels": _summary(true_train, true_test),
        "shuffled_labels": _summary(shuf_train, shuf_test),
        "seeds": list(seeds),
        "classes": classes,
        "chance_pct": 100.0 / len(classes),
        "n_per_class": int(counts.min()) if balance else None,
        "n_train": n_train,
        "n_test": n_test,
        "decision_function": decision,
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

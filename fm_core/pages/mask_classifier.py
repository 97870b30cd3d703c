"""Page 07, the mask classifier (Table 3, Figure 8): whether single-image masks carry class
information, by a linear classifier cross-validated on the masks and a permutation test.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from fm_core.profiles import Profile
from fm_core.science import experiments
from fm_core.store import pipeline
from fm_core.store.pipeline import get_image_masks
from .common import VERDICT_KEY


TABLE3_KEYS = {"true_labels": ("train_mean", "test_mean", "test_low", "test_high"),
               "shuffled_labels": ("train_mean", "test_mean", "test_low", "test_high")}


TABLE3_NUMBERS = ("p_value", "n_masks", "n_folds", "n_permutations", "confidence_pct", "chance", "majority",
                  "standardised_test")


def table3_values(clf: dict) -> dict:
    """The stored numbers of :func:`fm_core.science.mask_classifier.mask_classifier` (percentages
    to 2 decimals): true labels' training accuracy (mean over outer folds), k-fold
    accuracy and its Wilson interval (``test_low``, ``test_high``); shuffled labels' mean
    training and k-fold accuracy over the permutations and the null's 2.5-97.5 percentile
    range; the p-value and the test's sizes."""
    r = lambda v: round(float(v), 2)  # noqa: E731
    return {"true_labels": {"train_mean": r(clf["train_pct"]), "test_mean": r(clf["accuracy_pct"]),
                            "test_low": r(clf["ci_pct"][0]), "test_high": r(clf["ci_pct"][1])},
            "shuffled_labels": {"train_mean": r(np.mean(clf["null_train_pct"])), "test_mean": r(clf["null_mean_pct"]),
                                "test_low": r(clf["null_range_pct"][0]), "test_high": r(clf["null_range_pct"][1])},
            "p_value": round(float(clf["p_value"]), 4), "n_masks": clf["n_masks"], "n_folds": clf["n_splits"],
            "n_permutations": clf["n_permutations"], "confidence_pct": r(100 * clf["confidence"]),
            "chance": r(clf["chance_pct"]), "majority": r(clf["majority_pct"]),
            "standardised_test": None if clf["standardised_accuracy_pct"] is None
            else r(clf["standardised_accuracy_pct"])}


# The permutation test's level at which the masks are said to carry class information (the
# conventional 5%)
SIGNIFICANCE = 0.05
# p is at its floor 1/(n + 1) (no shuffle did as well) when it lies this close to it (float noise)
AT_FLOOR = 1e-6


@dataclass(frozen=True)
class Table3Verdict:
    """Table 3's conclusion, from its stored numbers (:func:`table3_values`)."""
    fitted: bool                     # a classifier could be fitted (otherwise every number is NaN)
    significant: bool                # the permutation test's p lies below SIGNIFICANCE
    interval_covers_chance: bool     # the k-fold accuracy's interval contains chance
    carries_class_information: bool  # significant, and the interval leaves chance out
    p_at_floor: bool                 # no shuffle did as well: p = 1/(n + 1), the least n shuffles can give
    shuffled_fit_nearer_chance: bool | None  # shuffled labels' training fit nearer chance than 100% (None: unknown)


def _known(value) -> bool:
    return value is not None and value == value  # not missing, not NaN


def judge_table3(values: dict) -> Table3Verdict:
    true, shuffled, chance = values.get("true_labels", {}), values.get("shuffled_labels", {}), values.get("chance")
    fitted = _known(true.get("test_mean")) and _known(values.get("p_value"))
    fit = shuffled.get("train_mean")
    nearer = fit < (chance + 100) / 2 if _known(fit) and _known(chance) else None  # the midpoint of chance and 100
    if not fitted:
        return Table3Verdict(fitted=False, significant=False, interval_covers_chance=False,
                             carries_class_information=False, p_at_floor=False, shuffled_fit_nearer_chance=nearer)
    p, n = values["p_value"], values["n_permutations"]
    significant = p < SIGNIFICANCE
    covers = _known(chance) and true["test_low"] <= chance <= true["test_high"]
    return Table3Verdict(fitted=True, significant=significant, interval_covers_chance=covers,
                         carries_class_information=significant and not covers,
                         p_at_floor=abs(p - 1 / (n + 1)) < AT_FLOOR, shuffled_fit_nearer_chance=nearer)


def table3(cfg: Profile, progress: bool = True) -> dict:
    """Table 3 on the vanilla network's single-image masks (M_N,x): ``values`` (stored;
    :func:`table3_values`, with their verdict, :func:`judge_table3`) and ``classifier``
    (the full result, with the held-out outputs and labels Figure 8 draws; None when no
    classifier could be fitted)."""
    result = get_image_masks(cfg, "vanilla_x", progress)
    try:
        clf = experiments.table3(result.masks, result.extra["labels"], cfg.classifier_folds,
                                 cfg.classifier_permutations, seed=cfg.seed)
    except ValueError as err:  # e.g. the selection holds one class only (a failed network)
        nan = float("nan")
        values = {kind: dict.fromkeys(keys, nan) for kind, keys in TABLE3_KEYS.items()}
        values.update(dict.fromkeys(TABLE3_NUMBERS, nan), reason=str(err))
        values[VERDICT_KEY] = asdict(judge_table3(values))
        pipeline.save_result(cfg, "table3", values)
        return {"values": values, "classifier": None}
    values = {**table3_values(clf), **class_coverage(result.extra["labels"], clf["classes"],
                                                      pipeline.get_dataset(cfg).class_names)}
    values[VERDICT_KEY] = asdict(judge_table3(values))
    pipeline.save_result(cfg, "table3", values)
    return {"values": values, "classifier": clf}


def class_coverage(labels, tested_classes, class_names: list[str]) -> dict:
    """Which of the data set's classes the test could use: the selected images need not
    cover every class, and a class with one mask cannot be both fitted and held out. Chance
    is 100 / the classes tested, not 100 / the data set's classes. ``classes_in_data``,
    ``classes_tested`` and ``classes_left_out`` (name: number of masks, 0 for none)."""
    labels, tested = np.asarray(labels), set(np.asarray(tested_classes).tolist())
    left_out = {name: int((labels == c).sum()) for c, name in enumerate(class_names) if c not in tested}
    return {"classes_in_data": len(class_names), "classes_tested": len(tested), "classes_left_out": left_out}

"""The book's numbers, through the store: each function fetches its inputs from
:mod:`fm_core.store.pipeline`, computes with the pure :mod:`fm_core.science.experiments`, saves the
numbers (read back by the reproduction page, ``fm book``'s summary and the headline
file) and returns them. Figures that are only drawn are computed in the notebooks
straight from :mod:`fm_core.science.experiments`.
"""
from __future__ import annotations

import numpy as np

from fm_core.data.synthetic import ROBUST_H_RATIO
from fm_core.science import experiments, paper
from fm_core.science.mask_classifier import wilson_interval
from fm_core.science.reversal import attack_success, weakest_sufficient_attack
from . import pipeline
from .pipeline import get_class_masks, get_dataset, get_dataset_mask, get_image_masks, get_network
from fm_core.profiles import REGIMES, Profile


def networks(cfg: Profile, regimes=REGIMES, progress: bool = True) -> dict:
    return {r: get_network(cfg, r, progress) for r in regimes}


def dataset_masks(cfg: Profile, regimes=REGIMES, progress: bool = True) -> dict:
    return {r: get_dataset_mask(cfg, r, progress=progress) for r in regimes}


def class_masks(cfg: Profile, regime: str = "vanilla", progress: bool = True) -> dict:
    """``{"class c": MaskResult}``: the class masks as results (their convergence too)."""
    return {f"class {c}": get_dataset_mask(cfg, regime, c, progress)
            for c in range(get_dataset(cfg).num_classes)}


def convergence_note(cfg: Profile, regimes=REGIMES, classes: bool = True, progress: bool = True) -> str:
    """One line for a page: whether every dataset mask (and the vanilla class masks) it
    uses converged within its budget, naming those that did not."""
    from .mask_choice import unconverged_note

    named = {f"{r} dataset mask": m for r, m in dataset_masks(cfg, regimes, progress).items()}
    if classes:
        named.update({f"vanilla {k} mask": m for k, m in class_masks(cfg, progress=progress).items()})
    return unconverged_note(named) or (f"All {len(named)} dataset and class masks on this page converged within "
                                       f"their budget (steps: {min(int(m.steps[0]) for m in named.values())} to "
                                       f"{max(int(m.steps[0]) for m in named.values())}).")


def _saved(cfg: Profile, name: str, values):
    pipeline.save_result(cfg, name, values)
    return values


def table1(cfg: Profile, progress: bool = True) -> dict:
    x, y = pipeline.score_half(cfg)
    return _saved(cfg, "table1", experiments.table1(networks(cfg, progress=progress),
                                                    dataset_masks(cfg, progress=progress), x, y,
                                                    cfg.eps_pixel, cfg.pgd_steps, seed=cfg.seed))


def figure4(cfg: Profile, n_bands: int | None = None, metric: str = "mean", progress: bool = True) -> dict:
    masks = {r: m.mask for r, m in dataset_masks(cfg, progress=progress).items()}
    out = experiments.band_energy_differences(masks, n_bands or cfg.bands, metric=metric,
                                              truth=get_dataset(cfg).truth)
    pipeline.save_result(cfg, f"figure4_{metric}", out["low_minus_high_radial"])
    return out


def _reversal_inputs(cfg: Profile, progress: bool):
    ds = get_dataset(cfg)
    result = get_image_masks(cfg, "vanilla_x", progress)
    indices, labels = result.extra["indices"], result.extra["labels"]
    x_adv = pipeline.get_reversal_selection(cfg, progress)["x_adv"][:len(indices)]
    return ds, ds.x_val[indices], x_adv, result.masks, labels


def table2(cfg: Profile, progress: bool = True) -> dict:
    _, x, x_adv, masks, labels = _reversal_inputs(cfg, progress)
    values = experiments.table2(get_network(cfg, "vanilla", progress), x, x_adv, masks, labels,
                                get_class_masks(cfg, "vanilla", progress), seed=cfg.seed)
    return _saved(cfg, "table2", values)


def attack_energy_kept(cfg: Profile, progress: bool = True) -> dict:
    """Table 2's images: the share of each attack's energy that the image's own mask lets
    through (:func:`fm_core.science.experiments.attack_energy_kept`), as mean, median and range."""
    _, x, x_adv, masks, _ = _reversal_inputs(cfg, progress)
    return _energy_stats(experiments.attack_energy_kept(x, x_adv, masks))


def _energy_stats(kept: np.ndarray) -> dict:
    return {"n": int(len(kept)), "mean": float(kept.mean()), "median": float(np.median(kept)),
            "min": float(kept.min()), "max": float(kept.max())}


# Table 2 where it is not built in (robust_h_reversal): the attack strengths tried, weakest
# first, and the least success that makes one enough (at least half the right answers flipped)
ATTACK_FACTORS = (1.0, 1.5, 2.0, 3.0, 4.0)
ATTACK_SUCCESS = 0.5
ATTACK_IMAGES = 256


def robust_h_reversal(cfg: Profile, progress: bool = True) -> dict | None:
    """Table 2 in the robust-H world (the cue question's control, H far above eps), where
    the vanilla network reads H and PGD at eps cannot erase it, so a mask's reversal is
    not given by construction. The attack is strengthened to the weakest multiple of
    eps in :data:`ATTACK_FACTORS` that makes at least :data:`ATTACK_SUCCESS` of the
    network's right answers on :data:`ATTACK_IMAGES` score-half images wrong (chosen
    without any mask). Returns ``success`` (factor -> share), ``factor`` (None: no attack
    was enough, and then only the next two), the vanilla network's ``L-bias`` there,
    ``energy by cue`` (where this attack and the main world's put their energy),
    ``table2`` (without the class-mask row), ``eps_pixel``, ``intervals`` (95% Wilson, of
    the M(x_A) and random-mask rows) and ``energy kept`` by the images' masks. None off
    the cue world."""
    if get_dataset(cfg).truth is None:
        return None
    world = cfg.replace(cue_h_ratio=ROBUST_H_RATIO)
    x, y = pipeline.score_half(world)
    x, y = x[:ATTACK_IMAGES], y[:ATTACK_IMAGES]
    vanilla = get_network(world, "vanilla", progress)
    success = {}
    for factor in ATTACK_FACTORS:  # weakest first: stop at the first that is enough
        success[factor] = attack_success(vanilla, x, y, cfg.eps_pixel * factor, cfg.pgd_steps, cfg.seed)
        if success[factor] >= ATTACK_SUCCESS:
            break
    factor = weakest_sufficient_attack(success, ATTACK_SUCCESS)
    main_ds, main_x, main_adv, _, _ = _reversal_inputs(cfg, progress)
    out = {"success": {f"{k:g} x eps": v for k, v in success.items()}, "factor": factor,
           "L-bias": pipeline.get_behaviour(world, "vanilla", progress)["L-bias"],
           "energy by cue": {"main world, eps": experiments.attack_energy_by_cue(main_x, main_adv, main_ds.truth)}}
    if factor is not None:
        variant = world.replace(reversal_eps_factor=factor)
        ds, xs, x_adv, masks, labels = _reversal_inputs(variant, progress)
        values = experiments.table2(vanilla, xs, x_adv, masks, labels, None, seed=cfg.seed)
        n = values["n"]
        out.update(table2=values, eps_pixel=cfg.eps_pixel * factor,
                   intervals={row: [100 * b for b in wilson_interval(round(values[row] * n / 100), n)]
                              for row in ("M(x_A)", "random mask, same size (x_A)")},
                   **{"energy kept": _energy_stats(experiments.attack_energy_kept(xs, x_adv, masks))})
        out["energy by cue"][f"robust-H world, {factor:g} x eps"] = experiments.attack_energy_by_cue(
            xs, x_adv, ds.truth)
    return _saved(cfg, "robust_h_reversal", out)


def figure7(cfg: Profile, n_bands: int | None = None, metric: str = "mean", progress: bool = True) -> dict:
    reference = get_image_masks(cfg, "vanilla_x", progress).masks
    others = {"M_A,x > M_N,x": get_image_masks(cfg, "adversarial_x", progress).masks,
              "M_N,xA > M_N,x": get_image_masks(cfg, "vanilla_xadv", progress).masks}
    out = experiments.band_preference(reference, others, n_bands or cfg.bands, metric=metric,
                                      truth=get_dataset(cfg).truth)
    pipeline.save_result(cfg, f"figure7_{metric}", {
        k: {s: v[s] for s in ("low_bands_more_pct", "high_bands_more_pct", "equal_pct")}
        for k, v in out["comparisons"].items()})
    return out


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


def table3(cfg: Profile, progress: bool = True) -> dict:
    """Table 3 on the vanilla network's single-image masks (M_N,x): ``values`` (stored;
    :func:`table3_values`) and ``classifier`` (the full result, with the held-out
    outputs and labels Figure 8 draws; None when no classifier could be fitted)."""
    result = get_image_masks(cfg, "vanilla_x", progress)
    try:
        clf = experiments.table3(result.masks, result.extra["labels"], cfg.classifier_folds,
                                 cfg.classifier_permutations, seed=cfg.seed)
    except ValueError as err:  # e.g. the selection holds one class only (a failed network)
        nan = float("nan")
        values = {kind: dict.fromkeys(keys, nan) for kind, keys in TABLE3_KEYS.items()}
        values.update(dict.fromkeys(TABLE3_NUMBERS, nan), reason=str(err))
        pipeline.save_result(cfg, "table3", values)
        return {"values": values, "classifier": None}
    values = table3_values(clf)
    pipeline.save_result(cfg, "table3", values)
    return {"values": values, "classifier": clf}


def ground_truth(cfg: Profile, progress: bool = True) -> dict:
    ds = _planted(cfg)
    masks = {r: m.mask for r, m in dataset_masks(cfg, progress=progress).items()}
    return _saved(cfg, "ground_truth", experiments.ground_truth_recovery(
        masks, get_class_masks(cfg, "vanilla", progress), ds.ground_truth, ds.class_names))


def cue_reliance(cfg: Profile, progress: bool = True) -> dict:
    ds = _planted(cfg)
    x, y = pipeline.score_half(cfg)
    return _saved(cfg, "cue_reliance", experiments.cue_reliance(networks(cfg, progress=progress), x, y,
                                                               ds.truth))


def _planted(cfg: Profile):
    ds = get_dataset(cfg)
    if ds.truth is None:
        raise ValueError(f"the data set {cfg.data!r} has no planted frequencies (use data='synthetic')")
    return ds


def reproduction(cfg: Profile, progress: bool = True) -> list[tuple]:
    """Every number the paper reports beside this build's: the results the other pages
    stored for this configuration and code, computing only those missing. Rows are
    (artefact, quantity, paper, this build)."""
    stored = pipeline.load_results(cfg)
    for name, compute in (("table1", table1), ("table2", table2), ("table3", table3)):
        if name not in stored:
            compute(cfg, progress)
    stored = pipeline.load_results(cfg)
    rows = []
    for regime, (standard, masked) in paper.TABLE1.items():
        ours = stored["table1"][regime]
        rows.append(("Table 1", f"{regime} standard accuracy, %", standard, ours["standard"]))
        rows.append(("Table 1", f"{regime} masked accuracy, %", masked, ours["masked"]))
    for key, value in paper.TABLE2.items():
        rows.append(("Table 2", f"{key}, % agreement", value, round(stored["table2"][key], 2)))
    for kind, splits in paper.TABLE3.items():
        for split, value in splits.items():
            rows.append(("Table 3", f"{kind.replace('_', ' ')}, {split} accuracy, %", value,
                         stored["table3"][kind][f"{split}_mean"]))
    rows.append(("Section 3", "images selected for single-image masks", paper.SELECTED_IMAGES,
                 int(len(pipeline.get_reversal_selection(cfg, progress)["indices"]))))
    return rows


def headline(cfg: Profile) -> dict:
    """The build's headline numbers, flat (``table1.vanilla.standard`` -> value), from the
    results stored for this configuration and code: what README and expected/ compare."""
    flat = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            flat[prefix] = float(value)

    walk("", pipeline.load_results(cfg))
    return flat

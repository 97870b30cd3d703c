"""One function per table and figure of the paper, computed through the artefact store.

Each takes a resolved :class:`~fm_core.profiles.Profile`, asks :mod:`fm_core.store` for
the networks and masks it needs (computing only what is missing), runs the analysis of
:mod:`fm_core.analysis` or :mod:`fm_core.masks`, stores its numbers with
:func:`fm_core.store.save_result` (read back by the reproduction page) and returns what
the notebook plots. Notebooks call these; tests call them too.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from . import analysis, paper, store
from .masks import complement, filter_images, masked_accuracy, reversal_accuracies, symmetric_part
from .profiles import REGIME_LETTERS, REGIMES, Profile


def _pct(fraction: float) -> float:
    return round(100.0 * float(fraction), 2)


# ------------------------------------------------------------------ Table 1, Figure 3
def table1(cfg: Profile, progress: bool = True) -> pd.DataFrame:
    """Table 1: each network's validation accuracy, standard and with its dataset mask,
    beside the paper's; plus what the paper did not report (PGD accuracy, the mask's
    mean value, training time)."""
    rows, values = [], {}
    for regime in REGIMES:
        net = store.get_network(cfg, regime, progress)
        mask = store.get_dataset_mask(cfg, regime, progress=progress)
        m = net.meta["metrics"]
        paper_std, paper_masked = paper.TABLE1[regime]
        values[regime] = dict(standard=_pct(mask["accuracy_before"]), masked=_pct(mask["accuracy_after"]),
                              pgd=_pct(m["pgd_acc"]), mask_mean=float(mask["mask"].mean()),
                              mask_kept=bool(mask["kept"]), train_seconds=round(m["train_seconds"], 1))
        rows.append({
            "network": f"{REGIME_LETTERS[regime]} ({regime})",
            "standard: paper": paper_std, "standard: this build": values[regime]["standard"],
            "masked: paper": paper_masked, "masked: this build": values[regime]["masked"],
            "PGD: this build": values[regime]["pgd"],
            "mask mean": round(values[regime]["mask_mean"], 3),
            "train s": values[regime]["train_seconds"],
        })
    store.save_result(cfg, "table1", values)
    return pd.DataFrame(rows).set_index("network")


def training_histories(cfg: Profile, progress: bool = True) -> dict[str, list]:
    """Validation loss and accuracy per epoch of the five networks, keyed for
    :func:`fm_core.plots.plot_training_history`."""
    out = {}
    for regime in REGIMES:
        history = store.get_network(cfg, regime, progress).meta["metrics"]["history"]
        out[f"val_loss {regime}"] = history["val_loss"]
        out[f"val_acc {regime}"] = history["val_acc"]
    return out


def dataset_masks(cfg: Profile, progress: bool = True) -> dict[str, np.ndarray]:
    """Figure 3: the five networks' dataset masks (unshifted), keyed by regime."""
    return {r: store.get_dataset_mask(cfg, r, progress=progress)["mask"] for r in REGIMES}


# ---------------------------------------------------------------------------- Figure 4
def band_energy_differences(cfg: Profile, n_bands: int | None = None, progress: bool = True) -> dict:
    """Figure 4: per radial and angular band, each augmented network's mask energy minus
    the vanilla network's (masks scaled to unit L2 norm; authors' notebooks)."""
    masks = dataset_masks(cfg, progress)
    stack = np.stack([masks[r] for r in REGIMES])
    n_bands = n_bands or cfg.bands
    out = {"regimes": list(REGIMES[1:]), "n_bands": n_bands}
    for kind, bands in (("radial", analysis.radial_bands(cfg.size, n_bands)),
                        ("angular", analysis.angular_bands(cfg.size, n_bands))):
        out[kind] = analysis.energy_differences(stack, bands, reference=0)
    # summary: does the mask's energy move to low (positive) or high (negative) radii?
    half = n_bands // 2
    store.save_result(cfg, "figure4", {
        r: {"low_minus_high_radial": float(out["radial"][i, :half].sum() - out["radial"][i, half:].sum())}
        for i, r in enumerate(out["regimes"])})
    return out


# ---------------------------------------------------------------------------- Figure 5
def image_mask_examples(cfg: Profile, per_class: int = 4, progress: bool = True) -> dict:
    """Figure 5: per class, the class mask and ``per_class`` single-image masks of the
    vanilla network, and the images filtered by the masks and by their complements."""
    ds = store.get_dataset(cfg)
    vanilla = store.get_network(cfg, "vanilla", progress)
    result = store.get_image_masks(cfg, "vanilla_x", progress)
    class_masks = store.get_class_masks(cfg, "vanilla", progress)
    chosen = []
    for c in range(ds.num_classes):
        chosen.extend(np.flatnonzero(result["labels"] == c)[:per_class].tolist())
    chosen = np.array(chosen, dtype=int)
    x = ds.x_val[result["indices"][chosen]]
    masks = torch.from_numpy(result["masks"][chosen])
    with torch.no_grad():
        by_mask = filter_images(vanilla, x, masks)[:, 0].numpy()
        by_complement = filter_images(vanilla, x, complement(masks))[:, 0].numpy()
    return {"images": x[:, 0].numpy(), "masks": masks.numpy(), "labels": result["labels"][chosen],
            "class_masks": class_masks, "class_names": ds.class_names,
            "mask_filtered": by_mask, "complement_filtered": by_complement}


def image_mask_statistics(cfg: Profile, progress: bool = True) -> pd.DataFrame:
    """Per single-image mask set: images, mean mask value, share of exactly-removed
    frequencies, steps taken, and how often the masked prediction equals the target."""
    rows = []
    for which in store.IMAGE_MASK_SETS:
        r = store.get_image_masks(cfg, which, progress)
        rows.append({"mask set": which, "images": len(r["masks"]),
                     "mean mask value": round(float(r["masks"].mean()), 4),
                     "removed (M < 1e-8), %": round(100 * float((r["masks"] < 1e-8).mean()), 1),
                     "median steps": int(np.median(r["steps"])), "max steps": int(r["steps"].max()),
                     "prediction kept, %": round(100 * float((r["final_predictions"] == r["predictions"]).mean()), 1)})
    return pd.DataFrame(rows).set_index("mask set")


# ------------------------------------------------------------------ Figure 6, Table 2
def _reversal_inputs(cfg: Profile, progress: bool):
    ds = store.get_dataset(cfg)
    selection = store.get_reversal_selection(cfg, progress)
    result = store.get_image_masks(cfg, "vanilla_x", progress)
    n = len(result["indices"])
    return ds, ds.x_val[result["indices"]], selection["x_adv"][:n], result


def reversal_examples(cfg: Profile, progress: bool = True) -> dict:
    """Figure 6: one image per class: x, x_A, M_N,x, M_N,x(x), M_N,x(x_A), Mc_N,x, Mc_N,x(x)."""
    ds, x, x_adv, result = _reversal_inputs(cfg, progress)
    vanilla = store.get_network(cfg, "vanilla", progress)
    first = [int(np.flatnonzero(result["labels"] == c)[0]) for c in range(ds.num_classes)
             if (result["labels"] == c).any()]
    masks = torch.from_numpy(result["masks"][first])
    with torch.no_grad():
        out = {
            "x": x[first, 0].numpy(), "x_adv": x_adv[first, 0].numpy(), "mask": masks.numpy(),
            "filtered_x": filter_images(vanilla, x[first], masks)[:, 0].numpy(),
            "filtered_xadv": filter_images(vanilla, x_adv[first], masks)[:, 0].numpy(),
            "complement": complement(masks).numpy(),
            "complement_filtered": filter_images(vanilla, x[first], complement(masks))[:, 0].numpy(),
        }
    out["titles"] = [ds.class_names[int(result["labels"][i])] for i in first]
    return out


def table2(cfg: Profile, progress: bool = True) -> pd.DataFrame:
    """Table 2: the vanilla network's agreement (%) with its own clean predictions on x,
    x_A, M_N,x(x), M_N,x(x_A) and Mc_N,x(x), over the selected images."""
    _, x, x_adv, result = _reversal_inputs(cfg, progress)
    vanilla = store.get_network(cfg, "vanilla", progress)
    acc = reversal_accuracies(vanilla, x, x_adv, result["masks"])
    store.save_result(cfg, "table2", acc)
    rows = [{"input": k, "paper": paper.TABLE2[k], "authors' notebook": paper.TABLE2_NOTEBOOK.get(k, ""),
             "this build": round(acc[k], 2)} for k in paper.TABLE2]
    return pd.DataFrame(rows).set_index("input")


# ---------------------------------------------------------------------------- Figure 7
def band_preference(cfg: Profile, n_bands: int | None = None, progress: bool = True) -> dict:
    """Figure 7: per radial/angular band, % of images whose mask from the adversarially
    trained network (M_A,x: the authors' code, clean image) holds more energy than the
    vanilla network's (M_N,x), and the same for the vanilla network on the PGD image
    (M_N,xA) against M_N,x."""
    n_bands = n_bands or cfg.bands
    vanilla = store.get_image_masks(cfg, "vanilla_x", progress)["masks"]
    comparisons = {"M_A,x > M_N,x": store.get_image_masks(cfg, "adversarial_x", progress)["masks"],
                   "M_N,xA > M_N,x": store.get_image_masks(cfg, "vanilla_xadv", progress)["masks"]}
    radial = analysis.radial_bands(cfg.size, n_bands)
    angular = analysis.angular_bands(cfg.size, n_bands)
    out = {"n_bands": n_bands, "n_images": len(vanilla)}
    for name, other in comparisons.items():
        out[name] = {"radial": analysis.band_preference(other, vanilla, radial),
                     "angular": analysis.band_preference(other, vanilla, angular)}
    half = n_bands // 2
    store.save_result(cfg, "figure7", {
        name: {"low_bands_pct": float(np.nanmean(v["radial"][:half])),
               "high_bands_pct": float(np.nanmean(v["radial"][half:]))}
        for name, v in out.items() if isinstance(v, dict)})
    return out


# ------------------------------------------------------------------ Table 3, Figure 8
def table3(cfg: Profile, progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """Table 3: a linear classifier on the vanilla network's single-image masks, true
    against shuffled labels, over ``cfg.classifier_seeds`` seeds; returns the table and
    the classifier's result (its decision function feeds Figure 8)."""
    result = store.get_image_masks(cfg, "vanilla_x", progress)
    clf = analysis.mask_classifier(result["masks"], result["labels"],
                                   seeds=tuple(range(cfg.classifier_seeds)))
    values = {kind: {split: round(clf[kind][f"{split}_mean"], 2) for split in ("train", "test")}
              for kind in ("true_labels", "shuffled_labels")}
    store.save_result(cfg, "table3", dict(values, chance=clf["chance_pct"], n_per_class=clf["n_per_class"]))
    rows = []
    for kind in ("true_labels", "shuffled_labels"):
        for split in ("train", "test"):
            rows.append({"labels": kind.replace("_", " "), "split": split,
                         "paper": paper.TABLE3[kind][split],
                         "this build (mean)": round(clf[kind][f"{split}_mean"], 2),
                         "this build (std over seeds)": round(clf[kind][f"{split}_std"], 2)})
    return pd.DataFrame(rows).set_index(["labels", "split"]), clf


def figure8(cfg: Profile, classifier: dict | None = None, progress: bool = True) -> dict:
    """Figure 8: UMAP of the linear classifier's outputs on the single-image masks."""
    result = store.get_image_masks(cfg, "vanilla_x", progress)
    if classifier is None:
        classifier = table3(cfg, progress)[1]
    embedding = analysis.umap_embedding(classifier["decision_function"], n_neighbors=cfg.umap_neighbors,
                                        seed=cfg.seed)
    return {"embedding": embedding, "labels": result["labels"],
            "class_names": store.get_dataset(cfg).class_names}


# -------------------------------------------------------- ground truth (past the paper)
def _planted_dataset(cfg: Profile):
    ds = store.get_dataset(cfg)
    if ds.ground_truth is None:
        raise ValueError(f"the data set {cfg.data!r} has no planted frequencies (use data='synthetic')")
    return ds


def ground_truth_recovery(cfg: Profile, progress: bool = True) -> pd.DataFrame:
    """How well each dataset mask's symmetric part (what acts on a real image) singles
    out the synthetic data's planted texture frequencies: AUROC and precision at k,
    for every network's dataset mask and the vanilla network's class masks."""
    ds = _planted_dataset(cfg)
    union = ds.ground_truth.any(axis=0)
    rows, values = [], {}
    for regime, mask in dataset_masks(cfg, progress).items():
        scores = analysis.ground_truth_scores(symmetric_part(mask), union)
        values[regime] = scores
        rows.append({"mask": f"dataset mask, {regime}", **scores})
    for c, mask in enumerate(store.get_class_masks(cfg, "vanilla", progress)):
        scores = analysis.ground_truth_scores(symmetric_part(mask), ds.ground_truth[c])
        values[f"class {ds.class_names[c]}"] = scores
        rows.append({"mask": f"class mask, {ds.class_names[c]} (vanilla)", **scores})
    store.save_result(cfg, "ground_truth", values)
    return pd.DataFrame(rows).set_index("mask").round({"auroc": 3, "precision_at_k": 2})


def cue_reliance(cfg: Profile, progress: bool = True) -> pd.DataFrame:
    """Which cue does each network use? Validation accuracy (%) with all frequencies, with
    only the planted texture frequencies (and DC), with them removed, and with only the low
    frequencies (radius <= size/8, where the shape cue lives), each a fixed Fourier mask."""
    ds = _planted_dataset(cfg)
    planted = ds.ground_truth.any(axis=0)
    fx, fy = analysis.frequency_grid(cfg.size)
    low = np.hypot(fx, fy) <= cfg.size / 8
    dc = np.zeros_like(planted)
    dc[0, 0] = True
    probes = {"all frequencies": np.ones_like(planted), "planted + DC only": planted | dc,
              "planted removed": ~planted, f"low-pass (radius <= {cfg.size // 8})": low}
    rows = {}
    for regime in REGIMES:
        net = store.get_network(cfg, regime, progress)
        rows[f"{REGIME_LETTERS[regime]} ({regime})"] = {
            name: _pct(masked_accuracy(net, ds.x_val, ds.y_val, m.astype(np.float32)))
            for name, m in probes.items()}
    store.save_result(cfg, "cue_reliance", rows)
    return pd.DataFrame(rows).T


# ------------------------------------------------------------------ reproduction page
def reproduction_summary(cfg: Profile, progress: bool = True) -> pd.DataFrame:
    """Every number the paper reports (:mod:`fm_core.paper`) beside this build's: the
    results the other pages stored for this configuration, computing only those missing."""
    for name, compute in (("table1", table1), ("table2", table2), ("table3", table3)):
        if name not in store.load_results(cfg):
            compute(cfg, progress)
    results = store.load_results(cfg)
    rows = []
    for regime, (std, masked) in paper.TABLE1.items():
        ours = results["table1"][regime]
        rows.append(("Table 1", f"{REGIME_LETTERS[regime]} standard accuracy, %", std, ours["standard"]))
        rows.append(("Table 1", f"{REGIME_LETTERS[regime]} masked accuracy, %", masked, ours["masked"]))
    for key, value in paper.TABLE2.items():
        rows.append(("Table 2", f"{key}, % agreement", value, round(results["table2"][key], 2)))
    for kind, splits in paper.TABLE3.items():
        for split, value in splits.items():
            rows.append(("Table 3", f"{kind.replace('_', ' ')}, {split} accuracy, %", value,
                         results["table3"][kind][split]))
    rows.append(("Section 3", "images selected for single-image masks", paper.SELECTED_IMAGES,
                 len(store.get_reversal_selection(cfg, progress)["indices"])))
    return pd.DataFrame(rows, columns=["artefact", "quantity", "paper (reported)", "this build"]
                        ).set_index(["artefact", "quantity"])

"""One pure function per table and figure of the paper: networks, masks and images in,
a result out. Nothing here reads or writes the artefact store; :mod:`fm_core.store.pipeline`
fetches the inputs, notebooks call these, :mod:`fm_core.book.tables` formats the results and
:mod:`fm_core.book.figures` draws them. Tests call them on tiny networks.

Every number that judges a dataset or class mask is computed on images the mask was not
learned on (the callers pass the score half of the validation set).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass
from typing import Mapping

import numpy as np
import torch

from . import analysis, cue_analysis, mask_classifier
from fm_core.nets.attacks import pgd_attack
from fm_core.nets.evaluation import accuracy
from fm_core.fourier import complement, filter_images, symmetric_part
from fm_core.masks.result import MaskResult
from fm_core.masks import ImageMasks
from .reversal import reversal_accuracies


def pct(fraction: float) -> float:
    return round(100.0 * float(fraction), 2)


# ------------------------------------------------------------------ Table 1, Figure 3
@dataclass
class NetworkScore:
    """One row of Table 1 (percentages)."""

    standard: float  # on held-out images
    masked: float  # the same images through the network's dataset mask
    pgd: float  # PGD accuracy on the same held-out images
    mask_mean: float
    mask_kept: bool  # the mask met its accuracy criterion on its own (fit) images
    mask_steps: int  # optimiser steps the mask took
    mask_converged: bool  # it settled within its budget
    train_seconds: float
    # on the images the mask was learned on (the fit half), where the paper measures its
    # Table 1 (it learns its masks on the validation set and reports accuracy there); None: not asked
    standard_fit: float | None = None
    masked_fit: float | None = None


def table1(networks: Mapping[str, torch.nn.Module], dataset_masks: Mapping[str, MaskResult],
           x: torch.Tensor, y: torch.Tensor, eps: float, pgd_steps: int, seed: int = 0,
           fit: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, dict]:
    """Table 1: each network's accuracy on (x, y), unmasked, through its dataset mask
    (x: images the masks were not learned on) and under PGD (``eps`` in pixel units,
    ``pgd_steps`` steps), plus mask mean and training time; with ``fit`` (the images the
    masks were learned on) the unmasked and masked accuracy there too, as the paper measures."""
    out = {}
    for regime, net in networks.items():
        mask, metrics = dataset_masks[regime], net.meta["metrics"]
        on_fit = {} if fit is None else {"standard_fit": pct(accuracy(net, *fit)),
                                         "masked_fit": pct(accuracy(net, *fit, mask.mask))}
        x_adv = pgd_attack(net, x, y, eps, pgd_steps, seed=seed)
        out[regime] = asdict(NetworkScore(
            standard=pct(accuracy(net, x, y)), masked=pct(accuracy(net, x, y, mask.mask)),
            pgd=pct(accuracy(net, x_adv, y)), mask_mean=round(float(mask.mask.mean()), 4),
            mask_kept=bool(mask.kept[0]), mask_steps=int(mask.steps[0]),
            mask_converged=bool(mask.converged[0]) if len(mask.converged) else False,
            train_seconds=round(metrics["train_seconds"], 1), **on_fit))
    return out


def training_histories(networks: Mapping[str, torch.nn.Module]) -> dict[str, list]:
    """Validation loss and accuracy per epoch, keyed for :func:`fm_core.book.figures.plot_training_history`."""
    out = {}
    for regime, net in networks.items():
        history = net.meta["metrics"]["history"]
        out[f"val_loss {regime}"] = history["val_loss"]
        out[f"val_acc {regime}"] = history["val_acc"]
    return out


def figure3(masks: Mapping[str, np.ndarray], keep_zero: bool = False) -> dict:
    """Figure 3: the dataset masks and each minus the first, jointly normalised (see
    :func:`fm_core.science.analysis.mask_differences`)."""
    stack = np.stack([np.asarray(m) for m in masks.values()])
    return {"names": list(masks), "masks": stack,
            "differences": analysis.mask_differences(stack, reference=0, keep_zero=keep_zero)}


# ---------------------------------------------------------------------------- Figure 4
METRICS = ("mean", "energy")


def _band_values(masks: np.ndarray, bands: np.ndarray, metric: str) -> np.ndarray:
    """Per band: the mean mask value (fraction kept; a sparser mask does not score higher)
    or the paper's energy (L2 norm in the band of the unit-norm mask)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    return cue_analysis.band_means(masks, bands) if metric == "mean" else analysis.band_energies(masks, bands)


def cue_bands(bands: np.ndarray, truth: Mapping[str, np.ndarray] | None) -> dict[str, list[int]]:
    """The bands that hold each cue's bins ({"L": [...], "H": [...]}; empty without truth)."""
    if not truth:
        return {}
    return {name[0].upper(): sorted(int(i) for i in np.flatnonzero(
        (np.asarray(bands) & np.asarray(t).any(0)).reshape(len(bands), -1).any(1)))
        for name, t in truth.items()}


def band_energy_differences(masks: Mapping[str, np.ndarray], n_bands: int, reference: str = "vanilla",
                            metric: str = "mean", truth: Mapping[str, np.ndarray] | None = None) -> dict:
    """Figure 4: per radial and angular band, each other network's mask minus the
    reference network's, by ``metric``: "mean" (fraction kept, the default) or "energy"
    (the paper's: unit-L2-norm masks, energy per band). Summary: the low half of the
    radial bands minus the high half. With the cue world's ``truth``, the bands holding
    the L and H cues (``cue_bands``)."""
    names = [reference] + [r for r in masks if r != reference]
    stack = np.stack([masks[r] for r in names])
    size = stack.shape[-1]
    out = {"reference": reference, "regimes": names[1:], "n_bands": n_bands, "metric": metric,
           "radial_bands": analysis.radial_bands(size, n_bands), "angular_bands": analysis.angular_bands(size, n_bands)}
    for kind in ("radial", "angular"):
        values = _band_values(stack, out[f"{kind}_bands"], metric)
        out[kind] = np.nan_to_num(values[1:] - values[0])
    out["cue_bands"] = cue_bands(out["radial_bands"], truth)
    half = n_bands // 2
    out["low_minus_high_radial"] = {
        r: float(out["radial"][i, :half].sum() - out["radial"][i, half:].sum()) for i, r in enumerate(names[1:])}
    return out


# ---------------------------------------------------------------------------- Figure 5
def image_mask_examples(model, x: torch.Tensor, image_masks: np.ndarray, labels: np.ndarray,
                        class_masks: np.ndarray, class_names, per_class: int = 4) -> dict:
    """Figure 5: per class, the class mask and ``per_class`` single-image masks, with the
    images filtered by the masks and by their complements."""
    chosen = []
    for c in range(len(class_names)):
        chosen.extend(np.flatnonzero(labels == c)[:per_class].tolist())
    chosen = np.array(chosen, dtype=int)
    masks = torch.from_numpy(np.asarray(image_masks)[chosen])
    xs = x[chosen]
    return {"images": xs[:, 0].numpy(), "masks": masks.numpy(), "labels": np.asarray(labels)[chosen],
            "class_masks": class_masks, "class_names": list(class_names),
            "mask_filtered": filter_images(model, xs, masks)[:, 0].numpy(),
            "complement_filtered": filter_images(model, xs, complement(masks))[:, 0].numpy()}


def image_mask_statistics(results: Mapping[str, MaskResult]) -> dict[str, dict]:
    """Per single-image mask set: images, mean mask value, share of exactly-removed
    frequencies, median and max steps, % whose masked prediction equals the target."""
    return {name: {"images": len(r.masks), "mean mask value": round(float(r.masks.mean()), 4),
                   "removed (M < 1e-8), %": round(100 * float((r.masks < 1e-8).mean()), 1),
                   "median steps": int(np.median(r.steps)), "max steps": int(r.steps.max()),
                   "prediction kept, %": round(100 * float(r.kept.mean()), 1)}
            for name, r in results.items()}


def step_budget_curve(model, x: torch.Tensor, learner: ImageMasks, budgets) -> dict:
    """Steps against quality for single-image masks: for each step budget B the masks of
    ``x`` learned with ``max_steps`` = the one-cycle length = B (the stopping rule
    unchanged), and per budget the median steps taken, the mean mask value (sparsity),
    the share whose masked prediction is kept, and the mean per-image correlation with the
    masks of the largest budget (does a shorter run find the same mask?). Seconds are
    wall time on this machine, for comparison within one run."""
    budgets = sorted(int(b) for b in budgets)
    runs, seconds = {}, {}
    for budget in budgets:
        start = time.perf_counter()
        runs[budget] = dataclasses.replace(learner, max_steps=budget, schedule_steps=budget)(model, x, progress=False)
        seconds[budget] = round(time.perf_counter() - start, 2)
    reference = runs[budgets[-1]].masks.reshape(len(x), -1)

    def agreement(masks: np.ndarray) -> float:
        flat = masks.reshape(len(x), -1)
        corr = [np.corrcoef(a, b)[0, 1] for a, b in zip(flat, reference) if a.std() > 0 and b.std() > 0]
        return round(float(np.mean(corr)), 4) if corr else float("nan")

    return {"budget": budgets,
            "median steps": [int(np.median(runs[b].steps)) for b in budgets],
            "mean mask value": [round(float(runs[b].masks.mean()), 4) for b in budgets],
            "prediction kept, %": [pct(runs[b].kept.mean()) for b in budgets],
            "correlation with the largest budget's masks": [agreement(runs[b].masks) for b in budgets],
            "seconds": [seconds[b] for b in budgets], "images": len(x)}


def step_budget_summary(curve: Mapping, budget: int) -> str:
    """One paragraph on ``budget`` (the profile's) against the largest budget of ``curve``,
    its verdict chosen by the numbers: the same masks when the mean mask value is within
    0.05, the kept share within 5 points and the per-image correlation >= 0.8."""
    i, j = curve["budget"].index(budget), len(curve["budget"]) - 1
    value, kept, corr = (curve[k] for k in ("mean mask value", "prediction kept, %",
                                            "correlation with the largest budget's masks"))
    same = abs(value[i] - value[j]) <= 0.05 and kept[i] >= kept[j] - 5 and corr[i] >= 0.8
    return (f"With this profile's budget of {budget} steps the median image stops after "
            f"{curve['median steps'][i]} steps ({curve['median steps'][j]} with {curve['budget'][j]}); "
            f"the masks' mean value is {value[i]:.3f} ({value[j]:.3f}), the masked prediction is kept for "
            f"{kept[i]:.1f}% of the images ({kept[j]:.1f}%), and each mask correlates {corr[i]:.2f} on average "
            f"with the same image's mask from the longer run. "
            + ("The shorter budget finds the same masks." if same else
               "The shorter budget changes the masks: it trades what they say for time."))


# ------------------------------------------------------------------ Figure 6, Table 2
def reversal_examples(model, x: torch.Tensor, x_adv: torch.Tensor, image_masks: np.ndarray,
                      labels: np.ndarray, class_names) -> dict:
    """Figure 6: one image per class: x, x_A, M_N,x, M_N,x(x), M_N,x(x_A), Mc_N,x, Mc_N,x(x)."""
    first = [int(np.flatnonzero(labels == c)[0]) for c in range(len(class_names)) if (labels == c).any()]
    masks = torch.from_numpy(np.asarray(image_masks)[first])
    return {
        "x": x[first, 0].numpy(), "x_adv": x_adv[first, 0].numpy(), "mask": masks.numpy(),
        "filtered_x": filter_images(model, x[first], masks)[:, 0].numpy(),
        "filtered_xadv": filter_images(model, x_adv[first], masks)[:, 0].numpy(),
        "complement": complement(masks).numpy(),
        "complement_filtered": filter_images(model, x[first], complement(masks))[:, 0].numpy(),
        "titles": [class_names[int(labels[i])] for i in first],
    }


def attack_energy_kept(x: torch.Tensor, x_adv: torch.Tensor, image_masks: np.ndarray) -> np.ndarray:
    """Per image, the share of the attack's energy that its mask lets through: with
    delta = x_A - x and S the mask's symmetric part (the filter that acts on a real
    image), sum |S F(delta)|^2 / sum |F(delta)|^2. The mask layer is linear, so
    M(x_A) = M(x) + M(delta): where this share is small, M(x_A) is close to M(x) and the
    mask restores the clean prediction almost by construction."""
    from fm_core.fourier import symmetric_part
    delta = (x_adv - x).detach().double().cpu().numpy()[:, 0]
    spectrum = np.abs(np.fft.fft2(delta)) ** 2
    filters = symmetric_part(np.asarray(image_masks, dtype=np.float64)) ** 2
    return (filters * spectrum).sum((-2, -1)) / np.maximum(spectrum.sum((-2, -1)), 1e-30)


def attack_energy_by_cue(x: torch.Tensor, x_adv: torch.Tensor, truth: Mapping[str, np.ndarray]) -> dict:
    """Where the attacks put their energy: the share of sum |F(x_A - x)|^2, over all
    images, that falls on the L cue's bins, on the H cue's bins (``truth["low"]``,
    ``truth["high"]``: (C, H, W), any class) and elsewhere."""
    delta = (x_adv - x).detach().double().cpu().numpy()[:, 0]
    spectrum = (np.abs(np.fft.fft2(delta)) ** 2).sum(0)
    total = max(float(spectrum.sum()), 1e-30)
    low, high = np.asarray(truth["low"]).any(0), np.asarray(truth["high"]).any(0)
    shares = {"L": float(spectrum[low].sum()) / total, "H": float(spectrum[high & ~low].sum()) / total}
    return dict(shares, elsewhere=1.0 - shares["L"] - shares["H"])


def table2(model, x: torch.Tensor, x_adv: torch.Tensor, image_masks: np.ndarray, labels: np.ndarray,
           class_masks: np.ndarray, seed: int = 0) -> dict:
    """Table 2 with its controls: see :func:`fm_core.science.reversal.reversal_accuracies`."""
    return reversal_accuracies(model, x, x_adv, image_masks, labels=labels, class_masks=class_masks, seed=seed)


# ---------------------------------------------------------------------------- Figure 7
def band_preference(reference: np.ndarray, others: Mapping[str, np.ndarray], n_bands: int,
                    metric: str = "mean", truth: Mapping[str, np.ndarray] | None = None, tie: float = 1e-3) -> dict:
    """Figure 7: per radial/angular band, % of images whose mask in ``others[name]`` keeps
    more than its ``reference`` mask (paired by image), % equal (within ``tie``) and %
    less, by ``metric`` ("mean": fraction kept; "energy": the paper's); with the summary
    over the low and the high half of the radial bands, and the cue bands."""
    size = reference.shape[-1]
    radial, angular = analysis.radial_bands(size, n_bands), analysis.angular_bands(size, n_bands)
    out = {"n_bands": n_bands, "n_images": len(reference), "metric": metric,
           "cue_bands": cue_bands(radial, truth), "comparisons": {}}
    half = n_bands // 2

    def compare(a, b, bands):
        return cue_analysis.band_comparison(a, b, bands, tie, values=lambda m, bd: _band_values(m, bd, metric))

    for name, other in others.items():
        r = compare(other, reference, radial)
        out["comparisons"][name] = {"radial": r, "angular": compare(other, reference, angular),
                                    "low_bands_more_pct": float(np.nanmean(r["more"][:half])),
                                    "high_bands_more_pct": float(np.nanmean(r["more"][half:])),
                                    "equal_pct": float(np.nanmean(r["equal"]))}
    return out


# ------------------------------------------------------------------ Table 3, Figure 8
def table3(image_masks: np.ndarray, labels: np.ndarray, n_splits: int, n_permutations: int, seed: int) -> dict:
    """Table 3: a linear classifier on single-image masks, scored by stratified k-fold
    cross-validation over every mask (regularisation chosen inside each fold), with a
    Wilson interval and a permutation test on shuffled labels; see
    :func:`fm_core.science.mask_classifier.mask_classifier`."""
    return mask_classifier.mask_classifier(image_masks, labels, n_splits=n_splits,
                                           n_permutations=n_permutations, seed=seed)


def figure8(classifier: dict, n_neighbors: int, seed: int) -> np.ndarray:
    """Figure 8: UMAP of the linear classifier's held-out outputs on the single-image
    masks (each from the outer fold of Table 3's test that did not see the mask)."""
    return mask_classifier.umap_embedding(classifier["decision_function"], n_neighbors=n_neighbors, seed=seed)


# -------------------------------------------------------- ground truth (past the paper)
def ground_truth_recovery(dataset_masks: Mapping[str, np.ndarray], class_masks: np.ndarray,
                          truth: np.ndarray, class_names) -> dict[str, dict]:
    """How well each mask's symmetric part (what acts on a real image) singles out the
    planted frequencies: AUROC and precision at k; dataset masks against the union of
    the classes' truths, class masks against their own class's."""
    out = {f"dataset mask, {r}": analysis.ground_truth_scores(symmetric_part(m), truth.any(axis=0))
           for r, m in dataset_masks.items()}
    for c, m in enumerate(class_masks):
        out[f"class mask, {class_names[c]}"] = analysis.ground_truth_scores(symmetric_part(m), truth[c])
    return out


def cue_reliance(networks: Mapping[str, torch.nn.Module], x: torch.Tensor, y: torch.Tensor,
                 truth: Mapping[str, np.ndarray]) -> dict[str, dict]:
    """Which planted frequencies does each network use? Accuracy (%) on held-out images
    through fixed Fourier masks: all frequencies; only the L bins (and DC); only the H
    bins (and DC); all but the L bins; all but the H bins."""
    low, high = (np.asarray(truth[k]).any(axis=0) for k in ("low", "high"))
    dc = np.zeros_like(low)
    dc[0, 0] = True
    probes = {"all frequencies": np.ones_like(low), "L bins + DC only": low | dc, "H bins + DC only": high | dc,
              "L bins removed": ~low, "H bins removed": ~high}
    return {regime: {name: pct(accuracy(net, x, y, m.astype(np.float32))) for name, m in probes.items()}
            for regime, net in networks.items()}

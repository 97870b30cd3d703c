"""The cue world's questions, answered two ways: by behaviour (what a network predicts on
probe images whose cues are known) and by its masks (where the mask keeps frequencies).

- :func:`behaviour`: accuracy on each probe set and the **L-bias** on cue-conflict
  images, P(predicts the L class | predicts the L class or the H class).
- :func:`mask_cue_shares`: a mask's mean value on the low-cue bins, on the high-cue
  bins and on the rest (DC apart), the AUROC with which it singles out each cue, and its
  **L-share**, mean_L / (mean_L + mean_H).
- :func:`band_means` and :func:`band_comparison`: Figures 4 and 7 measured as the
  fraction kept per band (so a sparser mask does not score higher), with ties counted.
- :func:`rank_correlation`: Spearman's rho between behaviour and masks across networks.
- :func:`part_ablation`: accuracy with the amplitude or the phase of one cue's bins
  removed (:data:`fm_core.fourier.PARTS`): which part of a cue a network uses.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

from .analysis import ground_truth_scores
from fm_core.nets.evaluation import accuracy, predict
from fm_core.fourier import SpectrumFilter, spectrum_reference, symmetric_part


def behaviour(model, probes: Mapping[str, dict]) -> dict:
    """Probe accuracies (%) and the L-bias. ``probes[name]`` holds ``x`` (N, 1, H, W) in
    [0, 1], ``y_low`` and ``y_high`` (the class each cue shows; the same on single-cue
    sets). Accuracy is against ``y_low`` on sets without an H cue, else ``y_high``; on
    the ``conflict`` set both are reported and the L-bias computed."""
    out = {}
    for name, p in probes.items():
        pred = predict(model, torch.as_tensor(p["x"])).numpy()
        y_low, y_high = np.asarray(p["y_low"]), np.asarray(p["y_high"])
        if name == "conflict":
            picks_low, picks_high = pred == y_low, pred == y_high
            either = picks_low | picks_high
            out["conflict: predicts L class, %"] = round(100 * float(picks_low.mean()), 2)
            out["conflict: predicts H class, %"] = round(100 * float(picks_high.mean()), 2)
            out["L-bias"] = round(float(picks_low.sum() / either.sum()), 4) if either.any() else float("nan")
        else:
            target = y_high if name in ("h_only", "l_removed") else y_low
            out[f"{name}, %"] = round(100 * float((pred == target).mean()), 2)
    return out


def mask_cue_shares(mask: np.ndarray, truth_low: np.ndarray, truth_high: np.ndarray) -> dict:
    """Where a mask (H, W) keeps frequencies, against the two cues' bins ((C, H, W) or
    (H, W) bool; union over classes). Uses the mask's symmetric part, the filter that
    actually acts on a real image."""
    m = symmetric_part(np.asarray(mask, dtype=np.float64))
    low = np.asarray(truth_low).reshape(-1, *m.shape).any(axis=0)
    high = np.asarray(truth_high).reshape(-1, *m.shape).any(axis=0)
    rest = ~(low | high)
    rest[0, 0] = False  # DC apart: every mask keeps the mean brightness or not, cue-free
    mean_low, mean_high = float(m[low].mean()), float(m[high].mean())
    total = mean_low + mean_high
    return {"mean on L bins": round(mean_low, 4), "mean on H bins": round(mean_high, 4),
            "mean elsewhere": round(float(m[rest].mean()), 4),
            "AUROC L": round(ground_truth_scores(m, low)["auroc"], 4),
            "AUROC H": round(ground_truth_scores(m, high)["auroc"], 4),
            "L-share": round(mean_low / total, 4) if total > 0 else float("nan")}


def band_means(masks: np.ndarray, bands: np.ndarray) -> np.ndarray:
    """Mean mask value (fraction kept) per band: (..., H, W) -> (..., n_bands); NaN for
    bands with no bin."""
    bands = np.asarray(bands, dtype=float)
    counts = bands.reshape(len(bands), -1).sum(1)
    sums = np.einsum("...hw,bhw->...b", np.asarray(masks, dtype=float), bands)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


def band_comparison(masks_a: np.ndarray, masks_b: np.ndarray, bands: np.ndarray, tie: float = 1e-3,
                    values=band_means) -> dict:
    """Per band, % of images whose mask A keeps more (its band value above B's by > ``tie``),
    the same within ``tie``, or less than mask B: ``{"more", "equal", "less"}`` arrays of
    (n_bands,) summing to 100 (NaN for empty bands). ``values(masks, bands)`` measures a
    band: the fraction kept by default, or another measure (Figure 7's energy)."""
    a, b = values(masks_a, bands), values(masks_b, bands)
    diff = a - b
    out = {"more": 100.0 * (diff > tie).mean(0), "equal": 100.0 * (np.abs(diff) <= tie).mean(0),
           "less": 100.0 * (diff < -tie).mean(0)}
    empty = np.isnan(a).all(0)
    for v in out.values():
        v[empty] = np.nan
    return out


def rank_correlation(x, y) -> float:
    """Spearman's rho between two paired sequences (NaN when undefined)."""
    from scipy.stats import spearmanr  # here, not at the top: see fm_core.science

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = ~(np.isnan(x) | np.isnan(y))
    if ok.sum() < 3 or np.unique(x[ok]).size < 2 or np.unique(y[ok]).size < 2:
        return float("nan")
    return float(spearmanr(x[ok], y[ok]).statistic)


def linear_probes(probes: Mapping[str, dict], sets=("l_only", "h_only"), seed: int = 0) -> dict:
    """How readable each cue is by power alone: a logistic regression on the images'
    |FFT| (log scale), fitted on half of a single-cue probe set and scored on the other
    half, per set (%). Comparable numbers mean neither cue wins by power alone."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out = {}
    for name in sets:
        p = probes[name]
        x = np.asarray(torch.as_tensor(p["x"]))[:, 0]
        features = np.log1p(np.abs(np.fft.fft2(x))).reshape(len(x), -1)
        y = np.asarray(p["y_low"] if name.startswith("l") else p["y_high"])
        xtr, xte, ytr, yte = train_test_split(features, y, test_size=0.5, stratify=y, random_state=seed)
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(xtr, ytr)
        out[name] = round(100 * float(clf.score(xte, yte)), 2)
    return out


def part_ablation(model, x: torch.Tensor, y, bins: Mapping[str, np.ndarray], reference_images: torch.Tensor,
                  seed: int = 0) -> dict:
    """Accuracy (%) on (x, y) with the amplitude or the phase of each named set of bins
    ((H, W) bool) removed, as an amplitude or phase mask of 0 there and 1 elsewhere does
    (:func:`fm_core.fourier.apply_part_mask`; the amplitude reference is the mean of
    ``reference_images``, the images a mask would be learned on). Keys
    ``"<part> of <name> removed, %"`` and ``"clean, %"``."""
    with torch.no_grad():
        z = model.normalize(reference_images.to(next(model.parameters()).device))
    out = {"clean, %": round(100 * accuracy(model, x, y), 2)}
    for part in ("amplitude", "phase"):
        reference = spectrum_reference(z, part, seed)
        for name, where in bins.items():
            mask = np.where(np.asarray(where, bool), 0.0, 1.0).astype(np.float32)
            out[f"{part} of {name} removed, %"] = round(100 * accuracy(model, x, y, SpectrumFilter(mask, part, reference)), 2)
    return out

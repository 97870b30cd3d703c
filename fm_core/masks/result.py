"""The one result type of every mask learner, saved and loaded the same way by the
command line and the artefact store."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from fm_core.fourier import SpectrumFilter
from fm_core.utils import load_npz, save_npz_atomic

RESULT_FORMAT = "fm_core.mask_result/1"


@dataclass
class MaskResult:
    """Learned Fourier masks and what happened while learning them: what every learner
    returns, saved and loaded alike (:meth:`save`, :meth:`load`).

    Attributes
    ----------
    masks : ndarray, (N, H, W) float32 in [0, 1], unshifted ((N, C, H, W): per-channel masks)
        N = 1 for a dataset or class mask, one row per lambda for a lambda path, one row
        per image for single-image masks (``mask`` is row 0).
    steps : ndarray, (N,)
        Optimiser steps each mask took (to convergence, or the whole budget).
    converged : ndarray, (N,) bool
        Whether it settled within the budget (dataset masks: the window-averaged mask
        stopped moving; single-image masks: the stopping rule fired before ``max_steps``);
        a mask that did not is flagged wherever it is shown.
    kept : ndarray, (N,) bool
        Whether it met its criterion (dataset: masked accuracy >= keep_ratio x unmasked;
        single-image: the masked prediction equals the target).
    predictions, final_predictions : ndarray, (N,)
        Single-image masks' targets and masked predictions at stop (empty for dataset masks).
    accuracy_before, accuracy_after : float
        On the images a dataset mask was learned on (NaN otherwise).
    history : dict
        Per-window arrays (dataset masks).
    settings : dict
        The learner's settings.
    extra : dict
        Arrays a caller attaches (e.g. the image ``indices`` and ``labels``).
    """

    masks: np.ndarray
    steps: np.ndarray
    kept: np.ndarray
    converged: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    predictions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    final_predictions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    accuracy_before: float = float("nan")
    accuracy_after: float = float("nan")
    history: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    @property
    def all_converged(self) -> bool:
        """Whether every mask of the result settled within its budget."""
        return bool(len(self.converged) == len(self.masks) and np.all(self.converged))

    @property
    def mask(self) -> np.ndarray:
        """The single (H, W) mask of a dataset or class mask."""
        if len(self.masks) != 1:
            raise ValueError(f"this result holds {len(self.masks)} masks; use .masks")
        return self.masks[0]

    @property
    def applied(self):
        """The single mask as the evaluation (:mod:`fm_core.nets.evaluation`) takes it: the
        (H, W) mask of a plain Fourier mask, a :class:`fm_core.fourier.SpectrumFilter`
        (mask, part and reference) of an amplitude or phase mask."""
        part = self.settings.get("part", "both")
        if part == "both":  # a per-channel mask (C, H, W) as one mask for every image
            return self.mask if self.mask.ndim == 2 else self.mask[None]
        return SpectrumFilter(self.mask, part, self.extra["reference"])

    def save(self, path) -> None:
        """Atomically, as a plain ``.npz`` (no pickles)."""
        arrays = dict(masks=self.masks, steps=self.steps, kept=self.kept, converged=self.converged,
                      predictions=self.predictions,
                      final_predictions=self.final_predictions,
                      accuracy_before=np.float64(self.accuracy_before),
                      accuracy_after=np.float64(self.accuracy_after),
                      format=np.array(RESULT_FORMAT),
                      settings=np.array(json.dumps(self.settings, sort_keys=True, default=str)))
        arrays.update({f"history_{k}": np.asarray(v, dtype=np.float64) for k, v in self.history.items()})
        arrays.update({f"extra_{k}": np.asarray(v) for k, v in self.extra.items()})
        save_npz_atomic(path, **arrays)

    @classmethod
    def load(cls, path) -> "MaskResult":
        a = load_npz(path)
        if str(a.get("format", "")) != RESULT_FORMAT:
            raise ValueError(f"{path} is not a mask result ({RESULT_FORMAT})")
        return cls(masks=a["masks"], steps=a["steps"], kept=a["kept"],
                   converged=a.get("converged", np.zeros(0, bool)), predictions=a["predictions"],
                   final_predictions=a["final_predictions"],
                   accuracy_before=float(a["accuracy_before"]), accuracy_after=float(a["accuracy_after"]),
                   history={k[8:]: v for k, v in a.items() if k.startswith("history_")},
                   settings=json.loads(str(a["settings"])),
                   extra={k[6:]: v for k, v in a.items() if k.startswith("extra_")})

"""The dataset-mask learners of the public face (:mod:`fm_core.masks`): :class:`DatasetMask`
and :class:`LambdaPath`, configured once and called on ``(model, x, y)``. In their own
module so that an artefact's key follows only the code it runs (:mod:`fm_core.store.code_keys`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from fm_core.fourier import symmetric_part
from fm_core.nets.inputs import check_images, check_overrides, check_settings
from fm_core.nets.models import frozen

from .dataset_masks import KEEP_RATIO, run_lambda_path
from .objective import EXP_CAP
from .result import MaskResult


@dataclass
class DatasetMask:
    """One Fourier mask for all the images given (a class mask: pass one class's images).

    Learns the sparsest mask M that keeps the frozen network's loss on the masked images
    (Karantzas et al. 2022, Eq. 2): lambda/(H W) ||M||_1 plus an invariance term, Adam
    on the mask's logits. Defaults are the paper's (batch 1, lr 1e-3, one-cycle);
    :meth:`from_profile` takes a profile's.

    Parameters
    ----------
    lam : float, >= 0
        Weight of the sparsity term.
    lr, max_steps, epochs, batch_size, schedule
        Adam's rate; the budget in optimiser steps (``None``: ``epochs`` passes over the
        images); images per step; ``"one_cycle"`` or ``"constant"``.
    window, tol, patience
        Convergence: every ``window`` steps the window-averaged mask is compared with the
        last; ``patience`` windows in a row moving less than ``tol`` per bin stop it.
    revert, keep_ratio
        The paper's rule: fall back to the last mask whose masked accuracy is at least
        ``keep_ratio`` (0.99) times the unmasked accuracy.
    invariance : str
        ``"per_image"`` (the paper's), ``"batch_mean"``, ``"dataset_mean"``, ``"kl"``.
    part : str
        What the mask acts on: ``"both"`` (the paper's mask of the Fourier coefficients),
        ``"amplitude"`` or ``"phase"`` (:data:`fm_core.fourier.PARTS`); evaluate such a
        result through ``result.applied``.
    exp_cap : float or None
        Where the exp of the invariance term continues linearly; ``None``: the paper's exp.
    seed : int
        Order of the images.

    Shape
    -----
    ``x``: (N, C, H, W) in [0, 1]; ``y``: (N,) class indices.

    Returns
    -------
    MaskResult
        ``masks`` (1, H, W) unshifted in [0, 1], ``steps``, ``converged``, accuracies.

    Notes
    -----
    The model comes back as it was given (:func:`fm_core.nets.models.frozen`); bad inputs
    raise one :class:`~fm_core.errors.UserError` line (:mod:`fm_core.nets.inputs`).

    Examples
    --------
    >>> result = DatasetMask.from_profile(get_profile("quick"))(model, x, y)  # doctest: +SKIP
    >>> result.mask.shape, bool(result.converged[0])  # doctest: +SKIP
    """

    lam: float = 0.2
    lr: float = 1e-3
    max_steps: int | None = None  # None: ``epochs`` passes over the images
    epochs: int = 100
    batch_size: int = 1
    window: int | None = None  # None: one epoch
    tol: float = 1e-5
    patience: int = 7
    schedule: str = "one_cycle"
    revert: bool = True
    keep_ratio: float = KEEP_RATIO
    invariance: str = "per_image"
    part: str = "both"
    exp_cap: float | None = EXP_CAP
    seed: int = 0

    @classmethod
    def from_profile(cls, cfg, **overrides) -> "DatasetMask":
        settings = dict(lr=cfg.dmask_lr, max_steps=cfg.dmask_max_steps, epochs=cfg.dmask_epochs,
                        batch_size=cfg.dmask_batch_size, window=cfg.dmask_window, tol=cfg.dmask_tol,
                        patience=cfg.dmask_patience, schedule=cfg.dmask_schedule, revert=cfg.dmask_revert,
                        invariance=cfg.dmask_invariance, part=cfg.dmask_part, seed=cfg.seed)
        settings.update(cls._lambda_setting(cfg))
        settings.update(check_overrides(cls, overrides))
        return cls(**settings)

    @staticmethod
    def _lambda_setting(cfg) -> dict:
        return {"lam": cfg.dmask_lam}

    def _check(self, model, x, y) -> None:
        check_images(model, x, y)
        check_settings(**{k: v for k, v in asdict(self).items()
                          if k in ("lam", "lams", "lr", "tol", "batch_size", "max_steps", "patience", "epochs",
                                   "window", "keep_ratio", "part")})

    def __call__(self, model, x, y, progress: bool = True) -> MaskResult:
        self._check(model, x, y)
        settings = asdict(self)
        lam = settings.pop("lam")
        with frozen(model):
            result = run_lambda_path(model, x, y, lams=(lam,), progress=progress, **settings)
        result.settings.update(lam=float(lam), lr=float(result.settings["lrs"][0]))
        return result


@dataclass
class LambdaPath(DatasetMask):
    """Dataset masks at several lambdas, learned in one batched run.

    Parameters
    ----------
    lams : sequence of float, each >= 0
        One mask row per lambda; each row has its own Adam state and stops when it
        converges. Every other setting as in :class:`DatasetMask` (``lam`` is unused).

    Shape
    -----
    ``x``: (N, C, H, W) in [0, 1]; ``y``: (N,); ``start`` (optional): (H, W), the mask
    every row begins at (e.g. a smaller lambda's converged mask).

    Returns
    -------
    MaskResult
        ``masks`` (len(lams), H, W), one row per lambda, with per-row ``steps`` and
        ``converged``.

    Examples
    --------
    >>> path = LambdaPath.from_profile(get_profile("quick"))(model, x, y)  # doctest: +SKIP
    """

    lam: float | None = None  # unused: see lams
    lams: tuple = (0.5, 1.0, 5.0, 20.0, 100.0)

    @staticmethod
    def _lambda_setting(cfg) -> dict:
        return {"lams": cfg.dmask_path_lams}

    def __call__(self, model, x, y, start=None, penalty_weights=None, progress: bool = True) -> MaskResult:
        """``start``: the (H, W) mask every row begins at, e.g. a smaller lambda's
        converged mask (a warm start), or one (R, H, W) start per row; None: all ones.
        ``penalty_weights`` (R, H, W) > 0: row r's L1 weighs bin k by 1/W[r, k] (the
        randomized lasso, :func:`randomized_rows`); None: plain L1."""
        self._check(model, x, y)
        settings = asdict(self)
        del settings["lam"]
        with frozen(model):
            return run_lambda_path(model, x, y, start=start, penalty_weights=penalty_weights, progress=progress,
                                   **settings)


def randomized_rows(rows: int, shape: tuple, low: float, seed: int):
    """(start, penalty_weights) for :class:`LambdaPath`, each (rows, H, W) drawn uniform in
    [low, 1] and made symmetric (bins k and -k share a value: the filter applied is M's
    symmetric part), or (None, None) when ``low`` is 1. Why: a sparse mask keeps one set of
    frequencies that suffices and leaves a redundant cue's others at zero, where cue-free
    bins also sit; rows that start apart and price bins differently (the randomized lasso
    of Meinshausen & Buehlmann 2010, "Stability selection", JRSS-B 72: 417-473) keep
    different members of such a set, so the mean over rows ranks them above the cue-free ones."""
    if low >= 1:
        return None, None
    generator = np.random.default_rng(seed)
    start, weights = (symmetric_part(generator.uniform(low, 1.0, (rows, *shape))) for _ in range(2))
    return start, weights


def learn_dataset_mask(model, x, y, progress: bool = True, **settings) -> MaskResult:
    """``DatasetMask(**settings)(model, x, y)`` in one call, for scripts: the settings and
    their defaults are :class:`DatasetMask`'s (a name it lacks is one line)."""
    return DatasetMask(**check_overrides(DatasetMask, settings))(model, x, y, progress=progress)


def learn_lambda_path(model, x, y, start=None, penalty_weights=None, progress: bool = True,
                      **settings) -> MaskResult:
    """``LambdaPath(**settings)(model, x, y, start, penalty_weights)`` in one call (``lams``
    and ``lr`` may be sequences, broadcast to one row each)."""
    return LambdaPath(**check_overrides(LambdaPath, settings))(model, x, y, start=start,
                                                              penalty_weights=penalty_weights, progress=progress)

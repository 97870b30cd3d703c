"""The dataset-mask learners of the public face (:mod:`fm_core.masks`): :class:`DatasetMask`
and :class:`LambdaPath`, configured once and called on ``(model, x, y)``, on one base,
:class:`DatasetMaskSettings`, that holds what they share. In their own
module so that an artefact's key follows only the code it runs (:mod:`fm_core.store.code_keys`).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

from fm_core.errors import UserError
from fm_core.fourier import PARTS, symmetric_part
from fm_core.nets.classifier import NormalizationUsed, checked_network
from fm_core.nets.inputs import NON_NEGATIVE, POSITIVE, check_constraints, check_overrides, count, one_of

from .dataset_masks import CHANNELS, INVARIANCES, KEEP_RATIO, SCHEDULES, run_lambda_path
from .objective import EXP_CAP
from .result import MaskResult


@dataclass
class DatasetMaskSettings(NormalizationUsed):
    """What every dataset-mask learner shares: the settings of the engine
    (:func:`~fm_core.masks.dataset_masks.run_lambda_path`) other than the lambdas, each
    with its rule (``constraints``) and its profile setting (``profile_settings``), and
    the checked, frozen call of the engine. Not a learner itself: :class:`DatasetMask`
    adds one ``lam`` and a call, :class:`LambdaPath` a path ``lams`` and a call with warm
    starts, :class:`fm_core.methods.DatasetMaskMethod` a ``lam`` times a path and
    ``attribute``. The settings are described in :class:`DatasetMask`."""

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
    channels: str = "shared"

    constraints: ClassVar[dict] = dict(channels=one_of(CHANNELS),
        lr=POSITIVE, max_steps=count(), epochs=count(), batch_size=count(), window=count(), tol=NON_NEGATIVE,
        patience=count(0), schedule=one_of(SCHEDULES), keep_ratio=POSITIVE, invariance=one_of(INVARIANCES),
        part=one_of(PARTS))
    # field -> the profile's setting that from_profile takes it from
    profile_settings: ClassVar[dict] = dict(
        lr="dmask_lr", max_steps="dmask_max_steps", epochs="dmask_epochs", batch_size="dmask_batch_size",
        window="dmask_window", tol="dmask_tol", patience="dmask_patience", schedule="dmask_schedule",
        revert="dmask_revert", invariance="dmask_invariance", part="dmask_part", seed="seed")

    @classmethod
    def from_profile(cls, cfg, **overrides):
        """The learner with a profile's settings; ``overrides`` (``None`` included) win."""
        settings = {name: getattr(cfg, setting) for name, setting in cls.profile_settings.items()}
        settings.update(check_overrides(cls, overrides))
        return cls(**settings)

    def _learn(self, model, x, y, lams, start=None, penalty_weights=None, progress: bool = True) -> MaskResult:
        """Check the settings and inputs, then run the engine at ``lams`` with the model frozen."""
        check_constraints(self)
        if self.channels == "per-channel" and self.part != "both":
            raise UserError(f"per-channel masks act on the Fourier coefficients (part 'both'), not on {self.part!r}")
        shared = {f.name: getattr(self, f.name) for f in fields(DatasetMaskSettings)}
        with checked_network(model, x, y, self.normalization) as net:
            return run_lambda_path(net, x, y, lams=lams, start=start, penalty_weights=penalty_weights,
                                   progress=progress, **shared)


@dataclass
class DatasetMask(DatasetMaskSettings):
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
    channels : str
        ``"shared"`` (the default, the paper's): one mask for every colour channel, so the
        result reads as one map of the frequencies the network uses, whatever C is;
        ``"per-channel"``: one mask per channel, for a cue that one channel carries.

    Shape
    -----
    ``x``: (N, C, H, W) in [0, 1], any C; ``y``: (N,) class indices.

    Returns
    -------
    MaskResult
        ``masks`` (1, H, W) unshifted in [0, 1] ((1, C, H, W) per channel), ``steps``,
        ``converged``, accuracies.

    Notes
    -----
    ``model``: any network mapping (N, C, H, W) images in [0, 1] to logits (N, K)
    (:mod:`fm_core.nets.classifier`); if it expects normalised images, say so with
    ``set_normalization_used(mean, std)``. The model comes back as it was given
    (:func:`fm_core.nets.models.frozen`); bad inputs
    and settings raise one :class:`~fm_core.errors.UserError` line (each field's rule is in
    ``constraints``, checked by :func:`fm_core.nets.inputs.check_constraints`).

    Examples
    --------
    >>> result = DatasetMask.from_profile(get_profile("quick"))(model, x, y)  # doctest: +SKIP
    >>> result.mask.shape, bool(result.converged[0])  # doctest: +SKIP
    """

    lam: float = 0.2

    constraints: ClassVar[dict] = dict(DatasetMaskSettings.constraints, lam=NON_NEGATIVE)
    profile_settings: ClassVar[dict] = dict(DatasetMaskSettings.profile_settings, lam="dmask_lam")

    def __call__(self, model, x, y, progress: bool = True) -> MaskResult:
        result = self._learn(model, x, y, lams=(self.lam,), progress=progress)
        result.settings.update(lam=float(self.lam), lr=float(result.settings["lrs"][0]))
        return result


@dataclass
class LambdaPath(DatasetMaskSettings):
    """Dataset masks at several lambdas, learned in one batched run.

    Parameters
    ----------
    lams : sequence of float, each >= 0
        One mask row per lambda; each row has its own Adam state and stops when it
        converges. Every other setting as in :class:`DatasetMask` (``lr`` may be a
        sequence too, one rate per row).

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

    lams: tuple = (0.5, 1.0, 5.0, 20.0, 100.0)

    constraints: ClassVar[dict] = dict(DatasetMaskSettings.constraints, lams=NON_NEGATIVE)
    profile_settings: ClassVar[dict] = dict(DatasetMaskSettings.profile_settings, lams="dmask_path_lams")

    def __call__(self, model, x, y, start=None, penalty_weights=None, progress: bool = True) -> MaskResult:
        """``start``: the (H, W) mask every row begins at, e.g. a smaller lambda's
        converged mask (a warm start), or one (R, H, W) start per row; None: all ones.
        ``penalty_weights`` (R, H, W) > 0: row r's L1 weighs bin k by 1/W[r, k] (the
        randomized lasso, :func:`randomized_rows`); None: plain L1."""
        return self._learn(model, x, y, lams=self.lams, start=start, penalty_weights=penalty_weights,
                           progress=progress)


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

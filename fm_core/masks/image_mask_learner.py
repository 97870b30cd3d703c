"""The single-image mask learner of the public face (:mod:`fm_core.masks`): :class:`ImageMasks`,
configured once and called on ``(model, x)``. In its own module so that an artefact's key
follows only the code it runs (:mod:`fm_core.store.code_keys`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

from fm_core.nets.classifier import NormalizationUsed, checked_network
from fm_core.nets.inputs import NON_NEGATIVE, POSITIVE, check_constraints, check_overrides, count

from .image_masks import run_image_masks
from .objective import EXP_CAP
from .result import MaskResult


@dataclass
class ImageMasks(NormalizationUsed):
    """One Fourier mask per image, many learned at once (Karantzas et al. 2022, Sec. 3.2).

    Parameters
    ----------
    lam, lr, max_steps, patience, batch_size, schedule_steps
        The paper's defaults: lambda 0.07, Adam lr 0.2 under one-cycle over
        ``schedule_steps`` (default ``max_steps``), at most 20,000 steps, stop after
        ``patience`` steps without improvement; ``batch_size`` masks per batch.
    inv_tol, sparsity_tol
        A step counts towards ``patience`` when the masked prediction is the target and
        the invariance term and the mask's mean moved by at most these.
    checkpoint_every : int
        With ``checkpoint``, steps between atomic saves of the whole state.
    exp_cap : float or None
        As in :class:`~fm_core.masks.DatasetMask`.
    precision, channels_last
        Speed options (``"bf16"``, channels-last memory), off by default: masks within
        ``BF16_MASK_TOLERANCE`` / ``CHANNELS_LAST_MASK_TOLERANCE`` of
        :mod:`fm_core.masks.objective` of the default ones.

    Shape
    -----
    ``x``: (N, C, H, W) in [0, 1]; ``y`` (optional): (N,) targets, default the network's
    own predictions on the unmasked images.

    Returns
    -------
    MaskResult
        ``masks`` (N, H, W); per image ``steps``, ``converged``, ``kept`` (the masked
        prediction equals the target), ``predictions`` and ``final_predictions``.

    Notes
    -----
    ``checkpoint`` (a path) makes a long run resumable. The model comes back as it was
    given; bad inputs raise one :class:`~fm_core.errors.UserError` line.

    Examples
    --------
    >>> masks = ImageMasks.from_profile(get_profile("quick"))(model, x[:64])  # doctest: +SKIP
    """

    lam: float = 0.07
    lr: float = 0.2
    max_steps: int = 20_000
    patience: int = 300
    batch_size: int = 64
    schedule_steps: int | None = None
    inv_tol: float = 1e-6
    sparsity_tol: float = 1e-5
    checkpoint_every: int = 50
    exp_cap: float | None = EXP_CAP
    precision: str = "fp32"
    channels_last: bool = False

    constraints: ClassVar[dict] = dict(
        lam=NON_NEGATIVE, lr=POSITIVE, max_steps=count(), patience=count(0), batch_size=count(),
        schedule_steps=count(), inv_tol=NON_NEGATIVE, sparsity_tol=NON_NEGATIVE, checkpoint_every=count())

    @classmethod
    def from_profile(cls, cfg, **overrides) -> "ImageMasks":
        settings = dict(lam=cfg.imask_lam, lr=cfg.imask_lr, max_steps=cfg.imask_max_steps,
                        patience=cfg.imask_patience, batch_size=cfg.imask_batch_size,
                        schedule_steps=cfg.imask_schedule_steps)
        settings.update(check_overrides(cls, overrides))
        return cls(**settings)

    def __call__(self, model, x, y=None, checkpoint=None, progress: bool = True) -> MaskResult:
        check_constraints(self)
        with checked_network(model, x, y, self.normalization) as net:
            return run_image_masks(net, x, targets=y, checkpoint=checkpoint, progress=progress,
                                   **asdict(self))


def learn_image_masks(model, x, targets=None, checkpoint=None, progress: bool = True, **settings) -> MaskResult:
    """``ImageMasks(**settings)(model, x, targets, checkpoint)`` in one call, for scripts:
    the settings and their defaults are :class:`ImageMasks`' (a name it lacks is one line)."""
    return ImageMasks(**check_overrides(ImageMasks, settings))(model, x, targets, checkpoint=checkpoint,
                                                              progress=progress)

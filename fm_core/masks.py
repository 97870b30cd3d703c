"""Fourier masks (Karantzas et al. 2022), the public face: two learners with one call.

Configure once, call on ``(model, x, y)`` (as torchattacks' attacks are), get a
:class:`~fm_core.mask_result.MaskResult`::

    learner = DatasetMask(lam=0.2, lr=0.02, max_steps=600, batch_size=32, window=25,
                          tol=2e-3, patience=2, schedule="constant", invariance="dataset_mean")
    result = learner(model, x, y)          # result.mask: (H, W), unshifted; result.converged
    LambdaPath.from_profile(cfg)(model, x, y)  # one mask per lambda of the profile's path
    ImageMasks.from_profile(cfg)(model, x) # one mask per image; y defaults to the
                                           # network's own predictions

Where things are: the mask layer and its helpers in :mod:`fm_core.fourier`, the loss
and the per-row optimiser in :mod:`fm_core.mask_objective`, the learners in
:mod:`fm_core.dataset_masks` and :mod:`fm_core.image_masks`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from .dataset_masks import learn_dataset_mask, learn_lambda_path
from .fourier import FourierMask, apply_fourier_mask, centered, complement, filter_images, symmetric_part
from .image_masks import learn_image_masks
from .mask_objective import EXP_CAP
from .mask_result import MaskResult

__all__ = ["DatasetMask", "LambdaPath", "ImageMasks", "MaskResult", "FourierMask", "apply_fourier_mask", "centered",
           "complement", "filter_images", "symmetric_part", "learn_dataset_mask", "learn_lambda_path",
           "learn_image_masks"]


@dataclass
class DatasetMask:
    """One mask for all images given (a class mask: pass one class's images).
    Defaults are the paper's; :meth:`from_profile` takes a profile's (the small profiles'
    converge in a few hundred steps). See :func:`fm_core.dataset_masks.learn_lambda_path`."""

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
    invariance: str = "per_image"
    exp_cap: float | None = EXP_CAP
    seed: int = 0

    @classmethod
    def from_profile(cls, cfg, **overrides) -> "DatasetMask":
        settings = dict(lr=cfg.dmask_lr, max_steps=cfg.dmask_max_steps, epochs=cfg.dmask_epochs,
                        batch_size=cfg.dmask_batch_size, window=cfg.dmask_window, tol=cfg.dmask_tol,
                        patience=cfg.dmask_patience, schedule=cfg.dmask_schedule, revert=cfg.dmask_revert,
                        invariance=cfg.dmask_invariance, seed=cfg.seed)
        settings.update(cls._lambda_setting(cfg))
        settings.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**settings)

    @staticmethod
    def _lambda_setting(cfg) -> dict:
        return {"lam": cfg.dmask_lam}

    def __call__(self, model, x, y, progress: bool = True) -> MaskResult:
        return learn_dataset_mask(model, x, y, progress=progress, **asdict(self))


@dataclass
class LambdaPath(DatasetMask):
    """Dataset masks at several lambdas (one result row each), learned in one batched
    run: each row has its own lambda and Adam state and stops when it converges."""

    lam: float | None = None  # unused: see lams
    lams: tuple = (0.5, 1.0, 5.0, 20.0, 100.0)

    @staticmethod
    def _lambda_setting(cfg) -> dict:
        return {"lams": cfg.dmask_path_lams}

    def __call__(self, model, x, y, start=None, progress: bool = True) -> MaskResult:
        """``start``: the (H, W) mask every row begins at, e.g. a smaller lambda's
        converged mask (a warm start); None: all ones."""
        settings = asdict(self)
        del settings["lam"]
        return learn_lambda_path(model, x, y, start=start, progress=progress, **settings)


@dataclass
class ImageMasks:
    """One mask per image, many learned at once; ``y`` (targets) defaults to the network's
    own predictions. Defaults are the paper's; see
    :func:`fm_core.image_masks.learn_image_masks` (``checkpoint`` makes the run resumable).
    ``precision="bf16"`` and ``channels_last=True`` are speed options, off by default (no
    profile sets them, so the store's results are fp32): masks within
    ``BF16_MASK_TOLERANCE`` / ``CHANNELS_LAST_MASK_TOLERANCE`` of
    :mod:`fm_core.mask_objective` of the default ones."""

    lam: float = 0.07
    lr: float = 0.2
    max_steps: int = 20_000
    patience: int = 300
    batch_size: int = 64
    schedule_steps: int | None = None
    exp_cap: float | None = EXP_CAP
    precision: str = "fp32"
    channels_last: bool = False

    @classmethod
    def from_profile(cls, cfg, **overrides) -> "ImageMasks":
        settings = dict(lam=cfg.imask_lam, lr=cfg.imask_lr, max_steps=cfg.imask_max_steps,
                        patience=cfg.imask_patience, batch_size=cfg.imask_batch_size,
                        schedule_steps=cfg.imask_schedule_steps)
        settings.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**settings)

    def __call__(self, model, x, y=None, checkpoint=None, progress: bool = True) -> MaskResult:
        return learn_image_masks(model, x, targets=y, checkpoint=checkpoint, progress=progress,
                                 **asdict(self))

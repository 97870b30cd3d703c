"""The single-image mask learner of the public face (:mod:`fm_core.masks`): :class:`ImageMasks`,
configured once and called on ``(model, x)``. In its own module so that an artefact's key
follows only the code it runs (:mod:`fm_core.store.code_keys`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from fm_core.nets.inputs import check_images, check_settings
from fm_core.nets.models import frozen

from .image_masks import learn_image_masks
from .objective import EXP_CAP
from .result import MaskResult


@dataclass
class ImageMasks:
    """One mask per image, many learned at once; ``y`` (targets) defaults to the network's
    own predictions. Defaults are the paper's; see
    :func:`fm_core.masks.image_masks.learn_image_masks` (``checkpoint`` makes the run resumable).
    ``precision="bf16"`` and ``channels_last=True`` are speed options, off by default (no
    profile sets them, so the store's results are fp32): masks within
    ``BF16_MASK_TOLERANCE`` / ``CHANNELS_LAST_MASK_TOLERANCE`` of
    :mod:`fm_core.masks.objective` of the default ones."""

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
        check_images(model, x, y)
        check_settings(lam=self.lam, lr=self.lr, max_steps=self.max_steps, patience=self.patience,
                       batch_size=self.batch_size, schedule_steps=self.schedule_steps)
        with frozen(model):
            return learn_image_masks(model, x, targets=y, checkpoint=checkpoint, progress=progress,
                                     **asdict(self))

"""Fourier masks (Karantzas et al. 2022), the public face: two learners with one call.

Configure once, call on ``(model, x, y)`` (as torchattacks' attacks are), get a
:class:`~fm_core.masks.result.MaskResult`::

    learner = DatasetMask(lam=0.2, lr=0.02, max_steps=600, batch_size=32, window=25,
                          tol=2e-3, patience=2, schedule="one_cycle", invariance="dataset_mean")
    result = learner(model, x, y)          # result.mask: (H, W), unshifted; result.converged
    LambdaPath.from_profile(cfg)(model, x, y)  # one mask per lambda of the profile's path
    ImageMasks.from_profile(cfg)(model, x) # one mask per image; y defaults to the
                                           # network's own predictions

``model`` is any network mapping images (N, C, H, W) in [0, 1] to logits (N, K); one that
expects normalised images is given with ``learner.set_normalization_used(mean, std)``
(:mod:`fm_core.nets.classifier`).

Where things are: the mask layer and its helpers in :mod:`fm_core.fourier`, the loss
and the per-row optimiser in :mod:`fm_core.masks.objective`, the engines (every setting
required) in :mod:`fm_core.masks.dataset_masks` and :mod:`fm_core.masks.image_masks`, the
learners that hold the settings and their defaults (the one place they are written) in
:mod:`fm_core.masks.dataset_mask_learner` and :mod:`fm_core.masks.image_mask_learner`;
``learn_dataset_mask``, ``learn_lambda_path`` and ``learn_image_masks`` call them in one line.
Single-image masks learned by several processes, in shards: :mod:`fm_core.masks.shards`.
"""
from __future__ import annotations

from .dataset_mask_learner import (DatasetMask, DatasetMaskSettings, LambdaPath, learn_dataset_mask, learn_lambda_path,
                                   randomized_rows)
from fm_core.fourier import FourierMask, apply_fourier_mask, centered, complement, filter_images, symmetric_part
from .image_mask_learner import ImageMasks, learn_image_masks
from .result import MaskResult

__all__ = ["DatasetMask", "DatasetMaskSettings", "LambdaPath", "ImageMasks", "MaskResult", "FourierMask",
           "apply_fourier_mask", "centered",
           "complement", "filter_images", "symmetric_part", "learn_dataset_mask", "learn_lambda_path",
           "randomized_rows", "learn_image_masks"]

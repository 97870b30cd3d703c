"""Page 03, the networks (Table 1): each regime's accuracy, with its dataset mask and under
PGD, on the score half (unmasked and masked on the fit half too, where the masks were learned
and the paper measures); the numbers are stored for the reproduction page and the headline.
"""
from __future__ import annotations

from fm_core.profiles import Profile
from fm_core.science import experiments
from fm_core.store import pipeline
from .common import dataset_masks, networks, saved


def table1(cfg: Profile, progress: bool = True) -> dict:
    x, y = pipeline.score_half(cfg)
    return saved(cfg, "table1", experiments.table1(networks(cfg, progress=progress),
                                                    dataset_masks(cfg, progress=progress), x, y,
                                                    cfg.eps_pixel, cfg.pgd_steps, seed=cfg.seed,
                                                    fit=pipeline.fit_half(cfg)))

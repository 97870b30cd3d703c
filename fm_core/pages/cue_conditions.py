"""The cue world's conditions and one network's row, shared by the pages that hold masks
against behaviour (04, 10, 11, 14) and by the book's headline and explorer.

Conditions (each a variant of the profile, with its own networks and masks): the five
regimes of the paper; the *robust-H* world (H far above eps) for the vanilla and
adversarial networks; a reliability sweep of the H cue (rho_H) for the vanilla network;
and the positive controls, vanilla networks trained on L-only and on H-only images.
"""
from __future__ import annotations

import numpy as np

from fm_core.data.synthetic import ROBUST_H_RATIO
from fm_core.nets.evaluation import accuracy
from fm_core.profiles import REGIMES, Profile
from fm_core.science import cue_analysis
from fm_core.store import pipeline
from .common import budget_of


RHO_H_SWEEP = (0.9, 0.75)
# The middle of the cue-conflict probe's L-bias scale (0: always follows H, 1: always L): a
# network at or above it follows the L cue in at least half of the conflicts, it reads L
READS_L_FROM = 0.5


# An L-bias this close to the midpoint names no cue when two networks are compared: another
# training seed moves a vanilla network's L-bias by about this much (page 11's extra seeds,
# L-bias SD about 0.15 in the quick build), so its side of the midpoint is the seed's
NEAR_MIDPOINT = 0.15


def reads(l_bias: float) -> str:
    """"L" or "H": the cue a network with this cue-conflict L-bias follows."""
    return "L" if l_bias >= READS_L_FROM else "H"


def leaning(l_bias: float) -> str:
    """"L", "H", or "neither" when the L-bias lies within NEAR_MIDPOINT of the midpoint."""
    return "neither" if abs(l_bias - READS_L_FROM) < NEAR_MIDPOINT else reads(l_bias)


def near_midpoint_words() -> str:
    """How pages 12 and 14 say where a network that reads neither cue clearly lies."""
    return f"within {NEAR_MIDPOINT:g} of the midpoint"


def conditions(cfg: Profile) -> list[tuple[str, Profile, str]]:
    """(name, profile variant, regime) of every condition of the question page."""
    out = [(f"{r}", cfg, r) for r in REGIMES]
    robust = cfg.replace(cue_h_ratio=ROBUST_H_RATIO)
    out += [(f"{r}, robust-H world", robust, r) for r in ("vanilla", "adversarial")]
    out += [(f"vanilla, rho_H {rho}", cfg.replace(cue_rho_h=rho), "vanilla") for rho in RHO_H_SWEEP]
    out += [(f"vanilla, trained on {cue.upper()[0]} only", cfg.replace(cue_train=cue), "vanilla")
            for cue in ("low", "high")]
    return out


def is_control(name: str) -> bool:
    """Whether the condition ``name`` is a positive control (a network trained on one cue only)."""
    return " only" in name and "trained on" in name


def paper_networks(cfg: Profile) -> list[tuple[str, Profile, str]]:
    """The conditions of the paper's five networks (a subset of :func:`conditions`)."""
    return [c for c in conditions(cfg) if c[0] in REGIMES]


def network_row(cfg: Profile, regime: str, progress: bool = True) -> dict:
    """Behaviour on the probes and the dataset mask's cue shares, for one network; the
    mask's held-out accuracy (``masked, %`` beside ``clean, %``), steps, step budget and
    whether its rule fired (:func:`fm_core.pages.mask_tables.with_mask_status` for a table)."""
    ds = pipeline.get_dataset(cfg)
    net = pipeline.get_network(cfg, regime, progress)
    mask = pipeline.get_dataset_mask(cfg, regime, progress=progress)
    x, y = pipeline.score_half(cfg)
    row = {"clean, %": round(100 * accuracy(net, x, y), 2)}
    row.update(pipeline.get_behaviour(cfg, regime, progress))
    row.update(cue_analysis.mask_cue_shares(mask.mask, ds.truth["low"], ds.truth["high"]))
    row["mask mean"] = round(float(mask.mask.mean()), 4)
    row["masked, %"] = round(100 * accuracy(net, x, y, mask.mask), 2)
    row["mask steps"] = int(mask.steps[0])
    row["mask budget"] = budget_of(mask)
    row["mask converged"] = bool(mask.converged[0])
    return row


def agreement(rows: dict, digits: int | None = 4) -> dict:
    """Spearman's rho (L-bias, L-share) and the mean |L-bias - L-share| over rows
    (rounded to ``digits``; None: unrounded)."""
    bias = np.array([r["L-bias"] for r in rows.values()], float)
    share = np.array([r["L-share"] for r in rows.values()], float)
    values = {"rank correlation": cue_analysis.rank_correlation(bias, share),
              "mean |L-bias - L-share|": float(np.nanmean(np.abs(bias - share)))}
    return values if digits is None else {k: round(v, digits) for k, v in values.items()}

"""Page 11, stability: the key numbers over network seeds (the extra seeds in a cheaper
setting), how far a single-image mask moves under float rounding, and whether a network's
dataset mask repeats across mask seeds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fm_core.profiles import Profile
from fm_core.store import pipeline
from .common import seeds_setting
from .cue_conditions import network_row


def stability_variant(cfg: Profile, seed: int) -> Profile:
    """The profile with another seed (networks, masks, data order). Extra seeds use the
    cheaper setting of :data:`STABILITY_CHEAPER` so that the book stays within its time."""
    return cfg.replace(seed=seed, **STABILITY_CHEAPER.get(cfg.name, {}))


# Extra seeds train on fewer images for fewer epochs (said on the stability page).
STABILITY_CHEAPER = {"quick": {"n_train": 1500, "epochs": 5},
                     "smoke": {}}


STABILITY_SEEDS = {"smoke": 2, "quick": 3}

# Stored per seed (in the seeds' order), beside the summary: the numbers other pages report
PER_SEED, PER_SEED_KEYS = "per seed", ("clean, %", "L-bias", "L-share", "masked, %")


def stability(cfg: Profile, regimes=("vanilla", "adversarial"), progress: bool = True) -> dict:
    """Key numbers over seeds (the profile's own and extra seeds in the cheaper setting):
    per regime and seed the network row, plus the correlation of the dataset masks
    between seeds and the share of bins whose kept/removed state (value > 0.5) agrees."""
    n_seeds = STABILITY_SEEDS.get(cfg.name, 3)
    seeds = [cfg.seed] + [cfg.seed + 1000 * k for k in range(1, n_seeds)]
    out = {"seeds": seeds, "cheaper": STABILITY_CHEAPER.get(cfg.name, {}), "regimes": {}}
    for regime in regimes:
        variants = [cfg] + [stability_variant(cfg, s) for s in seeds[1:]]
        rows = [network_row(v, regime, progress) for v in variants]
        masks = np.stack([pipeline.get_dataset_mask(v, regime, progress=progress).mask.ravel() for v in variants])
        pairs = [(i, j) for i in range(len(masks)) for j in range(i + 1, len(masks))]
        corr = [float(np.corrcoef(masks[i], masks[j])[0, 1]) for i, j in pairs]
        agree = [float(((masks[i] > 0.5) == (masks[j] > 0.5)).mean()) for i, j in pairs]
        summary = {}
        for key in ("clean, %", "L-bias", "L-share", "AUROC L", "AUROC H"):
            vals = np.array([r[key] for r in rows], dtype=float)
            summary[key] = {"mean": round(float(np.nanmean(vals)), 4), "min": round(float(np.nanmin(vals)), 4),
                            "max": round(float(np.nanmax(vals)), 4)}
        summary["mask correlation between seeds"] = {"mean": round(float(np.mean(corr)), 4),
                                                     "min": round(float(np.min(corr)), 4),
                                                     "max": round(float(np.max(corr)), 4)}
        summary["bins kept/removed alike"] = {"mean": round(float(np.mean(agree)), 4),
                                              "min": round(float(np.min(agree)), 4),
                                              "max": round(float(np.max(agree)), 4)}
        out["regimes"][regime] = {"rows": rows, "summary": summary}
    # with the seeds, what the extra seeds change and each seed's numbers: what another page's
    # copy of a number is checked against (fm_core.pages.claims); lists stay out of the headline
    pipeline.save_result(cfg, "stability", {
        "inputs": {"seeds": seeds, "extra seeds": out["cheaper"]},
        **{r: {**v["summary"], PER_SEED: {k: [row[k] for row in v["rows"]] for k in PER_SEED_KEYS}}
           for r, v in out["regimes"].items()}})
    return out


def setting(spread: dict) -> str:
    """The label of :func:`stability`'s spread: its seeds and what the extra seeds change
    (:func:`~fm_core.pages.common.seeds_setting`), so that it is not read as page 10's seed SD,
    which is measured at the profile's own settings."""
    return seeds_setting(spread["seeds"], spread.get("cheaper"))


def seeds_prose(spread: dict, cfg: Profile) -> str:
    """What varies between the seeds of :func:`stability`, in words: the seeds, and the
    settings that the extra seeds change beside the seed (with the profile's values)."""
    seeds = ", ".join(str(s) for s in spread["seeds"])
    cheaper = spread.get("cheaper") or {}
    if not cheaper:
        return (f"Seeds {seeds}: every seed uses the profile's own settings, so the spread below is "
                f"the seed's alone (initialisation, data order, PGD starts).")
    changes = "; ".join(f"{k} {getattr(cfg, k) if getattr(cfg, k) is not None else 'all'} -> {v}"
                        for k, v in cheaper.items())
    return (f"Seeds {seeds}. The first is this book's network, with the profile's settings; the "
            f"extra seeds also change {', '.join(cheaper)} ({changes}) to keep the build's time. So the "
            f"spread below mixes the seed with a smaller training run: a number that moves between "
            f"the first seed and the others may move because of either, and this page cannot say "
            f"which.")


def image_mask_rounding(cfg: Profile, n_images: int = 8, regime: str = "vanilla", progress: bool = True) -> dict:
    """How much of a single-image mask is stable under float rounding: the same images'
    masks learned one at a time (batch 1) and all together (one batch), which differ
    only in the order of floating-point sums. Reports the mean |difference|, the share
    of bins that differ by more than 0.01 and the share that change side of 0.5."""
    from fm_core.masks import ImageMasks

    ds = pipeline.get_dataset(cfg)
    indices = pipeline.get_reversal_selection(cfg, progress)["indices"][:n_images]
    net = pipeline.get_network(cfg, regime, progress)
    x = ds.x_val[indices]
    alone = ImageMasks.from_profile(cfg, batch_size=1)(net, x, progress=progress).masks
    together = ImageMasks.from_profile(cfg, batch_size=len(x))(net, x, progress=progress).masks
    diff = np.abs(alone - together)
    return {"images": int(len(x)), "mean |difference|": round(float(diff.mean()), 5),
            "bins differing by > 0.01, %": round(100 * float((diff > 0.01).mean()), 2),
            "bins changing side of 0.5, %": round(100 * float(((alone > 0.5) != (together > 0.5)).mean()), 2),
            "masks identical, %": round(100 * float((diff.reshape(len(x), -1).max(1) == 0).mean()), 1)}


# A network's dataset mask *repeats* when its smallest correlation with itself across mask
# seeds is at least this (the book's line for page 11; not measured)
REPEATS_FROM = 0.8


@dataclass(frozen=True)
class RepeatVerdict:
    """Whether each network's dataset mask is the same mask for another data order."""
    repeats: bool               # every network's smallest seed correlation is REPEATS_FROM or more
    not_repeating: tuple[str, ...]  # the networks below it


def judge_repeat(rows: dict) -> RepeatVerdict:
    """From :func:`fm_core.pages.dataset_masks.objective_row` per network."""
    below = tuple(r for r, row in rows.items() if not row["seed correlation (min)"] >= REPEATS_FROM)
    return RepeatVerdict(repeats=not below, not_repeating=below)


def repeat_prose(rows: dict, network_spread: dict | None = None) -> str:
    """Whether each network's mask repeats across mask seeds (:func:`judge_repeat`), and,
    given the seed page's spread over *network* seeds, how that compares."""
    parts = [f"{r}: {row['seed correlation (min)']:.2f} across mask seeds, {row['halves correlation']:.2f} across "
             f"halves" for r, row in rows.items()]
    text = ("Smallest correlation of a network's mask with itself, " + "; ".join(parts) + ". "
            + (f"For a fixed network the mask repeats (at least {REPEATS_FROM:g} everywhere), so a difference between "
               "networks' masks is not the learner's draw." if judge_repeat(rows).repeats else
               f"For a fixed network the mask does not repeat everywhere (below {REPEATS_FROM:g}): part of it is the "
               "learner's draw."))
    if network_spread:
        text += (" Across network seeds the masks correlate "
                 + "; ".join(f"{r} {s['mask correlation between seeds']['mean']:.2f} on average"
                             for r, s in network_spread.items())
                 + ": what differs there is the network, not the mask learner.")
    return text

"""The cue world's question, through the store: do robust networks rely on the
low-frequency cue, and do their masks say so? Each function fetches networks, masks and
probes from :mod:`fm_core.pipeline`, measures with :mod:`fm_core.cue_analysis` and
saves its numbers.

Conditions (each a variant of the profile, with its own networks and masks):
the five regimes of the paper; the *robust-H* world (H far above eps) for the vanilla
and adversarial networks; a reliability sweep of the H cue (rho_H) for the vanilla
network; and the positive controls, vanilla networks trained on L-only and on H-only
images.
"""
from __future__ import annotations

import numpy as np

from . import cue_analysis, pipeline
from .evaluation import accuracy
from .profiles import REGIMES, Profile
from .synthetic import ROBUST_H_RATIO

RHO_H_SWEEP = (0.9, 0.75)


def conditions(cfg: Profile) -> list[tuple[str, Profile, str]]:
    """(name, profile variant, regime) of every condition of the question page."""
    out = [(f"{r}", cfg, r) for r in REGIMES]
    robust = cfg.replace(cue_h_ratio=ROBUST_H_RATIO)
    out += [(f"{r}, robust-H world", robust, r) for r in ("vanilla", "adversarial")]
    out += [(f"vanilla, rho_H {rho}", cfg.replace(cue_rho_h=rho), "vanilla") for rho in RHO_H_SWEEP]
    out += [(f"vanilla, trained on {cue.upper()[0]} only", cfg.replace(cue_train=cue), "vanilla")
            for cue in ("low", "high")]
    return out


def network_row(cfg: Profile, regime: str, progress: bool = True) -> dict:
    """Behaviour on the probes and the dataset mask's cue shares, for one network."""
    ds = pipeline.get_dataset(cfg)
    net = pipeline.get_network(cfg, regime, progress)
    mask = pipeline.get_dataset_mask(cfg, regime, progress=progress)
    x, y = pipeline.score_half(cfg)
    row = {"clean, %": round(100 * accuracy(net, x, y), 2)}
    row.update(cue_analysis.behaviour(net, pipeline.get_probes(cfg)))
    row.update(cue_analysis.mask_cue_shares(mask.mask, ds.truth["low"], ds.truth["high"]))
    row["mask mean"] = round(float(mask.mask.mean()), 4)
    return row


def cue_table(cfg: Profile, progress: bool = True) -> dict:
    """Every condition's row, and Spearman's rho between L-bias and L-share across them."""
    rows = {name: network_row(variant, regime, progress) for name, variant, regime in conditions(cfg)}
    values = {"rows": rows,
              "rank correlation (L-bias, L-share)": cue_analysis.rank_correlation(
                  [r["L-bias"] for r in rows.values()], [r["L-share"] for r in rows.values()]),
              "conditions": len(rows)}
    pipeline.save_result(cfg, "cues", {"rank_correlation": values["rank correlation (L-bias, L-share)"],
                                       **{f"{n}.{k}": v for n, r in rows.items() for k, v in r.items()
                                          if k in ("L-bias", "L-share", "clean, %")}})
    return values


def objectives(cfg: Profile, regime: str = "vanilla", progress: bool = True) -> dict:
    """The vanilla network's dataset mask under both invariance terms, side by side:
    sparsity, held-out masked accuracy and cue shares (neither chosen by these numbers)."""
    ds = pipeline.get_dataset(cfg)
    net = pipeline.get_network(cfg, regime, progress)
    x, y = pipeline.score_half(cfg)
    out = {}
    for invariance in ("per_image", "batch_mean"):
        mask = pipeline.get_dataset_mask(cfg.replace(dmask_invariance=invariance), regime, progress=progress).mask
        out[invariance] = {"mask mean": round(float(mask.mean()), 4),
                           "masked accuracy (held-out), %": round(100 * accuracy(net, x, y, mask), 2),
                           **cue_analysis.mask_cue_shares(mask, ds.truth["low"], ds.truth["high"])}
    pipeline.save_result(cfg, "objectives", out)
    return out


def stability_variant(cfg: Profile, seed: int) -> Profile:
    """The profile with another seed (networks, masks, data order). Extra seeds use the
    cheaper setting of :data:`STABILITY_CHEAPER` so that the book stays within its time."""
    return cfg.replace(seed=seed, **STABILITY_CHEAPER.get(cfg.name, {}))


# Extra seeds train on fewer images for fewer epochs (said on the stability page).
STABILITY_CHEAPER = {"quick": {"n_train": 1500, "epochs": 5},
                     "smoke": {}}
STABILITY_SEEDS = {"smoke": 2, "quick": 3}


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
    pipeline.save_result(cfg, "stability", {r: v["summary"] for r, v in out["regimes"].items()})
    return out


def verdict(question: dict) -> str:
    """The page's conclusion in words, chosen by the numbers (nothing typed)."""
    rows = question["rows"]
    van, adv = rows["vanilla"], rows["adversarial"]
    gap = adv["L-bias"] - van["L-bias"]
    lines = [f"**Behaviour.** The vanilla network's L-bias is {van['L-bias']:.2f}, the adversarially "
             f"trained network's {adv['L-bias']:.2f} (difference {gap:+.2f}). "
             + ("Adversarial training moved the network to the low-frequency cue: the paper's claim "
                "holds here, by behaviour." if gap >= 0.4 else
                "Adversarial training did not move the network to the low-frequency cue by the 0.4 this "
                "page asks for: the paper's claim is not supported here, by behaviour.")]
    robust = [rows.get(f"{r}, robust-H world") for r in ("vanilla", "adversarial")]
    if all(robust):
        same_side = (robust[0]["L-bias"] < 0.5) == (robust[1]["L-bias"] < 0.5)
        lines.append(f"In the robust-H control (H far above eps) the L-biases are {robust[0]['L-bias']:.2f} and "
                     f"{robust[1]['L-bias']:.2f}: " + ("both on the same side, so the shift above comes from "
                                                         "H being attackable, not from adversarial training as such."
                                                         if same_side else "on different sides."))
    share_gap = adv["L-share"] - van["L-share"]
    agrees = np.sign(share_gap) == np.sign(gap) and abs(share_gap) > 0.1
    lines.append(f"**Masks.** Their dataset masks' L-shares are {van['L-share']:.2f} and {adv['L-share']:.2f}: "
                 + ("the masks move the same way as the behaviour." if agrees else
                    "the masks do not show the behavioural shift; that is a finding about the masks."))
    off = [f"{name} (L-bias {r['L-bias']:.2f}, L-share {r['L-share']:.2f})" for name, r in rows.items()
           if abs(r["L-share"] - r["L-bias"]) > 0.3]
    right = [name for name, r in rows.items() if abs(r["L-share"] - r["L-bias"]) <= 0.3]
    lines.append(f"Masks and behaviour agree within 0.3 for {len(right)} of {len(rows)} conditions"
                 + (f"; they disagree for {'; '.join(off)}. A mask keeps a cue whenever removing it "
                    "changes the loss, also when the network's decisions follow the other cue: "
                    "the L-share overstates a secondary cue." if off else "."))
    rho = question["rank correlation (L-bias, L-share)"]
    lines.append(f"Across all {question['conditions']} conditions, Spearman's rho between L-bias and L-share "
                 f"is {rho:.2f}" + (" (undefined: too few distinct values)." if rho != rho else "."))
    controls = [rows.get(f"vanilla, trained on {c} only") for c in ("L", "H")]
    if all(controls):
        ok = controls[0]["L-share"] - controls[1]["L-share"] > 0.1  # a margin, not a coin's edge
        lines.append(f"Positive controls: the network trained on L only has L-share {controls[0]['L-share']:.2f}, "
                     f"the one trained on H only {controls[1]['L-share']:.2f}: "
                     + ("the masks find the cue a network was given." if ok else
                        "the masks miss the cue a network was given, which limits what they can tell."))
    return "\n\n".join(lines)


def image_mask_rounding(cfg: Profile, n_images: int = 8, regime: str = "vanilla", progress: bool = True) -> dict:
    """How much of a single-image mask is stable under float rounding: the same images'
    masks learned one at a time (batch 1) and all together (one batch), which differ
    only in the order of floating-point sums. Reports the mean |difference|, the share
    of bins that differ by more than 0.01 and the share that change side of 0.5."""
    from .masks import ImageMasks

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

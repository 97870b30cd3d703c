"""The cue world's question, through the store: do robust networks rely on the
low-frequency cue, and do their masks say so? Each function fetches networks, masks and
probes from :mod:`fm_core.store.pipeline`, measures with :mod:`fm_core.science.cue_analysis` and
saves its numbers.

Conditions (each a variant of the profile, with its own networks and masks):
the five regimes of the paper; the *robust-H* world (H far above eps) for the vanilla
and adversarial networks; a reliability sweep of the H cue (rho_H) for the vanilla
network; and the positive controls, vanilla networks trained on L-only and on H-only
images.
"""
from __future__ import annotations

import numpy as np

from fm_core.science import cue_analysis
from . import pipeline, seed_spread
from fm_core.masks.dataset_masks import COMPARED_INVARIANCES
from fm_core.nets.evaluation import accuracy
from fm_core.profiles import REGIMES, Profile
from fm_core.data.synthetic import ROBUST_H_RATIO

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


def paper_networks(cfg: Profile) -> list[tuple[str, Profile, str]]:
    """The conditions of the paper's five networks (a subset of :func:`conditions`)."""
    return [c for c in conditions(cfg) if c[0] in REGIMES]


def network_row(cfg: Profile, regime: str, progress: bool = True) -> dict:
    """Behaviour on the probes and the dataset mask's cue shares, for one network."""
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
    row["mask converged"] = bool(mask.converged[0])
    return row


def cue_table(cfg: Profile, progress: bool = True) -> dict:
    """Every condition's row, and Spearman's rho between L-bias and L-share across them."""
    chosen = conditions(cfg)
    # the controls first, the robust-H world's at their head: in a parallel book build the
    # networks page trains the paper's five meanwhile, and the reversal page asks for the
    # robust-H networks soon after this page starts, so neither page waits on the other
    computed = {name: network_row(variant, regime, progress)
                for name, variant, regime in chosen[len(REGIMES):] + chosen[:len(REGIMES)]}
    rows = {name: computed[name] for name, _, _ in chosen}
    agree = agreement(rows, digits=None)
    values = {"rows": rows, "rank correlation (L-bias, L-share)": agree["rank correlation"],
              "conditions": len(rows), "mean |L-bias - L-share|": round(agree["mean |L-bias - L-share|"], 4)}
    pipeline.save_result(cfg, "cues", {"rank_correlation": values["rank correlation (L-bias, L-share)"],
                                       "mean_abs_gap": values["mean |L-bias - L-share|"],
                                       **{f"{n}.{k}": v for n, r in rows.items() for k, v in r.items()
                                          if k in ("L-bias", "L-share", "clean, %")}})
    return values


def held_against_behaviour(cfg: Profile, objectives=COMPARED_INVARIANCES, conditions_of=None,
                           progress: bool = True) -> dict:
    """Each objective's dataset masks held against behaviour over the conditions (all of
    :func:`conditions` by default): per objective the L-share per condition, Spearman's
    rho with the L-bias and the mean |L-bias - L-share|. Run after the objective was
    chosen without the truth (:mod:`fm_core.store.mask_choice`)."""
    chosen = conditions(cfg) if conditions_of is None else conditions_of
    bias = {name: pipeline.get_behaviour(variant, regime, progress)["L-bias"]
            for name, variant, regime in chosen}  # behaviour does not depend on the objective
    out = {}
    for objective in objectives:
        rows = {}
        for name, variant, regime in chosen:
            variant = variant.replace(dmask_invariance=objective)
            ds, mask = pipeline.get_dataset(variant), pipeline.get_dataset_mask(variant, regime, progress=progress)
            share = cue_analysis.mask_cue_shares(mask.mask, ds.truth["low"], ds.truth["high"])["L-share"]
            rows[name] = {"L-bias": bias[name], "L-share": share, "converged": bool(mask.converged[0])}
        out[objective] = {"rows": rows, **agreement(rows)}
    pipeline.save_result(cfg, "objectives_vs_behaviour",
                         {f"{o}.{k}": v for o, res in out.items() for k, v in res.items() if k != "rows"})
    return out


def objectives_against_truth(cfg: Profile, regimes=("vanilla", "adversarial"),
                             objectives=COMPARED_INVARIANCES, progress: bool = True) -> dict:
    """Each objective's dataset mask (the fit-half one) against the cue world's truth, for
    the main networks: ``{objective: {regime: row}}`` with the L-bias, the mask's cue
    shares (mean on the L bins, the H bins and elsewhere, AUROCs, L-share), mask mean
    and convergence. Shown only after :mod:`fm_core.store.mask_choice` chose without it."""
    out = {}
    ds = pipeline.get_dataset(cfg)
    bias = {r: pipeline.get_behaviour(cfg, r, progress)["L-bias"] for r in regimes}
    for objective in objectives:
        variant = cfg.replace(dmask_invariance=objective)
        out[objective] = {}
        for regime in regimes:
            mask = pipeline.get_dataset_mask(variant, regime, progress=progress)
            out[objective][regime] = {"L-bias": bias[regime],
                                      **cue_analysis.mask_cue_shares(mask.mask, ds.truth["low"], ds.truth["high"]),
                                      "mask mean": round(float(mask.mask.mean()), 4),
                                      "converged": bool(mask.converged[0])}
    return out


def uses_or_sensitivity_prose(truth: dict) -> str:
    """Does an objective find the frequencies a network *uses*, or those its per-image
    loss is *sensitive* to? Read from the vanilla network's masks: bins that carry no
    cue ("elsewhere") are used by no network's decisions, so a mask that keeps them
    measures sensitivity."""
    lines = []
    for objective, rows in truth.items():
        v = rows.get("vanilla")
        if v is None:
            continue
        lines.append(f"`{objective}`: vanilla mask keeps {v['mean elsewhere']:.3f} of the cue-free bins on average, "
                     f"{v['mean on L bins']:.2f} of the L bins and {v['mean on H bins']:.2f} of the H bins "
                     f"(L-share {v['L-share']:.2f}, L-bias {v['L-bias']:.2f}"
                     + ("" if v["converged"] else "; not converged") + ")")
    mean_key = next((k for k in ("dataset_mean", "batch_mean") if k in truth), None)
    if mean_key is None or "per_image" not in truth:
        return "; ".join(lines) + "."
    b, p = truth[mean_key]["vanilla"], truth["per_image"]["vanilla"]
    denser = p["mean elsewhere"] > 2 * b["mean elsewhere"] and p["L-share"] > b["L-share"]
    verdict = (" Holding each image's loss keeps more of the cue-free bins and more of the cue the network's "
               "decisions ignore: a frequency whose removal raises some images' losses and lowers others' "
               "changes nothing on average, yet every image's squared change counts. The paper's objective "
               f"therefore measures how *sensitive* each image's loss is to a frequency, the mean-loss objective "
               f"(`{mean_key}`) which frequencies the network *uses*. If the same holds on photographs, Figure 3 "
               "of the paper (learned at batch 1, where the two coincide step by step but the paper's loss is "
               "each image's) is closer to a map of sensitivity than of use; this page shows it in the cue "
               "world only." if denser else
               " Holding each image's loss does not keep clearly more cue-free bins than holding the mean loss: "
               "here the two objectives measure much the same thing.")
    return "; ".join(lines) + "." + verdict


def agreement(rows: dict, digits: int | None = 4) -> dict:
    """Spearman's rho (L-bias, L-share) and the mean |L-bias - L-share| over rows
    (rounded to ``digits``; None: unrounded)."""
    bias = np.array([r["L-bias"] for r in rows.values()], float)
    share = np.array([r["L-share"] for r in rows.values()], float)
    values = {"rank correlation": cue_analysis.rank_correlation(bias, share),
              "mean |L-bias - L-share|": float(np.nanmean(np.abs(bias - share)))}
    return values if digits is None else {k: round(v, digits) for k, v in values.items()}


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


# The behavioural shift the page asks of adversarial training (L-bias, adversarial minus
# vanilla), and the least shift in L-share that counts as the masks moving with it
BIAS_SHIFT, SHARE_SHIFT = 0.4, 0.1


def verdict(question: dict, spread: dict | None = None) -> str:
    """The page's conclusion in words, chosen by the numbers (nothing typed). With
    ``spread`` (:meth:`fm_core.book.report.Page.spread`), each verdict must stand two seed
    SDs beyond its line (:func:`fm_core.store.seed_spread.side`), or the page says the
    seed decides it."""
    rows = question["rows"]
    van, adv = rows["vanilla"], rows["adversarial"]
    gap = adv["L-bias"] - van["L-bias"]
    gap_sd = seed_spread.difference_sd(spread, "cues.adversarial.L-bias", "cues.vanilla.L-bias")
    shown_sd = "" if gap_sd is None else f", seed SD {gap_sd:.2f}"
    lines = [f"**Behaviour.** The vanilla network's L-bias is {van['L-bias']:.2f}, the adversarially "
             f"trained network's {adv['L-bias']:.2f} (difference {gap:+.2f}{shown_sd}). "
             + {1: "Adversarial training moved the network to the low-frequency cue: the paper's claim "
                   "holds here, by behaviour.",
                -1: f"Adversarial training did not move the network to the low-frequency cue by the {BIAS_SHIFT:g} "
                    "this page asks for: the paper's claim is not supported here, by behaviour.",
                0: f"The difference lies within {seed_spread.VERDICT_MARGIN_SDS:g} seed SDs of the {BIAS_SHIFT:g} "
                   "this page asks for: whether the paper's claim holds here is a draw of the seed."}[seed_spread.side(gap, BIAS_SHIFT, gap_sd)]]
    robust = [rows.get(f"{r}, robust-H world") for r in ("vanilla", "adversarial")]
    if all(robust):
        same_side = (robust[0]["L-bias"] < 0.5) == (robust[1]["L-bias"] < 0.5)
        lines.append(f"In the robust-H control (H far above eps) the L-biases are {robust[0]['L-bias']:.2f} and "
                     f"{robust[1]['L-bias']:.2f}: " + ("both on the same side, so the shift above comes from "
                                                         "H being attackable, not from adversarial training as such."
                                                         if same_side else "on different sides."))
    share_gap = adv["L-share"] - van["L-share"]
    share_sd = seed_spread.difference_sd(spread, "cues.adversarial.L-share", "cues.vanilla.L-share")
    moved = seed_spread.side(abs(share_gap), SHARE_SHIFT, share_sd) if np.sign(share_gap) == np.sign(gap) else -1
    lines.append(f"**Masks.** Their dataset masks' L-shares are {van['L-share']:.2f} and {adv['L-share']:.2f}"
                 + ("" if share_sd is None else f" (difference seed SD {share_sd:.2f})") + ": "
                 + {1: "the masks move the same way as the behaviour.",
                    -1: "the masks do not show the behavioural shift; that is a finding about the masks.",
                    0: f"the masks move the same way, but by less than {seed_spread.VERDICT_MARGIN_SDS:g} seed SDs "
                       f"beyond the {SHARE_SHIFT:g} asked: the seed could undo it."}[moved])
    off = [f"{name} (L-bias {r['L-bias']:.2f}, L-share {r['L-share']:.2f})" for name, r in rows.items()
           if abs(r["L-share"] - r["L-bias"]) > 0.3]
    right = [name for name, r in rows.items() if abs(r["L-share"] - r["L-bias"]) <= 0.3]
    lines.append(f"Masks and behaviour agree within 0.3 for {len(right)} of {len(rows)} conditions"
                 + (f"; they disagree for {'; '.join(off)}. The ablation below asks whether the network "
                    "needs the cue its mask keeps there." if off else "."))
    rho = question["rank correlation (L-bias, L-share)"]
    gaps = agreement(rows)["mean |L-bias - L-share|"]
    rho_sd, gaps_sd = (seed_spread.sd_of(spread, k) for k in ("cues.rank_correlation", "cues.mean_abs_gap"))
    lines.append(f"Across all {question['conditions']} conditions, Spearman's rho between L-bias and L-share "
                 f"is {rho:.3f}" + (" (undefined: too few distinct values)" if rho != rho else "")
                 + ("" if rho_sd is None else f" (seed SD {rho_sd:.3f})")
                 + f", and the mean |L-bias - L-share| is {gaps:.2f}"
                 + ("" if gaps_sd is None else f" (seed SD {gaps_sd:.3f})") + ".")
    unconverged = [name for name, r in rows.items() if not r.get("mask converged", True)]
    if unconverged:
        lines.append(f"**Not converged** within the budget: the masks of {'; '.join(unconverged)}; their "
                     "L-shares are those of masks still moving.")
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

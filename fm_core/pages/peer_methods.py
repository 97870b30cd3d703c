"""The peer-methods page's numbers, through the store: four frequency maps of the same
networks (:mod:`fm_core.methods`), judged by truth, faithfulness and cost
(:mod:`fm_core.methods.faithfulness`) and against behaviour (the cue-conflict L-bias).

Maps are made from fit-half images (the Fourier mask's from all of them, down a lambda
path) and judged on score-half images and held-out probes, never on the images they came
from; each is an artefact of its own (``runs/<profile>/maps/``), its cost measured while
it is made. The stored one-lambda dataset mask is judged beside the path's map.

Size: one page's numbers and the prose chosen from them, kept together as for the other pages.
"""
from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch

from fm_core.fourier import symmetric_part
from fm_core.masks import DatasetMask
from fm_core.science import cue_analysis
from fm_core.methods import faithfulness, peers as methods
from fm_core import store
from fm_core.methods.peers import METHOD_TITLES
from fm_core.profiles import Profile
from fm_core.store import pipeline
from .common import judge_mask
from .cue_conditions import READS_L_FROM, leaning, near_midpoint_words, reads
from fm_core.utils import save_json_atomic

# The two of the paper's five networks (fm_core.profiles.REGIMES) whose maps the page
# compares: the vanilla one reads the H cue and the adversarial one L, the two clearest
# truths to judge a map against. The rotate network, whose L-bias lies nearer the
# midpoint (page 14), was a third until its maps (43 s of a 1,915 s quick build) gave way
# to the paper's pages on real images (issue 35: the book may grow by at most 1.2x)
MAPPED_REGIMES = ("vanilla", "adversarial")
METHOD_NAMES = ("mask", "heatmap", "ablation", "gradient")
# Images per map and for judging, per profile. The heat map and the ablation cost one
# forward per image and frequency pair (514 pairs at 32 px). Quick's count is the smallest
# of 6, 16, 32, 64 at which every heat map and ablation map of the page's networks (then also rotate)
# reached a split-half reliability of 0.9 (methods.split_half_reliability; at 6 images the
# adversarial network's ablation map was anti-correlated between its halves); the page
# shows each map's reliability.
RELIABLE = 0.9
PAGE_SETTINGS = {
    "smoke": dict(heatmap=4, ablation=4, gradient=64, judge=32, points=5, probes=200),
    "quick": dict(heatmap=32, ablation=32, gradient=256, judge=48, points=6, probes=500),
    "paper": dict(heatmap=64, ablation=64, gradient=1000, judge=500, points=9, probes=1000),
}


def page_settings(cfg: Profile) -> dict:
    return PAGE_SETTINGS.get(cfg.name, PAGE_SETTINGS["quick"])


def _subset(x: torch.Tensor, y: torch.Tensor, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n images drawn at random (seeded) from (x, y): a page's images, not the first n."""
    idx = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    return x[idx], y[idx]


def get_method_map(cfg: Profile, regime: str, name: str, progress: bool = True) -> methods.FrequencyMap:
    """The ``name`` map (mask, heatmap, ablation, gradient) of the ``regime`` network, made
    from fit-half images, computed once."""
    # the mask map: the profile's dataset-mask settings down a lambda path, on the whole fit half
    method = methods.get_method(name, **(asdict(DatasetMask.from_profile(cfg)) if name == "mask" else {}))
    n = page_settings(cfg).get(name) or len(pipeline.fit_half(cfg)[1])
    settings = pipeline._settings(cfg, pipeline.NETWORK_FIELDS, regime=regime, method=name, images=n,
                                  method_settings=vars(method))
    code = pipeline.DATASET_MASK_CODE if name == "mask" else pipeline.NETWORK_CODE
    key = store.artefact_key(settings, code + (methods,))

    def compute():
        x, y = _subset(*pipeline.fit_half(cfg), n, cfg.seed)
        return method.attribute(pipeline.get_network(cfg, regime, progress), x, y, progress=progress)

    return store.fetch(store.runs_dir(cfg.name) / "maps" / f"{name}-{regime}-{key}.npz", compute,
                       save=methods.FrequencyMap.save, load=methods.FrequencyMap.load,
                       record=lambda m: dict(artefact="frequency_map", regime=regime, method=name, cost=m.cost,
                                             profile=cfg.as_dict()))


def judge_network(model, maps: dict, x: torch.Tensor, y: torch.Tensor, truth: dict | None = None,
                  conflict: dict | None = None, points: int = 7, seed: int = 0, progress: bool = True) -> dict:
    """One network's maps (name -> FrequencyMap) judged on held-out (x, y): ``rows`` (name
    -> truth scores, deletion/insertion areas, cost), ``curves`` (incl. ``random``) and the
    network's ``L-bias`` on the cue-conflict probe set ``conflict`` (when given)."""
    curves = faithfulness.frequency_curves(model, x, y, {k: m.values for k, m in maps.items()}, points=points,
                                           seed=seed, progress=progress)
    rows = {}
    for name, curve in curves.items():
        row = faithfulness.truth_scores(maps[name].values, truth) if truth is not None and name in maps else {}
        row.update({k: v for k, v in curve.items() if k.startswith("AUC")})
        if name in maps:
            row.update(faithfulness.cost_row(maps[name].cost))
        rows[name] = row
    out = {"rows": rows, "curves": curves}
    if conflict is not None:
        out["L-bias"] = cue_analysis.behaviour(model, {"conflict": conflict})["L-bias"]
    return out


def peer_methods(cfg: Profile, regimes=MAPPED_REGIMES, progress: bool = True) -> dict:
    """Every network's maps, judged; saves the page's numbers. Returns {"networks":
    regime -> judge_network(...) plus "maps", "settings"}."""
    page = page_settings(cfg)
    ds = pipeline.get_dataset(cfg)
    x, y = _subset(*pipeline.score_half(cfg), page["judge"], cfg.seed)
    conflict = None
    if ds.truth is not None:
        probes = pipeline.get_probes(cfg)["conflict"]
        conflict = {k: np.asarray(v)[:page["probes"]] for k, v in probes.items()}
    out = {"networks": {}, "settings": dict(page, regimes=list(regimes))}
    for regime in regimes:
        maps = {name: get_method_map(cfg, regime, name, progress) for name in METHOD_NAMES}
        judged = judge_network(pipeline.get_network(cfg, regime, progress), maps, x, y, ds.truth, conflict,
                               page["points"], cfg.seed, progress)
        out["networks"][regime] = dict(judged, maps=maps)
        if ds.truth is not None:  # the paper's one-lambda mask beside the path's map (left_out_by_the_mask)
            one = methods.DatasetMaskMethod.from_result(pipeline.get_dataset_mask(cfg, regime, progress=progress))
            out["networks"][regime]["one-lambda mask"] = dict(map=one, truth=faithfulness.truth_scores(one.values,
                                                                                                      ds.truth))
    values = {f"{regime}.{name}.{k}": v for regime, n in out["networks"].items() for name, row in n["rows"].items()
              for k, v in row.items() if isinstance(v, (int, float)) and k != "cost from"}
    values.update({f"{regime}.one-lambda mask.{k}": v for regime, n in out["networks"].items()
                   for k, v in n.get("one-lambda mask", {}).get("truth", {}).items()})
    values.update({f"{regime}.{name}.split-half reliability": v for regime, row in reliability(out).items()
                   for name, v in row.items() if v is not None})
    pipeline.save_result(cfg, "peer_methods", values)
    return out


def reliability(result: dict) -> dict:
    """network -> method -> split-half reliability of the map (None for the Fourier
    mask, which is learned rather than averaged over images)."""
    return {regime: {name: n["maps"][name].settings.get("split_half_reliability") for name in METHOD_NAMES
                     if name != "mask"} for regime, n in result["networks"].items()}


def reliability_prose(result: dict, threshold: float = RELIABLE) -> str:
    """Which image-averaged maps are stable enough to read, from their reliabilities."""
    rel, t = reliability(result), METHOD_TITLES
    images = result["settings"]
    shaky = [f"the {t[m]} of {regime} ({v:.2f})" for regime, row in rel.items() for m, v in row.items()
             if v is not None and v < threshold]
    counts = ", ".join(f"{t[m]} {images[m]}" for m in METHOD_NAMES if m in images)
    text = (f"**Stability of the maps.** Images per map: {counts}. A map averaged over images is compared "
            f"with itself between the even- and the odd-numbered images (correlation, stepped up to the full "
            f"count by Spearman-Brown). ")
    if not shaky:
        return text + f"Every such map reaches {threshold:g} or more: their rankings are not a draw of the images."
    return text + (f"Below {threshold:g}: {', '.join(shaky)}. Read these maps' verdicts above with care: "
                   f"another draw of the images would rank the frequencies differently.")


#: the columns of the truth table; the other columns (faithfulness and cost) make the second
TRUTH_COLUMNS = ("AUROC L", "AUROC H", "precision@k L", "precision@k H", "L-share")


def table(result: dict, part: str | None = None) -> dict:
    """Rows "network, method": truth, faithfulness and cost side by side, or with ``part``
    "truth" or "faithfulness" only those columns (two tables fit a page's width)."""
    rows = {f"{regime}, {name}": row for regime, n in result["networks"].items() for name, row in n["rows"].items()}
    if part is None:
        return rows
    if part not in ("truth", "faithfulness"):
        raise ValueError(f"part must be 'truth' or 'faithfulness', not {part!r}")
    keep = (lambda k: k in TRUTH_COLUMNS) if part == "truth" else (lambda k: k not in TRUTH_COLUMNS)
    return {name: {k: v for k, v in row.items() if keep(k)} for name, row in rows.items()}


def summary(result: dict) -> dict:
    """Per method, means over the networks: AUROC (both cues), deletion and insertion
    accuracy areas minus the random ranking's, forward passes, and the mean |L-bias - L-share|."""
    nets = result["networks"].values()
    out = {}
    for name in METHOD_NAMES:
        rows = [n["rows"][name] for n in nets]
        floor = [n["rows"]["random"] for n in nets]
        entry = {"deletion vs random": np.mean([r["AUC deletion accuracy"] - f["AUC deletion accuracy"]
                                                for r, f in zip(rows, floor)]),
                 "insertion vs random": np.mean([r["AUC insertion accuracy"] - f["AUC insertion accuracy"]
                                                 for r, f in zip(rows, floor)]),
                 "forward passes": np.mean([r["forward passes"] for r in rows])}
        if "AUROC L" in rows[0]:
            entry["AUROC"] = np.mean([(r["AUROC L"] + r["AUROC H"]) / 2 for r in rows])
        if all("L-bias" in n for n in nets):
            entry["mean |L-bias - L-share|"] = np.nanmean([abs(n["rows"][name]["L-share"] - n["L-bias"]) for n in nets])
        out[name] = {k: round(float(v), 4) for k, v in entry.items()}
    return out


def left_out_by_the_mask(result: dict, truth: dict) -> dict:
    """Per network, the planted frequency pairs (k, -k) of the cue it reads (L if its
    cue-conflict L-bias is at least 0.5, else H) that its **one-lambda** dataset mask (the
    paper's object) sets to zero (the symmetric part, the filter that acts), split by the
    frequency ablation: ``"reacts"``, pairs whose removal alone raises the loss more than
    removing any cue-free pair does (their loss increases in ``"ablation"``), and
    ``"indistinct"``, the rest. A sparse mask keeps a set of frequencies that suffices; this
    shows what it leaves out that the network still reacts to. Also the cue's pair count,
    the largest cue-free ablation value, the one-lambda mask's AUROC on the cue and its
    bound ``1 - zeros/(2 n)`` over the n cue bins (a cue bin at zero at best ties with every
    cue-free bin, and a tie counts half), and the AUROC of the page's mask map, the mean
    over the lambda path (``"path AUROC"``)."""
    h, w = np.shape(truth["low"])[-2:]
    low, high = (np.asarray(truth[k]).reshape(-1, h, w).any(0) for k in ("low", "high"))
    free = ~(low | high)
    free[0, 0] = False  # DC apart, as in the cue shares
    pairs = methods.frequency_pairs(h, w)
    at = (pairs[:, 0], pairs[:, 1])
    out = {}
    for regime, n in result["networks"].items():
        if "L-bias" not in n or "one-lambda mask" not in n:
            continue
        cue = reads(n["L-bias"])
        bins = low if cue == "L" else high
        one = n["one-lambda mask"]
        mask = symmetric_part(np.asarray(one["map"].values, dtype=np.float64))
        ablation = methods.pair_values(n["maps"]["ablation"].values, pairs)
        floor = float(ablation[free[at]].max())
        zero = bins[at] & (mask[at] == 0)  # per pair
        reacts = zero & (ablation > floor)
        out[regime] = {"cue": cue, "L-bias": float(n["L-bias"]), "pairs": int(bins[at].sum()), "zero": int(zero.sum()),
                       "reacts": int(reacts.sum()), "indistinct": int((zero & ~reacts).sum()),
                       "ablation": sorted((round(float(v), 4) for v in ablation[reacts]), reverse=True),
                       "largest cue-free ablation": round(floor, 5),
                       "AUROC": one["truth"][f"AUROC {cue}"],
                       "AUROC bound": round(1 - (bins & (mask == 0)).sum() / (2 * bins.sum()), 4),
                       "path AUROC": n["rows"]["mask"][f"AUROC {cue}"]}
    return out


def left_out_prose(left: dict, lam: float | None = None) -> str:
    """What the one-lambda mask leaves out of the cue each network reads, and what the
    lambda path's map makes of it, in words, from :func:`left_out_by_the_mask`'s numbers."""
    if not left:
        return ""
    parts, complete = [], []
    def named(regime, r):  # a network near the midpoint reads both cues: the rule names one
        bias = r.get("L-bias")
        return regime if bias is None or leaning(bias) != "neither" else (
            f"{regime} (L-bias {bias:.2f} on this page's probes, {near_midpoint_words()}: it reads both cues, "
            f"and the rule names {r['cue']})")

    for regime, r in left.items():
        if not r["zero"]:
            complete.append(f"{named(regime, r)} ({r['cue']}: AUROC {r['AUROC']:.3f}, the path's map {r['path AUROC']:.3f})")
            continue
        split = []
        if r["reacts"]:
            split.append(f"{r['reacts']} raise{'s' if r['reacts'] == 1 else ''} the loss when removed alone, by "
                         f"{', '.join(f'{v:.2g}' for v in r['ablation'])}, more than any cue-free pair does "
                         f"(at most {r['largest cue-free ablation']:.2g})")
        if r["indistinct"]:
            split.append(f"{r['indistinct']} the ablation cannot tell from cue-free pairs either")
        parts.append(f"- *{named(regime, r)}*: {r['zero']} of its {r['pairs']} {r['cue']} pairs; AUROC {r['cue']} at most "
                     f"{r['AUROC bound']:.2f}, measured {r['AUROC']:.3f}. Of those pairs, {'; '.join(split)}. "
                     f"The path's map: AUROC {r['cue']} {r['path AUROC']:.3f}.")
    at = f" (lambda {lam:g})" if lam is not None else ""
    bounded = [r for r in left.values() if r["zero"]]  # with no pair at zero the bound is 1
    above = sum(r["path AUROC"] > r["AUROC bound"] for r in bounded)
    text = ("**What one mask leaves out, and why the map is a path.** A sparse mask at one lambda"
            f"{at} keeps a set of frequencies that suffices to hold the loss, not every frequency the network "
            "reacts to. Below, the planted frequency pairs of the cue each network reads (L where its L-bias is "
            f"at least {READS_L_FROM:g}, else H) that its one-lambda dataset mask sets to zero. Such a bin at best ties with "
            "the cue-free bins, so k of a cue's n bins at zero hold that mask's AUROC on the cue to at most "
            "1 - k/(2n). The page's mask map is the mean over the lambda path, where a smaller lambda can bring "
            "such frequencies back before cue-free ones, and rows that start apart and price frequencies at "
            f"random keep different members of a redundant set: its AUROC on the read cue is above that bound for "
            f"{above} of the {len(bounded)} networks whose mask sets some to zero.\n\n" + "\n".join(parts) + "\n\n")
    if any(r["reacts"] for r in left.values()):
        text += ("Pairs that a network reacts to one at a time but can do without, given those its mask "
                 "keeps, are left out: the mask answers which frequencies suffice, the ablation which ones "
                 "matter alone. ")
    if complete:
        text += f"The one-lambda mask keeps every pair of the read cue for {', '.join(complete)}."
    return text


def path_convergence_note(result: dict) -> str:
    """Whether every row of each mask map's lambda path converged before its budget ran out
    (:func:`fm_core.pages.common.judge_mask`), naming those that did not: rows still moving
    when it ran out, and rows whose rule fired only at its last window."""
    rows = {regime: n["maps"]["mask"].settings for regime, n in result["networks"].items()}
    rows = {r: s for r, s in rows.items() if "row_converged" in s}
    if not rows:
        return ""
    loose = [f"{r} (lambda {', '.join(f'{l:g}' for l, c in zip(s['lams'], s['row_converged']) if not c)})"
             for r, s in rows.items() if not all(s["row_converged"])]
    # a row that settles only in the budget's last window settled because one-cycle's rate
    # had annealed to nothing, not because its objective had: at budget, not converged; say
    # which, and how dense it is
    late = []
    for regime, s in rows.items():
        means = result["networks"][regime]["maps"]["mask"].extra["masks"].reshape(len(s["lams"]), -1).mean(1)
        for row, (lam, ok, row_steps) in enumerate(zip(s["lams"], s["row_converged"], s["row_steps"])):
            if ok and judge_mask(ok, row_steps, s.get("max_steps"), None).at_budget:
                mean, others = means[row], max(np.delete(means, row), default=float("nan"))
                late.append(f"{regime}, lambda {lam:g} (mask mean {mean:.3f}; the other rows at most {others:.3f})")
    if not loose and not late:
        steps = [v for s in rows.values() for v in s["row_steps"]]
        return (f"Every row of the {len(rows)} mask maps' lambda paths converged within the budget "
                f"(steps: {min(steps)} to {max(steps)}).")
    parts = ([f"rows of the mask map's lambda path of {'; '.join(loose)}, still moving when it ran out"] if loose
             else []) + \
        ([f"rows that settled only at its last window, as the one-cycle rate ran out, and may be unfinished rather "
          f"than at their optimum: {'; '.join(late)}"] if late else [])
    return f"**Not converged within the budget:** {'; and '.join(parts)}."


def faithful_networks(result: dict) -> dict[str, list[str]]:
    """Per method, the networks on which its map beats the random ranking both ways:
    a smaller deletion area and a larger insertion area (accuracy)."""
    out = {}
    for name in METHOD_NAMES:
        out[name] = [regime for regime, n in result["networks"].items()
                     if n["rows"][name]["AUC deletion accuracy"] < n["rows"]["random"]["AUC deletion accuracy"]
                     and n["rows"][name]["AUC insertion accuracy"] > n["rows"]["random"]["AUC insertion accuracy"]]
    return out


def faithfulness_prose(result: dict) -> str:
    """Faithfulness network by network: which maps beat the random ranking on deletion
    and on insertion on every network, and where each one falls short (nothing typed)."""
    t, nets = METHOD_TITLES, list(result["networks"])
    faithful = faithful_networks(result)
    everywhere = [m for m in METHOD_NAMES if len(faithful[m]) == len(nets)]
    parts = [f"**Faithfulness**, network by network against a random ranking of the frequencies (a faithful "
             f"map removes accuracy faster on deletion and restores it faster on insertion). "
             + (f"On all {len(nets)} networks: {', '.join(t[m] for m in everywhere)}." if everywhere else
                f"No map does both on all {len(nets)} networks.")]
    for m in METHOD_NAMES:
        if m in everywhere:
            continue
        misses = []
        for regime in nets:
            row, rnd = result["networks"][regime]["rows"][m], result["networks"][regime]["rows"]["random"]
            if regime in faithful[m]:
                continue
            how = []
            if row["AUC deletion accuracy"] >= rnd["AUC deletion accuracy"]:
                how.append(f"deletion {row['AUC deletion accuracy']:.3f} vs random {rnd['AUC deletion accuracy']:.3f}")
            if row["AUC insertion accuracy"] <= rnd["AUC insertion accuracy"]:
                how.append(f"insertion {row['AUC insertion accuracy']:.3f} vs random "
                           f"{rnd['AUC insertion accuracy']:.3f}")
            misses.append(f"{regime} ({'; '.join(how)})")
        parts.append(f"The {t[m]} falls short on {len(misses)} of {len(nets)}: {', '.join(misses)}.")
    return " ".join(parts)


def comparison_prose(result: dict) -> str:
    """The page's conclusion in words, chosen by the numbers (nothing typed)."""
    s = summary(result)
    t = METHOD_TITLES
    lines = []
    if all("AUROC" in v for v in s.values()):
        best = max(s, key=lambda m: s[m]["AUROC"])
        worst = min(s, key=lambda m: s[m]["AUROC"])
        lines.append(f"**Truth.** Averaged over the networks and both cues, the {t[best]} finds the planted "
                     f"frequencies best (AUROC {s[best]['AUROC']:.2f}), the {t[worst]} worst "
                     f"({s[worst]['AUROC']:.2f}).")
    lines.append(faithfulness_prose(result))
    cheap = min(s, key=lambda m: s[m]["forward passes"])
    dear = max(s, key=lambda m: s[m]["forward passes"])
    ratio = s[dear]["forward passes"] / max(s[cheap]["forward passes"], 1)
    lines.append(f"**Cost.** The {t[cheap]} is the cheapest ({s[cheap]['forward passes']:.0f} forward passes), "
                 f"the {t[dear]} the dearest ({s[dear]['forward passes']:.0f}, {ratio:.3g} times as many).")
    if all("mean |L-bias - L-share|" in v for v in s.values()):
        gaps = {m: v["mean |L-bias - L-share|"] for m, v in s.items() if v["mean |L-bias - L-share|"] == v["mean |L-bias - L-share|"]}
        if gaps:
            closest = min(gaps, key=gaps.get)
            lines.append(f"**Behaviour.** The {t[closest]}'s L-share is closest to the networks' cue-conflict "
                         f"L-bias (mean gap {gaps[closest]:.2f})"
                         + (": the mask is the best reader of behaviour here." if closest == "mask" else
                            f"; the Fourier mask's gap is {gaps.get('mask', np.nan):.2f}: "
                            f"the {t[closest]} reads behaviour better than the mask here"
                            + (", and at a fraction of its passes." if s[closest]["forward passes"]
                               < s["mask"]["forward passes"] else ", though it costs more passes.")))
    return "\n\n".join(lines)


def bench_methods(model, x: torch.Tensor, y: torch.Tensor | None = None, out=None, mask_epochs: int = 3,
                  progress: bool = False) -> dict:
    """Each method's passes and seconds on the same images (the mask learner for only
    ``mask_epochs`` epochs, patience off); labels ``y`` default to classes in turn (cost
    does not depend on them). Writes JSON to ``out`` if given."""
    if y is None:
        y = torch.arange(len(x)) % int(getattr(model, "meta", {}).get("num_classes", 2))
    with torch.no_grad():  # warm-up (allocations, kernels), so the first method timed pays no more
        model(x[:2].to(next(model.parameters()).device))
    result = {"images": len(x), "image_size": list(x.shape[-2:]), "threads": torch.get_num_threads(),
              "methods": {}}
    for name in METHOD_NAMES:
        settings = dict(epochs=mask_epochs, patience=0) if name == "mask" else {}
        fmap = methods.get_method(name, **settings).attribute(model, x, y, progress=progress)
        result["methods"][name] = dict(fmap.cost, settings=fmap.settings)
    if out is not None:
        save_json_atomic(out, result)
    return result

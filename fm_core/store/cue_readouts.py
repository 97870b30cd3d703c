"""Two more read-outs of the cue world, beside the L-share of one dataset mask
(:mod:`fm_core.store.cue_results`): **ablation** (what removing all of one cue's bins costs the
network: a behavioural answer about *use*, where the L-bias answers about *conflict*)
and the **lambda path** (which cue the sparsest accurate mask keeps more of). Each
function fetches from :mod:`fm_core.store.pipeline` and saves its numbers.
"""
from __future__ import annotations

import numpy as np

from fm_core.science import cue_analysis
from . import pipeline
from .cue_results import agreement, conditions
from fm_core.masks.dataset_masks import KEEP_RATIO
from fm_core.nets.evaluation import accuracy, loss_and_accuracy
from fm_core.profiles import Profile


def cue_ablation(cfg: Profile, progress: bool = True) -> dict:
    """A third answer, from ablation rather than conflict: per condition, how much the
    held-out (score-half) mean loss and accuracy change when all of one cue's bins are
    removed, the **use share** ``dL / (dL + dH)`` of those loss increases (negative
    increases count as 0), and the dataset mask's L-share beside it."""
    rows = {}
    for name, variant, regime in conditions(cfg):
        ds, net = pipeline.get_dataset(variant), pipeline.get_network(variant, regime, progress)
        x, y = pipeline.score_half(variant)
        low, high = (np.asarray(ds.truth[k]).any(axis=0) for k in ("low", "high"))
        loss0, acc0 = loss_and_accuracy(net, x, y)
        loss_l, acc_l = loss_and_accuracy(net, x, y, (~low).astype(np.float32))
        loss_h, acc_h = loss_and_accuracy(net, x, y, (~high).astype(np.float32))
        d_l, d_h = max(loss_l - loss0, 0.0), max(loss_h - loss0, 0.0)
        mask = pipeline.get_dataset_mask(variant, regime, progress=progress)
        shares = cue_analysis.mask_cue_shares(mask.mask, ds.truth["low"], ds.truth["high"])
        # the same removals inside the mask: what the network needs once the mask has
        # taken the other frequencies away (the context the mask is learned in)
        acc_m = accuracy(net, x, y, mask.mask)
        inside = {cue: 100 * (accuracy(net, x, y, mask.mask * ~bins) - acc_m) for cue, bins in (("L", low), ("H", high))}
        rows[name] = {"Δ loss, L removed": round(loss_l - loss0, 4), "Δ loss, H removed": round(loss_h - loss0, 4),
                      "Δ acc., L removed, pts": round(100 * (acc_l - acc0), 2),
                      "Δ acc., H removed, pts": round(100 * (acc_h - acc0), 2),
                      "use share": round(d_l / (d_l + d_h), 4) if d_l + d_h > 0 else float("nan"),
                      "L-share": shares["L-share"], "mask on L bins": shares["mean on L bins"],
                      "mask on H bins": shares["mean on H bins"], "mask converged": bool(mask.converged[0]),
                      "Δ acc. through the mask, pts": round(100 * (acc_m - acc0), 2),
                      "Δ acc., L removed inside the mask, pts": round(inside["L"], 2),
                      "Δ acc., H removed inside the mask, pts": round(inside["H"], 2)}
    agree = agreement({n: {"L-bias": r["use share"], "L-share": r["L-share"]} for n, r in rows.items()})
    pipeline.save_result(cfg, "cue_ablation", {"rank_correlation": agree["rank correlation"],
                                               "mean_abs_gap": agree["mean |L-bias - L-share|"],
                                               **{f"{n}.use share": r["use share"] for n, r in rows.items()}})
    return {"rows": rows, "rank correlation (use share, L-share)": agree["rank correlation"],
            "mean |use share - L-share|": agree["mean |L-bias - L-share|"]}


# A mask "keeps a cue the network does not need" when it keeps at least this much of the
# cue's bins although removing them all costs at most this much held-out loss
KEPT_ANYWAY, LOSS_UNCHANGED = 0.25, 0.05


def cue_ablation_prose(ablation: dict, question: dict) -> str:
    """The ablation's verdict in words, from the numbers."""
    rows = ablation["rows"]
    text = (f"Over the {len(rows)} conditions the mask's L-share follows the use share with Spearman's rho "
            f"{ablation['rank correlation (use share, L-share)']:.2f} and a mean gap of "
            f"{ablation['mean |use share - L-share|']:.3f} (against the L-bias: "
            f"{question['rank correlation (L-bias, L-share)']:.2f} and {question['mean |L-bias - L-share|']:.3f}).")
    spare = []
    for name, r in rows.items():
        for cue in ("L", "H"):
            if r[f"mask on {cue} bins"] >= KEPT_ANYWAY and r[f"Δ loss, {cue} removed"] <= LOSS_UNCHANGED:
                spare.append(f"the mask of {name} keeps {r[f'mask on {cue} bins']:.2f} of the {cue} bins, whose "
                             "removal changes "
                             f"the held-out loss by {r[f'Δ loss, {cue} removed']:+.3f} and the accuracy by "
                             f"{r[f'Δ acc., {cue} removed, pts']:+.1f} points (the mask "
                             + ("converged" if r["mask converged"] else "did not converge within the budget")
                             + f" and changes held-out accuracy by {r['Δ acc. through the mask, pts']:+.1f} points)")
    if spare:
        text += (" A mask keeps bins its network does not need: " + "; ".join(spare) + ". There the mask "
                 "disagrees with both behavioural answers.")
        text += " " + inside_the_mask_prose(rows)
    else:
        text += (f" No mask keeps {KEPT_ANYWAY:g} or more of a cue whose removal changes the held-out loss by at most "
                 f"{LOSS_UNCHANGED:g}.")
    return text


def inside_the_mask_prose(rows: dict) -> str:
    """Why a mask keeps a cue the full image does not need, from the numbers: removing that
    cue's bins inside the mask (where the other frequencies are already gone) against
    removing them from the full image."""
    parts, needed = [], []
    for name, r in rows.items():
        for cue in ("L", "H"):
            if r[f"mask on {cue} bins"] >= KEPT_ANYWAY and r[f"Δ loss, {cue} removed"] <= LOSS_UNCHANGED:
                cost = r[f"Δ acc., {cue} removed inside the mask, pts"]
                parts.append(f"for {name}, removing the {cue} bins inside the mask changes the held-out accuracy by "
                             f"{cost:+.1f} points, against {r[f'Δ acc., {cue} removed, pts']:+.1f} on the full image")
                needed.append(-cost > NEEDED_INSIDE)
    if not parts:
        return ""
    text = "Inside the mask the picture changes: " + "; ".join(parts) + ". "
    if all(needed):
        text += ("The network needs that cue once the mask has removed the frequencies that carry neither cue: the "
                 "mask holds the loss of *filtered* images, and on them the network leans on both cues, while the "
                 "L-bias and the ablation ask about full images. Neither the objective nor the optimiser is at "
                 "fault here; the mask answers a different question, and the book counts this condition as a "
                 "disagreement.")
    elif not any(needed):
        text += ("Inside the mask, too, the network hardly needs those bins: the sparsity term had not removed them "
                 "when the mask settled.")
    else:
        text += "Some of these masks keep a cue the network needs only inside the mask, others keep one it needs nowhere."
    return text


# A cue is "needed inside the mask" when removing it there costs more than this (points)
NEEDED_INSIDE = 1.0


def lambda_path(cfg: Profile, progress: bool = True) -> dict:
    """Per condition, the lambda path of its network's dataset mask (the profile's lambda
    and those of ``dmask_path_lams``): per lambda the fraction of L and of H bins kept
    (mean mask value on them), masked held-out accuracy and convergence, and two
    read-outs held against the L-bias:

    - ``"kept more"``: the cue with the larger kept fraction at the **sparsest accurate
      mask**, the largest lambda whose held-out accuracy stays within the paper's 99% of
      the unmasked ("none accurate" when no lambda does, "tie" when equal);
    - ``"given up last"`` (the half rule): the cue whose bins stay above one half up to
      the larger lambda ("both kept", "neither kept" or "tie" when no cue outlasts the
      other on the grid)."""
    out = {}
    for name, variant, regime in conditions(cfg):
        ds, net = pipeline.get_dataset(variant), pipeline.get_network(variant, regime, progress)
        # the default lambda's point is the dataset mask itself (same learner, same batches)
        path, default = pipeline.get_lambda_path(variant, regime, progress), \
            pipeline.get_dataset_mask(variant, regime, progress=progress)
        lams = [float(variant.dmask_lam)] + [float(v) for v in path.extra["lams"]]
        order = np.argsort(lams, kind="stable")
        lams = [lams[i] for i in order]
        masks = np.concatenate([default.masks, path.masks])[order]
        converged = np.concatenate([default.converged, path.converged])[order]
        steps = np.concatenate([default.steps, path.steps])[order]
        x, y = pipeline.score_half(variant)
        shares = [cue_analysis.mask_cue_shares(m, ds.truth["low"], ds.truth["high"]) for m in masks]
        kept_l = [s["mean on L bins"] for s in shares]
        kept_h = [s["mean on H bins"] for s in shares]
        masked = [round(100 * accuracy(net, x, y, m), 2) for m in masks]
        clean = round(100 * accuracy(net, x, y), 2)
        bias = pipeline.get_behaviour(variant, regime, progress)["L-bias"]
        follows = "L" if bias > 0.5 else "H"
        accurate = [i for i, a in enumerate(masked) if a >= KEEP_RATIO * clean]
        if not accurate:
            sparsest, kept_more = None, "none accurate"
        else:
            i = max(accurate, key=lambda k: lams[k])
            sparsest = lams[i]
            kept_more = "L" if kept_l[i] > kept_h[i] else ("H" if kept_h[i] > kept_l[i] else "tie")
        last = _given_up_last(lams, kept_l, kept_h)
        out[name] = {"lams": lams, "L kept": kept_l, "H kept": kept_h, "masked, %": masked, "clean, %": clean,
                     "converged": converged.tolist(), "steps": steps.tolist(),
                     "sparsest accurate lambda": sparsest, "kept more": kept_more,
                     "given up last": last, "L-bias": bias, "behaviour follows": follows,
                     "agrees": kept_more == follows, "agrees (half rule)": last == follows}
    pipeline.save_result(cfg, "lambda_path", {"agreements": sum(r["agrees"] for r in out.values()),
                                              "agreements_half_rule": sum(r["agrees (half rule)"]
                                                                          for r in out.values()),
                                              "networks": len(out)})
    return out


def _given_up_last(lams, kept_l, kept_h) -> str:
    last_l, last_h = _last_lambda_above_half(lams, kept_l), _last_lambda_above_half(lams, kept_h)
    if last_l != last_h:
        return "L" if last_l > last_h else "H"
    # no cue outlasts the other on this grid
    return "both kept" if last_l == max(lams) else ("neither kept" if last_l == 0 else "tie")


def _last_lambda_above_half(lams, kept) -> float:
    above = [lam for lam, k in zip(lams, kept) if k > 0.5]
    return max(above) if above else 0.0


def lambda_path_prose(paths: dict) -> str:
    """The lambda path's verdict in words, from the numbers."""
    agree = [n for n, r in paths.items() if r["agrees"]]
    half = sum(r["agrees (half rule)"] for r in paths.values())
    text = (f"At the sparsest mask that keeps 99% of the held-out accuracy, the cue the mask keeps more of is the "
            f"cue behaviour follows (L-bias above or below 0.5) for **{len(agree)} of {len(paths)}** networks.")
    wrong = [f"{n} (keeps more {r['kept more']} at lambda {r['sparsest accurate lambda']:g}, L-bias {r['L-bias']:.2f})"
             for n, r in paths.items() if not r["agrees"] and r["kept more"] in ("L", "H")]
    if wrong:
        text += f" It points the other way for {'; '.join(wrong)}."
    none = [n for n, r in paths.items() if r["kept more"] == "none accurate"]
    if none:
        text += (f" No mask of the path keeps 99% of the accuracy for {'; '.join(none)}: even the smallest lambda "
                 "removes something this network needs, so the path gives no answer there.")
    text += (f" The half rule (the cue whose bins stay above one half up to the larger lambda) agrees for {half} of "
             f"{len(paths)}: a sparse mask often keeps one bin of a conjugate pair (k, -k) and not the other, the "
             "filter then passes that frequency at half its amplitude and the pair's mean value is 0.5, on the "
             "threshold, so the half rule often names no cue.")
    unconverged = [n for n, r in paths.items() if not all(r["converged"])]
    if unconverged:
        text += (f" Not every mask of the path converged within the budget for {'; '.join(unconverged)}: "
                 "their read-out is less certain.")
    return text

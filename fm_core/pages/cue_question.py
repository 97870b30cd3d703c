"""Page 10, the cue question: do robust networks rely on the low-frequency cue, and do
their masks say so? Over the conditions of :mod:`fm_core.pages.cue_conditions`: behaviour
on the probes against each mask's L-share (:func:`cue_table`), each objective's masks
held against behaviour, and two more read-outs beside the L-share: **ablation** (what
removing all of one cue's bins costs the network: a behavioural answer about *use*,
where the L-bias answers about *conflict*) and the **lambda path** (which cue the
sparsest accurate mask keeps more of). Each function fetches from
:mod:`fm_core.store.pipeline` and saves its numbers.

Size: one page's numbers, its verdict and the words chosen from them, kept together as for
the other pages (the conditions and one network's row are shared, in ``cue_conditions``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from fm_core.masks.dataset_masks import COMPARED_INVARIANCES, KEEP_RATIO
from fm_core.nets.evaluation import accuracy, loss_and_accuracy
from fm_core.profiles import REGIMES, Profile
from fm_core.science import cue_analysis
from fm_core.store import pipeline
from .common import (VERDICT_KEY, VERDICT_MARGIN_SDS, budget_of, difference_sd, sd_of, seeds_setting,
                     settle_words, side)
from .cue_conditions import READS_L_FROM, agreement, conditions, is_control, network_row, reads
from .mask_tables import path_statuses, row_status


def cue_table(cfg: Profile, progress: bool = True) -> dict:
    """Every condition's row, and Spearman's rho between L-bias and L-share across them;
    stored with the page's verdict (:func:`judge_answer`, without the seed spread)."""
    chosen = conditions(cfg)
    # the controls first, the robust-H world's at their head: in a parallel book build the
    # networks page trains the paper's five meanwhile, and the reversal page asks for the
    # robust-H networks soon after this page starts, so neither page waits on the other
    computed = {name: network_row(variant, regime, progress)
                for name, variant, regime in chosen[len(REGIMES):] + chosen[:len(REGIMES)]}
    rows = {name: computed[name] for name, _, _ in chosen}
    agree = agreement(rows, digits=None)
    # the positive controls sit at (0, 0) and (1, 1) by design and carry a rank correlation
    # over every condition: it is given without them, and over the paper's five alone
    without = agreement({n: r for n, r in rows.items() if not is_control(n)}, digits=None)["rank correlation"]
    five = agreement({n: rows[n] for n in REGIMES if n in rows}, digits=None)["rank correlation"]
    values = {"rows": rows, "rank correlation (L-bias, L-share)": agree["rank correlation"],
              "rank correlation without controls": without, "rank correlation, paper's five": five,
              "conditions": len(rows), "mean |L-bias - L-share|": round(agree["mean |L-bias - L-share|"], 4)}
    verdict = judge_answer(values)  # stored without the seed spread, which a page adds
    pipeline.save_result(cfg, "cues", {"rank_correlation": values["rank correlation (L-bias, L-share)"],
                                       "rank_correlation_without_controls": without,
                                       "rank_correlation_paper_five": five,
                                       "mean_abs_gap": values["mean |L-bias - L-share|"], VERDICT_KEY: asdict(verdict),
                                       **{f"{n}.{k}": v for n, r in rows.items() for k, v in r.items()
                                          if k in ("L-bias", "L-share", "clean, %")}})
    return values


def held_against_behaviour(cfg: Profile, objectives=COMPARED_INVARIANCES, conditions_of=None,
                           progress: bool = True) -> dict:
    """Each objective's dataset masks held against behaviour over the conditions (all of
    :func:`conditions` by default): per objective the L-share per condition, Spearman's
    rho with the L-bias and the mean |L-bias - L-share|. Run after the objective was
    chosen without the truth (:func:`fm_core.pages.dataset_masks.choose_objective`)."""
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


# The behavioural shift the page asks of adversarial training (L-bias, adversarial minus
# vanilla), and the least shift in L-share that counts as the masks moving with it (the
# book's lines since page 10 was written; not measured)
BIAS_SHIFT, SHARE_SHIFT = 0.4, 0.1
# A condition's mask *agrees* with behaviour when its L-share lies within this of its L-bias
AGREES_WITHIN = 0.3
# The positive controls' masks *find their cue* when the L-only network's L-share exceeds
# the H-only network's by more than this: a margin, not a coin's edge
CONTROLS_APART = 0.1


@dataclass(frozen=True)
class AnswerVerdict:
    """Page 10's answer, from :func:`cue_table`'s rows (and the seed spread, when measured)."""
    bias_gap: float                # L-bias, adversarial minus vanilla
    bias_gap_sd: float | None      # its seed SD (None: no spread measured)
    behaviour_moved: int           # +1: the gap reaches BIAS_SHIFT, -1: it does not, 0: the seed decides (side)
    share_gap: float               # L-share, adversarial minus vanilla
    share_gap_sd: float | None
    masks_moved: int               # +1: the L-share moves the same way by SHARE_SHIFT, -1: not, 0: the seed decides
    robust_same_side: bool | None  # the robust-H control's two networks read the same cue (None: no control)
    agree: tuple[str, ...]         # conditions whose L-share lies within AGREES_WITHIN of the L-bias
    disagree: tuple[str, ...]      # the others
    controls_found: bool | None    # the positive controls' masks find their cue (None: no controls)


def judge_answer(question: dict, spread: dict | None = None) -> AnswerVerdict:
    """With ``spread`` (:meth:`fm_core.book.report.Page.spread`), each verdict must stand
    :data:`~fm_core.pages.common.VERDICT_MARGIN_SDS` seed SDs beyond its line
    (:func:`fm_core.pages.common.side`), or the seed decides it."""
    rows = question["rows"]
    van, adv = rows["vanilla"], rows["adversarial"]
    gap, share_gap = adv["L-bias"] - van["L-bias"], adv["L-share"] - van["L-share"]
    gap_sd = difference_sd(spread, "cues.adversarial.L-bias", "cues.vanilla.L-bias")
    share_sd = difference_sd(spread, "cues.adversarial.L-share", "cues.vanilla.L-share")
    robust = [rows.get(f"{r}, robust-H world") for r in ("vanilla", "adversarial")]
    controls = [rows.get(f"vanilla, trained on {c} only") for c in ("L", "H")]
    return AnswerVerdict(
        bias_gap=gap, bias_gap_sd=gap_sd, behaviour_moved=side(gap, BIAS_SHIFT, gap_sd),
        share_gap=share_gap, share_gap_sd=share_sd,
        masks_moved=side(abs(share_gap), SHARE_SHIFT, share_sd) if np.sign(share_gap) == np.sign(gap) else -1,
        robust_same_side=reads(robust[0]["L-bias"]) == reads(robust[1]["L-bias"]) if all(robust) else None,
        agree=tuple(n for n, r in rows.items() if abs(r["L-share"] - r["L-bias"]) <= AGREES_WITHIN),
        disagree=tuple(n for n, r in rows.items() if abs(r["L-share"] - r["L-bias"]) > AGREES_WITHIN),
        controls_found=controls[0]["L-share"] - controls[1]["L-share"] > CONTROLS_APART if all(controls) else None)


def answer_prose(question: dict, spread: dict | None = None) -> str:
    """The page's conclusion in words: its verdict (:func:`judge_answer`) with the numbers."""
    rows = question["rows"]
    van, adv = rows["vanilla"], rows["adversarial"]
    verdict = judge_answer(question, spread)
    gap, gap_sd = verdict.bias_gap, verdict.bias_gap_sd
    # the seeds and settings the SD was measured at: page 11's extra seeds train cheaper and
    # spread wider, so an SD without its setting reads as contradicting that page's
    shown_sd = "" if gap_sd is None else f", seed SD {gap_sd:.2f} over {seeds_setting((spread or {}).get('seeds'))}"
    lines = [f"**Behaviour.** The vanilla network's L-bias is {van['L-bias']:.2f}, the adversarially "
             f"trained network's {adv['L-bias']:.2f} (difference {gap:+.2f}{shown_sd}). "
             + {1: "Adversarial training moved the network to the low-frequency cue: the paper's claim "
                   "holds here, by behaviour.",
                -1: f"Adversarial training did not move the network to the low-frequency cue by the {BIAS_SHIFT:g} "
                    "this page asks for: the paper's claim is not supported here, by behaviour.",
                0: f"The difference lies within {VERDICT_MARGIN_SDS:g} seed SDs of the {BIAS_SHIFT:g} "
                   "this page asks for: whether the paper's claim holds here is a draw of the seed."}[verdict.behaviour_moved]]
    robust = [rows.get(f"{r}, robust-H world") for r in ("vanilla", "adversarial")]
    if verdict.robust_same_side is not None:
        lines.append(f"In the robust-H control (H far above eps) the L-biases are {robust[0]['L-bias']:.2f} and "
                     f"{robust[1]['L-bias']:.2f}: " + ("both on the same side, so the shift above comes from "
                                                         "H being attackable, not from adversarial training as such."
                                                         if verdict.robust_same_side else "on different sides."))
    share_sd = verdict.share_gap_sd
    lines.append(f"**Masks.** Their dataset masks' L-shares are {van['L-share']:.2f} and {adv['L-share']:.2f}"
                 + ("" if share_sd is None else f" (difference seed SD {share_sd:.2f})") + ": "
                 + {1: "the masks move the same way as the behaviour.",
                    -1: "the masks do not show the behavioural shift; that is a finding about the masks.",
                    0: f"the masks move the same way, but by less than {VERDICT_MARGIN_SDS:g} seed SDs "
                       f"beyond the {SHARE_SHIFT:g} asked: the seed could undo it."}[verdict.masks_moved])
    off = [f"{name} (L-bias {rows[name]['L-bias']:.2f}, L-share {rows[name]['L-share']:.2f})"
           for name in verdict.disagree]
    lines.append(f"Masks and behaviour agree within {AGREES_WITHIN:g} for {len(verdict.agree)} of {len(rows)} "
                 "conditions"
                 + (f"; they disagree for {'; '.join(off)}. The ablation below asks whether the network "
                    "needs the cue its mask keeps there." if off else "."))
    rho = question["rank correlation (L-bias, L-share)"]
    gaps = agreement(rows)["mean |L-bias - L-share|"]
    rho_sd, gaps_sd = (sd_of(spread, k) for k in ("cues.rank_correlation", "cues.mean_abs_gap"))
    lines.append(f"Across all {question['conditions']} conditions, Spearman's rho between L-bias and L-share "
                 f"is {rho:.3f}" + (" (undefined: too few distinct values)" if rho != rho else "")
                 + ("" if rho_sd is None else f" (seed SD {rho_sd:.3f})")
                 + f", and the mean |L-bias - L-share| is {gaps:.2f}"
                 + ("" if gaps_sd is None else f" (seed SD {gaps_sd:.3f})") + ".")
    controls_n, five = sum(is_control(n) for n in rows), question.get("rank correlation, paper's five")
    if controls_n and "rank correlation without controls" in question:
        lines.append(f"The {controls_n} positive controls sit at the ends by design (a network given one cue, a mask "
                     f"that keeps it), so they agree by construction; without them rho is "
                     f"{question['rank correlation without controls']:.3f} over {len(rows) - controls_n} conditions, "
                     f"and over the paper's five networks alone {five:.3f}.")
    unconverged = [name for name, r in rows.items() if "mask converged" in r and row_status(r).at_budget]
    if unconverged:
        lines.append(f"**Not converged** within the budget: the masks of {'; '.join(unconverged)} (still moving "
                     "when it ran out, or settled only at its last window); their L-shares are those of masks "
                     "whose steps ran out.")
    controls = [rows.get(f"vanilla, trained on {c} only") for c in ("L", "H")]
    if verdict.controls_found is not None:
        lines.append(f"Positive controls: the network trained on L only has L-share {controls[0]['L-share']:.2f}, "
                     f"the one trained on H only {controls[1]['L-share']:.2f}: "
                     + ("the masks find the cue a network was given." if verdict.controls_found else
                        "the masks miss the cue a network was given, which limits what they can tell."))
    return "\n\n".join(lines)


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
                      "mask steps": int(mask.steps[0]), "mask budget": budget_of(mask),
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
                             + ("did not converge within the budget"
                                if settle_words(r["mask converged"], r.get("mask steps"), r.get("mask budget"))
                                else "converged")
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
    (mean mask value on them), masked held-out accuracy, convergence, steps and budget
    (:func:`fm_core.pages.mask_tables.lambda_path_rows`), and two
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
        budgets = [([budget_of(default)] + [budget_of(path)] * len(path.steps))[i] for i in order]
        x, y = pipeline.score_half(variant)
        shares = [cue_analysis.mask_cue_shares(m, ds.truth["low"], ds.truth["high"]) for m in masks]
        kept_l = [s["mean on L bins"] for s in shares]
        kept_h = [s["mean on H bins"] for s in shares]
        masked = [round(100 * accuracy(net, x, y, m), 2) for m in masks]
        clean = round(100 * accuracy(net, x, y), 2)
        bias = pipeline.get_behaviour(variant, regime, progress)["L-bias"]
        follows = "L" if bias > READS_L_FROM else "H"  # at the midpoint itself, H (as always here)
        accurate = [i for i, a in enumerate(masked) if a >= KEEP_RATIO * clean]
        if not accurate:
            sparsest, kept_more = None, "none accurate"
        else:
            i = max(accurate, key=lambda k: lams[k])
            sparsest = lams[i]
            kept_more = "L" if kept_l[i] > kept_h[i] else ("H" if kept_h[i] > kept_l[i] else "tie")
        last = _given_up_last(lams, kept_l, kept_h)
        out[name] = {"lams": lams, "L kept": kept_l, "H kept": kept_h, "masked, %": masked, "clean, %": clean,
                     "converged": converged.tolist(), "steps": steps.tolist(), "budget": budgets,
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
    unconverged = [n for n, r in paths.items() if any(s.at_budget for s in path_statuses(r))]
    if unconverged:
        text += (f" Not every mask of the path converged within the budget for {'; '.join(unconverged)} (some were "
                 "still moving when it ran out, or settled only at its last window): their read-out is less certain.")
    return text

"""Every table of the book that shows a dataset mask, as a table shows it: each mask with its
**status** (:func:`fm_core.pages.common.mask_status`), never a bare converged yes/no. A mask
reads "converged" only when it settled before its step budget ran out and costs at most
:data:`~fm_core.pages.common.ACCURACY_SLACK` held-out points; else "at budget", "costs N
pts", or both (:func:`fm_core.pages.common.judge_mask`). The status is computed from what the
page's rows already carry (whether the rule fired, steps, budget, held-out accuracy), so a
table cannot show a row without it.

One builder and one set of headers per table: page 04's schedule, objective and truth
tables (the objective table again on page 11), page 10's cue table and lambda path, page
14's architectures and page 15's amplitude and phase masks. The pages compute the rows;
this module only shows them.
"""
from __future__ import annotations

from fm_core.fourier import PARTS
from .common import MaskStatus, held_out_cost, judge_mask, mask_status, status_counts

CHANGE = "held-out accuracy change, points"  # masked minus unmasked: the cost is its negative


# ------------------------------------------------------------- page 04 (and page 11)
# Short headers (the book's column is narrow); "settled" is the rule's count of the four
# masks of an objective row (fired, at the budget's last window too), the status their verdict
COMPARISON_COLUMNS = {"mask status": "status", "converged": "settled", "median steps": "steps (median)",
                      "mask mean": "mask mean",
                      "seed correlation (min)": "seeds: corr. (min)", "halves correlation": "halves: corr.",
                      "held-out loss change": "held-out Δ loss", CHANGE: "held-out Δ acc., pts"}
TRUTH_COLUMNS = {"L-bias": "L-bias", "mean on L bins": "L bins", "mean on H bins": "H bins",
                 "mean elsewhere": "cue-free bins", "L-share": "L-share", "mask status": "mask status"}
SCHEDULE_COLUMNS = {"mask status": "mask status", "steps": "steps", CHANGE: "held-out Δ acc., pts"}


def comparison_rows(rows: dict) -> dict:
    """:func:`fm_core.pages.dataset_masks.objective_row`\\ s as pages 04 and 11 show them,
    each with its ``mask status`` over its four masks: "at budget" when one of them did not
    settle before its budget ran out (``all converged``, ``most steps`` against ``budget``),
    and the cost of the fit-half mask (minus its held-out accuracy change)."""
    return {name: {**row, "mask status": mask_status(row["all converged"], row.get("most steps"),
                                                     row.get("budget"), -row[CHANGE])}
            for name, row in rows.items()}


def schedule_rows(comparison: dict) -> dict:
    """:func:`fm_core.pages.dataset_masks.compare_schedules`' rows as page 04 shows them:
    ``"schedule, network"``, each with its ``mask status``."""
    return {f"{s}, {r}": {**row, "mask status": mask_status(row["converged"], row["steps"], row.get("budget"),
                                                            -row[CHANGE])}
            for s, rows in comparison.items() for r, row in rows.items()}


def truth_rows(truth: dict, comparison: dict | None = None) -> dict:
    """:func:`fm_core.pages.dataset_masks.objectives_against_truth`'s rows as page 04 shows
    them: ``"objective, network"``, each with its ``mask status``; the cost is the held-out
    accuracy change of the same (fit-half) mask that ``comparison``
    (:func:`~fm_core.pages.dataset_masks.compare_objectives`) measured, when it holds it
    (else the status flags the budget only)."""
    def cost(objective, regime):
        row = (comparison or {}).get(objective, {}).get(regime)
        return None if row is None else -row[CHANGE]

    return {f"{o}, {r}": {**row, "mask status": mask_status(row["converged"], row.get("steps"), row.get("budget"),
                                                            cost(o, r))}
            for o, rows in truth.items() for r, row in rows.items()}


# ------------------------------------------------------------- pages 10 and 14: one network's row
# The cue table's mask half (page 10)
CUE_MASK_COLUMNS = {"L-share": "L-share", "mean on L bins": "L bins", "mean on H bins": "H bins",
                    "mean elsewhere": "cue-free bins", "AUROC L": "AUROC L", "AUROC H": "AUROC H",
                    "masked, %": "masked, %", "mask steps": "steps", "mask status": "mask status"}
# Page 14's table (``standard, %`` is Table 1's held-out accuracy, the same images as ``clean, %``)
ARCHITECTURE_COLUMNS = {"standard, %": "clean, %", "PGD, %": "PGD, %", "l_only, %": "L-only, %",
                        "h_only, %": "H-only, %", "L-bias": "L-bias", "L-share": "mask L-share",
                        "masked, %": "masked, %", "mask steps": "mask steps", "mask status": "mask status",
                        "near chance": "near chance"}


def row_status(row: dict) -> MaskStatus:
    """The status of a :func:`fm_core.pages.cue_conditions.network_row`'s mask: its cost is
    ``clean, %`` minus ``masked, %`` (both on the score half)."""
    return judge_mask(row["mask converged"], row.get("mask steps"), row.get("mask budget"),
                      held_out_cost(row.get("clean, %"), row.get("masked, %")))


def with_mask_status(rows: dict) -> dict:
    """``network_row`` rows as a table shows them (pages 10 and 14), each with its ``mask status``."""
    return {name: {**row, "mask status": row_status(row).label} for name, row in rows.items()}


def architecture_rows(results: dict) -> dict:
    """:func:`fm_core.pages.architectures.architecture_rows` as page 14 shows them:
    ``"architecture, regime"``, each row with its ``mask status``."""
    return with_mask_status({f"{name}, {regime}": row for name, res in results.items()
                             for regime, row in res["rows"].items()})


# ------------------------------------------------------------- page 10: the lambda path
def path_statuses(path: dict) -> list[MaskStatus]:
    """Each lambda's mask status on a :func:`fm_core.pages.cue_question.lambda_path` row
    (cost: ``clean, %`` minus that lambda's ``masked, %``)."""
    n = len(path["converged"])
    budgets, steps, masked = (path.get(k) or [None] * n for k in ("budget", "steps", "masked, %"))
    return [judge_mask(c, st, b, held_out_cost(path.get("clean, %"), m))
            for c, st, b, m in zip(path["converged"], steps, budgets, masked)]


def lambda_path_rows(paths: dict) -> dict:
    """The lambda path's table: per condition the read-outs and the path's ``mask status``
    (:func:`fm_core.pages.common.status_counts`: how many of its masks converged, how many
    stopped at the budget, how many cost more than the line; the path runs on to lambdas
    whose masks cost accuracy, so the last flag is expected there)."""
    return {n: {"L-bias": r["L-bias"], "behaviour follows": r["behaviour follows"],
                "sparsest accurate λ": r["sparsest accurate lambda"], "keeps more": r["kept more"],
                "agrees": r["agrees"], "half rule": r["given up last"],
                "mask status": status_counts(path_statuses(r))}
            for n, r in paths.items()}


# ------------------------------------------------------------- page 15: a mask per part
PART_COLUMNS = {"AUROC H": "AUROC H", "AUROC L": "AUROC L", "mean on H bins": "H bins",
                "mean on L bins": "L bins", "mean elsewhere": "cue-free bins", "mask mean": "mean",
                "masked, %": "masked, %", "mask status": "mask status"}
REGIME_PART_COLUMNS = {f"{p}: {k}": f"{p}: {h}" for p in ("amplitude", "phase")
                       for k, h in (("mask mean", "mean"), ("L-share", "L-share"), ("masked, %", "masked, %"),
                                    ("mask status", "status"))}


def with_part_status(row: dict) -> dict:
    """A :func:`fm_core.pages.amplitude_phase.part_row` with ``"<part>: mask status"`` for
    each part's mask (its cost: ``clean, %`` minus ``"<part>: masked, %"``, held out)."""
    return {**row, **{f"{part}: mask status": mask_status(
        row[f"{part}: converged"], row.get(f"{part}: mask steps"), row.get(f"{part}: mask budget"),
        held_out_cost(row.get("clean, %"), row.get(f"{part}: masked, %")))
        for part in PARTS if f"{part}: converged" in row}}


def part_rows(row: dict) -> dict:
    """Page 15's known-truth table: ``{part: {key: value}}`` from one ``part_row`` (with
    :func:`with_part_status`), a row per part the mask acts on."""
    shown = with_part_status(row)
    return {part: {k.split(": ", 1)[1]: v for k, v in shown.items() if k.startswith(part + ":")} for part in PARTS}

"""Display tables: one formatter (:func:`frame`) turns results into DataFrames with
human headers, integers as integers and "-" for missing; the paper's reported numbers
(:mod:`fm_core.science.paper`) are set beside this build's where the paper has them, each pair
with a verdict (:func:`paper_verdict`) computed from the two numbers, and every pair that
differs is explained by :mod:`fm_core.book.gap_notes`, in words chosen by the numbers.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Iterable, Mapping

import pandas as pd

from fm_core.nets.evaluation import CHANCE_MARGIN, near_chance
from fm_core.science import paper
from fm_core.pages.common import VERDICT_MARGIN_SDS, sd_of, side
from fm_core.profiles import REGIME_LETTERS

# A percentage of this build "reproduces" the paper's when it lies within this many
# percentage points of it: about the spread between the paper's text and its authors'
# own notebooks (Table 3: up to 4.4 points, Table 2: up to 1.1 points).
REPRODUCED_WITHIN_PP = 5.0
# A count (e.g. images selected) reproduces within this fraction of the paper's.
COUNT_WITHIN_FRACTION = 0.10
REPRODUCED, DIFFERS, BY_CONSTRUCTION, MISSING = "reproduced", "differs", "by construction", "-"
# Neither verdict survives the seed spread: a build two seed SDs away would get the other.
WITHIN_SPREAD = "within seed spread"
SPREAD_MARGIN_SDS = VERDICT_MARGIN_SDS  # seed SDs a verdict must stand beyond its line


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _cell(value, digits: int):
    if _missing(value):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        value = value.item()
    if isinstance(value, float):
        if value.is_integer() or digits <= 0:
            return int(round(value))
        return f"{value:.{digits}f}"
    return value


def human(key: str) -> str:
    """A header from a key: ``n_train`` -> ``n train`` (no snake_case on a page)."""
    return str(key).replace("_", " ")


def frame(rows: Mapping[str, Mapping], index: str, columns: Mapping[str, str] | None = None,
          digits: int = 2, column_digits: Mapping[str, int] | None = None) -> pd.DataFrame:
    """``rows`` {row name: {key: value}} -> a DataFrame indexed by ``index``; ``columns``
    maps keys to headers (and picks and orders them); other keys become headers with
    spaces for underscores. Floats show ``digits`` decimals (``column_digits`` per key),
    whole numbers as integers, missing values as "-"."""
    columns = columns or {k: human(k) for row in rows.values() for k in row}
    column_digits = column_digits or {}
    data = {header: [_cell(row.get(key), column_digits.get(key, digits)) for row in rows.values()]
            for key, header in columns.items()}
    return pd.DataFrame(data, index=pd.Index(list(rows), name=human(index)), dtype=object)


def side_by_side(columns: Mapping[str, Mapping], index: str, digits: int = 1) -> pd.DataFrame:
    """``columns`` {column name: {row: value}} -> one table with a column each, rows in
    the first column's order (a row another lacks shows "-")."""
    rows = list(dict.fromkeys(k for values in columns.values() for k in values))
    return frame({r: {name: values.get(r) for name, values in columns.items()} for r in rows}, index,
                 {name: name for name in columns}, digits=digits)


# ------------------------------------------------------------------------ verdicts
@dataclasses.dataclass(frozen=True)
class Comparison:
    """One number the paper reports beside this build's.

    ``kind``: "pp" (a percentage; absolute tolerance in points) or "count" (relative
    tolerance). ``by_construction``: the value follows from how the experiment is set
    up (e.g. the clean images agree with themselves), so it confirms nothing."""
    table: str
    key: str          # what gap_notes keys its text on, e.g. "table1.standard"
    label: str        # the row's name on the page
    paper: float | None
    build: float | None
    kind: str = "pp"
    by_construction: bool = False
    sd: float | None = None  # this build's number's SD over seeds (fm spread), if measured

    @property
    def verdict(self) -> str:
        return paper_verdict(self.paper, self.build, self.kind, self.by_construction, self.sd)

    @property
    def gap(self) -> float:
        return float(self.build) - float(self.paper)


def paper_verdict(paper_value, build_value, kind: str = "pp", by_construction: bool = False,
            sd: float | None = None) -> str:
    """"reproduced", "differs", "within seed spread", "by construction" or "-" (a number
    missing), from the numbers: within :data:`REPRODUCED_WITHIN_PP` points for
    percentages, within :data:`COUNT_WITHIN_FRACTION` of the paper's for counts. With the
    number's seed ``sd``, a verdict must also hold :data:`SPREAD_MARGIN_SDS` SDs further
    from the line; where it does not, the seed could decide it: "within seed spread"."""
    if _missing(paper_value) or _missing(build_value):
        return MISSING
    if by_construction:
        return BY_CONSTRUCTION
    if kind not in ("pp", "count"):
        raise ValueError(f"kind must be 'pp' or 'count', got {kind!r}")
    gap = abs(float(build_value) - float(paper_value))
    line = COUNT_WITHIN_FRACTION * abs(float(paper_value)) if kind == "count" else REPRODUCED_WITHIN_PP
    # reproduced: the gap at or under the line, by the margin (negated, "at or above" is side's +1)
    return {1: REPRODUCED, -1: DIFFERS, 0: WITHIN_SPREAD}[side(-gap, -line, sd)]


def verdict_legend(spread: Mapping | None = None) -> str:
    """Markdown: what the verdict column means, with the tolerance as defined here, and
    how the seed spread enters when ``spread`` (:meth:`fm_core.book.report.Page.spread`) has it."""
    text = (f"*Verdict*: **{REPRODUCED}** when this build lies within "
            f"{REPRODUCED_WITHIN_PP:g} percentage points of the paper (counts: within "
            f"{100 * COUNT_WITHIN_FRACTION:g} percent), else **{DIFFERS}**; **{BY_CONSTRUCTION}** "
            f"when the set-up makes the number what it is, so it confirms nothing; {MISSING} when "
            "the paper reports no number.")
    if spread:
        seeds = ", ".join(str(s) for s in spread.get("seeds", ()))
        text += (f" Each verdict is drawn with the number's spread over training seeds ({seeds}; `fm spread`): it "
                 f"must hold {SPREAD_MARGIN_SDS:g} standard deviations further from the line as well, else "
                 f"**{WITHIN_SPREAD}** (another seed, or another machine, could give the other verdict).")
    return text



def network_name(regime: str) -> str:
    return f"{REGIME_LETTERS.get(regime, '?')} ({regime})"


def _paper_order(keys: Iterable[str], reported: Mapping) -> list[str]:
    """The paper's order first (stored results come back sorted by name), then the rest."""
    keys = list(keys)
    return [k for k in reported if k in keys] + [k for k in keys if k not in reported]


def table1_comparisons(values: Mapping[str, Mapping], spread: Mapping | None = None) -> list[Comparison]:
    """Table 1 against the paper; ``spread`` (:meth:`fm_core.book.report.Page.spread`)
    gives each number its seed SD, and so the verdicts their margin."""
    out = []
    for regime in _paper_order(values, paper.TABLE1):
        row = values[regime]
        reported = paper.TABLE1.get(regime, (None, None))
        out.append(Comparison("Table 1", "table1.standard", f"{regime}: accuracy",
                              reported[0], row.get("standard"), sd=sd_of(spread, f"table1.{regime}.standard")))
        out.append(Comparison("Table 1", "table1.masked", f"{regime}: accuracy with dataset mask",
                              reported[1], row.get("masked"), sd=sd_of(spread, f"table1.{regime}.masked")))
    return out


# Table 2's first rows: x is the reference, and the selection keeps only images whose
# prediction PGD flips, so 100 and 0 follow from the set-up.
_TABLE2_CONSTRUCTED = ("x", "x_A")


def table2_comparisons(values: Mapping, spread: Mapping | None = None) -> list[Comparison]:
    return [Comparison("Table 2", f"table2.{k}", f"{k}: agreement", paper.TABLE2.get(k), values[k],
                       by_construction=k in _TABLE2_CONSTRUCTED, sd=sd_of(spread, f"table2.{k}"))
            for k in _paper_order(values, paper.TABLE2) if k != "n"]


def table3_comparisons(values: Mapping, spread: Mapping | None = None) -> list[Comparison]:
    return [Comparison("Table 3", f"table3.{kind}.{split}", f"{human(kind)}, {split}: accuracy",
                       paper.TABLE3[kind][split], values[kind][f"{split}_mean"],
                       sd=sd_of(spread, f"table3.{kind}.{split}_mean"))
            for kind in ("true_labels", "shuffled_labels") for split in ("train", "test")]


def selection_comparison(n_selected: int, spread: Mapping | None = None) -> Comparison:
    return Comparison("Section 3", "selection.count", "images selected for single-image masks",
                      paper.SELECTED_IMAGES, int(n_selected), kind="count", sd=sd_of(spread, "table2.n"))


def table1(values: Mapping[str, Mapping], spread: Mapping | None = None) -> pd.DataFrame:
    rows = {}
    for regime in _paper_order(values, paper.TABLE1):
        v = values[regime]
        standard, masked = (c for c in table1_comparisons({regime: v}, spread))
        own = (None if v.get("masked_fit") is None or v.get("standard_fit") is None
               else v["standard_fit"] - v["masked_fit"])
        rows[network_name(regime)] = dict(v, paper_standard=standard.paper, verdict_standard=standard.verdict,
                                          paper_masked=masked.paper, verdict_masked=masked.verdict, own_cost=own)
    return frame(rows, "network", {
        "paper_standard": "accuracy: paper %", "standard": "accuracy: this build %",
        "verdict_standard": "accuracy: verdict", "paper_masked": "with dataset mask: paper %",
        "masked": "with dataset mask: this build %", "verdict_masked": "with dataset mask: verdict",
        # where the paper measures: on the images the mask was learned on (absent from older results)
        **({"own_cost": "mask's cost on its own images, pts"}
           if any(isinstance(values[r], Mapping) and values[r].get("masked_fit") is not None for r in values)
           else {}),
        # (training time, once a column here, is in the build report: the table must fit the page)
        "pgd": "PGD accuracy %", "mask_mean": "mean mask value"})


def table2(values: Mapping, spread: Mapping | None = None) -> pd.DataFrame:
    verdicts = {c.key.split(".", 1)[1]: c.verdict for c in table2_comparisons(values, spread)}
    rows = {k: {"paper": paper.TABLE2.get(k), "notebook": paper.TABLE2_NOTEBOOK.get(k), "build": v,
                "verdict": verdicts[k]}
            for k, v in ((k, values[k]) for k in _paper_order(values, paper.TABLE2)) if k != "n"}
    return frame(rows, "input", {"paper": "paper %", "notebook": "authors' notebook %",
                                 "build": "this build %" + (f" ({int(values['n'])} images)" if "n" in values else ""),
                                 "verdict": "verdict"})


def _range(low, high) -> str:
    return MISSING if _missing(low) or _missing(high) else f"{low:.1f} to {high:.1f}"


def table3(values: Mapping, spread: Mapping | None = None) -> pd.DataFrame:
    """Table 3: true and shuffled labels, the masks each classifier was fitted to and the
    held-out masks of the k-fold test; the held-out rows carry their range (true labels:
    the Wilson interval; shuffled labels: the 2.5-97.5 percentiles over the permutations)."""
    verdicts = {c.key: c.verdict for c in table3_comparisons(values, spread)}
    folds, level = values.get("n_folds"), values.get("confidence_pct")
    held_out = (f"held-out masks ({folds:g}-fold): the score" if not _missing(folds) else "held-out masks: the score")
    what = {("true_labels", "train"): "the masks it was fitted to (mean over folds)",
            ("true_labels", "test"): held_out,
            ("shuffled_labels", "train"): "fitted masks, mean over the shuffles",
            ("shuffled_labels", "test"): "held-out masks, mean over the shuffles"}
    rows = {}
    for kind in ("true_labels", "shuffled_labels"):
        for split in ("train", "test"):
            v = values[kind]
            rows[f"{human(kind)}, {split}"] = {
                "paper": paper.TABLE3[kind][split], "mean": v[f"{split}_mean"],
                "range": _range(v.get("test_low"), v.get("test_high")) if split == "test" else MISSING,
                "verdict": verdicts[f"table3.{kind}.{split}"], "what": what[kind, split]}
    level = "" if _missing(level) else f" ({level:g}%)"
    return frame(rows, "labels, split", {"paper": "paper %", "mean": "this build %",
                                         "range": f"this build, range{level}", "verdict": "verdict",
                                         "what": "measured on"})


def reproduction(comparisons: Iterable[Comparison]) -> pd.DataFrame:
    """Every comparison as one row: paper, this build, verdict."""
    rows = {f"{c.table}: {c.label}" + (", %" if c.kind == "pp" else ""):
            {"paper": c.paper, "build": c.build, "verdict": c.verdict} for c in comparisons}
    return frame(rows, "quantity", {"paper": "paper (reported)", "build": "this build", "verdict": "verdict"})


def verdict_counts(comparisons: Iterable[Comparison]) -> dict[str, int]:
    counts = {REPRODUCED: 0, DIFFERS: 0, WITHIN_SPREAD: 0, BY_CONSTRUCTION: 0, MISSING: 0}
    for c in comparisons:
        counts[c.verdict] += 1
    return counts


def show_chance_warning(accuracies_percent: Mapping[str, float], num_classes: int) -> None:
    """Display :func:`chance_warning` on a page when there is one (nothing otherwise)."""
    from IPython.display import Markdown, display

    warning = chance_warning(accuracies_percent, num_classes)
    if warning:
        display(Markdown(warning))


def chance_warning(accuracies_percent: Mapping[str, float], num_classes: int) -> str:
    """A warning line naming every network whose held-out accuracy (%) lies within
    ``CHANCE_MARGIN`` of chance (:func:`fm_core.nets.evaluation.near_chance`); "" if none."""
    near = {name: acc for name, acc in accuracies_percent.items() if near_chance(acc / 100, num_classes)}
    if not near:
        return ""
    named = ", ".join(f"{name} ({acc:.1f}%)" for name, acc in near.items())
    return (f"**Warning: near chance.** {named} {'lies' if len(near) == 1 else 'lie'} within "
            f"{100 * CHANCE_MARGIN:.0f} points of chance ({100 / num_classes:.0f}% for {num_classes} classes): "
            f"{'this network has' if len(near) == 1 else 'these networks have'} learned almost nothing, and "
            "what their masks and probes show describes an untrained network, not a regime.")

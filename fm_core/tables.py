"""Display tables: one formatter (:func:`frame`) turns results into DataFrames with
human headers, integers as integers and "-" for missing; the paper's reported numbers
(:mod:`fm_core.paper`) are set beside this build's where the paper has them."""
from __future__ import annotations

from typing import Mapping

import pandas as pd

from . import paper
from .profiles import REGIME_LETTERS


def _cell(value, digits: int):
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) >= 100 else round(value, digits)
    return value


def frame(rows: Mapping[str, Mapping], index: str, columns: Mapping[str, str] | None = None,
          digits: int = 2) -> pd.DataFrame:
    """``rows`` {row name: {key: value}} -> a DataFrame indexed by ``index``; ``columns``
    maps keys to headers (and picks and orders them); unknown keys keep their names."""
    columns = columns or {k: k for row in rows.values() for k in row}
    data = {header: [_cell(row.get(key), digits) for row in rows.values()] for key, header in columns.items()}
    out = pd.DataFrame(data, index=pd.Index(list(rows), name=index), dtype=object)
    return out


def network_name(regime: str) -> str:
    return f"{REGIME_LETTERS.get(regime, '?')} ({regime})"


def table1(values: Mapping[str, Mapping]) -> pd.DataFrame:
    rows = {network_name(r): dict(v, paper_standard=paper.TABLE1.get(r, (None, None))[0],
                                  paper_masked=paper.TABLE1.get(r, (None, None))[1])
            for r, v in values.items()}
    return frame(rows, "network", {
        "paper_standard": "accuracy, paper %", "standard": "accuracy, this build %",
        "paper_masked": "with dataset mask, paper %", "masked": "with dataset mask, this build %",
        "pgd": "PGD accuracy %", "mask_mean": "mean mask value", "train_seconds": "training, s"})


def table2(values: Mapping) -> pd.DataFrame:
    rows = {k: {"paper": paper.TABLE2.get(k), "notebook": paper.TABLE2_NOTEBOOK.get(k), "build": v}
            for k, v in values.items() if k != "n"}
    return frame(rows, "input", {"paper": "paper %", "notebook": "authors' notebook %",
                                 "build": f"this build % ({values['n']} images)"})


def table3(values: Mapping) -> pd.DataFrame:
    rows = {}
    for kind in ("true_labels", "shuffled_labels"):
        for split in ("train", "test"):
            rows[f"{kind.replace('_', ' ')}, {split}"] = {
                "paper": paper.TABLE3[kind][split], "mean": values[kind][f"{split}_mean"],
                "std": values[kind][f"{split}_std"],
                "what": "held-out masks: the score" if split == "test" else "the masks it was fitted on"}
    return frame(rows, "labels, split", {"paper": "paper %", "mean": "this build, mean %",
                                         "std": "this build, std over seeds", "what": "measured on"})


def reproduction(rows) -> pd.DataFrame:
    """(artefact, quantity, paper, build) rows -> the reproduction table."""
    table = {f"{a}: {q}": {"paper": p, "build": b} for a, q, p, b in rows}
    return frame(table, "quantity", {"paper": "paper (reported)", "build": "this build"})

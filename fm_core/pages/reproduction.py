"""Page 09, reproduction: every number the paper reports beside this build's, from the
results the other pages stored (pages 03, 06 and 07), computing only those missing.
"""
from __future__ import annotations

from fm_core.profiles import Profile
from fm_core.science import paper
from fm_core.store import pipeline
from .adversarial_reversal import table2
from .mask_classifier import table3
from .networks import table1


def reproduction(cfg: Profile, progress: bool = True) -> list[tuple]:
    """Every number the paper reports beside this build's: the results the other pages
    stored for this configuration and code, computing only those missing. Rows are
    (artefact, quantity, paper, this build)."""
    stored = pipeline.load_results(cfg)
    for name, compute in (("table1", table1), ("table2", table2), ("table3", table3)):
        if name not in stored:
            compute(cfg, progress)
    stored = pipeline.load_results(cfg)
    rows = []
    for regime, (standard, masked) in paper.TABLE1.items():
        ours = stored["table1"][regime]
        rows.append(("Table 1", f"{regime} standard accuracy, %", standard, ours["standard"]))
        rows.append(("Table 1", f"{regime} masked accuracy, %", masked, ours["masked"]))
    for key, value in paper.TABLE2.items():
        rows.append(("Table 2", f"{key}, % agreement", value, round(stored["table2"][key], 2)))
    for kind, splits in paper.TABLE3.items():
        for split, value in splits.items():
            rows.append(("Table 3", f"{kind.replace('_', ' ')}, {split} accuracy, %", value,
                         stored["table3"][kind][f"{split}_mean"]))
    rows.append(("Section 3", "images selected for single-image masks", paper.SELECTED_IMAGES,
                 int(len(pipeline.get_reversal_selection(cfg, progress)["indices"]))))
    return rows

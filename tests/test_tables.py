"""Verdicts computed from the numbers, and the gap paragraphs chosen by them."""
from __future__ import annotations

import math

from fm_core.book import gap_notes, tables
from fm_core.profiles import get_profile

QUICK = get_profile("quick")


def test_verdict_follows_the_stated_tolerance():
    tol = tables.REPRODUCED_WITHIN_PP
    assert tables.paper_verdict(80.0, 80.0 + tol) == "reproduced"
    assert tables.paper_verdict(80.0, 80.0 - tol - 0.01) == "differs"
    assert tables.paper_verdict(100.0, 100.0, by_construction=True) == "by construction"
    assert tables.paper_verdict(None, 3.0) == "-" and tables.paper_verdict(3.0, math.nan) == "-"
    assert tables.paper_verdict(1000, 1000 * (1 + tables.COUNT_WITHIN_FRACTION), kind="count") == "reproduced"
    assert tables.paper_verdict(1421, 200, kind="count") == "differs"


def test_frame_shows_integers_as_integers_missing_as_dash_and_human_headers():
    table = tables.frame({"a": {"n_train": 40.0, "val_acc": 98.857, "k": 7, "x": None}}, "run_tag")
    assert list(table.columns) == ["n train", "val acc", "k", "x"] and table.index.name == "run tag"
    assert table.iloc[0].tolist() == [40, "98.86", 7, "-"]


def _table2(m_xa, class_mask):
    return {"x": 100.0, "x_A": 0.0, "M(x)": 100.0, "M(x_A)": m_xa, "Mc(x)": 54.0,
            "random mask, same size (x_A)": 20.0, "same-class image's mask (x_A)": 30.0,
            "class mask (x_A)": class_mask, "n": 200}


def test_table2_verdicts_and_construction_rows():
    table = tables.table2(_table2(59.0, 40.0))
    assert table.loc["x", "verdict"] == "by construction"
    assert table.loc["M(x_A)", "verdict"] == "reproduced"
    assert table.loc["class mask (x_A)", "verdict"] == "-"


def test_gap_notes_only_for_differing_rows_and_worded_by_the_controls():
    agree = tables.table2_comparisons(_table2(59.0, 40.0))
    assert gap_notes.gap_notes(agree, QUICK, {"table2": _table2(59.0, 40.0)}) == ""
    own = _table2(95.0, 40.0)
    text = gap_notes.gap_notes(tables.table2_comparisons(own), QUICK, {"table2": own})
    assert "Table 2, above the paper" in text and "the image's own mask matters" in text
    assert "\n\n" not in text  # one paragraph: only M(x_A) differs
    shared = _table2(95.0, 93.0)
    text = gap_notes.gap_notes(tables.table2_comparisons(shared), QUICK, {"table2": shared})
    assert "class's frequencies rather than from the image's own mask" in text
    # 100% against 93.8% of 64 images: 4 images apart, inside the intervals (the old 5-point rule said "less")
    small = dict(_table2(100.0, 93.75), n=64)
    text = gap_notes.gap_notes(tables.table2_comparisons(small), QUICK, {"table2": small})
    assert "about as much (class mask (x_A): 93.8, within the 95% intervals of 64 images)" in text


def test_table1_gaps_share_one_paragraph_per_direction():
    values = {r: {"standard": 99.0, "masked": 99.0} for r in ("vanilla", "adversarial")}
    comps = tables.table1_comparisons(values)
    assert [c.verdict for c in comps] == ["differs"] * 4
    text = gap_notes.gap_notes(comps, QUICK)
    assert text.count("**Table 1, above the paper**") == 1 and "synthetic two-cue world" in text
    assert list(tables.table1(values).index) == ["N (vanilla)", "A (adversarial)"]


def test_ground_truth_prose_is_its_verdict_in_words():
    """The decisions are judge_ground_truth's (tests/test_verdicts.py)."""
    from fm_core.book import gap_notes
    reliance = {"vanilla": {"all frequencies": 100.0, "L bins removed": 99.0, "H bins removed": 30.0},
                "adversarial": {"all frequencies": 90.0, "L bins removed": 20.0, "H bins removed": 90.0},
                "scale": {"all frequencies": 90.0, "L bins removed": 40.0, "H bins removed": 45.0}}
    scores = {"dataset mask, vanilla": {"auroc": 0.75}, "dataset mask, scale": {"auroc": 0.95},
              "class mask, class 4": {"auroc": 0.29}}
    text = gap_notes.ground_truth_prose(scores, reliance, chance=20.0)
    assert text.startswith("**Answer.** 1 of 3 masks") and "(dataset mask, scale)" in text
    assert ("the vanilla network depends mainly on H (without its H bins 30.0%, without its L bins 99.0%, "
            "all frequencies 100.0%), the adversarial network depends mainly on L") in text
    assert "scale network" not in text and " only" not in text.split("Below")[0].replace("bins only", "")
    assert "Below chance (AUROC under 0.5): class mask, class 4." in text
    assert "Below chance" not in gap_notes.ground_truth_prose({"m": {"auroc": 0.6}}, {}, chance=20.0)


def test_band_prose_reads_figure4_and_names_sign_clashes():
    import numpy as np
    from fm_core.book import gap_notes
    cue = {"L": [0], "H": [2]}
    kept = {"reference": "vanilla", "regimes": ["adversarial", "translate"], "cue_bands": cue,
            "radial": np.array([[0.3, 0.0, -0.1], [0.2, 0.0, 0.1]])}
    energy = dict(kept, radial=np.array([[0.5, 0.0, -0.9], [0.1, 0.0, -0.3]]))
    text = gap_notes.band_prose(kept, energy)
    assert "adversarial: more of the L-cue bands (+0.30), less of the H-cue bands (-0.10)" in text
    assert "disagrees in sign for translate's H bands (fraction kept +0.10, energy -0.30)." in text
    assert "agrees in sign on every cue band" in gap_notes.band_prose(kept, kept)
    assert gap_notes.band_prose(dict(kept, cue_bands={}), energy) == ""


def test_a_verdict_drawn_with_the_seed_spread_must_hold_two_sds_beyond_its_line():
    line, margin = tables.REPRODUCED_WITHIN_PP, tables.SPREAD_MARGIN_SDS
    assert tables.paper_verdict(80.0, 83.0, sd=0.5) == "reproduced"  # 3 + 2 x 0.5 inside the line
    assert tables.paper_verdict(80.0, 83.0, sd=1.5) == tables.WITHIN_SPREAD  # 3 + 3 crosses it, 3 - 3 does not
    assert tables.paper_verdict(80.0, 88.0, sd=1.0) == "differs"  # 8 - 2 still beyond
    assert tables.paper_verdict(80.0, 88.0, sd=2.0) == tables.WITHIN_SPREAD
    assert tables.paper_verdict(80.0, 88.0, sd=None) == "differs"  # no spread measured: the plain rule
    assert tables.paper_verdict(80.0, 80.0 + line + margin * 1.0 + 0.01, sd=1.0) == "differs"
    comparisons = tables.table2_comparisons(_table2(59.0, 40.0), {"sd": {"table2.M(x_A)": 3.0}})
    m_xa = next(c for c in comparisons if c.key == "table2.M(x_A)")
    assert m_xa.sd == 3.0 and m_xa.verdict == tables.WITHIN_SPREAD
    note = gap_notes.gap_notes(comparisons, QUICK, {"table2": _table2(59.0, 40.0)})
    assert "**Within the seed spread**" in note and "M(x_A): agreement" in note and "seed SD 3.0" in note
    legend = tables.verdict_legend({"seeds": [31, 1031, 2031], "sd": {}})
    assert "(31, 1031, 2031; `fm spread`)" in legend and tables.WITHIN_SPREAD in legend
    assert "seed" not in tables.verdict_legend({})

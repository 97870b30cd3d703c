"""Verdicts as data: each page's ``judge_*`` function decides from the numbers with named
thresholds (fields checked here on made-up numbers), the verdict is stored with the page's
numbers and reaches the headline file, and no prose module holds a bare threshold."""
from __future__ import annotations

import ast
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from fm_core.book import headline, seed_spread
from fm_core.pages import common, cue_question, dataset_masks, ground_truth, mask_classifier, stability

ROOT = Path(__file__).resolve().parent.parent
# The modules that turn numbers into sentences, and in the page modules the functions that do
PROSE_MODULES = sorted((ROOT / "fm_core" / "book").glob("*_notes.py")) + [ROOT / "fm_core" / "book" / "tables.py"]
PROSE_FUNCTIONS = ("_prose", "_note", "_notes", "_verdict")


def _bare_thresholds(tree: ast.AST) -> list[str]:
    """Comparisons with a number other than 0 or 1 (a sign or a count) typed into them."""
    def typed(node):
        node = node.operand if isinstance(node, ast.UnaryOp) else node
        return (isinstance(node, ast.Constant) and type(node.value) in (int, float) and node.value not in (0, 1))
    return [f"line {node.lineno}: {ast.unparse(node)}" for node in ast.walk(tree) if isinstance(node, ast.Compare)
            and any(typed(n) for side in [node.left, *node.comparators] for n in ast.walk(side))]


def _prose_trees():
    for path in PROSE_MODULES:
        yield path.name, ast.parse(path.read_text())
    for path in sorted((ROOT / "fm_core" / "pages").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.endswith(PROSE_FUNCTIONS):
                yield f"{path.name}:{node.name}", node


def test_no_prose_module_holds_a_bare_threshold():
    found = {name: lines for name, tree in _prose_trees() if (lines := _bare_thresholds(tree))}
    assert not found, f"thresholds typed into prose (name them in a page's judge_* function): {found}"


def test_the_threshold_scan_can_fail():
    assert _bare_thresholds(ast.parse("ok = x >= 0.9 or y < -2")) == ["line 1: x >= 0.9", "line 1: y < -2"]
    assert _bare_thresholds(ast.parse("ok = x >= LINE and n == 1 and d > 0")) == []


def test_a_verdicts_decisions_and_numbers_are_headline_numbers_other_flags_are_not():
    from fm_core.profiles import get_profile
    from fm_core.store import pipeline

    cfg = get_profile("smoke")
    pipeline.save_result(cfg, "page", {"converged": True, common.VERDICT_KEY: {"found": True, "side": -1,
                                                                               "names": ["a"], "why": "text"}})
    flat = headline.headline_values(cfg)
    assert flat == {"page.verdict.found": 1.0, "page.verdict.side": -1.0}
    assert seed_spread.scale("table3.verdict.significant") == "unit"  # not a percentage: must not move by 0.1
    assert headline.tolerance("table3.verdict.significant") == headline.UNIT_TOLERANCE
    spread = {"seeds": [31, 1031, 2031], "values": {"cues.vanilla.L-bias": [0.1, 0.12, 0.11],
                                                    "cues.verdict.behaviour_moved": [1.0, -1.0, 1.0]}}
    assert seed_spread.tolerances_from_spread(spread)["cues.verdict.behaviour_moved"] > 1  # it flips: no line
    summary = seed_spread.spread_summary(spread)  # README's sentence is about numbers, not decisions
    assert summary["n"] == 1 and [k for k, _ in summary["widest"]] == ["cues.vanilla.L-bias"]


# ------------------------------------------------------------------ page 10
def _question(van, adv, **more):
    rows = {"vanilla": {"L-bias": van[0], "L-share": van[1]}, "adversarial": {"L-bias": adv[0], "L-share": adv[1]},
            **{name: {"L-bias": b, "L-share": s} for name, (b, s) in more.items()}}
    return {"rows": rows, "rank correlation (L-bias, L-share)": 1.0, "conditions": len(rows)}


def test_the_cue_answer_says_when_the_seed_decides():
    question = _question((0.1, 0.2), (0.6, 0.45))
    plain = cue_question.judge_answer(question)
    assert plain.behaviour_moved == 1 and plain.masks_moved == 1 and plain.bias_gap_sd is None
    assert math.isclose(plain.bias_gap, 0.5) and plain.robust_same_side is None and plain.controls_found is None
    spread = {"sd": {"cues.adversarial.L-bias": 0.2, "cues.vanilla.L-bias": 0.0, "cues.adversarial.L-share": 0.1,
                     "cues.vanilla.L-share": 0.0}}
    drawn = cue_question.judge_answer(question, spread)
    assert drawn.behaviour_moved == 0 and drawn.masks_moved == 0 and drawn.bias_gap_sd == pytest.approx(0.2)
    assert cue_question.judge_answer(_question((0.1, 0.2), (0.3, 0.1))).behaviour_moved == -1
    assert cue_question.judge_answer(_question((0.1, 0.2), (0.6, 0.1))).masks_moved == -1  # the other way


def test_the_cue_answer_reads_the_controls_and_the_agreement():
    question = _question((0.1, 0.2), (0.9, 0.3), **{"vanilla, robust-H world": (0.1, 0.1),
                                                    "adversarial, robust-H world": (0.2, 0.1),
                                                    "vanilla, trained on L only": (1.0, 0.9),
                                                    "vanilla, trained on H only": (0.0, 0.85)})
    verdict = cue_question.judge_answer(question)
    assert verdict.robust_same_side and verdict.controls_found is False  # 0.9 - 0.85 is a coin's edge
    assert verdict.disagree == ("adversarial", "vanilla, trained on H only")
    assert len(verdict.agree) == 4
    text = cue_question.answer_prose(question)
    assert f"agree within {cue_question.AGREES_WITHIN:g} for 4 of 6" in text and "miss the cue" in text
    assert "without them" not in text  # cue_table's numbers absent: nothing said of them


def test_the_cue_answer_gives_the_rank_correlation_without_the_controls():
    """The positive controls sit at the ends by design; the rho without them is said beside it."""
    from fm_core.pages.cue_conditions import agreement, is_control
    question = _question((0.1, 0.2), (0.9, 0.1), **{"vanilla, rho_H 0.75": (0.5, 0.15),
                                                    "vanilla, trained on L only": (1.0, 1.0),
                                                    "vanilla, trained on H only": (0.0, 0.0)})
    rows = question["rows"]
    assert [n for n in rows if is_control(n)] == ["vanilla, trained on L only", "vanilla, trained on H only"]
    assert not is_control("vanilla, rho_H 0.75") and not is_control("adversarial, robust-H world")
    without = agreement({n: r for n, r in rows.items() if not is_control(n)}, digits=None)["rank correlation"]
    question.update({"rank correlation (L-bias, L-share)": agreement(rows, digits=None)["rank correlation"],
                     "conditions": len(rows), "rank correlation without controls": without,
                     "rank correlation, paper's five": without})
    text = cue_question.answer_prose(question)
    assert f"without them rho is {without:.3f} over 3 conditions" in text
    assert question["rank correlation (L-bias, L-share)"] > without  # the controls lift it here


# ------------------------------------------------------------------ pages 07 and 08
def _table3(low, high, p, chance=20.0, n=99, shuffled_fit=25.0):
    return {"true_labels": {"test_mean": (low + high) / 2, "test_low": low, "test_high": high},
            "shuffled_labels": {"train_mean": shuffled_fit}, "p_value": p, "n_permutations": n, "chance": chance}


def test_the_table3_verdict_needs_the_test_and_the_interval():
    found = mask_classifier.judge_table3(_table3(60.0, 80.0, 0.01))
    assert found.fitted and found.significant and found.carries_class_information and found.p_at_floor
    covered = mask_classifier.judge_table3(_table3(15.0, 40.0, 0.01))
    assert covered.significant and covered.interval_covers_chance and not covered.carries_class_information
    none = mask_classifier.judge_table3(_table3(15.0, 30.0, mask_classifier.SIGNIFICANCE))
    assert not none.significant and not none.p_at_floor and none.shuffled_fit_nearer_chance
    assert mask_classifier.judge_table3(_table3(60.0, 80.0, 0.01, shuffled_fit=90.0)).shuffled_fit_nearer_chance is False
    failed = mask_classifier.judge_table3(_table3(math.nan, math.nan, math.nan))
    assert not failed.fitted and not failed.carries_class_information


def test_the_ground_truth_verdict_counts_masks_and_reads_cues():
    reliance = {"vanilla": {"all frequencies": 100.0, "L bins removed": 99.0, "H bins removed": 30.0},
                "adversarial": {"all frequencies": 90.0, "L bins removed": 20.0, "H bins removed": 90.0},
                "scale": {"all frequencies": 90.0, "L bins removed": 40.0, "H bins removed": 45.0},
                "rotate": {"all frequencies": 90.0, "L bins removed": 89.0, "H bins removed": 88.0}}
    scores = {"dataset mask, vanilla": {"auroc": 0.75}, "dataset mask, scale": {"auroc": ground_truth.RANKS_WELL},
              "class mask, class 4": {"auroc": 0.29}}
    verdict = ground_truth.judge_ground_truth(scores, reliance, chance=20.0)
    assert verdict.ranks_well == ("dataset mask, scale",) and verdict.below_chance == ("class mask, class 4",)
    assert verdict.reads == {"vanilla": "H", "adversarial": "L", "scale": "both", "rotate": "neither"}


# ------------------------------------------------------------------ pages 04 and 11
def test_the_repeat_verdict_names_the_masks_that_do_not_repeat():
    rows = {"vanilla": {"seed correlation (min)": stability.REPEATS_FROM},
            "adversarial": {"seed correlation (min)": stability.REPEATS_FROM - 0.01}}
    verdict = stability.judge_repeat(rows)
    assert not verdict.repeats and verdict.not_repeating == ("adversarial",)
    assert stability.judge_repeat({"vanilla": rows["vanilla"]}).repeats


def test_the_sensitivity_verdict_needs_both_objectives():
    def row(elsewhere, share):
        return {"vanilla": {"mean elsewhere": elsewhere, "L-share": share}}
    denser = dataset_masks.judge_uses_or_sensitivity({"dataset_mean": row(0.01, 0.2), "per_image": row(0.05, 0.4)})
    assert denser.mean_objective == "dataset_mean" and denser.per_image_measures_sensitivity
    assert not dataset_masks.judge_uses_or_sensitivity(
        {"batch_mean": row(0.01, 0.2), "per_image": row(0.015, 0.4)}).per_image_measures_sensitivity
    alone = dataset_masks.judge_uses_or_sensitivity({"per_image": row(0.05, 0.4)})
    assert alone.per_image_measures_sensitivity is None


def test_verdicts_are_plain_data():
    verdict = stability.judge_repeat({"vanilla": {"seed correlation (min)": 0.9}})
    assert asdict(verdict) == {"repeats": True, "not_repeating": ()}
    with pytest.raises(AttributeError):
        verdict.repeats = False  # frozen: a verdict is a result, not a state


def test_a_foreign_networks_mask_is_judged_by_the_books_lines():
    """Page 16: a mask that costs more than page 04's slack does not keep the accuracy, and
    the cues it finds are those page 08's AUROC line counts."""
    from types import SimpleNamespace

    from fm_core.pages import any_network, dataset_masks, ground_truth as gt

    mask = np.zeros((8, 8))
    mask[1, 2] = 1.0
    truth = {"low": np.zeros((8, 8), bool), "high": np.zeros((8, 8), bool)}
    truth["low"][1, 2], truth["high"][4, 4] = True, True
    slack = dataset_masks.ACCURACY_SLACK / 100
    kept = any_network.judge_own_mask(SimpleNamespace(accuracy_before=0.9, accuracy_after=0.9 - slack / 2), mask, truth)
    lost = any_network.judge_own_mask(SimpleNamespace(accuracy_before=0.9, accuracy_after=0.8), mask, truth)
    assert kept.keeps_accuracy and not lost.keeps_accuracy and lost.cost_points == 10.0
    assert kept.finds == ("low",) and kept.auroc["low"] >= gt.RANKS_WELL > kept.auroc["high"]
    assert "does not keep" in any_network.own_mask_prose(lost, 0.2)
    assert any_network.judge_own_mask(SimpleNamespace(accuracy_before=1, accuracy_after=1), mask).auroc == {}

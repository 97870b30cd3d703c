"""What "converged" means where the book shows a mask (issue 36, item 2): settled before its
step budget ran out, and costing at most ACCURACY_SLACK held-out points
(:func:`fm_core.pages.common.judge_mask`). Pure functions and table builders on made-up
rows: a mask at its budget or costing more than the line is flagged on every table."""
import numpy as np
import pytest

from fm_core.book import explorer, real_notes, tables
from fm_core.book.figures import mask_learning
from fm_core.masks.result import MaskResult
from fm_core.profiles import get_profile
from fm_core.pages import any_network, common, cue_question, dataset_masks, mask_tables

BUDGET = 600


# ------------------------------------------------------------------ the rule itself
@pytest.mark.parametrize("converged, steps, budget, cost, label", [
    (True, 300, BUDGET, 0.2, "converged"),                   # settled early, cheap
    (True, BUDGET, BUDGET, 0.2, "at budget"),                # the rule fired at the budget's last window
    (False, BUDGET, BUDGET, 0.2, "at budget"),               # still moving when the steps ran out
    (True, 300, BUDGET, 12.4, "costs 12.4 pts"),             # page 14's ResNet18 complaint
    (True, BUDGET, BUDGET, 5.4, "at budget; costs 5.4 pts"),  # page 10's rho_H 0.75 complaint
    (True, 300, BUDGET, common.ACCURACY_SLACK, "converged"),  # at the line is within it
    (True, 300, BUDGET, -2.0, "converged"),                   # a mask that gains accuracy costs nothing
    (True, 300, BUDGET, float("nan"), "converged"),           # cost not measured: not flagged
    (True, BUDGET, None, None, "converged"),                  # budget unknown: only the rule counts
    (False, 300, None, None, "at budget"),
])
def test_mask_status_labels(converged, steps, budget, cost, label):
    assert common.mask_status(converged, steps, budget, cost) == label


def test_a_cost_just_over_the_line_shows_that_it_is_over():
    assert common.mask_status(True, 1, 10, common.ACCURACY_SLACK + 0.04) == "costs 1.04 pts"


def test_the_verdict_names_its_parts_and_the_line_is_page_04s():
    status = common.judge_mask(True, BUDGET, BUDGET, 5.4)
    assert (status.settled, status.at_budget, status.costly, status.converged) == (True, True, True, False)
    assert status.cost_points == 5.4 and status.slack == common.ACCURACY_SLACK
    with pytest.raises(Exception):
        status.at_budget = False  # frozen
    # one line for the book: page 04's rule and page 16's verdict read the same constant
    assert dataset_masks.ACCURACY_SLACK is common.ACCURACY_SLACK
    assert any_network.ACCURACY_SLACK is common.ACCURACY_SLACK
    assert common.held_out_cost(90.0, 84.6) == pytest.approx(5.4) and common.held_out_cost(None, 80.0) is None


def test_the_words_for_prose():
    assert common.settle_words(True, 300, BUDGET) == ""
    assert common.settle_words(True, BUDGET, BUDGET) == "settled only at the budget's last window"
    assert common.settle_words(False, BUDGET, BUDGET) == "not converged"


def test_status_counts_for_a_set_of_masks():
    statuses = [common.judge_mask(True, 100, BUDGET, 0.0), common.judge_mask(True, BUDGET, BUDGET, 0.0),
                common.judge_mask(True, 200, BUDGET, 30.0)]
    assert common.status_counts(statuses) == "1/3 converged; 1 at budget; 1 cost > 1 pts"
    assert common.status_counts(statuses[:1]) == "1/1 converged"


def _result(converged, steps, budget=BUDGET):
    return MaskResult(masks=np.zeros((1, 4, 4), np.float32), steps=np.array([steps]), kept=np.array([True]),
                      converged=np.array([converged]), settings={"max_steps": budget})


def test_the_unconverged_note_names_a_mask_that_settled_only_at_the_budget():
    assert common.unconverged_note({"a": _result(True, 300)}) == ""
    note = common.unconverged_note({"a": _result(True, 300), "rho_H 0.75": _result(True, BUDGET),
                                    "b": _result(False, BUDGET)})
    assert note.startswith("**Not converged within the budget:**")
    assert "rho_H 0.75 (settled only at the budget's last window" in note and "b (still moving" in note
    assert "a " not in note.replace("**", "")[:40]
    assert common.result_status(_result(True, BUDGET)).label == "at budget"


# ------------------------------------------------------------------ page 04 (and 11)
def _shown(rows, columns, index="row"):
    return tables.frame(rows, index, columns)


def test_the_schedule_table_shows_the_status():
    row = {"converged": True, "steps": 300, "budget": BUDGET, "held-out accuracy change, points": 0.0}
    comparison = {"one_cycle": {"late": dict(row, steps=BUDGET), "costly": dict(row, **{
        "held-out accuracy change, points": -5.4}), "fine": row}}
    table = _shown(mask_tables.schedule_rows(comparison), mask_tables.SCHEDULE_COLUMNS)
    assert table["mask status"].tolist() == ["at budget", "costs 5.4 pts", "converged"]
    assert list(table.index) == ["one_cycle, late", "one_cycle, costly", "one_cycle, fine"]
    assert "converged" not in table.columns  # no bare yes/no beside it


def test_the_schedule_prose_does_not_count_a_mask_at_the_budget_as_converged():
    row = {"converged": True, "steps": 300, "budget": BUDGET, "held-out accuracy change, points": 0.0}
    comparison = {"constant": {"a": row, "b": row}, "one_cycle": {"a": row, "b": dict(row, steps=BUDGET)}}
    text = dataset_masks.schedule_prose(comparison, get_profile("quick"))
    assert "under the one-cycle schedule 1 of 2 masks converge (b settled only at the budget's last window)" in text
    assert "under the constant schedule 2 of 2 masks converge," in text


def test_the_objective_table_shows_the_status_of_its_four_masks():
    row = {"converged": "4/4", "all converged": True, "median steps": 300, "most steps": 400, "budget": BUDGET,
           "mask mean": 0.3, "seed correlation (min)": 0.9, "halves correlation": 0.9, "held-out loss change": 0.0,
           "held-out accuracy change, points": -0.5}
    rows = {"fine": row, "late": dict(row, **{"most steps": BUDGET}),
            "costly": dict(row, **{"held-out accuracy change, points": -2.0}),
            "moving": dict(row, **{"converged": "3/4", "all converged": False})}
    table = _shown(mask_tables.comparison_rows(rows), mask_tables.COMPARISON_COLUMNS)
    assert table["status"].tolist() == ["converged", "at budget", "costs 2.0 pts", "at budget"]
    assert table["settled"].tolist() == ["4/4", "4/4", "4/4", "3/4"]  # the rule's count, under its own name


def test_the_truth_table_takes_the_cost_from_the_objective_comparison():
    row = {"L-bias": 0.3, "mean on L bins": 0.5, "mean on H bins": 0.5, "mean elsewhere": 0.1, "L-share": 0.5,
           "converged": True, "steps": 300, "budget": BUDGET}
    truth = {"dataset_mean": {"vanilla": row, "adversarial": dict(row, steps=BUDGET)}}
    comparison = {"dataset_mean": {"vanilla": {"held-out accuracy change, points": -3.0},
                                   "adversarial": {"held-out accuracy change, points": 0.0}}}
    table = _shown(mask_tables.truth_rows(truth, comparison), mask_tables.TRUTH_COLUMNS)
    assert table["mask status"].tolist() == ["costs 3.0 pts", "at budget"]
    assert _shown(mask_tables.truth_rows(truth), mask_tables.TRUTH_COLUMNS)["mask status"].tolist() == \
        ["converged", "at budget"]  # without the comparison, the budget alone
    assert "settled only at the budget's last window" in dataset_masks.uses_or_sensitivity_prose(
        {"dataset_mean": {"vanilla": dict(row, steps=BUDGET)}})


def test_the_lr_sweep_flags_a_rate_that_settled_at_the_budget():
    sweep = {"vanilla": {"lr": [0.01, 0.02], "steps": [BUDGET, 175], "converged": [True, True], "budget": BUDGET,
                         "schedule": "one_cycle"}}
    assert f"{BUDGET} steps at 0.01 (settled only at the budget's last window), 175 steps at 0.02." in \
        dataset_masks.lr_sweep_prose(sweep, 0.02)
    assert mask_learning._converged([True, True, False], [175, BUDGET, 300], BUDGET).tolist() == [True, False, False]


# ------------------------------------------------------------------ pages 10 and 14
def _network_row(steps=300, masked=89.5, converged=True):
    return {"clean, %": 90.0, "masked, %": masked, "mask steps": steps, "mask budget": BUDGET,
            "mask converged": converged, "L-share": 0.5, "L-bias": 0.5}


def test_the_cue_table_flags_the_rho_h_mask_at_its_budget():
    rows = {"vanilla": _network_row(), "vanilla, rho_H 0.75": _network_row(steps=BUDGET, masked=84.6)}
    table = _shown(mask_tables.with_mask_status(rows), mask_tables.CUE_MASK_COLUMNS, "condition")
    assert table["mask status"].tolist() == ["converged", "at budget; costs 5.4 pts"]
    assert "converged" not in table.columns


def test_the_answer_names_a_mask_that_settled_at_the_budget():
    rows = {"vanilla": _network_row(), "adversarial": _network_row(steps=BUDGET)}
    question = {"rows": rows, "rank correlation (L-bias, L-share)": 1.0, "conditions": 2,
                "mean |L-bias - L-share|": 0.0}
    assert "**Not converged** within the budget: the masks of adversarial" in cue_question.answer_prose(question)
    rows["adversarial"]["mask steps"] = 300
    assert "Not converged" not in cue_question.answer_prose(question)


def test_the_ablation_prose_does_not_call_a_mask_at_its_budget_converged():
    row = {"Δ loss, L removed": 1.5, "Δ loss, H removed": 0.01, "Δ acc., L removed, pts": -60.0,
           "Δ acc., H removed, pts": 0.0, "use share": 0.99, "L-share": 0.5, "mask on L bins": 0.8,
           "mask on H bins": 0.8, "mask converged": True, "mask steps": BUDGET, "mask budget": BUDGET,
           "Δ acc. through the mask, pts": -4.0, "Δ acc., L removed inside the mask, pts": -40.0,
           "Δ acc., H removed inside the mask, pts": -35.0}
    ablation = {"rows": {"net A": row}, "rank correlation (use share, L-share)": 0.5, "mean |use share - L-share|": 0.2}
    question = {"rank correlation (L-bias, L-share)": 0.6, "mean |L-bias - L-share|": 0.3}
    assert "(the mask did not converge within the budget" in cue_question.cue_ablation_prose(ablation, question)
    row["mask steps"] = 300
    assert "(the mask converged and" in cue_question.cue_ablation_prose(ablation, question)


def test_the_lambda_path_table_counts_statuses():
    path = {"lams": [0.2, 1.0, 5.0], "converged": [True, True, False], "steps": [200, BUDGET, BUDGET],
            "budget": [BUDGET] * 3, "masked, %": [90.0, 89.5, 60.0], "clean, %": 90.0, "L-bias": 0.4,
            "behaviour follows": "H", "sparsest accurate lambda": 1.0, "kept more": "H", "agrees": True,
            "given up last": "H", "agrees (half rule)": True}
    table = _shown(mask_tables.lambda_path_rows({"vanilla": path}), None, "condition")
    assert table["mask status"].tolist() == ["1/3 converged; 2 at budget; 1 cost > 1 pts"]
    text = cue_question.lambda_path_prose({"vanilla": dict(path, converged=[True, True, True])})
    assert "Not every mask of the path converged within the budget for vanilla" in text  # the one at 600 steps
    assert mask_learning._converged(path["converged"], path["steps"], path["budget"]).tolist() == [True, False, False]


def test_the_architecture_table_flags_a_costly_resnet_mask():
    results = {"VGG11": {"rows": {"vanilla": _network_row()}},
               "ResNet18": {"rows": {"vanilla": _network_row(masked=77.6)}}}
    table = _shown(mask_tables.architecture_rows(results), mask_tables.ARCHITECTURE_COLUMNS, "network")
    assert table["mask status"].tolist() == ["converged", "costs 12.4 pts"]
    assert "mask converged" not in table.columns


# ------------------------------------------------------------------ page 15
def _part_row():
    row = {"clean, %": 90.0}
    for part, steps, masked in (("both", 300, 89.8), ("amplitude", BUDGET, 89.8), ("phase", 300, 70.0)):
        row.update({f"{part}: AUROC H": 0.9, f"{part}: mask mean": 0.3, f"{part}: L-share": 0.5,
                    f"{part}: masked, %": masked, f"{part}: mask steps": steps, f"{part}: mask budget": BUDGET,
                    f"{part}: converged": True})
    return row


def test_the_amplitude_and_phase_tables_show_each_parts_status():
    known = _shown(mask_tables.part_rows(_part_row()), mask_tables.PART_COLUMNS, "mask acts on")
    assert known["mask status"].tolist() == ["converged", "at budget", "costs 20.0 pts"]
    regimes = _shown({"vanilla": mask_tables.with_part_status(_part_row())}, mask_tables.REGIME_PART_COLUMNS,
                     "network")
    assert regimes["amplitude: status"].tolist() == ["at budget"] and regimes["phase: status"].tolist() == [
        "costs 20.0 pts"]


# ------------------------------------------------------------------ real images, explorer, page 12, page 16
def test_the_real_image_count_names_masks_at_budget_or_costly():
    run = {"low share": 0.2, "low preference": 10.0, "mask converged": True, "mask steps": 300,
           "mask budget": BUDGET, "clean, %": 90.0, "masked, %": 89.9}
    values = {"networks": {"vanilla": {"31": run, "32": dict(run, **{"mask steps": BUDGET})},
                           "adversarial": {"31": dict(run, **{"masked, %": 85.0})}}}
    assert real_notes.convergence_count(values) == (
        "1 of the 3 dataset masks converged; not: vanilla (seed 32; at budget), adversarial (seed 31; costs 5.0 pts).")


def test_the_explorer_caption_says_a_mask_settled_only_at_its_budget():
    view = {"condition": "vanilla", "objective": "dataset_mean", "lambda": 0.2, "shares": {},
            "mask": np.full((4, 4), 0.5), "converged": True, "steps": BUDGET, "budget": BUDGET}
    assert explorer.caption(view).endswith(f"(settled only at the budget's last window: {BUDGET} steps)")
    assert explorer.caption(dict(view, steps=300)).endswith("mask mean 0.500")


def test_the_path_convergence_note_does_not_call_a_row_at_its_budget_converged():
    from fm_core.methods import peers
    from fm_core.pages import peer_methods

    settings = {"lams": [0.02, 0.2], "row_converged": [True, True], "row_steps": [BUDGET, 200], "max_steps": BUDGET}
    fmap = peers.FrequencyMap(np.zeros((4, 4)), "mask", {}, settings, extra={"masks": np.zeros((2, 4, 4))})
    note = peer_methods.path_convergence_note({"networks": {"rotate": {"maps": {"mask": fmap}}}})
    assert note.startswith("**Not converged within the budget:**") and "Every row" not in note


def test_page_16_words_for_a_mask_at_its_budget():
    assert any_network.convergence_words(_result(True, 300)) == "converged"
    assert any_network.convergence_words(_result(True, BUDGET)).startswith("settled only at the budget's last window")
    assert any_network.convergence_words(_result(False, BUDGET)) == "not converged within the budget"


def test_the_masks_note_flags_a_settled_mask_that_costs_held_out_accuracy():
    results = {"vanilla": _result(True, 300), "adversarial": _result(True, 200)}
    assert common.masks_note(results, {"vanilla": 0.5, "adversarial": 0.0}).startswith("All 2 dataset masks converged")
    note = common.masks_note(results, {"vanilla": 7.57, "adversarial": 0.2})
    assert "**Costly:** 1 of the 2" in note and "vanilla 7.6 points" in note and "All 2" not in note
    late = common.masks_note({**results, "rotate": _result(True, BUDGET)}, {"rotate": 3.0})
    assert "Not converged within the budget" in late and "rotate 3.0 points" in late

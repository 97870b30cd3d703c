"""The truth-free choice of the dataset-mask objective, the lambda path's read-out and the
flags for unconverged masks: pure functions on made-up numbers (the book computes the
real ones)."""
import numpy as np

from fm_core.pages import common, cue_conditions, cue_question, dataset_masks, stability
from fm_core.masks.result import MaskResult
from fm_core.profiles import get_profile


def _row(converged=True, seed=0.95, halves=0.9, accuracy=0.0):
    return {"all converged": converged, "seed correlation (min)": seed, "halves correlation": halves,
            "held-out accuracy change, points": accuracy}


def test_the_rule_takes_the_most_stable_objective_that_converges_and_keeps_accuracy():
    comparison = {
        "batch_mean": {"vanilla": _row(seed=0.98, halves=0.88), "adversarial": _row(seed=0.97, halves=0.96)},
        "per_image": {"vanilla": _row(converged=False, seed=0.99, halves=0.99),
                      "adversarial": _row(seed=0.99, halves=0.99)},
        "kl": {"vanilla": _row(seed=0.9, halves=0.5), "adversarial": _row(seed=0.99, halves=0.99)},
    }
    choice = dataset_masks.choose_objective(comparison)
    # per_image is the most stable but did not converge everywhere: not qualified
    assert choice["qualified"] == ["batch_mean", "kl"] and choice["objective"] == "batch_mean"
    assert choice["stability"] == {"batch_mean": 0.88, "per_image": 0.99, "kl": 0.5}
    # costing held-out accuracy disqualifies too
    comparison["batch_mean"]["vanilla"]["held-out accuracy change, points"] = -3.0
    assert dataset_masks.choose_objective(comparison)["objective"] == "kl"
    prose = dataset_masks.choice_prose(comparison, "batch_mean")
    assert "**`kl`**" in prose and "disagrees" in prose


def test_objective_scores_within_resampling_noise_are_a_tie_broken_in_advance():
    """The reader's machine picked batch_mean where this one picks dataset_mean: scores that
    close are a tie, and the tie-break (fixed before any mask) decides on every machine."""
    comparison = {"dataset_mean": {"vanilla": _row(seed=0.90, halves=0.93), "adversarial": _row(seed=0.95, halves=0.95)},
                  "batch_mean": {"vanilla": _row(seed=0.92, halves=0.95), "adversarial": _row(seed=0.94, halves=0.98)}}
    choice = dataset_masks.choose_objective(comparison)
    # 0.92 against 0.90, within batch_mean's own seed-halves gap of 0.04: a tie
    assert choice["tie"] and choice["near"] == ["dataset_mean", "batch_mean"] and choice["margin"] == 0.04
    assert choice["objective"] == dataset_masks.TIE_BREAK_OBJECTIVE == "dataset_mean"
    prose = dataset_masks.choice_prose(comparison, "dataset_mean")
    assert "a **tie**, broken for `dataset_mean`" in prose and "It is this profile's setting." in prose
    # beyond the margin the higher score wins, tie or not
    comparison["batch_mean"]["vanilla"].update({"seed correlation (min)": 0.99, "halves correlation": 0.99})
    comparison["batch_mean"]["adversarial"].update({"seed correlation (min)": 0.99, "halves correlation": 0.99})
    comparison["dataset_mean"]["vanilla"].update({"seed correlation (min)": 0.80, "halves correlation": 0.81})
    choice = dataset_masks.choose_objective(comparison)
    assert not choice["tie"] and choice["objective"] == "batch_mean"
    assert "disagrees" in dataset_masks.choice_prose(comparison, "dataset_mean")


def test_mask_correlation_uses_the_symmetric_part():
    rng = np.random.default_rng(0)
    m = rng.uniform(size=(6, 6))
    mirrored = np.roll(np.flip(m, (0, 1)), 1, (0, 1))  # M(-k): the same filter on real images
    assert dataset_masks.mask_correlation(m, mirrored) > 0.999
    assert np.isnan(dataset_masks.mask_correlation(m, np.ones((6, 6))))


def _result(converged):
    return MaskResult(masks=np.zeros((1, 4, 4), np.float32), steps=np.array([10]), kept=np.array([True]),
                      converged=np.array([converged]))


def test_unconverged_masks_are_named():
    assert common.unconverged_note({"a": _result(True)}) == ""
    note = common.unconverged_note({"a": _result(True), "b, rho 0.9": _result(False)})
    assert "Not converged" in note and "b, rho 0.9" in note and "a;" not in note
    assert not _result(False).all_converged and _result(True).all_converged


def test_settings_prose_follows_the_profile():
    quick, paper = (dataset_masks.settings_prose(get_profile(p)) for p in ("quick", "paper"))
    assert "data set's mean loss" in quick and "600 optimiser steps" in quick and "falls back" not in quick
    assert "each image's loss" in paper and "100 passes" in paper and "falls back" in paper


def test_lr_sweep_prose_names_the_fastest_rate():
    sweep = {"vanilla": {"lr": [0.01, 0.02, 0.05], "steps": [300, 175, 600], "converged": [True, True, False],
                         "budget": 600, "schedule": "one_cycle"},
             "adversarial": {"lr": [0.01, 0.02, 0.05], "steps": [200, 150, 100], "converged": [True, True, True],
                             "budget": 600, "schedule": "one_cycle"}}
    text = dataset_masks.lr_sweep_prose(sweep, 0.02, window=25)
    assert text.startswith("Budget 600 steps per rate (the one-cycle schedule runs over it).")
    assert "smallest rate within one convergence window (25 steps" in text and "is 0.02 (175 steps); this " \
        "profile uses it" in text and "(not converged)" in text
    assert "this profile uses 0.05" in dataset_masks.lr_sweep_prose(sweep, 0.05)
    # within one window of the soonest (175 + 25), the smallest rate wins
    sweep["vanilla"]["steps"] = [200, 175, 600]
    assert dataset_masks.choose_lr(sweep, 25)[0] == 0.01 and dataset_masks.choose_lr(sweep, 10)[0] == 0.02


def test_the_path_read_outs():
    lams = [0.2, 1.0, 5.0]
    assert cue_question._last_lambda_above_half(lams, [0.9, 0.7, 0.2]) == 1.0
    assert cue_question._last_lambda_above_half(lams, [0.4, 0.3, 0.2]) == 0.0
    assert cue_question._given_up_last(lams, [0.9, 0.7, 0.2], [0.9, 0.4, 0.1]) == "L"
    assert cue_question._given_up_last(lams, [0.5, 0.5, 0.5], [0.4, 0.3, 0.2]) == "neither kept"
    row = dict(converged=[True] * 3, **{"agrees (half rule)": False})
    paths = {"net A": dict(row, agrees=True, **{"kept more": "L", "L-bias": 0.9, "sparsest accurate lambda": 5.0}),
             "net B": dict(row, agrees=False, converged=[True, False, True],
                           **{"kept more": "H", "L-bias": 0.7, "sparsest accurate lambda": 1.0}),
             "net C": dict(row, agrees=False, **{"kept more": "none accurate", "L-bias": 0.99,
                                                 "sparsest accurate lambda": None})}
    text = cue_question.lambda_path_prose(paths)
    assert "**1 of 3**" in text and "agrees for 0 of 3" in text
    assert "other way for net B (keeps more H at lambda 1, L-bias 0.70)" in text
    assert "accuracy for net C" in text and "converged within the budget for net B" in text


def test_agreement_of_bias_and_share():
    rows = {"a": {"L-bias": 0.0, "L-share": 0.1}, "b": {"L-bias": 0.5, "L-share": 0.4},
            "c": {"L-bias": 1.0, "L-share": 0.9}}
    got = cue_conditions.agreement(rows)
    assert got["rank correlation"] == 1.0 and abs(got["mean |L-bias - L-share|"] - 0.1) < 1e-9


def test_repeat_prose_says_whether_masks_repeat():
    rows = {"vanilla": {"seed correlation (min)": 0.95, "halves correlation": 0.9}}
    assert stability.judge_repeat(rows).repeats and "the mask repeats" in stability.repeat_prose(rows)
    rows["vanilla"]["seed correlation (min)"] = 0.5
    assert not stability.judge_repeat(rows).repeats
    text = stability.repeat_prose(rows, {"vanilla": {"mask correlation between seeds": {"mean": 0.2}}})
    assert "does not repeat" in text and "vanilla 0.20 on average" in text


def test_cue_ablation_prose_names_a_mask_that_keeps_an_unneeded_cue():
    row = {"Δ loss, L removed": 1.5, "Δ loss, H removed": 0.01, "Δ acc., L removed, pts": -60.0,
           "Δ acc., H removed, pts": 0.0, "use share": 0.99, "L-share": 0.5, "mask on L bins": 0.8,
           "mask on H bins": 0.8, "mask converged": False, "Δ acc. through the mask, pts": -4.0,
           "Δ acc., L removed inside the mask, pts": -40.0, "Δ acc., H removed inside the mask, pts": -35.0}
    ablation = {"rows": {"net A": row, "net B": dict(row, **{"mask on H bins": 0.0, "L-share": 1.0})},
                "rank correlation (use share, L-share)": 0.5, "mean |use share - L-share|": 0.25}
    question = {"rank correlation (L-bias, L-share)": 0.6, "mean |L-bias - L-share|": 0.3}
    text = cue_question.cue_ablation_prose(ablation, question)
    assert "rho 0.50 and a mean gap of 0.250 (against the L-bias: 0.60 and 0.300)" in text
    assert "the mask of net A keeps 0.80 of the H bins" in text and "did not converge" in text
    assert "net B" not in text
    # inside the mask the H bins are needed: the prose says the mask answers another question
    assert "removing the H bins inside the mask changes the held-out accuracy by -35.0 points, against +0.0" in text
    assert "leans on both cues" in text
    row["Δ acc., H removed inside the mask, pts"] = -0.2
    assert "the sparsity term had not removed them" in cue_question.cue_ablation_prose(ablation, question)
    ablation["rows"].pop("net A")
    assert "No mask keeps" in cue_question.cue_ablation_prose(ablation, question)


def test_schedule_rule_prefers_convergence_then_fewer_steps():
    row = {"converged": True, "steps": 200, "held-out accuracy change, points": 0.0}
    comparison = {"constant": {"a": row, "b": dict(row, converged=False, steps=600)},
                  "one_cycle": {"a": dict(row, steps=300), "b": dict(row, steps=400,
                                                                     **{"held-out accuracy change, points": -1.5})}}
    assert dataset_masks.choose_schedule(comparison) == "one_cycle"
    cfg = get_profile("quick")  # budget 600 steps, windows of 25, patience 2
    text = dataset_masks.schedule_prose(comparison, cfg.replace(dmask_schedule="one_cycle"))
    assert "under the constant schedule 1 of 2 masks converge (b still moving at the budget)" in text
    assert "largest held-out accuracy cost 1.5 points" in text and "picks **one-cycle**, this profile's" in text
    comparison["constant"]["b"]["converged"] = True
    # both converge everywhere: the fewer steps win (800 against 700 for one-cycle)
    assert dataset_masks.choose_schedule(comparison) == "one_cycle"
    comparison["constant"]["b"]["steps"] = 300
    assert dataset_masks.choose_schedule(comparison) == "constant"
    assert "against the rule" in dataset_masks.schedule_prose(comparison, cfg.replace(dmask_schedule="one_cycle"))
    assert "caveat" not in text
    # a one-cycle mask declared settled in the budget's last two windows settled because the rate fell
    comparison["one_cycle"]["b"]["steps"] = 575
    assert dataset_masks.settled_at_the_end(comparison["one_cycle"], cfg) == ["b"]
    assert "1 mask(s) (b) settled only in its last 2 windows" in dataset_masks.schedule_prose(comparison, cfg)
    assert "lead in convergence rests on its rate running out" not in dataset_masks.schedule_prose(comparison, cfg)
    comparison["constant"]["b"]["converged"] = False  # the late one-cycle mask is the one constant left moving
    assert "lead in convergence rests on its rate running out" in dataset_masks.schedule_prose(comparison, cfg)


def test_schedule_totals_within_a_window_per_network_are_a_tie_broken_for_the_papers_schedule():
    row = {"converged": True, "held-out accuracy change, points": 0.0}
    steps = {"one_cycle": (175, 175, 400, 250, 300), "constant": (150, 175, 400, 250, 300)}  # 1,300 and 1,275
    comparison = {s: {f"n{i}": dict(row, steps=v) for i, v in enumerate(vals)} for s, vals in steps.items()}
    choice = dataset_masks.judge_schedule(comparison, window=25)
    assert (choice.tie, choice.pick, choice.margin_steps) == (True, "one_cycle", 125)
    assert choice.steps == {"one_cycle": 1300, "constant": 1275} and choice.tie_break == "one_cycle"
    assert dataset_masks.choose_schedule(comparison) == "constant"  # no margin: the fewer steps
    text = dataset_masks.schedule_prose(comparison, get_profile("quick").replace(dmask_schedule="one_cycle"))
    assert "finds a **tie** (1,300 against 1,275 steps)" in text and "this profile's schedule" in text
    # beyond the margin the fewer steps win, and a profile on the other schedule is said to be against the rule
    comparison["one_cycle"]["n2"]["steps"] = 550
    choice = dataset_masks.judge_schedule(comparison, window=25)
    assert (choice.tie, choice.pick) == (False, "constant")
    # more masks converged wins before any count of steps, tie or not
    comparison["constant"]["n0"]["converged"] = False
    assert dataset_masks.judge_schedule(comparison, window=25).pick == "one_cycle"
    # the paper profile counts convergence in epochs, not windows: no margin, and none named
    paper_text = dataset_masks.schedule_prose(comparison, get_profile("paper"))
    assert "being a tie" not in paper_text and "**tie**" not in paper_text
    # a mask whose rule fired only as its budget ran out is not converged here either (judge_mask)
    comparison["constant"]["n0"]["converged"] = True
    comparison["one_cycle"]["n1"].update(steps=600, budget=600)
    choice = dataset_masks.judge_schedule(comparison, window=25)
    assert choice.converged == {"one_cycle": 4, "constant": 5} and choice.pick == "constant"

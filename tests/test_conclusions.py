"""The conclusions page (fm_core.pages.conclusions, fm_core.book.conclusions_notes): each
answer is the cited pages' own verdict on their stored numbers, its evidence links point
at headings that exist, and the words follow the fields. Crafted results, stored in the
test's own temporary store."""
from __future__ import annotations

import dataclasses
import math

import nbformat
import pytest

from fm_core.book import conclusions_notes as notes
from fm_core.pages import conclusions as c
from fm_core.pages import cue_question
from fm_core.paths import REPO_ROOT
from fm_core.profiles import get_profile
from fm_core.store import pipeline

BOOK = REPO_ROOT / "book"


def _headings(stem: str) -> set[str]:
    cells = nbformat.read(BOOK / f"{stem}.ipynb", 4).cells
    return {line.lstrip("#").strip() for cell in cells if cell.cell_type == "markdown"
            for line in cell.source.splitlines() if line.startswith("#")}


def test_every_evidence_link_names_a_page_and_a_heading_that_exist():
    for question, sources in c.EVIDENCE.items():
        for stem, section in sources:
            assert (BOOK / f"{stem}.ipynb").is_file(), f"{question}: no page {stem}"
            assert not section or section in _headings(stem), f"{question}: {stem} has no heading {section!r}"
    with pytest.raises(AssertionError):  # the check can fail
        assert "No such heading" in _headings("10_cue_question")


def test_direction_over_seeds():
    assert c.direction([True, True, True]) == "yes"
    assert c.direction([False, False]) == "no"
    assert c.direction([True, False, True]) == "mixed"
    assert c.direction([]) == "no"


def _robust_low(behaviour_gap, mask_gap):
    return {"real_images_masks": {"verdict": {"robust_low": {
        "behaviour_gap": behaviour_gap, "by_behaviour": [g > 0 for g in behaviour_gap],
        "mask_gap": mask_gap, "by_mask": [g > 0 for g in mask_gap]}}}}


def _cues(van_bias=0.1, adv_bias=0.9, van_share=0.2, adv_share=0.8, extra=None):
    rows = {"vanilla": (van_bias, van_share), "adversarial": (adv_bias, adv_share), **(extra or {})}
    flat = {f"{n}.{k}": v for n, (b, s) in rows.items() for k, v in (("L-bias", b), ("L-share", s))}
    return {**flat, "rank_correlation": 0.8, "mean_abs_gap": 0.2}


def test_robust_low_reads_each_seed_and_the_cue_world():
    a = c.judge_robust_low(_robust_low([2.0, 3.0, 1.0], [0.1, 0.2, 0.05]), _cues())
    assert (a.real_seeds, a.real_by_behaviour, a.real_by_mask) == (3, "yes", "yes")
    assert a.real_behaviour_gap[0] == pytest.approx(2.0) and a.real_behaviour_gap[1] == pytest.approx(1.0)
    assert a.cue_by_behaviour == "yes" and a.cue_bias_gap == pytest.approx(0.8)
    assert "Yes on these real images" in notes.robust_low_answer(a)
    assert "1 time in 8" in notes.robust_low_answer(a) and "within one seed SD" not in notes.robust_low_answer(a)
    noisy = c.judge_robust_low(_robust_low([20.0, 1.0, 0.5], [0.1, 0.2, 0.05]), _cues())
    assert "the behaviour gap's mean (+7.2 points) lies within one seed SD (11.1) of zero" in \
        notes.robust_low_answer(noisy)

    mixed = c.judge_robust_low(_robust_low([2.0, -3.0, 1.0], [-0.1, -0.2, -0.05]), _cues(adv_bias=0.2))
    assert (mixed.real_by_behaviour, mixed.real_by_mask) == ("mixed", "no")
    assert mixed.cue_by_behaviour == "no"  # 0.1 apart, under page 10's BIAS_SHIFT
    assert "Not settled" in notes.robust_low_answer(mixed)

    # with sampling errors stored: the lines reach the answer, its prose and the figure's takeaway
    stored = _robust_low([20.0, 1.0, 0.5], [0.1, 0.2, 0.05])
    stored["real_images_masks"]["verdict"]["robust_low"].update(
        by_behaviour=[True, False, False], behaviour_se=[3.0, 2.5, 2.0], behaviour_within_noise=[False, True, True])
    noisy = c.judge_robust_low(stored, _cues())
    assert noisy.real_by_behaviour == "mixed" and noisy.real_behaviour_lines == pytest.approx((6.0, 5.0, 4.0))
    assert noisy.real_behaviour_within_noise == 2
    assert "2 of the 3 gaps lie within theirs" in notes.robust_low_prose(noisy, "fashion-mnist")
    assert "2 of the 3 behaviour bars lie within theirs" in notes.robust_low_takeaway(noisy)
    assert "whiskers" not in notes.robust_low_takeaway(a)
    stored["real_images_masks"]["verdict"]["robust_low"].update(
        by_mask=[True, True, False], mask_se=0.03, mask_within_noise=[False, False, True])
    masked = c.judge_robust_low(stored, _cues())
    assert masked.real_by_mask == "mixed" and masked.real_mask_line == pytest.approx(0.06)
    assert "1 of the 3 gaps lies within it" in notes.robust_low_prose(masked, "fashion-mnist")
    assert "(0.060: masks learned on the other half" in notes.robust_low_prose(masked, "fashion-mnist")
    assert "1 of the 3 mask bars lies within it" in notes.robust_low_takeaway(masked)
    assert "mask bars" not in notes.robust_low_takeaway(noisy)

    none = c.judge_robust_low({}, {})
    assert none.real_seeds == 0 and none.real_by_behaviour == "not built" and not none.cue_built
    assert "not built" in notes.robust_low_prose(none, "fashion-mnist")


def test_the_cue_answer_is_page_10s_own_verdict_with_the_spread():
    cues = _cues(van_bias=0.3, adv_bias=0.75)
    spread = {"sd": {"cues.adversarial.L-bias": 0.1, "cues.vanilla.L-bias": 0.1}}
    rows = {n: {"L-bias": cues[f"{n}.L-bias"], "L-share": cues[f"{n}.L-share"]} for n in ("vanilla", "adversarial")}
    for sp in (None, spread):
        page10 = cue_question.judge_answer({"rows": rows}, sp)
        a = c.judge_robust_low({}, cues, sp)
        assert a.cue_by_behaviour == c.word(page10.behaviour_moved) and a.cue_bias_gap_sd == page10.bias_gap_sd
    # a gap of 0.45 against the line 0.4 with a seed SD of 0.14: within the spread
    assert c.judge_robust_low({}, cues, spread).cue_by_behaviour == "within seed spread"


def test_masks_read_names_the_conditions_where_masks_and_behaviour_part():
    cues = _cues(extra={"vanilla, rho_H 0.75": (0.2, 0.9)})
    real = {"real_images_masks": {"verdict": {"mask_behaviour": {
        "rho_mean": 0.9, "rho_sd": 0.1, "line": 2 / 3, "agree": True}}}}
    a = c.judge_masks_read(real, cues, {"rank_correlation": 0.9, "mean_abs_gap": 0.1},
                           {"VGG11.vanilla.L-bias": 0.1, "ResNet18.vanilla.L-bias": 0.2,
                            "verdict": {"masks_follow": ["VGG11"]}})
    assert a.cue_disagree == ("vanilla, rho_H 0.75",) and len(a.cue_agree) == 2 and a.cue_conditions == 3
    assert a.closer_to == "use" and a.real_agree is True
    assert a.architectures_followed == ("VGG11",) and a.architectures_compared == ("ResNet18", "VGG11")
    text = notes.masks_read_prose(a)
    assert "vanilla, rho_H 0.75" in text and "for 2 of 3 conditions" in text and "not for ResNet18" in text
    assert "without the positive controls" not in text  # page 10 stored no such rho here
    a = c.judge_masks_read(real, {**cues, "rank_correlation_without_controls": 0.25}, {}, {})
    assert "(0.25 without the positive controls" in notes.masks_read_prose(a)
    closer = c.judge_masks_read({}, cues, {"rank_correlation": 0.5, "mean_abs_gap": 0.4}, {})
    assert closer.closer_to == "conflict" and closer.real_agree is None and closer.architectures_compared == ()


def test_reversal_is_judged_by_its_intervals_and_what_passes_the_masks():
    t2 = {"n": 40, "M(x_A)": 80.0, "random mask, same size (x_A)": 20.0}
    a = c.judge_reversal({"table2": t2, "attack_energy_kept": {"mean": 0.02}}, {})
    assert a.real_holds is True and a.real_attack_passes is False and a.robust_h_tested is None
    assert "by construction" in notes.reversal_prose(a, "fashion-mnist")
    close = c.judge_reversal({"table2": {**t2, "M(x_A)": 30.0}, "attack_energy_kept": {"mean": 0.3}}, {})
    assert close.real_holds is False and close.real_attack_passes is True
    assert "does **not** hold" in notes.reversal_prose(close, "fashion-mnist")


def test_table3_answer():
    t3 = {"true_labels": {"train_mean": 100.0, "test_mean": 60.0, "test_low": 50.0, "test_high": 70.0},
          "shuffled_labels": {"train_mean": 90.0, "test_mean": 20.0, "test_low": 10.0, "test_high": 30.0},
          "p_value": 0.001, "n_masks": 100, "n_folds": 5, "n_permutations": 999, "chance": 20.0, "majority": 20.0,
          "confidence_pct": 95.0}
    a = c.judge_table3({"table3": t3})
    assert a.built and a.carries_class_information and a.p_at_floor
    assert "**carry class information**" in notes.table3_prose(a)
    chance = c.judge_table3({"table3": {**t3, "true_labels": {**t3["true_labels"], "test_mean": 21.0,
                                                              "test_low": 12.0}, "p_value": 0.4}})
    assert chance.carries_class_information is False
    assert not c.judge_table3({}).built


def test_conclusions_read_the_stored_results_of_both_worlds(monkeypatch):
    cfg = get_profile("smoke")
    real_cfg = cfg.replace(data="fashion-mnist")
    monkeypatch.setattr(c, "real_images_cfg", lambda _: real_cfg)  # no data set read for the eps
    pipeline.save_result(cfg, "cues", _cues())
    pipeline.save_result(real_cfg, "real_images_masks",
                         _robust_low([1.0, 2.0, 3.0], [0.1, 0.1, 0.1])["real_images_masks"])
    got = c.conclusions(cfg)
    assert got.real_data == "fashion-mnist" and got.robust_low.real_by_behaviour == "yes"
    assert got.robust_low.cue_by_behaviour == "yes" and not got.table3.built and got.reversal.real_images == 0
    words = notes.conclusions_prose(got)
    assert set(words) == set(c.EVIDENCE) and all("*Evidence:*" in w for w in words.values())
    assert not math.isnan(got.robust_low.real_behaviour_gap[0])


def test_limits_name_costly_real_masks():
    cfg = get_profile("smoke")
    answers = c.Conclusions(robust_low=None, masks_read=None, reversal=None, table3=None, real_data="fashion-mnist",
                            cue_data="synthetic", real_mask_costs={"vanilla": 7.57, "adversarial": 0.5})
    text = notes.limits(cfg, cfg.replace(data="fashion-mnist"), answers)
    assert "1 of 2 networks cost more than" in text and "(7.6; Table 1" in text
    assert "1 held-out point on held-out images" in text and "chosen on the cue world" in text
    assert "cost more than" not in notes.limits(cfg, cfg, None)
    # on the masks' own (fit-half) images, where the paper measures: they fit those and lose on new ones
    fitted = dataclasses.replace(answers, real_mask_fit_costs={"vanilla": 0.4, "adversarial": -0.2})
    text = notes.limits(cfg, cfg.replace(data="fashion-mnist"), fitted)
    assert "the same masks cost 0.4 points: they fit their own images and lose on new ones" in text
    costly_too = dataclasses.replace(answers, real_mask_fit_costs={"vanilla": 3.0})
    assert "cost accuracy on their own images too" in notes.limits(cfg, cfg.replace(data="fashion-mnist"), costly_too)


def test_the_masks_note_says_what_costly_masks_cost_on_their_own_images():
    from fm_core.pages import common
    note = common.masks_note({}, {"vanilla": 7.57, "adversarial": 0.5}, {"vanilla": -1.0, "adversarial": 0.0})
    assert "vanilla 7.6 points" in note and "the same masks cost -1.0 points" in note
    assert "lose on new ones" in note and "own images" not in common.masks_note({}, {"vanilla": 7.57})


def test_the_answers_are_rendered_as_myst_so_their_evidence_links_resolve():
    # myst-nb renders a Markdown output as plain CommonMark unless the cell asks for MyST;
    # then "[page 04](04_dataset_masks.ipynb)" stays a dead link to a .ipynb in the HTML
    cells = nbformat.read(BOOK / "17_conclusions.ipynb", 4).cells
    prose = [cell for cell in cells if cell.cell_type == "code" and "display(Markdown(" in cell.source]
    assert len(prose) == 6
    assert all(cell.metadata.get("mystnb", {}).get("markdown_format") == "myst" for cell in prose)


def test_the_per_seed_figure_and_its_takeaway():
    from fm_core.book import figures

    a = c.judge_robust_low({"real_images_masks": {**_robust_low([2.0, -3.0, 1.0], [0.1, 0.2, -0.05])["real_images_masks"],
                                                  "inputs": {"seeds": [31, 1031, 2031]}}}, {})
    assert a.real_seed_names == ("31", "1031", "2031") and a.real_behaviour_gaps == (2.0, -3.0, 1.0)
    fig = figures.plot_robust_low_by_seed(a)
    assert [len(ax.patches) for ax in fig.axes] == [3, 3]
    assert "on 2 of 3 seeds, and its mask keeps a larger low share on 2 of 3" in notes.robust_low_takeaway(a)
    assert notes.robust_low_takeaway(c.judge_robust_low({}, {})) == "Not built in this book."

"""The seed spread: builds at other seeds go to stores of their own, tolerances follow
from the measured spread, and README says how far the numbers move."""
from __future__ import annotations

import json
import os

import pytest

from fm_core import cli, store
from fm_core.book import build, headline, seed_spread, seeds
from fm_core.pages import common
from fm_core.errors import UserError


def test_tolerance_is_three_sds_rounded_up_to_the_resolution():
    spread = {"seeds": [31, 1031, 2031], "values": {
        "cues.vanilla.L-share": [0.10, 0.12, 0.14],  # SD 0.02 -> 0.06
        "table1.vanilla.standard": [90.0, 90.0, 90.0],  # no spread: its resolution
        "table2.reversal": [50.0, 52.0, 54.0],  # SD 2 -> 6 points
        "schedules.one_cycle.vanilla.steps": [175, 175, 200]}}  # a count: whole steps, SD 14.4 -> 44
    tol = seed_spread.tolerances_from_spread(spread)
    assert tol == {"cues.vanilla.L-share": 0.06, "table1.vanilla.standard": 0.1, "table2.reversal": 6.0,
                   "schedules.one_cycle.vanilla.steps": 44.0}


def test_compare_uses_the_measured_tolerance_before_the_rules():
    expected = {"values": {"table2.reversal": 52.0, "table1.vanilla.standard": 90.0},
                "tolerances": [["", 5.0]],
                "tolerance per key": {"table2.reversal": 6.0, "table1.vanilla.standard": 0.1}}
    assert headline.compare({"table2.reversal": 57.9, "table1.vanilla.standard": 90.05}, expected) == []
    problems = headline.compare({"table2.reversal": 58.5, "table1.vanilla.standard": 91.0}, expected)
    assert len(problems) == 2 and "+- 6" in problems[0] and "+- 0.1" in problems[1]


def test_readme_sentence_is_made_from_the_spread():
    spread = {"seeds": [31, 1031, 2031], "values": {
        "cues.vanilla.L-share": [0.10, 0.12, 0.14], "cues.adversarial.L-share": [0.9, 0.9, 0.96],
        "table2.reversal": [50.0, 52.0, 54.0], "table1.vanilla.standard": [90.0, 91.0, 92.0],
        "peer_methods.x.mask.forward passes": [7000, 9000, 11000],  # a cost: not summarised
        "peer_methods.x.mask.AUC deletion loss": [1.0, 2.0, 3.0]}}  # a loss: not on the 0-1 scale
    text = headline.spread_sentence(seed_spread.spread_summary(spread))
    assert "seeds 31, 1031, 2031" in text and "4 headline numbers" in text
    assert "median standard deviation of 0.027 on the 0-1 scale (largest 0.035)" in text
    assert "and of 1.50 percentage points (largest 2.00)" in text
    assert "table2.reversal (SD 2)" in text and "passes" not in text and "loss" not in text


def test_a_seed_build_has_its_own_store_and_does_not_touch_the_default(tmp_path, monkeypatch):
    default_root = store.runs_root()
    own = headline.headline_path("smoke")
    own.parent.mkdir(parents=True, exist_ok=True)
    own.write_text(json.dumps({"values": {"table1.vanilla.standard": 80.0, "cues.x.L-share": 0.5}}))
    seen = []

    def fake_build(profile, seed, output_dir, jobs):  # a build saves results in the store it is given
        seen.append((profile, seed, os.environ["FM_RUNS_DIR"], output_dir))
        from fm_core.profiles import get_profile
        from fm_core.store import pipeline

        pipeline.save_result(get_profile(profile, seed=seed), "table1", {"vanilla": {"standard": 80.0 + seed % 7}})
        pipeline.save_result(get_profile(profile, seed=seed), "cues", {"x": {"L-share": 0.5}})

    monkeypatch.setattr(build, "build_book", fake_build)
    path = seeds.measure_spread("smoke", seeds=(31, 1031))
    assert [s[:2] for s in seen] == [("smoke", 1031)]
    assert seen[0][2] == str(seed_spread.seed_store("smoke", 1031)) and str(default_root) in seen[0][2]
    assert os.environ["FM_RUNS_DIR"] == str(default_root)  # restored
    assert json.loads(own.read_text())["values"]["table1.vanilla.standard"] == 80.0  # untouched
    spread = json.loads(path.read_text())
    assert spread["values"]["table1.vanilla.standard"] == [80.0, 80.0 + 1031 % 7]


def test_spread_refuses_bad_seeds_with_one_line(capsys):
    assert cli.main(["spread", "--profile", "smoke", "--seeds", "1,x"]) == 2
    assert "whole numbers" in capsys.readouterr().err
    with pytest.raises(UserError, match="profile's own seed"):
        seeds.measure_spread("smoke", seeds=(5, 6))


def test_expected_file_takes_its_tolerances_from_the_spread(tmp_path):
    own = headline.headline_path("smoke")
    own.parent.mkdir(parents=True, exist_ok=True)
    own.write_text(json.dumps({"values": {"cues.vanilla.L-share": 0.12, "table1.vanilla.standard": 90.0},
                               "made_by": {"profile": {}}}))
    spread = {"seeds": [31, 1031, 2031], "values": {"cues.vanilla.L-share": [0.10, 0.12, 0.14],
                                                     "table1.vanilla.standard": [90.0, float("nan"), 91.0]}}
    seed_spread.spread_path("smoke").write_text(json.dumps(spread))
    expected = json.loads(headline.write_expected("smoke", directory=tmp_path).read_text())
    assert expected["tolerance per key"] == {"cues.vanilla.L-share": 0.06}
    assert expected["seed spread"]["seeds"] == [31, 1031, 2031]
    assert headline.tolerance("table1.vanilla.standard", expected["tolerances"], expected["tolerance per key"]) == 4.0
    assert "0.020 on the 0-1 scale" in headline.spread_sentence(expected["seed spread"])


def test_pages_read_the_seed_sds_from_the_expected_file_and_only_at_the_profiles_settings(tmp_path, monkeypatch):
    from fm_core.book.report import Page
    own = headline.headline_path("smoke")
    own.parent.mkdir(parents=True, exist_ok=True)
    own.write_text(json.dumps({"values": {"table2.M(x_A)": 90.0}, "made_by": {"profile": {}}}))
    seed_spread.spread_path("smoke").write_text(json.dumps({"seeds": [31, 1031],
                                                           "values": {"table2.M(x_A)": [88.0, 92.0]}}))
    headline.write_expected("smoke", directory=tmp_path)
    monkeypatch.setattr(headline, "EXPECTED_DIR", tmp_path)
    spread = headline.seed_spread_of("smoke")
    assert spread["seeds"] == [31, 1031] and abs(spread["sd"]["table2.M(x_A)"] - 2.8284) < 1e-4
    assert Page("t", "smoke", show=False).spread == spread
    assert Page("t", "smoke", settings={"dmask_lam": 0.5}, show=False).spread == {}
    assert headline.seed_spread_of("quick_that_is_not_there") == {}


def test_a_side_is_taken_only_two_seed_sds_beyond_the_line():
    assert seed_spread.scale("robust_h_reversal.table2.M(x_A)") == "percent"
    assert common.side(0.9, 0.4) == 1 and common.side(0.3, 0.4) == -1
    assert common.side(0.9, 0.4, sd=0.2) == 1  # 0.9 - 0.4 >= 0.4
    assert common.side(0.7, 0.4, sd=0.2) == 0
    assert common.side(0.1, 0.4, sd=0.1) == -1 and common.side(0.3, 0.4, sd=0.1) == 0
    assert common.difference_sd({"sd": {"a": 3.0, "b": 4.0}}, "a", "b") == 5.0
    assert common.difference_sd({"sd": {"a": 3.0}}, "a", "b") is None


def test_the_cue_answer_shows_the_seed_sds_it_was_drawn_with():
    """The decisions are judge_answer's (tests/test_verdicts.py); the words show the SDs."""
    from fm_core.pages import cue_question
    rows = {"vanilla": {"L-bias": 0.1, "L-share": 0.2}, "adversarial": {"L-bias": 0.6, "L-share": 0.45}}
    question = {"rows": rows, "rank correlation (L-bias, L-share)": 1.0, "conditions": 2}
    assert "seed SD" not in cue_question.answer_prose(question)
    spread = {"sd": {"cues.adversarial.L-bias": 0.2, "cues.vanilla.L-bias": 0.0, "cues.adversarial.L-share": 0.1,
                     "cues.vanilla.L-share": 0.0, "cues.rank_correlation": 0.05}}
    drawn = cue_question.answer_prose(question, spread)
    assert "seed SD 0.20" in drawn and "(seed SD 0.050)" in drawn


def test_a_refresh_without_a_spread_keeps_the_committed_spread_for_the_keys_still_measured(tmp_path, monkeypatch):
    own = headline.headline_path("smoke")
    own.parent.mkdir(parents=True, exist_ok=True)
    own.write_text(json.dumps({"values": {"cues.vanilla.L-share": 0.2, "new.key": 1.0}, "made_by": {"profile": {}}}))
    committed = tmp_path / "committed"
    committed.mkdir()
    (committed / "smoke.json").write_text(json.dumps({
        "tolerance per key": {"cues.vanilla.L-share": 0.06, "gone.key": 1.0},
        "seed sd per key": {"cues.vanilla.L-share": 0.02, "gone.key": 0.3}, "seed spread": {"seeds": [31, 1031]}}))
    monkeypatch.setattr(headline, "EXPECTED_DIR", committed)
    assert not seed_spread.spread_path("smoke").exists()
    expected = json.loads(headline.write_expected("smoke", directory=tmp_path).read_text())
    assert expected["tolerance per key"] == {"cues.vanilla.L-share": 0.06}
    assert expected["seed sd per key"] == {"cues.vanilla.L-share": 0.02}
    assert expected["seed spread"] == {"seeds": [31, 1031]}

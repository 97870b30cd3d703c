"""The paper's pages on real images (issue 35): which data a page runs on, results of two
data sets that do not overwrite each other, the headline carrying both, and the words of
the real-image sections on crafted verdicts."""
from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest

from fm_core.book import headline, real_notes, seed_spread
from fm_core.book.report import Page
from fm_core.pages import real_images, robust_low
from fm_core.profiles import PAPER_EPS_NORMALISED, get_profile
from fm_core.store import pipeline

STD = 0.3


@pytest.fixture
def fake_std(monkeypatch):
    """Fashion-MNIST's pixel std without reading the data set (the rule is what is tested)."""
    monkeypatch.setattr(real_images.pipeline, "get_dataset", lambda cfg: SimpleNamespace(std=STD))


def test_a_real_page_runs_on_fashion_mnist_with_the_papers_eps_rule(fake_std):
    page = Page("t", "quick", world="real", show=False)
    assert page.cfg.data == "fashion-mnist" and page.cues_cfg.data == "synthetic"
    assert page.cfg.eps_pixel == pytest.approx(PAPER_EPS_NORMALISED * STD)
    assert page.cfg.n_train == get_profile("quick").n_train  # all training images
    assert page.cfg.epochs == real_images.REAL_CHEAPER["quick"]["epochs"]
    assert "real images" in repr(page.header())


def test_a_page_reading_both_worlds_names_both_in_its_header(fake_std):
    """The conclusions page reads the cue world's results and the real images'."""
    page = Page("t", "quick", world="both", show=False)
    assert page.cfg.data == "synthetic" and page.world == "both"
    text = repr(page.header())
    assert "synthetic" in text and "(the cue world)" in text
    assert f"fashion-mnist, 32x32 grayscale" in text and f"{real_images.REAL_CHEAPER['quick']['epochs']} epochs" in text
    assert "(the cue world)" not in repr(Page("t", "quick", show=False).header())


def test_smoke_on_real_images_is_cheaper_and_the_users_data_wins(fake_std):
    smoke = Page("t", "smoke", world="real", show=False).cfg
    for key, value in real_images.REAL_CHEAPER["smoke"].items():
        assert getattr(smoke, key) == value
    assert Page("t", "quick", data="synthetic", world="real", show=False).cfg.data == "synthetic"
    assert Page("t", "quick", show=False).cfg.data == "synthetic"  # the default world: the cues


def test_the_paper_profile_keeps_its_own_data():
    paper = get_profile("paper")
    assert real_images.real_images_cfg(paper) is paper


def test_a_world_that_does_not_exist_is_one_line():
    from fm_core.errors import UserError
    with pytest.raises(UserError, match="world"):
        Page("t", "quick", world="imagined", show=False)


def test_extra_seeds_are_cheaper_the_own_seed_is_not(fake_std):
    cfg = real_images.real_images_cfg(get_profile("quick"))
    own, extra = (real_images.seed_variant(cfg, s) for s in real_images.seeds_for(cfg)[:2])
    assert own is cfg
    assert extra.seed != cfg.seed and extra.n_train == real_images.EXTRA_SEEDS_CHEAPER["quick"]["n_train"]


def test_results_of_the_real_and_the_cue_configuration_do_not_overwrite_each_other(fake_std):
    cues = get_profile("smoke")
    real = real_images.real_images_cfg(cues)
    pipeline.save_result(cues, "table1", {"vanilla": {"standard": 90.0}})
    pipeline.save_result(real, "table1", {"vanilla": {"standard": 80.0}})
    assert pipeline.load_results(cues) == {"table1": {"vanilla": {"standard": 90.0}}}
    assert pipeline.load_results(real) == {"table1": {"vanilla": {"standard": 80.0}}}
    assert pipeline.results_data(cues) is None and pipeline.results_data(real) == "fashion-mnist"


def test_a_users_file_gets_a_folder_safe_name(tmp_path):
    cfg = get_profile("quick", data=str(tmp_path / "my data.npz"))
    name = pipeline.results_data(cfg)
    assert name.startswith("my-data-") and "/" not in name


def test_the_headline_carries_both_data_sets_under_their_prefixes(fake_std):
    cues = get_profile("smoke")
    assert headline.headline_values(cues) == {}  # no real-image results: the real images stay unread
    pipeline.save_result(cues, "table1", {"vanilla": {"standard": 90.0}})
    pipeline.save_result(real_images.real_images_cfg(cues), "table1", {"vanilla": {"standard": 80.0}})
    flat = headline.headline_values(cues)
    assert flat == {"table1.vanilla.standard": 90.0, "fashion-mnist.table1.vanilla.standard": 80.0}
    key = "fashion-mnist.table1.vanilla.standard"
    assert seed_spread.scale(key) == "percent" and headline.tolerance(key) == headline.tolerance(key[len("fashion-mnist."):])
    assert seed_spread.scale("fashion-mnist.real_images_masks.rho") == "unit"
    assert headline.unprefixed(key) == "table1.vanilla.standard"


def test_a_real_page_reads_the_spread_of_its_own_keys(fake_std, monkeypatch):
    from fm_core.book import headline as module
    monkeypatch.setattr(module, "seed_spread_of", lambda name: {"seeds": [1, 2], "sd": {
        "table1.vanilla.standard": 1.0, "fashion-mnist.table1.vanilla.standard": 2.0}})
    assert Page("t", "quick", world="real", show=False).spread["sd"] == {"table1.vanilla.standard": 2.0}
    assert Page("t", "quick", show=False).spread["sd"]["table1.vanilla.standard"] == 1.0


# ------------------------------------------------------------ the words, on crafted verdicts
def test_the_robust_note_says_in_bold_when_the_network_is_not_robust():
    row = {"clean, %": 80.0, "PGD, %": 50.0, "APGD, %": 30.0}
    masked = real_images.judge_robust(row, 5)
    assert masked.gradient_masking_suspected and not masked.robust
    text = real_notes.robust_note(masked, {"adversarial": row})
    assert text.startswith("**The adversarial network is not robust**") and "gradient masking" in text
    fine = {"clean, %": 80.0, "PGD, %": 50.0, "APGD, %": 48.0}
    assert "is robust at this eps" in real_notes.robust_note(real_images.judge_robust(fine, 5), {"adversarial": fine})
    chance = {"clean, %": 80.0, "PGD, %": 21.0, "APGD, %": 20.0}
    assert "at chance" in real_notes.robust_note(real_images.judge_robust(chance, 5), {"adversarial": chance})


def test_apgd_is_cheaper_in_smoke_only_and_the_note_says_so():
    from fm_core.nets.apgd import APGD_RESTARTS, APGD_STEPS

    default = {"steps": APGD_STEPS, "restarts": APGD_RESTARTS}
    assert real_images.apgd_strength(get_profile("quick")) == default
    assert real_images.apgd_strength(get_profile("paper")) == default
    smoke = real_images.apgd_strength(get_profile("smoke"))
    assert smoke["steps"] * smoke["restarts"] < APGD_STEPS * APGD_RESTARTS
    row = {"clean, %": 80.0, "PGD, %": 50.0, "APGD, %": 48.0}
    verdict = real_images.judge_robust(row, 5)
    assert "cheaper strength, 10 steps" in real_notes.robust_note(verdict, {"adversarial": row, "APGD": smoke})
    assert "cheaper" not in real_notes.robust_note(verdict, {"adversarial": row, "APGD": default})


def test_the_agreement_note_on_both_sides_of_the_line():
    line = real_images.AGREEMENT_LINE

    def verdict(rhos, agree, sd=0.1):
        return real_images.MaskBehaviourVerdict(rho_per_seed=rhos, rho_mean=float(np.mean(rhos)), rho_sd=sd,
                                                p_value=0.01, line=line, agree=agree)

    agree = real_notes.mask_behaviour_note(verdict((0.9, 0.6, 0.5), True))
    assert "**the masks agree with behaviour**" in agree and "per seed: 0.90, 0.60, 0.50" in agree
    assert "**mean 0.67**" in agree and "SD 0.10" in agree and f"{line:.2f}" in agree
    apart = real_notes.mask_behaviour_note(verdict((0.2,), False, sd=float("nan")))
    assert "**the masks do not agree with behaviour**" in apart and "SD" not in apart  # no SD from one seed
    undefined = real_images.MaskBehaviourVerdict(rho_per_seed=(1.0, math.nan, 1.0), rho_mean=math.nan,
                                                 rho_sd=math.nan, p_value=math.nan, line=line, agree=False)
    text = real_notes.mask_behaviour_note(undefined)
    assert "no agreement" in text and "1.00, undefined, 1.00" in text


def test_the_score_is_stated_per_seed_with_its_computed_line():
    text = real_notes.score_definition(get_profile("smoke"))
    assert "**per seed**" in text and "not pooled" in text and f"{real_images.AGREEMENT_LINE:.2f}" in text
    assert f"{real_images.AGREEMENT_ALPHA:g}" in text and "cheaper setting" in text
    assert "cheaper setting" not in real_notes.score_definition(get_profile("paper"))  # its seeds train alike


def test_the_direction_note_counts_the_seeds():
    v = robust_low.RobustLowVerdict(mask_gap=(0.1, 0.2, -0.1), by_mask=(True, True, False), by_mask_all=False,
                                     behaviour_gap=(3.0, 2.0, 1.0), by_behaviour=(True, True, True),
                                     by_behaviour_all=True)
    text = real_notes.robust_low_note(v)
    assert "on 2 of 3 seeds only" in text and "By behaviour: yes on every seed" in text
    assert "sampling" not in text  # no sampling errors measured: nothing said of them
    noisy = dataclasses.replace(v, behaviour_gap=(20.0, 2.0, 1.0), by_behaviour=(True, False, False),
                                by_behaviour_all=False, behaviour_se=(3.0, 3.0, 3.0),
                                behaviour_within_noise=(False, True, True))
    text = real_notes.robust_low_note(noisy)
    assert "(6.0, 6.0, 6.0 points" in text and "2 of the 3 gaps lie within theirs" in text
    assert "no direction" in text
    assert "for the mask only beyond" not in text  # no mask line measured
    masked = dataclasses.replace(noisy, mask_se=0.04, mask_within_noise=(False, False, True))
    text = real_notes.robust_low_note(masked)
    assert "for the mask only beyond 2 sampling standard errors of its gap (0.080" in text
    assert "1 of the 3 gaps lies within it: on those seeds the mask shows no direction" in text


def test_the_eps_note_names_the_rule_and_the_breaking_multiple():
    eps = {"std": STD, "paper eps_pixel": PAPER_EPS_NORMALISED * STD, "profile eps_pixel": PAPER_EPS_NORMALISED * STD,
           "breaking multiple": 2, "below, %": 10.0, "accuracy by multiple": {"1": 40.0, "2": 5.0}}
    text = real_notes.eps_note(eps)
    assert f"{PAPER_EPS_NORMALISED * STD * 255:.2f}/255" in text and "**2 x**" in text
    assert "No multiple tried" in real_notes.eps_note({**eps, "breaking multiple": None})


def test_the_figure_sentences_come_from_the_numbers():
    run = {"at median radius": {"low": [90.0], "high": [30.0]},
           "band ablation": {"clean": 90.0, "removed": [50.0, 85.0]}}
    other = {"at median radius": {"low": [60.0], "high": [50.0]},
             "band ablation": {"clean": 90.0, "removed": [88.0, 40.0]}}
    behaviour = {"networks": {"vanilla": {"31": other}, "adversarial": {"31": run}}}
    assert "the adversarial network prefers low-pass images most (+60.0" in real_notes.filtered_takeaway(behaviour)
    assert "vanilla band 1 (50.0 points); adversarial band 0 (40.0 points)" in real_notes.ablation_takeaway(behaviour)
    values = {"networks": {"vanilla": {"31": {"low share": 0.2, "low preference": 10.0, "mask converged": True}},
                           "adversarial": {"31": {"low share": 0.6, "low preference": 60.0, "mask converged": False}}}}
    assert "vanilla < adversarial" in real_notes.scatter_takeaway(values)
    assert real_notes.convergence_count(values) == \
        "1 of the 2 dataset masks converged; not: adversarial (seed 31; at budget)."


def test_readme_shows_the_real_images_tables_when_the_expected_file_has_them():
    row = {"standard": 91.0, "masked": 90.0, "pgd": 20.0, "mask_mean": 0.3}
    values = {f"fashion-mnist.table1.vanilla.{k}": x for k, x in row.items()}
    block = headline.readme_block({"profile": "quick", "values": values})
    assert "The paper's tables on fashion-mnist" in block and "| N vanilla | 91.00% |" in block

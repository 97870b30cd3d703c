"""Headline numbers as data: the comparison of a build with expected/<profile>.json, and
(slow, opt-in with FM_CHECK_QUICK=1: a quick computation takes ~15 minutes on 2 cores) a
fresh quick computation compared with the committed expected/quick.json, so that a
change that moves a result is seen."""
from __future__ import annotations

import os

import pytest

from fm_core.book import headline
from fm_core.pages import adversarial_reversal, dataset_masks, ground_truth, mask_classifier, networks
from fm_core.pages.real_images import real_images_cfg
from fm_core.profiles import get_profile


def test_compare_flags_numbers_outside_their_tolerance():
    expected = {"values": {"table1.vanilla.standard": 80.0, "ground_truth.x.auroc": 0.9},
                "tolerances": [["table1.", 4.0], ["ground_truth.", 0.05], ["", 5.0]]}
    assert headline.compare({"table1.vanilla.standard": 83.9, "ground_truth.x.auroc": 0.94}, expected) == []
    problems = headline.compare({"table1.vanilla.standard": 75.0}, expected)
    assert len(problems) == 2 and "75" in problems[0] and "missing" in problems[1]


def test_readme_block_is_made_from_the_expected_values():
    expected = headline.load_expected("quick")
    block = headline.readme_block(expected)
    # the paper's Table 1 is on the real images when the book has them (fashion-mnist.table1...)
    key = next(k for k in expected["values"] if headline.unprefixed(k) == "table1.vanilla.standard")
    assert f"{expected['values'][key]:.2f}%" in block


def test_headline_flattens_the_stored_results():
    cfg = get_profile("smoke")
    from fm_core.store import pipeline

    pipeline.save_result(cfg, "table1", {"vanilla": {"standard": 81.5, "mask_kept": True}})
    flat = headline.headline_values(cfg)
    assert flat == {"table1.vanilla.standard": 81.5}  # booleans are not headline numbers


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("FM_CHECK_QUICK") != "1",
                    reason="a fresh quick computation takes ~15 min on 2 cores; set FM_CHECK_QUICK=1")
def test_fresh_quick_results_match_expected():
    cfg = get_profile("quick")
    real = real_images_cfg(cfg)  # the paper's tables are on the real images
    for compute in (networks.table1, adversarial_reversal.table2, mask_classifier.table3, dataset_masks.figure4,
                    adversarial_reversal.figure7):
        compute(real, progress=False)
    for compute in (ground_truth.ground_truth, ground_truth.cue_reliance):
        compute(cfg, progress=False)
    problems = headline.compare(headline.headline_values(cfg), headline.load_expected("quick"))
    assert not problems, "\n".join(problems)

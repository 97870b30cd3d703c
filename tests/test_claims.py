"""Agreement across pages (issue 36): a quantity two pages both report carries the same number
and spread on both, or the pages label different settings (fm_core.pages.claims)."""
from __future__ import annotations

import dataclasses

import pytest

from fm_core.pages import claims, cue_question, stability
from fm_core.pages.architectures import ARCH_NAMES
from fm_core.pages.common import seeds_setting
from fm_core.profiles import get_profile

CFG = get_profile("quick")
SEEDS = [CFG.seed + 1000 * k for k in range(3)]  # as the stability page and fm spread draw them
EXTRA = stability.STABILITY_CHEAPER["quick"]
OWN, REAL_OWN = claims.own_setting(CFG), claims.own_setting(CFG.replace(data="fashion-mnist"))
ARCH = ARCH_NAMES[CFG.arch]
# one network pair's numbers, made up: each page below stores its own copy of them
ROWS = {"vanilla": {"L-bias": 0.1, "L-share": 0.2, "clean, %": 99.0, "masked, %": 98.5},
        "adversarial": {"L-bias": 0.9, "L-share": 0.7, "clean, %": 90.0, "masked, %": 89.25}}
OTHER_SEEDS = {"vanilla": {"L-bias": [0.3, 0.25], "L-share": [0.2, 0.3]},
               "adversarial": {"L-bias": [0.8, 0.85], "L-share": [0.6, 0.65]}}


def cue_results(extra=EXTRA) -> dict:
    """The cue world's stored results of pages 10, 11 and 14, agreeing on the profile's networks."""
    per_seed = {r: {k: [v] + OTHER_SEEDS[r].get(k, [v, v]) for k, v in row.items()} for r, row in ROWS.items()}
    return {"cues": {f"{r}.{k}": v for r, row in ROWS.items() for k, v in row.items() if k != "masked, %"},
            "stability": {"inputs": {"seeds": SEEDS, "extra seeds": extra},
                          **{r: {stability.PER_SEED: per_seed[r]} for r in ROWS}},
            "architectures": {f"{ARCH}.{r}.{claims.ARCH_FIELDS[k]}": v for r, row in ROWS.items() for k, v in row.items()}}


def real_results() -> dict:
    """The real images' Table 1 (page 03, read by page 09) and robustness (page 03), agreeing."""
    table1 = {r: {"standard": row["clean, %"], "masked": row["masked, %"], "pgd": 40.0} for r, row in ROWS.items()}
    robust = {r: {"clean, %": row["clean, %"], "PGD, %": 40.0} for r, row in ROWS.items()}
    return {"table1": table1, "real_images_robustness": robust, "table2": {"M(x_A)": 99.21875, "random mask, same size (x_A)": 17.1875, "n": 128}}


def gathered(cue=None, real=None, spread=None):
    return claims.claims_from_results(cue_results() if cue is None else cue, real_results() if real is None else real,
                                      OWN, REAL_OWN, spread, arch=ARCH)


def test_agreeing_pages_have_no_disagreement_and_their_shared_quantities_are_found():
    found = gathered()
    assert claims.disagreements(found) == []
    shared = claims.shared_quantities(found)
    assert shared["cue world: vanilla L-bias"] == {"10_cue_question", "11_stability", "14_architectures"}
    assert shared["real images: adversarial masked accuracy, %"] == {"03_networks", "09_reproduction"}
    # page 09 shows Table 2 rounded to two decimals: a copy within the stored rounding agrees
    assert {"06_adversarial_reversal", "09_reproduction"} <= shared["real images: Table 2 M(x_A), %"]


def test_changing_one_pages_number_is_a_disagreement():
    cue = cue_results()
    cue["architectures"][f"{ARCH}.vanilla.L-bias"] += 10 * claims.UNIT_TOLERANCE
    pairs = claims.disagreements(gathered(cue=cue))
    assert pairs and all(a.quantity == "cue world: vanilla L-bias" for a, _ in pairs)
    assert {"14_architectures"} <= {c.page for pair in pairs for c in pair}

    real = real_results()
    real["real_images_robustness"]["vanilla"]["clean, %"] += 10 * claims.PERCENT_TOLERANCE
    pairs = claims.disagreements(gathered(real=real))
    assert {c.source for pair in pairs for c in pair} == {"table1", "real_images_robustness"}


def test_a_spread_is_compared_only_at_the_same_setting():
    spread = {"seeds": SEEDS, "sd": {"cues.adversarial.L-bias": 0.005, "cues.vanilla.L-bias": 0.005,
                                     "cues.adversarial.L-share": 0.005, "cues.vanilla.L-share": 0.005}}
    # page 11's extra seeds train cheaper: its spread (far wider here) has another label, so no pair
    found = gathered(spread=spread)
    gap = "cue world: L-bias, adversarial minus vanilla"
    settings = {c.page: c.setting for c in found if c.quantity == gap and c.spread is not None}
    assert settings["10_cue_question"] != settings["11_stability"]
    assert settings["11_stability"] == seeds_setting(SEEDS, EXTRA)
    assert claims.disagreements(found) == []
    # were the extra seeds at the profile's own settings, the two spreads would be the same quantity
    # at the same setting, and the wider one a disagreement
    pairs = claims.disagreements(gathered(cue=cue_results(extra={}), spread=spread))
    assert pairs and all(a.spread is not None and a.quantity.endswith("adversarial minus vanilla") for a, _ in pairs)


def test_equal_spreads_at_the_same_setting_agree():
    one = claims.Claim("10_cue_question", "cue world: L-bias, adversarial minus vanilla", 0.5, 0.1, "s", "cues")
    assert claims.disagreements([one, dataclasses.replace(one, page="17_conclusions")]) == []
    assert claims.disagreements([one, dataclasses.replace(one, page="11_stability", spread=0.2)])
    assert claims.disagreements([one, dataclasses.replace(one, page="11_stability", spread=0.2, setting="t")]) == []
    nan = dataclasses.replace(one, value=float("nan"))
    assert claims.disagreements([nan, dataclasses.replace(nan, page="14_architectures")]) == []
    assert claims.disagreements([one, dataclasses.replace(nan, page="14_architectures")])


def test_labels_say_the_setting_the_spread_was_measured_at():
    assert seeds_setting(SEEDS) == f"seeds {', '.join(map(str, SEEDS))} at the profile's own settings"
    cheaper = seeds_setting(SEEDS, {"epochs": EXTRA["epochs"], "n_train": EXTRA["n_train"]})
    assert cheaper.endswith(f"; extra seeds: {EXTRA['n_train']:,} images, {EXTRA['epochs']} epochs")
    assert seeds_setting(SEEDS[1:2], EXTRA).startswith(f"seed {SEEDS[1]};")
    assert stability.setting({"seeds": SEEDS, "cheaper": EXTRA}) == seeds_setting(SEEDS, EXTRA)
    # page 10 says where its seed SD comes from
    question = {"rows": {r: dict(row) for r, row in ROWS.items()}, "rank correlation (L-bias, L-share)": 1.0,
                "conditions": 2}
    spread = {"seeds": SEEDS, "sd": {"cues.adversarial.L-bias": 0.02, "cues.vanilla.L-bias": 0.0}}
    assert f"seed SD 0.02 over {seeds_setting(SEEDS)}" in cue_question.answer_prose(question, spread)


@pytest.mark.slow
def test_the_smoke_books_pages_agree(smoke_book, smoke):
    """Every quantity two pages of the built smoke book report, from its stored results, agrees
    (or the pages label different settings)."""
    from fm_core.book.headline import seed_spread_of

    found = claims.gather_claims(smoke, seed_spread_of(smoke.name))
    shared = claims.shared_quantities(found)
    assert "cue world: vanilla L-bias" in shared and "real images: vanilla clean accuracy, %" in shared
    pairs = claims.disagreements(found)
    assert not pairs, "\n".join(f"{a.quantity} [{a.setting}]: {a.page} {a.value} (SD {a.spread}) against "
                                f"{b.page} {b.value} (SD {b.spread})" for a, b in pairs)

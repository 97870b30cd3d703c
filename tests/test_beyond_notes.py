"""Pages 14 and 15 judge their numbers (the verdicts' fields, on made-up rows) and their
words follow the verdicts; and the near-chance warning."""
from dataclasses import replace

import pytest

from fm_core.book import beyond_notes, tables
from fm_core.nets.evaluation import near_chance
from fm_core.pages.amplitude_phase import judge_known_truth
from fm_core.pages.architectures import judge_architectures
from fm_core.profiles import REGIMES


def _arch(biases, shares, chance=()):
    rows = {r: {"L-bias": b, "L-share": s, "near chance": r in chance} for r, b, s in zip(REGIMES, biases, shares)}
    gap = sum(abs(b - s) for b, s in zip(biases, shares)) / len(biases)
    return {"rows": rows, "rank correlation": 0.9, "mean |L-bias - L-share|": gap}


def test_the_architecture_verdict_says_what_changed_and_leaves_networks_near_chance_out():
    vgg = _arch([0.0, 1.0, 0.8, 0.3, 0.9], [0.1, 0.9, 0.7, 0.3, 0.8])
    same = judge_architectures({"VGG11": vgg, "ResNet18": _arch([0.1, 1.0, 0.7, 0.4, 0.8], [0.1] * 5)})
    assert not same.changes_what_is_read and same.read_differently == () and same.compared == REGIMES
    assert same.masks_follow == ("VGG11",)  # ResNet18's masks are 0.1 everywhere: far from its L-biases
    changed = judge_architectures({"VGG11": vgg, "ResNet18": _arch([0.9, 1.0, 0.8, 0.3, 0.9],
                                                                   [0.9, 1.0, 0.8, 0.3, 0.9])})
    assert changed.changes_what_is_read and changed.read_differently == changed.switched_cue == ("vanilla",)
    # a rotate network near chance with a wild L-bias is not counted as a change
    chance = judge_architectures({"VGG11": vgg, "ResNet18": _arch([0.1, 1.0, 0.7, 0.4, 0.0], [0.1] * 5,
                                                                  chance=("rotate",))})
    assert not chance.changes_what_is_read and chance.left_out == ("rotate",) and "rotate" not in chance.compared


def test_architecture_prose_is_the_verdict_in_words():
    vgg = _arch([0.0, 1.0, 0.8, 0.3, 0.9], [0.1, 0.9, 0.7, 0.3, 0.8])
    changed = beyond_notes.architecture_prose({"VGG11": vgg, "ResNet18": _arch([0.9, 1.0, 0.8, 0.3, 0.9],
                                                                               [0.9, 1.0, 0.8, 0.3, 0.9])})
    assert "1 of 5 regimes" in changed and "the vanilla ResNet18 reads L where VGG11 reads H" in changed
    chance = beyond_notes.architecture_prose({"VGG11": vgg, "ResNet18": _arch([0.1, 1.0, 0.7, 0.4, 0.0], [0.1] * 5,
                                                                              chance=("rotate",))})
    assert "rotate left out" in chance and "not for ResNet18" in chance


def test_a_network_near_the_midpoint_reads_neither_cue():
    """Page 14 once said a rotate VGG11 with L-bias 0.46 "reads H": within NEAR_MIDPOINT of 0.5
    the comparison says it reads neither cue clearly, and it is no switch of cue."""
    vgg = _arch([0.0, 1.0, 0.8, 0.3, 0.46], [0.1, 0.9, 0.7, 0.3, 0.5])
    resnet = _arch([0.9, 1.0, 0.8, 0.3, 0.89], [0.9, 1.0, 0.8, 0.3, 0.9])
    verdict = judge_architectures({"VGG11": vgg, "ResNet18": resnet})
    assert verdict.read_differently == ("vanilla", "rotate")
    assert verdict.switched_cue == ("vanilla",) and verdict.near_midpoint == ("rotate",)
    text = beyond_notes.architecture_prose({"VGG11": vgg, "ResNet18": resnet})
    assert "the rotate ResNet18 reads" not in text and "VGG11 network reads neither cue clearly (L-bias 0.46" in text
    assert "the ResNet18 network reads L" in text


def _row(phase_h, amp_h, kept_l=0.1, cost_l=0.0, reads=True):
    return {"clean, %": 90.0, "phase of H removed, %": 30.0 if reads else 85.0, "amplitude of H removed, %": 90.0,
            "amplitude of all removed, %": 88.0,
            "phase of L removed, %": 90.0 - cost_l, "phase: AUROC H": phase_h, "amplitude: AUROC H": amp_h,
            "phase: mean on L bins": kept_l}


def _truth(row):
    return {"row": row, "verdict": judge_known_truth(row), "behaviour": {"L-bias": 0.1, "h_only, %": 80.0,
                                                                        "l_only, %": 40.0}}


@pytest.mark.parametrize("phase_h, amp_h, finds", [(0.99, 0.7, (True, False)), (0.99, 0.95, (True, True)),
                                                   (0.6, 0.7, (False, False))])
def test_the_known_truth_verdict_follows_the_aurocs(phase_h, amp_h, finds):
    verdict = judge_known_truth(_row(phase_h, amp_h))
    assert (verdict.phase_mask_finds_h, verdict.amplitude_mask_finds_h) == finds and verdict.reads_phase_cue
    assert verdict.validated == (finds == (True, False))


def test_nothing_is_validated_when_the_network_does_not_read_the_phase_cue():
    verdict = judge_known_truth(_row(0.99, 0.7, reads=False))
    assert not verdict.reads_phase_cue and not verdict.validated and verdict.phase_mask_finds_h


def test_the_known_truth_verdict_names_phase_kept_where_it_carries_nothing():
    assert judge_known_truth(_row(0.99, 0.7, kept_l=0.7, cost_l=0.5)).phase_mask_keeps_unneeded_l
    assert not judge_known_truth(_row(0.99, 0.7, kept_l=0.7, cost_l=5.0)).phase_mask_keeps_unneeded_l
    assert not judge_known_truth(_row(0.99, 0.7, kept_l=0.1, cost_l=0.5)).phase_mask_keeps_unneeded_l


@pytest.mark.parametrize("field, word", [("validated", "**Validated"), ("phase_mask_keeps_unneeded_l", "sensitive to phase")])
def test_known_truth_prose_is_the_verdict_in_words(field, word):
    truth = _truth(_row(0.99, 0.7))
    for value in (True, False):
        truth["verdict"] = replace(truth["verdict"], **{field: value})
        assert (word in beyond_notes.known_truth_prose(truth)) == value
    truth["verdict"] = replace(truth["verdict"], reads_phase_cue=False)
    assert "nothing is validated" in beyond_notes.known_truth_prose(truth)


def test_regimes_prose_names_the_networks_that_need_phase():
    def row(phase_all):
        return {"clean, %": 90.0, "phase of all removed, %": phase_all, "amplitude of all removed, %": 20.0,
                "phase: mask mean": 0.01, "amplitude: mask mean": 0.02}
    rows = {r: row(89.0) for r in REGIMES}
    assert "No network needs phase" in beyond_notes.regimes_prose(rows)
    rows["rotate"] = row(60.0)
    assert "rotate needs phase" in beyond_notes.regimes_prose(rows)


def test_regimes_prose_says_whether_the_denser_mask_keeps_the_part_the_network_uses():
    """Page 15 once ended with 'a mask measures sensitivity ... the ablation measures use' when
    every network needed amplitude and every amplitude mask was the denser: there the masks
    agree with the ablation, and the page says so; the caveat only where they do not."""
    def row(phase_mean, amplitude_mean, phase_all=90.0):
        return {"clean, %": 90.0, "phase of all removed, %": phase_all, "amplitude of all removed, %": 10.0,
                "phase: mask mean": phase_mean, "amplitude: mask mean": amplitude_mean}
    rows = {r: row(0.0, 0.013) for r in REGIMES}
    text = beyond_notes.regimes_prose(rows)
    assert "the masks agree with the ablation" in text and "measures how sensitive" not in text
    assert "vanilla +0.0 and -80.0" in text and "-0.0" not in text
    rows["scale"] = row(0.03, 0.02)  # its phase mask is the denser, though phase costs nothing
    text = beyond_notes.regimes_prose(rows)
    assert "For scale the denser mask keeps the part whose removal costs less" in text and "agree" not in text


def test_near_chance_and_its_warning():
    assert near_chance(0.29, 5) and near_chance(0.30, 5) and not near_chance(0.31, 5)
    assert tables.chance_warning({"a": 95.0, "b": 31.0}, 5) == ""
    warning = tables.chance_warning({"a": 95.0, "b": 24.6}, 5)
    assert "b (24.6%)" in warning and "a (" not in warning and "20% for 5 classes" in warning


def test_a_page_shows_the_warning_only_when_there_is_one(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objects: shown.extend(objects))
    tables.show_chance_warning({"a": 95.0}, 5)
    assert shown == []  # not an empty Markdown object, which a page would print as its repr
    tables.show_chance_warning({"a": 21.0}, 5)
    assert len(shown) == 1 and "a (21.0%)" in shown[0].data

"""The words of pages 14 and 15 follow their numbers: each branch on made-up rows, and the
near-chance warning."""
import pytest

from fm_core.book import beyond_notes, tables
from fm_core.nets.evaluation import near_chance
from fm_core.profiles import REGIMES


def _arch(biases, shares, chance=()):
    rows = {r: {"L-bias": b, "L-share": s, "near chance": r in chance} for r, b, s in zip(REGIMES, biases, shares)}
    gap = sum(abs(b - s) for b, s in zip(biases, shares)) / len(biases)
    return {"rows": rows, "rank correlation": 0.9, "mean |L-bias - L-share|": gap}


def test_architecture_prose_says_what_changed_and_leaves_networks_near_chance_out():
    vgg = _arch([0.0, 1.0, 0.8, 0.3, 0.9], [0.1, 0.9, 0.7, 0.3, 0.8])
    same = beyond_notes.architecture_prose({"VGG11": vgg, "ResNet18": _arch([0.1, 1.0, 0.7, 0.4, 0.8], [0.1] * 5)})
    assert "does not change" in same and "not for ResNet18" in same
    changed = beyond_notes.architecture_prose({"VGG11": vgg, "ResNet18": _arch([0.9, 1.0, 0.8, 0.3, 0.9],
                                                                               [0.9, 1.0, 0.8, 0.3, 0.9])})
    assert "changes what is read" in changed and "1 of 5 regimes" in changed
    assert "the vanilla ResNet18 reads L where VGG11 reads H" in changed
    # a rotate network near chance with a wild L-bias is not counted as a change
    chance = beyond_notes.architecture_prose({"VGG11": vgg, "ResNet18": _arch([0.1, 1.0, 0.7, 0.4, 0.0], [0.1] * 5,
                                                                              chance=("rotate",))})
    assert "does not change" in chance and "rotate left out" in chance and "near chance" in chance


def _truth(phase_h, amp_h, kept_l=0.1, cost_l=0.0, reads=True):
    row = {"clean, %": 90.0, "phase of H removed, %": 30.0, "amplitude of H removed, %": 90.0,
           "amplitude of all removed, %": 88.0,
           "phase of L removed, %": 90.0 - cost_l, "phase: AUROC H": phase_h, "amplitude: AUROC H": amp_h,
           "phase: mean on L bins": kept_l}
    return {"row": row, "finds": 0.9, "phase mask finds H": phase_h >= 0.9, "amplitude mask finds H": amp_h >= 0.9,
            "reads the phase cue": reads,
            "behaviour": {"L-bias": 0.1, "h_only, %": 80.0, "l_only, %": 40.0}}


@pytest.mark.parametrize("phase_h, amp_h, word", [(0.99, 0.7, "Validated"), (0.99, 0.95, "the amplitude mask finds it too"),
                                                  (0.6, 0.7, "the phase mask does not find it")])
def test_known_truth_prose_follows_the_aurocs(phase_h, amp_h, word):
    assert word in beyond_notes.known_truth_prose(_truth(phase_h, amp_h))


def test_known_truth_prose_validates_nothing_when_the_network_does_not_read_the_phase_cue():
    text = beyond_notes.known_truth_prose(_truth(0.99, 0.7, reads=False))
    assert "nothing is validated" in text and "Validated" not in text


def test_known_truth_prose_names_phase_kept_where_it_carries_nothing():
    assert "sensitive to phase" in beyond_notes.known_truth_prose(_truth(0.99, 0.7, kept_l=0.7, cost_l=0.5))
    assert "sensitive to phase" not in beyond_notes.known_truth_prose(_truth(0.99, 0.7, kept_l=0.7, cost_l=5.0))


def test_regimes_prose_names_the_networks_that_need_phase():
    def row(phase_all):
        return {"clean, %": 90.0, "phase of all removed, %": phase_all, "amplitude of all removed, %": 20.0,
                "phase: mask mean": 0.01, "amplitude: mask mean": 0.02}
    rows = {r: row(89.0) for r in REGIMES}
    assert "No network needs phase" in beyond_notes.regimes_prose(rows)
    rows["rotate"] = row(60.0)
    assert "rotate needs phase" in beyond_notes.regimes_prose(rows)


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

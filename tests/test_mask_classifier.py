"""Table 3 and Figure 8 (fm_core.science.mask_classifier): the k-fold test must find planted
class structure in masks shaped like single-image masks (almost all zeros, a few kept
bins, numerical residue elsewhere) and must not find any where there is none; and the
page's words come from the numbers."""
from __future__ import annotations

import numpy as np
import pytest

from fm_core.book import gap_notes, tables
from fm_core.book import headline
from fm_core.pages import mask_classifier as classifier_page
from fm_core.science import mask_classifier
from fm_core.fourier import symmetric_part

N_CLASSES, SIZE = 5, 16


def _keep(m, i, j, value):
    """Keep bin (i, j) and its conjugate, as a learned mask does."""
    m[i, j] = m[-i % SIZE, -j % SIZE] = value


def sparse_masks(n_per_class=24, planted=True, seed=0):
    """Masks like the quick profile's single-image masks: residue of order 1e-6 in every
    bin, one random kept pair in some masks, and (``planted``) a pair of bins that every
    mask of a class keeps in most of its masks."""
    rng = np.random.default_rng(seed)
    masks, labels = [], []
    for c in range(N_CLASSES):
        for _ in range(n_per_class):
            m = rng.random((SIZE, SIZE)) * 1e-6
            if planted and rng.random() < 0.85:
                _keep(m, c + 1, 3, rng.uniform(0.5, 1.0))
            if rng.random() < 0.5:
                _keep(m, rng.integers(SIZE), rng.integers(SIZE), rng.uniform(0.2, 1.0))
            masks.append(symmetric_part(m))
            labels.append(c)
    return np.array(masks), np.array(labels)


@pytest.fixture(scope="module")
def planted():
    masks, labels = sparse_masks()
    return mask_classifier.mask_classifier(masks, labels, n_permutations=99, seed=0)


@pytest.fixture(scope="module")
def structureless():
    masks, labels = sparse_masks(planted=False, seed=1)
    return mask_classifier.mask_classifier(masks, labels, n_permutations=99, seed=0)


def test_planted_classes_are_found_far_above_chance(planted):
    assert planted["chance_pct"] == 20
    assert planted["accuracy_pct"] > 75
    assert planted["p_value"] < 0.05
    assert planted["p_value"] == pytest.approx(1 / 100)  # no shuffle did as well
    low, high = planted["ci_pct"]
    assert 20 < low < planted["accuracy_pct"] <= high


def test_structureless_masks_give_no_class_information(structureless):
    assert structureless["p_value"] > 0.05
    low, high = structureless["ci_pct"]
    assert low <= structureless["chance_pct"] <= high
    assert abs(structureless["null_mean_pct"] - 20) < 5


def test_shuffled_labels_on_planted_masks_give_no_class_information():
    masks, labels = sparse_masks()
    shuffled = np.random.default_rng(3).permutation(labels)
    r = mask_classifier.mask_classifier(masks, shuffled, n_permutations=99, seed=0)
    assert r["p_value"] > 0.05 and r["ci_pct"][0] <= 20 <= r["ci_pct"][1]


def test_score_is_on_held_out_masks_only(planted):
    """Each mask's output comes from a model fitted to the other folds only (the same
    folds for the score and for Figure 8), and the folds are stratified."""
    from sklearn.linear_model import RidgeClassifierCV

    masks, labels = sparse_masks()
    x, folds = mask_classifier.mask_features(masks), planted["fold"]
    assert sorted(np.bincount(folds)) == [24] * 5  # 5 folds of 24 masks
    for f in range(5):  # every class in every fold, 24 / 5 of its masks
        assert set(np.bincount(labels[folds == f], minlength=N_CLASSES)) <= {4, 5}
        model = RidgeClassifierCV(alphas=mask_classifier.ALPHAS).fit(x[folds != f], labels[folds != f])
        np.testing.assert_allclose(planted["decision_function"][folds == f], model.decision_function(x[folds == f]),
                                   atol=1e-8)
        assert model.alpha_ == planted["alphas"][f]


def test_standardising_drowns_the_kept_bins(planted):
    """Why the classifier reads masks on their own scale: standardised, the residue bins
    weigh as much as the kept ones (the mistake behind the earlier 'no class information')."""
    assert planted["standardised_accuracy_pct"] < planted["accuracy_pct"] - 25


def test_result_shapes_and_determinism(planted):
    masks, labels = sparse_masks()
    again = mask_classifier.mask_classifier(masks, labels, n_permutations=99, seed=0, scaling_check=False)
    assert again["accuracy_pct"] == planted["accuracy_pct"] and again["p_value"] == planted["p_value"]
    np.testing.assert_array_equal(again["null_pct"], planted["null_pct"])
    assert again["standardised_accuracy_pct"] is None
    assert planted["decision_function"].shape == (120, N_CLASSES)
    assert np.array_equal(planted["decision_function"].argmax(1), planted["predictions"])
    assert len(planted["alphas"]) == planted["n_splits"] == 5
    assert planted["n_masks"] == 120 and len(planted["null_pct"]) == 99


def test_small_and_degenerate_inputs():
    masks, labels = sparse_masks()
    few = np.concatenate([np.flatnonzero(labels == c)[:3] for c in range(N_CLASSES)] + [[119]])
    r = mask_classifier.mask_classifier(masks[few], labels[few], n_permutations=9)
    assert r["n_splits"] == 3  # at most the smallest class
    lonely = np.r_[np.flatnonzero(labels < 4)[:40], np.flatnonzero(labels == 4)[:1]]
    r = mask_classifier.mask_classifier(masks[lonely], labels[lonely], n_permutations=9)
    assert 4 not in r["classes"] and r["n_masks"] == 40  # a class with one mask cannot be held out
    with pytest.raises(ValueError, match="too few masks"):
        mask_classifier.mask_classifier(masks[[0, 30, 60]], labels[[0, 30, 60]], n_permutations=9)
    with pytest.raises(ValueError, match="labels"):
        mask_classifier.mask_classifier(masks, labels[:-1])


def test_mask_features_one_value_per_conjugate_pair():
    rng = np.random.default_rng(0)
    m = rng.random((3, 4, 4))
    f = mask_classifier.mask_features(m)
    assert f.shape == (3, (16 + 4) // 2)  # 4 self-conjugate bins in a 4 x 4 grid
    neg = (-np.arange(4)) % 4
    antisymmetric = m - m[:, neg][:, :, neg]  # M(k) - M(-k): acts on no real image
    np.testing.assert_allclose(mask_classifier.mask_features(m + antisymmetric), f, atol=1e-12)
    assert f[0, 0] == pytest.approx(m[0, 0, 0])  # DC, once
    assert f[0, 1] == pytest.approx((m[0, 0, 1] + m[0, 0, 3]) / 2)  # the pair {(0, 1), (0, 3)}, once
    with pytest.raises(ValueError):
        mask_classifier.mask_features(m[0])


def test_wilson_interval_known_values():
    assert mask_classifier.wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert mask_classifier.wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert mask_classifier.wilson_interval(128, 128)[1] == 1.0
    with pytest.raises(ValueError):
        mask_classifier.wilson_interval(0, 0)


@pytest.mark.slow  # UMAP compiles its numba code first
def test_umap_embedding_shape_and_determinism():
    features = np.random.default_rng(4).normal(size=(40, 5))
    a = mask_classifier.umap_embedding(features, n_neighbors=20, seed=0)
    b = mask_classifier.umap_embedding(features, n_neighbors=20, seed=0)
    assert a.shape == (40, 2) and np.isfinite(a).all()
    np.testing.assert_allclose(a, b)
    assert mask_classifier.umap_embedding(features[:5]).shape == (5, 2)  # n_neighbors clipped


# ------------------------------------------------------------ the page's numbers and words

def test_stored_values_table_and_verdict_follow_the_numbers(planted, structureless):
    found, none = classifier_page.table3_values(planted), classifier_page.table3_values(structureless)
    assert found["true_labels"]["test_mean"] == round(planted["accuracy_pct"], 2)
    assert found["n_masks"] == 120 and found["n_folds"] == 5 and found["n_permutations"] == 99
    frame = tables.table3(found)
    assert list(frame.index) == ["true labels, train", "true labels, test", "shuffled labels, train",
                                 "shuffled labels, test"]
    verdict = classifier_page.judge_table3(found)
    assert verdict.carries_class_information and verdict.p_at_floor
    text = gap_notes.table3_verdict(found)
    assert "carry class information" in text and f"{found['true_labels']['test_mean']:.1f}%" in text
    assert f"{found['true_labels']['test_low']:.1f} to" in text and "no shuffle did as well" in text
    verdict = classifier_page.judge_table3(none)
    assert not verdict.significant and verdict.interval_covers_chance and not verdict.carries_class_information
    text = gap_notes.table3_verdict(none)
    assert "No class information is found" in text and f"p = {none['p_value']:.2g}" in text
    nan = float("nan")
    failed = {k: dict.fromkeys(v, nan) for k, v in classifier_page.TABLE3_KEYS.items()}
    failed.update(dict.fromkeys(classifier_page.TABLE3_NUMBERS, nan), reason="one class only")
    assert not classifier_page.judge_table3(failed).fitted
    assert gap_notes.table3_verdict(failed) == "No classifier could be fitted: one class only."
    assert tables.table3(failed).shape[0] == 4


def test_classes_the_masks_leave_out_are_counted_and_said():
    """Chance is 100 / the classes tested: a class with one mask (or none) is left out, and
    the verdict says which, so that 25% chance on a 5-class data set is explained."""
    labels = np.array([0] * 5 + [1] * 6 + [2] * 1 + [3] * 7)  # class 2: one mask; class 4: none
    clf = mask_classifier.mask_classifier(np.random.default_rng(0).random((len(labels), 8, 8)), labels,
                                          n_splits=3, n_permutations=5, scaling_check=False)
    names = ["a", "b", "c", "d", "e"]
    coverage = classifier_page.class_coverage(labels, clf["classes"], names)
    assert coverage == {"classes_in_data": 5, "classes_tested": 3, "classes_left_out": {"c": 1, "e": 0}}
    values = {**classifier_page.table3_values(clf), **coverage}
    assert values["chance"] == round(100 / 3, 2)
    text = gap_notes.table3_verdict(values)
    assert "cover 3 of the data set's 5 classes" in text and "c (1 mask), e (0 masks)" in text
    assert classifier_page.class_coverage(labels, [0, 1, 2, 3], names[:4])["classes_left_out"] == {}
    assert "of the data set's" not in gap_notes.table3_verdict(classifier_page.table3_values(clf))


def test_gap_note_for_the_test_row_names_the_permutation_test(planted, structureless):
    from fm_core.profiles import get_profile

    cfg = get_profile("quick")
    for clf, words in ((planted, "carry class information"), (structureless, "finds no class information")):
        values = classifier_page.table3_values(clf)
        notes = gap_notes.gap_notes(tables.table3_comparisons(values), cfg, {"table3": values})
        assert words in notes and f"{values['n_masks']:g} masks" in notes


def test_readme_line_gains_the_test_only_when_stored():
    old = {"table3.true_labels.test_mean": 33.33, "table3.shuffled_labels.test_mean": 32.2, "table3.chance": 20.0}
    line = headline.readme_block({"values": old}).splitlines()
    assert any(s.endswith("(chance 20.0%).") for s in line)
    new = dict(old, **{"table3.p_value": 0.005, "table3.n_folds": 5, "table3.n_masks": 128,
                       "table3.true_labels.test_low": 97.09, "table3.true_labels.test_high": 100.0})
    assert "5-fold over 128 masks" in headline.readme_block({"values": new})
    assert headline.tolerance("table3.p_value") == headline.UNIT_TOLERANCE


def test_gap_note_for_the_train_rows_reads_the_shuffled_fit(planted):
    from fm_core.profiles import get_profile

    values = classifier_page.table3_values(planted)
    for fit, words in ((values["chance"] + 5, "keeps it from memorising"), (95.0, "can memorise")):
        values["shuffled_labels"]["train_mean"] = fit
        notes = gap_notes.gap_notes(tables.table3_comparisons(values), get_profile("quick"), {"table3": values})
        assert words in notes and f"fits {fit:.1f}% of its training masks" in notes

"""Tests of fm_core.science.analysis (paper figures 1, 3, 4, 7) and fm_core.book.figures (Table 3 and Figure 8:
test_mask_classifier.py)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from fm_core.science import analysis, experiments
from fm_core.book import figures# noqa: E402

SIZES = (8, 32, 33, 128)
BAND_COUNTS = (1, 3, 8, 16, 64)


def mirror(arr):
    """arr at -k: index (i, j) -> (-i mod H, -j mod W) on the last two axes."""
    return np.roll(arr[..., ::-1, ::-1], 1, axis=(-2, -1))


def low_pass(size, radius):
    ky, kx = analysis.frequency_grid(size)
    return (np.hypot(ky, kx) <= radius).astype(float)


# ------------------------------------------------------------------ Figure 4: bands

@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("n_bands", BAND_COUNTS)
@pytest.mark.parametrize("make", [analysis.radial_bands, analysis.angular_bands])
def test_bands_partition_every_bin_once(make, size, n_bands):
    bands = make(size, n_bands)
    assert bands.shape == (n_bands, size, size) and bands.dtype == bool
    assert (bands.sum(axis=0) == 1).all()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("n_bands", BAND_COUNTS)
def test_bands_symmetric_under_negation(size, n_bands):
    for bands in (analysis.angular_bands(size, n_bands), analysis.radial_bands(size, n_bands)):
        assert (mirror(bands) == bands).all()


def test_radial_bands_order_by_radius_and_dc_first():
    bands = analysis.radial_bands(32, 8)
    assert bands[0, 0, 0]  # DC in band 0
    ky, kx = analysis.frequency_grid(32)
    radius = np.hypot(ky, kx)
    means = [radius[b].mean() for b in bands]
    assert np.all(np.diff(means) > 0)
    assert bands[-1][radius == radius.max()].all()  # the corner bins in the last band


def test_angular_bands_put_axes_where_expected():
    bands = analysis.angular_bands(32, 4)  # 45-degree wedges, angle = atan2(ky, kx)
    assert bands[0, 0, 0]  # DC
    assert bands[0, 0, 5] and bands[0, 0, -5]  # ky = 0: horizontal frequencies, 0 degrees
    assert bands[2, 5, 0] and bands[2, -5, 0]  # kx = 0: vertical frequencies, 90 degrees
    assert bands[1, 3, 3] and bands[3, 3, -3]  # diagonals: 45 and 135 degrees


def test_band_energies_square_sum_to_one():
    rng = np.random.default_rng(0)
    masks = rng.random((4, 33, 33))
    for bands in (analysis.radial_bands(33, 10), analysis.angular_bands(33, 7)):
        energies = analysis.band_energies(masks, bands)
        assert energies.shape == (4, len(bands))
        np.testing.assert_allclose((energies ** 2).sum(-1), 1.0, rtol=1e-12)
    assert np.all(analysis.band_energies(np.zeros((32, 32)), analysis.radial_bands(32, 4)) == 0)


def test_band_energies_invariant_to_mask_scale():
    mask = np.random.default_rng(1).random((32, 32))
    bands = analysis.radial_bands(32, 8)
    np.testing.assert_allclose(analysis.band_energies(mask, bands),
                               analysis.band_energies(0.1 * mask, bands))


def test_low_pass_energy_sits_in_first_radial_bands():
    bands = analysis.radial_bands(64, 16)  # band width sqrt(2)*32/16 ~ 2.8
    energies = analysis.band_energies(low_pass(64, 5), bands)
    assert (energies[:2] ** 2).sum() > 0.9
    assert np.all(energies[3:] == 0)
    high_pass = 1 - low_pass(64, 30)
    assert (analysis.band_energies(high_pass, bands)[:10] == 0).all()


def test_energy_differences_are_other_minus_reference():
    bands = analysis.radial_bands(32, 8)
    masks = np.stack([low_pass(32, 4), low_pass(32, 12), np.ones((32, 32))])
    diffs = analysis.energy_differences(masks, bands, reference=0)
    energies = analysis.band_energies(masks, bands)
    assert diffs.shape == (2, 8)
    np.testing.assert_allclose(diffs, energies[1:] - energies[0])
    assert diffs[0, 0] < 0 and diffs[0, 3] > 0  # a wider low-pass moves energy outwards
    np.testing.assert_allclose(analysis.energy_differences(masks, bands, reference=2),
                               energies[:2] - energies[2])


# ------------------------------------------------------------------ Figure 3

def test_mask_differences_jointly_normalised_and_centred():
    rng = np.random.default_rng(2)
    ref = rng.random((16, 16))
    masks = np.stack([ref, ref + 0.1, ref - 0.4, ref + 0.05 * rng.standard_normal((16, 16))])
    diffs = analysis.mask_differences(masks)
    assert diffs.shape == (3, 16, 16)
    assert diffs.min() == pytest.approx(-0.5) and diffs.max() == pytest.approx(0.5)
    # joint, not per-panel: a constant difference stays constant, and the order is kept
    assert np.ptp(diffs[0]) == pytest.approx(0) and np.ptp(diffs[1]) == pytest.approx(0)
    assert diffs[0, 0, 0] > diffs[1, 0, 0]
    raw = masks[1:] - masks[0]
    np.testing.assert_allclose(diffs, (raw - raw.min()) / np.ptp(raw) - 0.5)


def test_mask_differences_reference_and_keep_zero():
    masks = np.stack([np.zeros((4, 4)), np.full((4, 4), 0.2), np.full((4, 4), -0.1)])
    by_second = analysis.mask_differences(masks, reference=1)  # differences -0.2 and -0.3
    np.testing.assert_allclose(by_second[0], 0.5)
    np.testing.assert_allclose(by_second[1], -0.5)
    kept = analysis.mask_differences(masks, keep_zero=True)
    np.testing.assert_allclose(kept[0], 0.5)
    np.testing.assert_allclose(kept[1], -0.25)
    assert np.all(analysis.mask_differences(np.ones((3, 4, 4))) == 0)


# ------------------------------------------------------------------ Figure 7

def test_band_preference_constructed_cases():
    bands = analysis.radial_bands(32, 8)
    low, high = low_pass(32, 6), 1 - low_pass(32, 6)
    noise = np.random.default_rng(3).random((5, 32, 32)) * 0.01
    masks_low, masks_high = low + noise, high + noise
    pct = analysis.band_preference(masks_low, masks_high, bands)
    assert pct.shape == (8,)
    assert pct[0] == 100 and pct[-1] == 0
    assert np.all(analysis.band_preference(masks_high, masks_low, bands)[[0, -1]] == [0, 100])
    half = analysis.band_preference(np.stack([low, high]), np.stack([high, low]), bands)
    assert half[0] == 50


def test_band_preference_nan_for_empty_bands():
    bands = analysis.radial_bands(4, 16)  # more rings than distinct radii
    pct = analysis.band_preference(np.ones((2, 4, 4)), np.ones((2, 4, 4)), bands)
    empty = ~bands.any(axis=(1, 2))
    assert empty.any() and np.isnan(pct[empty]).all() and (pct[~empty] == 0).all()


# ------------------------------------------------------------------ Figure 1

def test_activation_spectra_harmonics_follow_symmetry():
    spectra = analysis.activation_spectra(n=1024, cycles=8)
    assert set(spectra) == {"input", "softplus", "tanh", "relu", "hardtanh"}
    freqs, _ = spectra["input"]
    at = {h: np.flatnonzero(np.isclose(freqs, h))[0] for h in range(6)}
    amp = {name: spec[1] for name, spec in spectra.items()}
    tiny = 1e-9
    # the input is a pure sine: only the fundamental, amplitude 1
    assert amp["input"][at[1]] == pytest.approx(1.0)
    assert np.delete(amp["input"], at[1]).max() < tiny
    # relu(sin) = sin/2 + |sin|/2: DC 1/pi, fundamental 1/2, 2nd harmonic 2/(3 pi), no odd > 1
    assert amp["relu"][at[0]] == pytest.approx(1 / np.pi, rel=1e-3)  # the kink aliases a little
    assert amp["relu"][at[1]] == pytest.approx(0.5, rel=1e-6)
    assert amp["relu"][at[2]] == pytest.approx(2 / (3 * np.pi), rel=1e-3)
    assert amp["relu"][at[3]] < tiny and amp["relu"][at[5]] < tiny
    # softplus = x/2 + an even function: DC and even harmonics, no odd ones above 1
    assert amp["softplus"][at[0]] > 0.1 and amp["softplus"][at[2]] > 1e-3
    assert amp["softplus"][at[3]] < tiny
    # tanh and hardtanh are odd: odd harmonics only, no DC
    for name in ("tanh", "hardtanh"):
        assert amp[name][at[0]] < tiny and amp[name][at[2]] < tiny and amp[name][at[4]] < tiny
        assert amp[name][at[3]] > 1e-3 and amp[name][at[5]] > 1e-4
    # only whole harmonics carry energy (t spans whole periods: no leakage)
    off_harmonic = ~np.isclose(freqs, np.round(freqs))
    for name, a in amp.items():
        assert a[off_harmonic].max() < tiny, name


def test_activation_spectra_accepts_custom_functions_and_rejects_unknown():
    spectra = analysis.activation_spectra({"square": np.square}, n=256, cycles=4)
    freqs, amps = spectra["square"]  # sin^2 = 1/2 - cos(2t)/2
    assert amps[np.isclose(freqs, 0)][0] == pytest.approx(0.5)
    assert amps[np.isclose(freqs, 2)][0] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        analysis.activation_spectra(("gelu_typo",))


def test_intermodulation_peaks_at_expected_bins():
    freqs, amps = analysis.intermodulation_spectrum(5, 12, n=256)
    peaks = freqs[amps > 1e-9]
    np.testing.assert_array_equal(peaks, [0, 7, 10, 17, 24])  # 0, w2-w1, 2w1, w1+w2, 2w2
    expected = {0: 1.0, 7: 1.0, 10: 0.5, 17: 1.0, 24: 0.5}
    for f, a in expected.items():
        assert amps[freqs == f][0] == pytest.approx(a)
    with pytest.raises(ValueError):
        analysis.intermodulation_spectrum(5, 5, 256)


# ------------------------------------------------------------------ ground truth

def test_ground_truth_scores_perfect_and_random():
    truth = np.zeros((3, 16, 16), dtype=bool)
    truth[0, 2, 3] = truth[1, 5, 1] = truth[2, 7, 7] = True
    truth |= mirror(truth)
    union = truth.any(0)
    perfect = analysis.ground_truth_scores(union.astype(float), truth)
    assert perfect == {"auroc": 1.0, "precision_at_k": 1.0, "k": int(union.sum())}
    inverted = analysis.ground_truth_scores(1.0 - union, union)
    assert inverted["auroc"] == 0.0 and inverted["precision_at_k"] == 0.0
    big_truth = np.random.default_rng(5).random((64, 64)) < 0.2
    aurocs = [analysis.ground_truth_scores(np.random.default_rng(s).random((64, 64)), big_truth)["auroc"]
              for s in range(5)]
    assert abs(np.mean(aurocs) - 0.5) < 0.05
    with pytest.raises(ValueError):
        analysis.ground_truth_scores(np.ones((16, 16)), np.zeros((16, 16), dtype=bool))


def test_radial_profile_of_low_pass():
    radii, profile = analysis.radial_profile(low_pass(32, 5))
    assert radii[0] == 0 and np.all(np.diff(radii) == 1)
    assert np.all(profile[radii <= 4] == 1) and np.all(profile[radii >= 6] == 0)


def test_ground_truth_roc_endpoints():
    truth = np.zeros((8, 8), dtype=bool)
    truth[1, 2] = True
    fpr, tpr = analysis.ground_truth_roc(truth.astype(float), truth)
    assert fpr[0] == 0 and tpr[-1] == 1 and np.trapezoid(tpr, fpr) == pytest.approx(1.0)


def test_mean_power_spectrum_and_log_amplitude():
    size = 16
    t = np.arange(size)
    wave = np.cos(2 * np.pi * 3 * t / size)[None, :].repeat(size, 0)  # kx = +-3
    images = np.stack([wave, np.ones((size, size))])
    per_class = analysis.mean_power_spectrum(images, np.array([0, 2]), n_classes=3)
    assert per_class.shape == (3, size, size) and np.all(per_class[1] == 0)
    assert set(zip(*np.nonzero(per_class[0] > 1e-6))) == {(0, 3), (0, size - 3)}
    np.testing.assert_allclose(analysis.mean_power_spectrum(images), per_class[[0, 2]].mean(0))
    masked = analysis.log_amplitude_spectrum(wave, mask=np.zeros((size, size)))
    assert np.all(masked == 0) and analysis.log_amplitude_spectrum(wave)[0, 3] > 0


# ------------------------------------------------------------------ plots

@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(6)
    size, n = 16, 12
    images = rng.random((n, size, size))
    masks = rng.random((n, size, size))
    labels = np.arange(n) % 3
    truth = np.zeros((3, size, size), dtype=bool)
    truth[:, 2, 3] = True
    return dict(size=size, images=images, masks=masks, labels=labels, truth=truth,
                class_names=["a", "b", "c"])


def _check(fig):
    assert isinstance(fig, Figure)
    fig.canvas.draw()  # the whole layout renders
    plt.close(fig)


def test_plot_functions_return_figures(small):
    s = small
    x, m = s["images"], s["masks"]
    named = {name: m[i] for i, name in enumerate(["N", "A", "S", "T", "R"])}
    _check(figures.plot_activation_spectra(analysis.activation_spectra(), analysis.intermodulation_spectrum(5, 12)))
    _check(figures.plot_mask_layer_schematic(x[0], m[0], x[0] * 0.5))
    _check(figures.plot_dataset_masks(experiments.figure3(named)))
    _check(figures.plot_band_partitions_and_energies(
        experiments.band_energy_differences({"vanilla": m[0], "b": m[1], "c": m[2]}, n_bands=8)))
    _check(figures.plot_paper_vs_build([("Table 1", "a, %", 80.0, 70.0), ("Table 2", "b, %", 50.0, 55.0)]))
    _check(figures.plot_image_mask_grid(x, m, s["labels"], m[:3], s["class_names"],
                                      x * 0.2, x * 0.8, n_per_class=3))
    _check(figures.plot_reversal_examples(x[:2], x[:2], m[:2], x[:2], x[:2], m[:2] > 0.5, x[:2],
                                        titles=["a", "b"]))
    more = np.linspace(0, 90, 8)
    parts = {"more": more, "equal": np.full(8, 10.0), "less": 90 - more}
    fig = figures.plot_band_preference(parts, parts, "M_N,xA > M_N,x", cue_bands={"L": [1], "H": [6]})
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert labels == ["M_N,xA keeps more", "equal", "M_N,x keeps more"]
    _check(fig)
    _check(figures.plot_umap(np.random.default_rng(0).normal(size=(12, 2)), s["labels"], s["class_names"]))
    _check(figures.plot_ground_truth(m[0], s["truth"]))
    _check(figures.plot_samples(x[:, None], s["labels"], s["class_names"], n_per_class=4))
    _check(figures.plot_power_spectrum(np.abs(np.fft.fft2(x)).mean(0) ** 2))
    _check(figures.plot_training_history({"train_loss": [1.0, 0.5], "val_loss": [1.1, 0.7],
                                        "val_acc": [0.4, 0.6]}))
    assert not plt.get_fignums()


def test_plot_dataset_overview(small):
    from fm_core.data import from_arrays

    s = small
    ds = from_arrays("tiny", s["images"], s["labels"], s["images"], s["labels"],
                     class_names=s["class_names"], ground_truth=s["truth"])
    _check(figures.plot_dataset_overview(ds, n_per_class=3))

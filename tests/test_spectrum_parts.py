"""Amplitude and phase masks (fm_core.fourier.PARTS): the maths of removing one part of the
spectrum, and learning on known truth, where class information sits in amplitude only
(the toy gratings of test_masks.py: random phases) or in a phase relation only (the cue
world's phase-cue variant)."""
import numpy as np
import pytest
import torch

from fm_core import fourier
from fm_core import masks as fm
from fm_core.data import synthetic
from fm_core.errors import UserError
from fm_core.nets.evaluation import accuracy

from test_masks import FREQS, _planted, trained  # noqa: F401  (trained: the module fixture)

pytestmark = pytest.mark.usefixtures("one_thread")


def _images(n=6, size=8, seed=0):
    return torch.randn(n, 1, size, size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("part", fourier.PARTS)
def test_a_mask_of_ones_changes_nothing(part):
    z = _images()
    reference = fourier.spectrum_reference(z, part)
    out = fourier.apply_part_mask(z, torch.ones(8, 8, dtype=torch.float64), part, reference)
    assert torch.allclose(out, z, atol=1e-10)


def test_an_amplitude_mask_of_zeros_gives_every_image_the_reference_amplitude_and_keeps_its_phase():
    z = _images()
    reference = fourier.spectrum_reference(z, "amplitude")
    assert torch.allclose(reference, torch.fft.fft2(z).abs().mean((0, 1)))
    out = fourier.apply_part_mask(z, torch.zeros(8, 8, dtype=torch.float64), "amplitude", reference)
    spec, before = torch.fft.fft2(out), torch.fft.fft2(z)
    assert torch.allclose(spec.abs(), reference.expand_as(spec), atol=1e-9)
    assert torch.allclose(torch.cos(spec.angle() - before.angle()), torch.ones(()).double(), atol=1e-9)


def test_a_phase_mask_of_zeros_gives_every_image_the_reference_phase_and_keeps_its_amplitude():
    z = _images()
    reference = fourier.spectrum_reference(z, "phase", seed=3)
    out = fourier.apply_part_mask(z, torch.zeros(8, 8, dtype=torch.float64), "phase", reference)
    spec, before = torch.fft.fft2(out), torch.fft.fft2(z)
    assert torch.allclose(spec.abs(), before.abs(), atol=1e-9)
    turned = ~fourier._self_conjugate(8, 8, "cpu")
    assert torch.allclose(torch.cos(spec.angle() - reference)[..., turned], torch.ones(()).double(), atol=1e-9)
    assert torch.allclose(spec[..., ~turned], before[..., ~turned], atol=1e-9)  # DC and Nyquist: as they were


@pytest.mark.parametrize("part", ("amplitude", "phase"))
def test_a_half_mask_filters_a_real_image_into_a_real_image(part):
    """Symmetrised mask, even amplitude reference, odd phase reference: the spectrum stays
    Hermitian, so the inverse FFT has (almost) no imaginary part to throw away."""
    z = _images(size=9)
    m = torch.rand(9, 9, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    reference = fourier.spectrum_reference(z, part)
    m_sym = fourier.symmetric_part(m)
    spec = torch.fft.fft2(z)
    amplitude, phase = spec.abs(), spec.angle()
    if part == "amplitude":
        amplitude = m_sym * amplitude + (1 - m_sym) * reference
    else:
        arc = torch.remainder(reference - phase + np.pi, 2 * np.pi) - np.pi
        arc[..., 0, 0] = 0.0  # DC: its own mirror, left as it is (size 9 has no Nyquist bin)
        phase = phase + (1 - m_sym) * arc
    complex_out = torch.fft.ifft2(torch.polar(amplitude, phase))
    assert complex_out.imag.abs().max() < 1e-9
    assert torch.allclose(fourier.apply_part_mask(z, m, part, reference), complex_out.real)


def test_a_bad_part_is_one_line():
    with pytest.raises(UserError, match="part must be one of"):
        fm.DatasetMask(part="modulus")(None, torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.long))


SMALL = dict(lam=20.0, lr=0.05, max_steps=300, batch_size=32, window=10, tol=2e-3, patience=2,
             schedule="constant", revert=False, invariance="dataset_mean")


def test_on_gratings_with_random_phases_the_amplitude_mask_keeps_the_planted_bins_and_the_phase_mask_nothing(trained):  # noqa: F811
    """The toy classes differ in which frequency carries energy, never in phase: the
    amplitude mask keeps the planted bins (like the paper's mask), the phase mask can turn
    every phase to the reference and keep the accuracy."""
    model, x, y = trained
    amp = fm.learn_dataset_mask(model, x, y, part="amplitude", **SMALL)
    phase = fm.learn_dataset_mask(model, x, y, part="phase", **SMALL)
    planted = _planted()
    for result in (amp, phase):
        assert result.all_converged and result.settings["part"] in ("amplitude", "phase")
        assert accuracy(model, x, y, result.applied) >= 0.95 * result.accuracy_before
    a = fourier.symmetric_part(amp.mask)
    # two of the three frequencies tell three classes apart (as for the paper's mask in test_masks.py)
    assert sum(a[i, j] > 0.2 for i, j in FREQS) >= 2 and a[~planted].mean() < 0.05
    assert phase.mask.mean() < 0.05


def test_the_phase_cue_variant_puts_the_class_in_the_triads_relative_phase_only():
    size = 32
    world = synthetic.CueWorld(h_carrier="phase", train_cues="high")
    x, y = synthetic.generate(400, size, seed=5, world=world)
    spec = np.fft.fft2(x.astype(np.float64) / 255.0)
    (k1, k2, k3) = [(ky % size, kx % size) for kx, ky in synthetic.triad(size)]
    amp = np.abs(spec[:, k3[0], k3[1]])
    # the same amplitude for every class (within the background's noise) ...
    means = np.array([amp[y == c].mean() for c in range(5)])
    assert means.std() < 0.05 * means.mean()
    # ... and the class in the bispectrum's phase: phi3 - phi1 - phi2 = 2 pi c / 5
    relative = np.angle(spec[:, k3[0], k3[1]] * np.conj(spec[:, k1[0], k1[1]] * spec[:, k2[0], k2[1]]))
    decoded = np.round(np.mod(relative, 2 * np.pi) / (2 * np.pi / 5)).astype(int) % 5
    assert (decoded == y).mean() > 0.9
    truth = synthetic.truth(size, "phase")["high"]
    assert truth.shape == (5, size, size) and (truth == truth[0]).all() and truth[0].sum() == 6
    with pytest.raises(UserError, match="h_carrier"):
        synthetic.CueWorld(h_carrier="modulus")


def test_on_the_phase_cue_world_the_phase_mask_finds_the_phase_cue_and_the_amplitude_mask_does_not(smoke):
    """Known truth at the smoke profile: masks learned on the fit half of the phase-cue
    world, judged against its planted bins; the ablations on the score half."""
    from fm_core.pages import amplitude_phase

    truth = amplitude_phase.known_truth(smoke, progress=False)
    row = truth["row"]
    assert truth["verdict"].reads_phase_cue  # trained on the phase cue alone, it must
    assert truth["verdict"].phase_mask_finds_h and row["phase: AUROC H"] >= 0.9
    assert not truth["verdict"].amplitude_mask_finds_h and truth["verdict"].validated
    from dataclasses import asdict
    from fm_core.store import pipeline

    assert pipeline.load_results(smoke)["phase_world"]["verdict"] == asdict(truth["verdict"])  # stored with them
    # the triad's amplitudes are the same in every image: removing them changes (almost) nothing
    assert row["amplitude of H removed, %"] >= row["clean, %"] - 1.0
    assert row["phase of H removed, %"] <= row["clean, %"] - 10.0  # its phase is what the network reads


def test_fm_mask_learns_a_phase_mask_and_records_its_part(smoke, tmp_path, capsys):
    from fm_core.cli import main
    from fm_core.masks.result import MaskResult
    from fm_core.nets.models import save_model
    from fm_core.store import pipeline

    model_file = tmp_path / "m.pt"
    save_model(pipeline.get_network(smoke, "vanilla", progress=False), model_file)
    out = tmp_path / "phase.npz"
    assert main(["mask", "--model", str(model_file), "--part", "phase", "--profile", "smoke", "--max-steps", "30",
                 "--out", str(out)]) == 0
    assert "phase mask: accuracy" in capsys.readouterr().out
    result = MaskResult.load(out)
    assert result.settings["part"] == "phase" and result.extra["reference"].shape == (32, 32)
    assert isinstance(result.applied, fourier.SpectrumFilter)

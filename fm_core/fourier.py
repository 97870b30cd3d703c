"""The Fourier mask layer (Karantzas et al. 2022, Figure 2) and its helpers.

A mask M (real, H x W, values in [0, 1]) filters a *normalised* image z as
``z_bar = Re IFFT2(M * FFT2(z))``. Masks are stored in the unshifted FFT layout (DC at
[0, 0]) and shown fftshifted (:func:`centered`). Only maths here: no learning, no data.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

COMPLEMENT_THRESHOLD = 1e-8  # the paper's Mc: 1 where M < 1e-8


def model_device_dtype(model) -> tuple[torch.device, torch.dtype]:
    """Where a network runs and in which float type: its first parameter's (or, for one
    without parameters, its first buffer's; CPU float32 for neither)."""
    p = next(model.parameters(), None)
    if p is None:
        p = next(model.buffers(), None)
    return (p.device, p.dtype) if p is not None else (torch.device("cpu"), torch.float32)


def as_mask_batch(m) -> torch.Tensor:
    """(H, W) -> (1, 1, H, W); (B, H, W) -> (B, 1, H, W); 4-d arrays unchanged."""
    m = torch.as_tensor(m)
    if m.dim() == 2:
        return m[None, None]
    if m.dim() == 3:
        return m[:, None]
    if m.dim() == 4:
        return m
    raise ValueError(f"a mask must have shape (H, W), (B, H, W) or (B, 1, H, W), got {tuple(m.shape)}")


def apply_fourier_mask(z: torch.Tensor, m) -> torch.Tensor:
    """``Re IFFT2(m * FFT2(z))`` over the last two dimensions.

    z: (B, 1, H, W) or (B, H, W). m: unshifted, one mask for every image, (H, W) or
    (1, 1, H, W), or one per image, (B, H, W) or (B, 1, H, W); NumPy arrays are accepted."""
    # Both go to (B, 1, H, W) so that mask b always meets image b (never broadcasting
    # a (B, H, W) mask across the channel axis).
    m = as_mask_batch(m).to(device=z.device, dtype=z.dtype)
    flat = z.dim() == 3
    if flat:
        z = z.unsqueeze(1)
    out = torch.fft.ifft2(m * torch.fft.fft2(z)).real
    return out.squeeze(1) if flat else out


class FourierMask(nn.Module):
    """The mask layer: a learnable ``weight`` of shape (n_masks, 1, H, W), initialised to ones.

    One mask is shared by every image; n_masks = B pairs mask b with image b. It fits the
    ``model.mask`` slot of :class:`fm_core.nets.models.MaskedClassifier`, where it sees the
    normalised image."""

    def __init__(self, size: int | tuple[int, int], n_masks: int = 1):
        super().__init__()
        h, w = (size, size) if isinstance(size, int) else size
        self.weight = nn.Parameter(torch.ones(n_masks, 1, h, w))

    @classmethod
    def from_array(cls, m) -> "FourierMask":
        """A layer holding the given mask(s): (H, W), (B, H, W) or (B, 1, H, W), unshifted."""
        weight = as_mask_batch(m).to(torch.get_default_dtype())
        layer = cls(tuple(weight.shape[-2:]), n_masks=weight.shape[0])
        with torch.no_grad():
            layer.weight.copy_(weight)
        return layer

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return apply_fourier_mask(z, self.weight)


# What a mask acts on. "both" is the paper's mask, M * F: a removed bin loses its
# amplitude and with it its phase. The other two remove one part and keep the other
# (the paper's discussion proposes masks "to modulate the phase and modulus"):
#   amplitude: |F| mixed toward a reference amplitude, the mean |F| of the images the
#              mask is learned on, with the phase kept: M = 0 leaves every image the same
#              amplitude at that bin, so the bin's amplitude carries no information;
#   phase:     the phase turned toward a fixed random reference phase along the shorter
#              arc, by the fraction 1 - M, with |F| kept: M = 0 gives every image the same
#              (random) phase there (the real DC and Nyquist bins keep their sign). A
#              reference rather than fresh noise at every step keeps the objective
#              deterministic, so the mask can settle like the paper's.
# Both keep the filtered image real: M is symmetrised, the amplitude reference is even and
# the phase reference is the phase of a real noise image (odd in k).
PARTS = ("both", "amplitude", "phase")


def spectrum_reference(z: torch.Tensor, part: str, seed: int = 0) -> torch.Tensor | None:
    """(H, W) the reference a ``part`` mask mixes toward (see :data:`PARTS`): the mean
    amplitude of the normalised images z (N, 1, H, W), or the phase of a seeded white-noise
    image; None for "both"."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    if part == "amplitude":
        return torch.fft.fft2(z).abs().reshape(-1, *z.shape[-2:]).mean(0)
    if part == "phase":
        noise = torch.randn(z.shape[-2:], generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        return torch.fft.fft2(noise).angle().to(device=z.device, dtype=z.dtype)
    return None


def _self_conjugate(h: int, w: int, device) -> torch.Tensor:
    """(H, W) bool: the bins k with k = -k (mod size), whose coefficients are real."""
    i, j = torch.arange(h, device=device), torch.arange(w, device=device)
    return ((i == (-i) % h)[:, None]) & ((j == (-j) % w)[None, :])


def apply_part_mask(z: torch.Tensor, m, part: str = "both", reference: torch.Tensor | None = None) -> torch.Tensor:
    """The image z (B, 1, H, W) with the ``part`` of its spectrum masked by m (shapes as in
    :func:`apply_fourier_mask`); ``reference`` from :func:`spectrum_reference`."""
    if part == "both":
        return apply_fourier_mask(z, m)
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    m = symmetric_part(as_mask_batch(m).to(device=z.device, dtype=z.dtype))
    reference = torch.as_tensor(reference).to(device=z.device, dtype=z.dtype)
    spectrum = torch.fft.fft2(z)
    amplitude, phase = spectrum.abs(), spectrum.angle()
    if part == "amplitude":
        amplitude = m * amplitude + (1 - m) * reference
    else:
        shorter_arc = torch.remainder(reference - phase + np.pi, 2 * np.pi) - np.pi
        # a bin that is its own mirror (DC, Nyquist) has a real coefficient: its "phase" is
        # a sign, which no partial turn keeps real, so it is left as it is
        phase = phase + (1 - m) * shorter_arc.masked_fill(_self_conjugate(*z.shape[-2:], z.device), 0.0)
    return torch.fft.ifft2(torch.polar(amplitude, phase)).real


class SpectrumFilter:
    """A learned ``part`` mask with its reference, applied to normalised images as one
    callable: what :mod:`fm_core.nets.evaluation` takes in place of a plain mask."""

    def __init__(self, mask, part: str, reference):
        self.mask, self.part, self.reference = torch.as_tensor(np.asarray(mask)), part, reference

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return apply_part_mask(z, self.mask, self.part, self.reference)


def masked_logits(model, x: torch.Tensor, m) -> torch.Tensor:
    """The network's logits on the masked image: ``core(mask(normalize(x)))`` for x in [0, 1]
    (m: a mask, or a :class:`SpectrumFilter`)."""
    z = model.normalize(x)
    return model.core(m(z) if isinstance(m, SpectrumFilter) else apply_fourier_mask(z, m))


@torch.no_grad()
def filter_images(model, x: torch.Tensor, m) -> torch.Tensor:
    """The masked images in pixel space, on the CPU, for display (the mask acts on the
    normalised image). m as in :func:`apply_fourier_mask`."""
    x = x.to(*model_device_dtype(model))
    return (apply_fourier_mask(model.normalize(x), m) * model.std + model.mean).cpu()


def complement(m):
    """The paper's complementary mask Mc: 1 where M < 1e-8 (removed frequencies), else 0."""
    if isinstance(m, torch.Tensor):
        return (m < COMPLEMENT_THRESHOLD).to(m.dtype if m.is_floating_point() else torch.float32)
    m = np.asarray(m)
    return (m < COMPLEMENT_THRESHOLD).astype(m.dtype if m.dtype.kind == "f" else np.float32)


def centered(m):
    """The mask with the DC term moved to the centre (fftshift), for display."""
    if isinstance(m, torch.Tensor):
        return torch.fft.fftshift(m, dim=(-2, -1))
    return np.fft.fftshift(m, axes=(-2, -1))


def symmetric_part(m):
    """(M(k) + M(-k)) / 2, where -k is the index (-i mod H, -j mod W).

    A real image's spectrum is Hermitian, so taking the real part of the inverse FFT
    means the filter actually applied is this symmetric part of M, not M itself."""
    h, w = m.shape[-2:]
    neg_i, neg_j = (-np.arange(h)) % h, (-np.arange(w)) % w
    if isinstance(m, torch.Tensor):
        neg_i, neg_j = torch.as_tensor(neg_i, device=m.device), torch.as_tensor(neg_j, device=m.device)
    return (m + m[..., neg_i, :][..., neg_j]) / 2

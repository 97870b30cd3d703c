"""Fourier masks: the mask layer's maths, dataset masks, batched single-image masks
(equal to one-at-a-time runs and to torch's own Adam + OneCycleLR), resume, and the
adversarial-reversal selection. Tiny networks and 4-12 px images keep it fast."""
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from fm_core import fourier
from fm_core.masks import image_masks, objective as mask_objective
from fm_core.science import reversal
from fm_core import masks as fm
from fm_core.nets.evaluation import accuracy
from fm_core.cli.bench import run_bench
from fm_core.errors import UserError
from fm_core.nets.models import MaskedClassifier
from fm_core.utils import load_npz

SIZE = 12
# class c's image is a grating at frequency FREQS[c] (row, column), random phase, plus noise
FREQS = [(0, 2), (2, 0), (2, 2)]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def toy_data(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % len(FREQS)
    i, j = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    f = torch.tensor(FREQS, dtype=torch.float64)[y]
    phase = torch.rand(n, generator=g, dtype=torch.float64) * 2 * math.pi
    arg = 2 * math.pi * (f[:, 0, None, None] * i + f[:, 1, None, None] * j) / SIZE + phase[:, None, None]
    x = 0.5 + 0.25 * torch.cos(arg) + 0.1 * torch.randn(n, SIZE, SIZE, generator=g, dtype=torch.float64)
    return x.clamp(0, 1)[:, None].float(), y


def tiny_model(seed: int = 0) -> MaskedClassifier:
    torch.manual_seed(seed)
    core = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, len(FREQS)))
    return MaskedClassifier(core, 0.5, 0.25, {"size": SIZE})


@pytest.fixture(scope="module")
def trained():
    """A tiny conv net trained on the toy gratings (about a second), and held-out images."""
    torch.set_num_threads(1)
    x, y = toy_data(300, seed=0)
    model = tiny_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        idx = torch.randint(len(x), (64,), generator=g)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    x_val, y_val = toy_data(150, seed=1)
    assert accuracy(model, x_val, y_val) >= 0.95
    return model, x_val, y_val


@pytest.fixture
def model64(trained):
    model = tiny_model()
    model.load_state_dict(trained[0].state_dict())
    return model.double()


# Loose tolerances so that images stop early, at different steps.
IMAGE_KW = dict(max_steps=300, patience=10, inv_tol=1e-4, sparsity_tol=1e-4, progress=False)


# ------------------------------------------------------------------------- mask layer

def numpy_filter(z, m):
    return np.real(np.fft.ifft2(m * np.fft.fft2(z, axes=(-2, -1)), axes=(-2, -1)))


@pytest.mark.parametrize("mask_shape", [(8, 6), (1, 1, 8, 6), (3, 1, 8, 6), (3, 8, 6)])
def test_mask_layer_matches_numpy(mask_shape):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3, 1, 8, 6))
    m = rng.uniform(size=mask_shape)
    expected = numpy_filter(z, m[:, None] if m.ndim == 3 else m)  # (B, H, W): one mask per image
    got = fm.apply_fourier_mask(torch.from_numpy(z), torch.from_numpy(m))
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-12)
    # (B, H, W) images give the same, per image
    got3 = fm.apply_fourier_mask(torch.from_numpy(z[:, 0]), torch.from_numpy(m))
    np.testing.assert_allclose(got3.numpy(), expected[:, 0], atol=1e-12)


def test_ones_mask_is_identity_and_layer_fits_model_slot():
    model = tiny_model().double()
    x = torch.rand(4, 1, SIZE, SIZE, dtype=torch.float64)
    ones = torch.ones(SIZE, SIZE, dtype=torch.float64)
    z = model.normalize(x)
    torch.testing.assert_close(fm.apply_fourier_mask(z, ones), z, atol=1e-12, rtol=0)
    torch.testing.assert_close(fm.filter_images(model, x, ones), x, atol=1e-12, rtol=0)

    m = torch.rand(SIZE, SIZE, dtype=torch.float64)
    model.mask = fm.FourierMask.from_array(m).double()
    assert model.mask.weight.shape == (1, 1, SIZE, SIZE)
    torch.testing.assert_close(model(x), fourier.masked_logits(model, x, m))
    assert not torch.allclose(model(x), model.core(z))


def test_complement_and_centered():
    m = np.array([[0.0, 0.5], [1e-9, 1.0]], dtype=np.float32)
    np.testing.assert_array_equal(fm.complement(m), [[1, 0], [1, 0]])
    np.testing.assert_array_equal(fm.complement(torch.from_numpy(m)).numpy(), [[1, 0], [1, 0]])
    m = np.zeros((8, 8))
    m[0, 0] = 1  # DC
    assert fm.centered(m)[4, 4] == 1
    np.testing.assert_array_equal(fm.centered(torch.from_numpy(m)).numpy(), np.fft.fftshift(m))


def test_symmetric_part_is_the_filter_actually_applied():
    rng = np.random.default_rng(1)
    m = torch.from_numpy(rng.uniform(size=(7, 6)))  # odd and even sides
    s = fm.symmetric_part(m)
    assert not torch.allclose(s, m)
    z = torch.from_numpy(rng.normal(size=(2, 1, 7, 6)))
    torch.testing.assert_close(fm.apply_fourier_mask(z, m), fm.apply_fourier_mask(z, s), atol=1e-12, rtol=0)
    # it is symmetric, S(-k) = S(k), and leaves a symmetric mask unchanged
    assert s[0, 0] == m[0, 0] and s[1, 2] == s[6, 4] == (m[1, 2] + m[6, 4]) / 2
    torch.testing.assert_close(fm.symmetric_part(s), s)
    np.testing.assert_allclose(fm.symmetric_part(m.numpy()), s.numpy())


# ---------------------------------------------------------------------- dataset masks

SMALL = dict(lr=0.05, max_steps=300, batch_size=16, window=10, tol=2e-3, patience=2, schedule="constant",
             revert=False, invariance="batch_mean", progress=False)


def _planted() -> np.ndarray:
    planted = np.zeros((SIZE, SIZE), bool)
    for i, j in FREQS:
        planted[i, j] = planted[-i, -j] = True
    return planted


def test_dataset_mask_converges_keeps_accuracy_and_the_planted_frequencies(trained):
    model, x, y = trained
    result = fm.learn_dataset_mask(model, x, y, **SMALL)
    assert result.converged[0] and result.all_converged and result.kept[0]
    assert result.accuracy_before >= 0.95
    assert result.accuracy_after >= 0.99 * result.accuracy_before
    assert result.mask.shape == (SIZE, SIZE) and result.mask.dtype == np.float32
    assert result.mask.min() >= 0 and result.mask.max() <= 1
    assert result.steps[0] < 300 and result.steps[0] % 10 == 0  # it stopped at a window's end, settled
    assert len(result.history["step"]) == result.steps[0] // 10
    assert result.history["change"][-1] <= 2e-3  # the window-averaged mask stopped moving
    # it removed almost everything but some planted frequencies, which carry the classes
    assert result.mask.mean() < 0.1
    filt = fm.symmetric_part(result.mask)
    assert sum(filt[i, j] > 0.2 for i, j in FREQS) >= 2
    assert filt[~_planted()].mean() < 0.02


def test_the_budget_is_counted_in_steps_not_epochs(trained):
    """Never converging (tol 0), the same budget gives the same steps on 24 or 120 images."""
    model, x, y = trained
    settings = dict(SMALL, tol=0.0, max_steps=40)
    few, many = (fm.learn_dataset_mask(model, x[:n], y[:n], **settings) for n in (24, 120))
    assert few.steps[0] == many.steps[0] == 40
    assert not few.converged[0] and not many.converged[0] and not few.all_converged


def test_lambda_path_rows_are_masks_learned_alone(trained):
    """One batched run, one row per lambda, each row the mask that lambda learns alone."""
    model, x, y = trained
    lams = (0.05, 0.5, 5.0)
    path = fm.learn_lambda_path(model, x, y, lams=lams, **SMALL)
    assert path.masks.shape == (3, SIZE, SIZE) and path.converged.all()
    for row, lam in enumerate(lams):
        alone = fm.learn_dataset_mask(model, x, y, lam=lam, **SMALL)
        assert path.steps[row] == alone.steps[0]
        assert np.abs(path.masks[row] - alone.mask).mean() < 1e-3
    assert path.masks[0].mean() >= path.masks[2].mean()  # a larger lambda keeps less


def test_lambda_path_takes_a_learning_rate_per_row(trained):
    model, x, y = trained
    sweep = fm.learn_lambda_path(model, x, y, lams=0.2, **dict(SMALL, lr=[0.01, 0.05]))
    assert sweep.masks.shape[0] == 2 and list(sweep.extra["lrs"]) == [0.01, 0.05]
    slow = fm.learn_dataset_mask(model, x, y, lam=0.2, **dict(SMALL, lr=0.01))
    assert np.abs(sweep.masks[0] - slow.mask).mean() < 1e-3


def test_exp_penalty_is_exp_below_the_cap_and_linear_above():
    inv = torch.linspace(0, 10, 101, dtype=torch.float64, requires_grad=True)
    capped = mask_objective.exp_penalty(inv, 4.0)
    below = inv.detach() <= 4.0
    torch.testing.assert_close(capped[below], torch.exp(inv[below]))
    (grad,) = torch.autograd.grad(capped.sum(), inv)
    # above the cap: value and slope of exp at the cap, continued linearly
    torch.testing.assert_close(grad[~below], torch.full_like(grad[~below], np.exp(4.0)))
    torch.testing.assert_close(capped[~below], np.exp(4.0) * (1 + inv[~below] - 4.0))
    torch.testing.assert_close(mask_objective.exp_penalty(inv, None), torch.exp(inv))


def test_batch_invariance_is_the_per_image_loss_at_batch_one(trained):
    """At the paper's batch size 1 the batch-mean loss is the image's own loss."""
    model, x, y = trained
    kwargs = dict(SMALL, batch_size=1, max_steps=24, tol=0.0)
    a = fm.learn_dataset_mask(model, x[:12], y[:12], **dict(kwargs, invariance="batch_mean"))
    b = fm.learn_dataset_mask(model, x[:12], y[:12], **dict(kwargs, invariance="per_image"))
    np.testing.assert_array_equal(a.mask, b.mask)
    c = fm.learn_dataset_mask(model, x[:12], y[:12], **dict(kwargs, invariance="per_image", batch_size=6))
    d = fm.learn_dataset_mask(model, x[:12], y[:12], **dict(kwargs, invariance="batch_mean", batch_size=6))
    assert not np.array_equal(c.mask, d.mask)


def test_dataset_mean_is_the_unbiased_squared_mean_change():
    """mean(d)^2 - var(d)/b equals the mean of d_i * d_j over pairs i != j: an unbiased
    estimate of (E d)^2, where batch_mean's mean(d)^2 adds var(d)/b on top."""
    from fm_core.masks.dataset_masks import invariance_terms

    torch.manual_seed(0)
    logits, y = torch.randn(2, 8, 5), torch.randint(0, 5, (8,))
    ref = torch.rand(8)
    d = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.repeat(2), reduction="none").view(2, 8) - ref
    pairs = (d.sum(-1) ** 2 - (d ** 2).sum(-1)) / (8 * 7)
    got = invariance_terms(logits, y, ref, None, "dataset_mean")[:, 0]
    torch.testing.assert_close(got, pairs)
    biased = invariance_terms(logits, y, ref, None, "batch_mean")[:, 0]
    torch.testing.assert_close(biased - got, d.var(-1) / 8)


def test_a_warm_started_path_begins_at_its_start(trained):
    model, x, y = trained
    start = np.zeros((x.shape[-2], x.shape[-1]), np.float32)
    start[:4, :4] = 1.0
    # a rate so small that five steps cannot move a bin visibly: every row stays at its start
    result = fm.learn_lambda_path(model, x[:16], y[:16], lams=(1.0, 5.0), **dict(SMALL, lr=1e-12, max_steps=5),
                                  start=start)
    for row in result.masks:
        np.testing.assert_allclose(row, start, atol=1e-9)
    assert result.settings["warm_start"]


def test_per_row_starts_and_penalty_weights(trained):
    """One start per row is each row's own; weights W price bin k at lam / W_k, so W = 0.5
    everywhere learns what twice the lambda learns with the plain L1."""
    model, x, y = trained
    size = x.shape[-2:]
    starts = np.stack([np.full(size, 0.25, np.float32), np.full(size, 0.75, np.float32)])
    still = fm.learn_lambda_path(model, x[:16], y[:16], lams=(1.0, 5.0), **dict(SMALL, lr=1e-12, max_steps=5),
                                 start=starts)
    np.testing.assert_allclose(still.masks, starts, atol=1e-9)
    halves = fm.learn_lambda_path(model, x[:32], y[:32], lams=(0.5, 1.0), **dict(SMALL, max_steps=40),
                                  penalty_weights=np.full((2, *size), 0.5))
    doubled = fm.learn_lambda_path(model, x[:32], y[:32], lams=(1.0, 2.0), **dict(SMALL, max_steps=40))
    np.testing.assert_allclose(halves.masks, doubled.masks, atol=1e-4)
    assert halves.settings["penalty_weighted"] and not doubled.settings["penalty_weighted"]
    plain = fm.learn_lambda_path(model, x[:32], y[:32], lams=(0.5, 1.0), **dict(SMALL, max_steps=40))
    assert halves.masks.sum() < plain.masks.sum()  # the weights act: bins priced twice go first


def test_kl_objective_holds_the_output_distribution(trained):
    model, x, y = trained
    result = fm.learn_dataset_mask(model, x, y, **dict(SMALL, invariance="kl"))
    assert 0 <= result.mask.min() and result.mask.max() <= 1
    assert result.accuracy_after >= 0.95 * result.accuracy_before


def test_the_papers_rule_reverts_and_flags_when_no_window_qualifies(trained):
    model, x, y = trained
    paper = dict(SMALL, revert=True, max_steps=20, tol=0.0)
    result = fm.learn_dataset_mask(model, x[:30], y[:30], keep_ratio=2.0, **paper)
    assert not result.kept[0] and result.steps[0] == 20 and not result.converged[0]
    # the paper's defaults: batch 1, one-cycle over epochs x images, a window of one epoch
    defaults = fm.learn_dataset_mask(model, x[:6], y[:6], epochs=2, progress=False)
    assert defaults.settings["max_steps"] == 12 and defaults.settings["window"] == 6
    assert defaults.settings["schedule"] == "one_cycle" and defaults.settings["revert"]


def test_results_save_and_load_convergence(trained, tmp_path):
    model, x, y = trained
    result = fm.learn_dataset_mask(model, x, y, **dict(SMALL, max_steps=20))
    result.save(tmp_path / "m.npz")
    back = fm.MaskResult.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.converged, result.converged)
    np.testing.assert_array_equal(back.steps, result.steps)


# -------------------------------------------------------------- single-image masks

def test_one_cycle_matches_torch():
    total, max_lr = 100, 0.2
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param], lr=max_lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total, pct_start=0.1)
    for step in range(total):
        lr, beta1 = mask_objective.one_cycle(step, total, max_lr)
        assert lr == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-12)
        assert beta1 == pytest.approx(optimizer.param_groups[0]["betas"][0], rel=1e-12)
        optimizer.step()
        schedule.step()
    # the authors' 4-million-step schedule never got far past its starting lr of 0.2 / 25
    assert 0.008 < mask_objective.one_cycle(19_999, 4_000_000, 0.2)[0] < 0.0093


def test_single_image_mask_equals_torch_adam_with_one_cycle(model64):
    """Our per-row Adam and schedule against the authors' recipe: torch.optim.Adam +
    OneCycleLR on one image's mask, clamped after each step."""
    x, steps, lam = toy_data(1, seed=5)[0].double(), 40, 0.07
    ours = fm.learn_image_masks(model64, x, lam=lam, max_steps=steps, patience=0, progress=False)

    z = model64.normalize(x)
    with torch.no_grad():
        logits = model64.core(z)
    target = logits.argmax(1)
    ref_loss = nn.functional.cross_entropy(logits, target)
    mask = torch.ones(1, 1, SIZE, SIZE, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([mask], lr=0.2)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.2, total_steps=steps, pct_start=0.1)
    for _ in range(steps):
        out = model64.core(fm.apply_fourier_mask(z, mask))
        loss = torch.exp((nn.functional.cross_entropy(out, target) - ref_loss) ** 2) + lam / SIZE**2 * mask.abs().sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            mask.clamp_(0, 1)
    assert ours.steps[0] == steps
    np.testing.assert_allclose(ours.masks[0], mask.detach()[0, 0].numpy(), atol=1e-6, rtol=0)
    assert ours.masks[0].mean() < 0.9  # it learned something


def test_batched_equals_one_at_a_time(model64, trained):
    x = trained[1][:8].double()
    batched = fm.learn_image_masks(model64, x, batch_size=3, **IMAGE_KW)
    alone = [fm.learn_image_masks(model64, x[i:i + 1], batch_size=1, **IMAGE_KW) for i in range(len(x))]
    # the images stopped early, at different steps, so the pool was refilled part-way
    assert len(set(batched.steps.tolist())) >= 3
    assert batched.steps.max() < IMAGE_KW["max_steps"]
    for i, one in enumerate(alone):
        assert batched.steps[i] == one.steps[0]
        assert batched.final_predictions[i] == one.final_predictions[0]
        np.testing.assert_allclose(batched.masks[i], one.masks[0], atol=1e-7, rtol=0)
    # the masks are the network's own: the masked prediction stays its prediction
    np.testing.assert_array_equal(batched.final_predictions, batched.predictions)
    assert batched.masks.shape == (8, SIZE, SIZE) and batched.masks.dtype == np.float32
    assert batched.masks.mean() < 0.1


def test_patience_zero_runs_exactly_max_steps(model64, trained):
    x = trained[1][:5].double()
    result = fm.learn_image_masks(model64, x, max_steps=25, patience=0, batch_size=2, progress=False)
    np.testing.assert_array_equal(result.steps, [25] * 5)


def test_stopping_needs_the_target_prediction(model64, trained):
    """With targets the network does not predict, the masked prediction never matches,
    so no image may stop early (the same images stop early with their own targets)."""
    x, y = trained[1][:6].double(), trained[2][:6]
    wrong = (y + 1) % len(FREQS)
    result = fm.learn_image_masks(model64, x, targets=wrong, batch_size=3, **IMAGE_KW)
    np.testing.assert_array_equal(result.predictions, wrong.numpy())
    early = result.steps < IMAGE_KW["max_steps"]
    np.testing.assert_array_equal(result.final_predictions[early], wrong.numpy()[early])
    assert not early.all()


RESULT_ARRAYS = ("masks", "steps", "kept", "predictions", "final_predictions")


def test_resume_after_a_kill_gives_identical_masks(model64, trained, tmp_path, monkeypatch):
    x = trained[1][:7].double()
    kw = dict(IMAGE_KW, batch_size=3, checkpoint_every=5)
    uninterrupted = fm.learn_image_masks(model64, x, **kw)

    ckpt = tmp_path / "masks.ckpt.npz"
    real_save, calls = image_masks.save_npz_atomic, []

    def save_then_die(*args, **kwargs):
        calls.append(1)
        if len(calls) == 15:  # killed between the 14th and 15th checkpoints: that work is lost
            raise KeyboardInterrupt
        real_save(*args, **kwargs)

    monkeypatch.setattr(image_masks, "save_npz_atomic", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        fm.learn_image_masks(model64, x, checkpoint=ckpt, **kw)
    monkeypatch.setattr(image_masks, "save_npz_atomic", real_save)
    state = load_npz(ckpt)  # part-way: some images done, some in the pool, some not started
    assert 0 < state["done"].sum() and len(state["idx"]) == 3 and state["next_image"] < len(x)

    with pytest.raises(UserError, match="other arguments"):  # a mismatched checkpoint is refused
        fm.learn_image_masks(model64, x, checkpoint=ckpt, **dict(kw, lam=0.1))
    with pytest.raises(UserError, match="other arguments"):
        fm.learn_image_masks(model64, x[:6], checkpoint=ckpt, **kw)

    resumed = fm.learn_image_masks(model64, x, checkpoint=ckpt, **kw)
    for key in RESULT_ARRAYS:
        np.testing.assert_array_equal(getattr(resumed, key), getattr(uninterrupted, key))
    # the checkpoint now holds the finished state (the caller deletes it once saved):
    # another call returns the same masks without a single step
    again = fm.learn_image_masks(model64, x, checkpoint=ckpt, **dict(kw, max_steps=kw["max_steps"]))
    for key in RESULT_ARRAYS:
        np.testing.assert_array_equal(getattr(again, key), getattr(uninterrupted, key))
    assert np.load(ckpt)["done"].all()


def test_unreadable_checkpoint_is_a_user_error(model64, trained, tmp_path):
    ckpt = tmp_path / "bad.npz"
    ckpt.write_bytes(b"not an npz")
    with pytest.raises(UserError, match="cannot read"):
        fm.learn_image_masks(model64, trained[1][:2].double(), checkpoint=ckpt, max_steps=3, progress=False)


# ------------------------------------------------------------- adversarial reversal

class MeanFeature(nn.Module):
    def forward(self, z):
        return z.mean(dim=(1, 2, 3))[:, None]


def threshold_net(threshold: float) -> MaskedClassifier:
    """Class 0 when the image's mean exceeds ``threshold``, else class 1."""
    linear = nn.Linear(1, 2)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[10.0], [-10.0]]))
        linear.bias.copy_(torch.tensor([-10.0 * threshold, 10.0 * threshold]))
    return MaskedClassifier(nn.Sequential(MeanFeature(), linear), 0.0, 1.0, {"size": 4})


# Constant images (mean c) and labels. Vanilla threshold 0.5, adversarial 0.3, eps 0.05:
# PGD moves every pixel by at least eps/4 towards the wrong side (random start within eps,
# then 10 steps of eps/8), so it flips images within 0.0125 of 0.5 and none beyond 0.05.
REVERSAL_CASES = [  # (c, y): vanilla right?, adversarial right?, PGD flips vanilla?
    (0.80, 0),  # yes, yes, no
    (0.51, 0),  # yes, yes, yes -> selected
    (0.49, 0),  # no,  yes, no
    (0.49, 1),  # yes, no,  yes
    (0.20, 0),  # no,  no,  no
    (0.52, 0),  # yes, yes, yes -> selected
    (0.60, 0),  # yes, yes, no
    (0.40, 1),  # yes, no,  no
    (0.20, 1),  # yes, yes, no
]


def reversal_toy():
    c = torch.tensor([case[0] for case in REVERSAL_CASES])
    y = torch.tensor([case[1] for case in REVERSAL_CASES])
    return c[:, None, None, None].expand(-1, 1, 4, 4).clone(), y


def test_select_reversal_images():
    x, y = reversal_toy()
    vanilla = threshold_net(0.5)
    sel = reversal.select_reversal_images(vanilla, threshold_net(0.3), x, y, eps_pixel=0.05)
    np.testing.assert_array_equal(sel["indices"], [1, 5])
    assert sel["indices"].dtype == np.int64
    assert sel["counts"] == {"images": 9, "agree": 6, "flipped": 3, "selected": 2}
    assert sel["x_adv"].shape == (2, 1, 4, 4)
    assert (sel["x_adv"] - x[sel["indices"]]).abs().max() <= 0.05 + 1e-6
    assert (vanilla(sel["x_adv"]).argmax(1) != y[sel["indices"]]).all()


def test_reversal_accuracies():
    x, _ = reversal_toy()
    model = threshold_net(0.5)
    x_adv = x + torch.tensor([-0.1, 0.1]).repeat(5)[:len(x), None, None, None]  # moves 0.49 and 0.51 across
    clean = model(x).argmax(1)
    # a DC-only mask keeps the mean (all this net sees); its complement removes it
    dc_only = np.zeros((len(x), 4, 4), np.float32)
    dc_only[:, 0, 0] = 1
    acc = reversal.reversal_accuracies(model, x, x_adv, dc_only)
    x_a = 100 * (model(x_adv).argmax(1) == clean).double().mean().item()
    assert acc["x"] == 100 and acc["M(x)"] == 100 and acc["n"] == len(x)
    assert acc["x_A"] == pytest.approx(x_a) and acc["M(x_A)"] == pytest.approx(x_a)
    assert 0 < x_a < 100
    assert acc["Mc(x)"] == pytest.approx(100 * (clean == 1).double().mean().item())  # mean 0 -> class 1


def test_reversal_controls():
    masks = np.zeros((4, 6, 6), np.float32)
    masks[:, :2, :3] = 1.0  # 6 kept bins each
    masks[3, 0, 0] = 0.0  # 5 kept
    random = reversal.random_masks_like(masks, seed=1)
    np.testing.assert_array_equal((random > 0.5).sum(axis=(1, 2)), [6, 6, 6, 5])
    assert not np.array_equal(random[0], masks[0])  # another place, same size
    labels = np.array([0, 1, 0, 1, 1, 2])
    partner = reversal.same_class_partner(labels, seed=0)
    assert (labels[partner] == labels).all()
    assert (partner[:5] != np.arange(5)).all() and partner[5] == 5  # class 2 has one image

    x, _ = reversal_toy()
    model = threshold_net(0.5)
    x_adv = x + torch.tensor([-0.1, 0.1]).repeat(5)[:len(x), None, None, None]
    dc_only = np.zeros((len(x), 4, 4), np.float32)
    dc_only[:, 0, 0] = 1
    none = np.zeros((2, 4, 4), np.float32)  # class masks that remove everything
    acc = reversal.reversal_accuracies(model, x, x_adv, dc_only, labels=np.arange(len(x)) % 2, class_masks=none)
    # another image's DC mask is the same DC mask; the empty class mask leaves mean 0 -> class 1
    assert acc["same-class image's mask (x_A)"] == acc["M(x_A)"]
    clean = model(x).argmax(1)
    assert acc["class mask (x_A)"] == pytest.approx(100 * (clean == 1).double().mean().item())


def test_mask_result_saves_and_loads(model64, trained, tmp_path):
    result = fm.ImageMasks(max_steps=3, patience=0, batch_size=2)(model64, trained[1][:3].double(), progress=False)
    result.extra["indices"] = np.array([4, 5, 6])
    result.save(tmp_path / "r.npz")
    back = fm.MaskResult.load(tmp_path / "r.npz")
    for key in RESULT_ARRAYS:
        np.testing.assert_array_equal(getattr(back, key), getattr(result, key))
    assert back.settings == json.loads(json.dumps(result.settings)) and back.settings["max_steps"] == 3
    np.testing.assert_array_equal(back.extra["indices"], [4, 5, 6])
    with pytest.raises(ValueError, match="holds 3 masks"):
        back.mask


# -------------------------------------------------------------------------------- bench

def test_run_bench_writes_json(tmp_path):
    model = tiny_model()
    out = tmp_path / "bench.json"
    result = run_bench(model, torch.rand(4, 1, SIZE, SIZE), steps=3, batch_size=4, out=out, cases=["batched"])
    saved = json.loads(out.read_text())
    assert saved["images"] == 4 and saved["steps"] == 3 and saved["image_size"] == [SIZE, SIZE]
    assert set(saved["seconds"]) == {"batched", "one_at_a_time", "floor"}
    seconds = result["seconds"]  # the ratios are those of the times measured in this run
    assert result["ratios"]["one_at_a_time/batched"] == pytest.approx(seconds["one_at_a_time"] / seconds["batched"])
    assert saved["ratios"] == pytest.approx(result["ratios"])

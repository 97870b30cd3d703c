"""Foundation: synthetic data, models and their files, training, the command line."""
from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from fm_core.data import synthetic
from fm_core.cli import main
from fm_core.data import from_arrays, load_dataset
from fm_core.errors import UserError
from fm_core.nets.models import build_model, load_model, save_model
from fm_core.profiles import PROFILES, REGIMES, get_profile
from fm_core.nets.training import augment_batch, train_network


# ---------------------------------------------------------------- synthetic data
def test_synthetic_is_deterministic_and_seeded():
    a, la = synthetic.generate(40, 32, seed=5)
    b, lb = synthetic.generate(40, 32, seed=5)
    c, _ = synthetic.generate(40, 32, seed=6)
    assert a.dtype == np.uint8 and a.shape == (40, 32, 32)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert not np.array_equal(a, c)


def test_synthetic_split_sizes_and_balance():
    arrays = synthetic.synthetic_arrays(32, seed=0)
    assert len(arrays["y_train"]) == 4710 and len(arrays["y_val"]) == 1934
    counts = np.bincount(arrays["y_train"])
    assert len(counts) == 5 and counts.max() - counts.min() <= 1
    # cached: the second call reads the same file
    again = synthetic.synthetic_arrays(32, seed=0)
    assert np.array_equal(arrays["x_val"], again["x_val"])


@pytest.mark.parametrize("size", [32, 64])
def test_truths_are_where_each_cue_puts_its_energy(size):
    """Each class's L and H bins (unshifted FFT layout, [ky, kx]) are the bins where its
    cue puts its energy: the layout of the masks; L is low and H high frequency."""
    truth = synthetic.truth(size)
    radius = np.hypot(*np.meshgrid(np.fft.fftfreq(size) * size, np.fft.fftfreq(size) * size))
    for which, (lo, hi) in (("low", (1.5, 3.3)), ("high", (10, 14))):
        t = truth[which]
        assert t.shape == (5, size, size)
        # real images: each set is symmetric under k -> -k, and holds no DC
        assert np.array_equal(t, np.roll(t[:, ::-1, ::-1], shift=(1, 1), axis=(1, 2)))
        assert not t[:, 0, 0].any()
        r = radius[t.any(0)] * 32 / size  # in cycles per image at 32 px
        assert lo <= r.min() and r.max() <= hi
        assert t.sum(0).max() == 1  # classes do not share bins
        freqs = synthetic.frequencies(size, which)
        rng = np.random.default_rng(0)
        for c in range(5):
            wave = synthetic._waves(rng, np.array([c]), freqs, 1.0, size)[0]
            power = np.abs(np.fft.fft2(wave)) ** 2
            top = np.argsort(power.ravel())[::-1][: t[c].sum()]
            assert set(top) == set(np.flatnonzero(t[c]))
    assert not (truth["low"] & truth["high"]).any()


def test_synthetic_background_is_one_over_f_squared_outside_the_cue_bins():
    size = 64
    filt = synthetic._background_filter(size)
    f = np.fft.fftfreq(size) * size
    r = np.hypot(f[:, None], f[None, :])
    sel = (r >= 2) & (r <= 24) & ~synthetic.truth(size)["low"].any(0)
    slope = np.polyfit(np.log(r[sel]), np.log(filt[sel] ** 2), 1)[0]
    assert -2.05 < slope < -1.95


def test_cue_reliabilities_and_single_cue_worlds():
    """rho is the share of images whose cue shows their class; train_cues drops a cue."""
    rng_world = synthetic.CueWorld(rho_l=0.5, rho_h=1.0)
    x, y = synthetic.generate(400, 32, seed=3, world=rng_world)
    truth = synthetic.truth(32)
    power = np.abs(np.fft.fft2(x.astype(float) / 255)) ** 2

    def shown(which):  # the class whose cue bins hold the most power
        return np.argmax(np.stack([power[:, t].sum(1) for t in truth[which]], 1), 1)

    assert (shown("high") == y).mean() > 0.97
    assert 0.4 < (shown("low") == y).mean() < 0.62
    only_low, _ = synthetic.generate(50, 32, seed=3, world=synthetic.CueWorld(train_cues="low"))
    p = np.abs(np.fft.fft2(only_low.astype(float) / 255)) ** 2
    assert p[:, truth["high"].any(0)].mean() < 0.05 * p[:, truth["low"].any(0)].mean()
    with pytest.raises(UserError):
        synthetic.CueWorld(rho_l=1.5)


def test_probe_sets_carry_the_cues_they_say():
    probes = synthetic.probe_sets(32, seed=7, n=100)
    assert set(probes) == set(synthetic.PROBE_SETS)
    assert (probes["l_only"]["y_high"] == -1).all() and (probes["h_only"]["y_low"] == -1).all()
    conflict = probes["conflict"]
    assert (conflict["y_low"] != conflict["y_high"]).all()
    truth = synthetic.truth(32)
    removed = np.abs(np.fft.fft2(probes["h_removed"]["x"].astype(float) / 255)) ** 2
    kept = np.abs(np.fft.fft2(probes["l_removed"]["x"].astype(float) / 255)) ** 2
    high, low = truth["high"].any(0), truth["low"].any(0)
    assert removed[:, high].mean() < 0.05 * kept[:, high].mean()  # only rounding is left
    assert kept[:, low].mean() < 0.05 * removed[:, low].mean()
    # held out: other images than the data set's
    data = synthetic.synthetic_arrays(32, seed=0)
    assert not (probes["l_only"]["x"][:1] == data["x_val"][:200]).all(axis=(1, 2)).any()


def test_load_dataset_synthetic_subsample():
    ds = load_dataset("synthetic", 32, n_train=100, n_val=50)
    assert ds.x_train.shape == (100, 1, 32, 32) and ds.x_val.shape == (50, 1, 32, 32)
    assert ds.x_train.dtype == torch.float32 and 0 <= ds.x_train.min() and ds.x_train.max() <= 1
    assert ds.ground_truth.shape == (5, 32, 32)
    assert np.array_equal(ds.ground_truth, ds.truth["low"] | ds.truth["high"])


def test_the_validation_subset_does_not_depend_on_n_train():
    """A network trained on fewer images is masked and judged on the same validation images."""
    every, fewer = (load_dataset("synthetic", 32, n_train=n, n_val=50) for n in (None, 100))
    assert len(fewer.y_train) == 100 and len(every.y_train) > 100
    assert torch.equal(every.x_val, fewer.x_val) and torch.equal(every.y_val, fewer.y_val)


def test_unknown_synthetic_size_is_a_user_error():
    with pytest.raises(UserError, match="sizes"):
        load_dataset("synthetic", 48)


# ---------------------------------------------------------------- models
@pytest.mark.parametrize("arch", ["vgg11_bn", "resnet18"])
@pytest.mark.parametrize("width,pooled", [(0.125, True), (1.0, False)])
def test_models_take_one_channel(arch, width, pooled):
    size = 32 if pooled else 64
    model = build_model(arch, 5, size, 0.5, 0.2, width=width, pooled_head=pooled).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, size, size))
    assert out.shape == (2, 5)


def test_full_width_vgg_is_torchvisions_architecture():
    import torchvision

    with torch.device("meta"):  # shapes only: no memory, no initialisation of 130 million weights
        ours = build_model("vgg11_bn", 5, 128, 0.449, 0.226, width=1.0, pooled_head=False).core
        ref = torchvision.models.vgg11_bn(weights=None, num_classes=5)
    ours_shapes = [tuple(p.shape) for p in ours.parameters()]
    ref_shapes = [tuple(p.shape) for p in ref.parameters()]
    assert ours_shapes[0] == (64, 1, 3, 3) and ref_shapes[0] == (64, 3, 3, 3)
    assert ours_shapes[1:] == ref_shapes[1:]


def test_model_file_round_trip_and_weights_only(tmp_path):
    model = build_model("vgg11_bn", 5, 32, 0.4, 0.2, width=0.125, pooled_head=True,
                        regime="vanilla", data="synthetic").eval()
    path = tmp_path / "m.pt"
    save_model(model, path)
    payload = torch.load(path, weights_only=True)  # plain tensors and strings only
    assert "meta_json" in payload
    again = load_model(path)
    x = torch.rand(3, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), again(x))
    assert again.meta["regime"] == "vanilla" and float(again.std) == pytest.approx(0.2)


class _Evil:
    def __reduce__(self):
        return (print, ("this code must never run",))


def test_pickle_with_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"x": _Evil()}, path)
    with pytest.raises(UserError, match="not a plain tensor file"):
        load_model(path)
    assert "must never run" not in capsys.readouterr().out
    path2 = tmp_path / "evil2.pt"
    path2.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(UserError):
        load_model(path2)


# ---------------------------------------------------------------- training
def test_augmentations_change_images_per_image():
    x = torch.zeros(4, 1, 32, 32)
    x[:, :, 8:16, 4:28] = 1.0
    torch.manual_seed(0)
    for regime in ("scale", "translate", "rotate"):
        out = augment_batch(x, regime)
        assert out.shape == x.shape
        assert not torch.equal(out, x)
        assert not torch.equal(out[0], out[1])  # drawn per image, not per batch
    assert torch.equal(augment_batch(x, "vanilla"), x)


@pytest.mark.parametrize("threads", [1, 2])
def test_batched_augmentations_are_the_transforms_image_by_image(threads, monkeypatch):
    """augment_batch builds the grids of a batch at once: the same draws from the global
    generator and the same pixels, bit for bit, as torchvision's transform per image (so
    every network trains as before), also for rotations torchvision does without a grid."""
    from fm_core.nets.augment import AUGMENTATIONS

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = torch.rand(64, 1, 32, 32, generator=torch.Generator().manual_seed(1))
        for regime, transform in AUGMENTATIONS.items():
            torch.manual_seed(7)
            expected, after_expected = torch.stack([transform(img) for img in x]), torch.rand(4)
            torch.manual_seed(7)
            got, after_got = augment_batch(x, regime), torch.rand(4)
            assert torch.equal(got, expected), regime
            assert torch.equal(after_got, after_expected), regime  # the generator moved alike
        rotate = AUGMENTATIONS["rotate"]
        angles = iter([90.0, 33.3, 180.0, -90.0])
        monkeypatch.setattr(rotate, "make_params", lambda inputs: {"angle": next(angles)})
        got = augment_batch(x[:4], "rotate")
        angles = iter([90.0, 33.3, 180.0, -90.0])
        assert torch.equal(got, torch.stack([rotate(img) for img in x[:4]]))
    finally:
        torch.set_num_threads(before)


def _tiny_profile(**kw):
    return get_profile("smoke", n_train=240, n_val=120, epochs=2, width=0.125, **kw)


@pytest.mark.slow  # two trainings
def test_training_is_deterministic():
    cfg = _tiny_profile()
    ds = load_dataset("synthetic", 32, n_train=cfg.n_train, n_val=cfg.n_val)
    a = train_network(ds, "rotate", cfg, progress=False, device="cpu")
    b = train_network(ds, "rotate", cfg, progress=False, device="cpu")
    for (ka, va), (kb, vb) in zip(a.core.state_dict().items(), b.core.state_dict().items()):
        assert torch.equal(va, vb), ka
    assert a.meta["metrics"]["val_acc"] == b.meta["metrics"]["val_acc"]


def test_adversarial_training_records_eps_and_metrics():
    cfg = _tiny_profile(pgd_steps=2)
    ds = load_dataset("synthetic", 32, n_train=cfg.n_train, n_val=cfg.n_val)
    model = train_network(ds, "adversarial", cfg, progress=False, device="cpu")
    meta = model.meta
    assert meta["regime"] == "adversarial"
    assert meta["eps_pixel"] == pytest.approx(cfg.eps_pixel)
    assert meta["eps_normalised"] == pytest.approx(cfg.eps_pixel / ds.std)
    m = meta["metrics"]
    # the recorded accuracies are those of the kept weights, clean and under the same PGD
    from fm_core.nets.attacks import pgd_attack
    from fm_core.nets.evaluation import accuracy
    assert m["val_acc"] == accuracy(model, ds.x_val, ds.y_val)
    x_adv = pgd_attack(model, ds.x_val, ds.y_val, cfg.eps_pixel, cfg.pgd_steps, seed=cfg.seed)
    assert m["pgd_acc"] == accuracy(model, x_adv, ds.y_val)
    assert len(m["history"]["val_loss"]) == cfg.epochs
    assert m["best_epoch"] == int(np.argmin(m["history"]["val_loss"]))


def test_profiles_hold_the_papers_values():
    paper = PROFILES["paper"]
    assert (paper.size, paper.width, paper.epochs, paper.batch_size, paper.seed) == (128, 1.0, 50, 128, 31)
    assert paper.max_lr == 1e-3 and paper.pct_start == 0.1
    # the paper's code states eps = 0.06 in normalised units (Imagenette's std)
    from fm_core.nets.attacks import eps_normalised
    from fm_core.paths import IMAGENETTE_STD
    assert eps_normalised(paper.eps_pixel, IMAGENETTE_STD) == pytest.approx(0.06)
    assert paper.dmask_lam == 0.2 and paper.imask_lam == 0.07 and paper.imask_lr == 0.2
    assert paper.imask_max_steps == 20_000 and paper.imask_patience == 300
    assert set(REGIMES) == {"vanilla", "adversarial", "scale", "translate", "rotate"}


# ---------------------------------------------------------------- bad input
def _write_npz(path, **override):
    rng = np.random.default_rng(0)
    arrays = dict(x_train=rng.random((60, 32, 32)).astype(np.float32), y_train=np.arange(60) % 3,
                  x_val=rng.random((30, 32, 32)).astype(np.float32), y_val=np.arange(30) % 3)
    arrays.update(override)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("override,message", [
    (dict(x_train=None), "x_train"),
    (dict(x_val=np.full((30, 32, 32), np.nan, dtype=np.float32)), "NaN"),
    (dict(x_train=np.zeros((60, 32, 30), dtype=np.float32)), "square"),
    (dict(y_val=np.arange(29) % 3), "label"),
])
def test_cli_bad_npz_is_one_line_exit_2(tmp_path, capsys, override, message):
    path = _write_npz(tmp_path / "bad.npz", **override)
    code = main(["train", "--data", str(path), "--out", str(tmp_path / "m.pt")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and message in err, err


@pytest.mark.parametrize("argv,message", [
    (["train", "--data", "no/such/file.npz", "--out", "m.pt"], "not found"),
    (["train", "--regime", "jitter", "--out", "m.pt"], "unknown regime"),
    (["train", "--epochs", "-3", "--out", "m.pt"], "must be positive"),
    (["mask", "--model", "missing.pt", "--out", "m.npz"], "model file not found"),
    (["mask", "--model", "m.pt", "--part", "modulus", "--out", "m.npz"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
])
def test_cli_user_mistakes(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_cli_refuses_pickle_model(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"x": _Evil()}, path)
    code = main(["mask", "--model", str(path), "--out", str(tmp_path / "m.npz")])
    captured = capsys.readouterr()
    assert code == 2 and "not a plain tensor file" in captured.err
    assert "must never run" not in captured.out


@pytest.mark.slow  # a training process
def test_cli_trains_on_a_new_npz(tmp_path):
    """`train --data my.npz --out m.pt` on a user's file it has never seen, in a
    separate process (as a user would run it)."""
    rng = np.random.default_rng(1)
    y_train, y_val = np.arange(90) % 3, np.arange(45) % 3
    x_train = (rng.random((90, 32, 32)) * 0.3 + y_train[:, None, None] * 0.3).astype(np.float32)
    x_val = (rng.random((45, 32, 32)) * 0.3 + y_val[:, None, None] * 0.3).astype(np.float32)
    data = tmp_path / "my.npz"
    np.savez(data, x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val,
             class_names=np.array(["dark", "mid", "bright"]))
    out = tmp_path / "m.pt"
    proc = subprocess.run([sys.executable, "-m", "fm_core", "train", "--data", str(data),
                           "--out", str(out), "--epochs", "2", "--width", "0.125"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "val acc" in proc.stdout
    model = load_model(out)
    assert model.meta["class_names"] == ["dark", "mid", "bright"] and model.size == 32


def test_from_arrays_accepts_uint8():
    x = np.zeros((4, 8, 8), dtype=np.uint8) + 255
    ds = from_arrays("t", x, np.arange(4) % 2, x, np.arange(4) % 2)
    assert float(ds.x_train.max()) == 1.0 and ds.num_classes == 2


def test_progress_bars_obey_tqdm_disable(monkeypatch):
    """The book build sets TQDM_DISABLE so that no bar is printed into a page."""
    from fm_core.utils import progress_bar

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    assert not progress_bar(range(2), progress=True).disable
    assert progress_bar(range(2), progress=False).disable
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert progress_bar(range(2), progress=True).disable


def test_book_command_ends_with_the_networks_table(tmp_path, monkeypatch, capsys):
    from fm_core.cli import project
    from fm_core.store import pipeline

    cfg = get_profile("smoke")
    row = dict(standard=80.0, masked=79.5, pgd=30.25, train_seconds=12.0)
    pipeline.save_result(cfg, "table1", {"rotate": row, "vanilla": dict(row, pgd=10.0)})
    project._print_networks(cfg)
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[0] == "vanilla" and lines[2].split()[0] == "rotate"  # paper order
    assert "30.25%" in lines[2]

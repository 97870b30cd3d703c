"""Peer methods (fm_core.methods) on a network whose answer is known: a linear classifier
that reads exactly one frequency pair. Every method must rank that pair first, the heat
map must equal its closed form, the mask's cost formula must equal the counted passes,
and bad input must be one line with exit code 2 through the CLI."""
from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest
import torch
from torch import nn

from fm_core import cli, methods
from fm_core.methods import faithfulness
from fm_core.errors import UserError
from fm_core.masks import DatasetMask
from fm_core.nets.models import MaskedClassifier, build_model, freeze, save_model

SIZE, FREQ, GAIN = 8, (1, 2), 40.0


def wave(size=SIZE, freq=FREQ) -> torch.Tensor:
    """The unit-L2 cosine plane wave at ``freq`` (row, column cycles per image)."""
    i, j = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    w = np.cos(2 * np.pi * (freq[0] * i + freq[1] * j) / size)
    return torch.tensor(w / np.linalg.norm(w), dtype=torch.float32)


def one_frequency_network() -> MaskedClassifier:
    """Two classes; the logit difference is GAIN * <wave, x - 0.5>: only FREQ matters."""
    linear = nn.Linear(SIZE * SIZE, 2)
    with torch.no_grad():
        linear.weight.copy_(torch.stack([-wave().ravel(), wave().ravel()]) * GAIN / 2)
        linear.bias.zero_()
    return freeze(MaskedClassifier(nn.Sequential(nn.Flatten(), linear), 0.5, 1.0, {"size": SIZE}))


def images(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    noise = 0.03 * torch.randn(n, 1, SIZE, SIZE, generator=g)
    x = 0.5 + (2 * y - 1).float()[:, None, None, None] * 0.15 * wave() + noise
    return x.clamp(0, 1), y


def top_bin(values):
    flat = np.argmax(methods.symmetric_part(np.asarray(values, dtype=float)))
    return np.unravel_index(flat, (SIZE, SIZE))


def is_freq(b):
    return b in (FREQ, ((-FREQ[0]) % SIZE, (-FREQ[1]) % SIZE))


@pytest.mark.parametrize("name, settings", [
    ("heatmap", dict(eps=1.0)), ("ablation", dict(top_k=1)), ("gradient", {}),
    ("mask", dict(lr=0.05, max_steps=200, batch_size=32))])
def test_every_method_ranks_the_one_used_frequency_first(name, settings):
    model, (x, y) = one_frequency_network(), images()
    result = methods.get_method(name, **settings).attribute(model, x, y, progress=False)
    assert result.values.shape == (SIZE, SIZE) and result.method == name
    assert is_freq(top_bin(result.values)), (name, top_bin(result.values))
    assert result.cost["forward_passes"] > 0 and result.cost["seconds"] >= 0
    if name == "ablation":  # the DFM keeps exactly that pair
        assert result.extra["dfm"].sum() == 2 and is_freq(top_bin(result.extra["dfm"]))
    if name == "gradient":
        assert result.cost["backward_passes"] == len(x)


def test_pairs_cover_the_spectrum_once():
    for h, w in ((8, 8), (7, 9), (32, 32)):
        pairs = methods.frequency_pairs(h, w)
        assert methods.pair_indicators(h, w, pairs).sum(0).eq(1).all()
    assert len(methods.frequency_pairs(32, 32)) == 514  # (1024 + 4 self-paired bins) / 2


def test_heat_map_of_a_linear_model_is_its_closed_form():
    model, (x, y) = one_frequency_network(), images(n=6)
    eps, pairs = 0.4, methods.frequency_pairs(SIZE, SIZE)
    result = methods.FourierHeatMap(eps=eps, seed=3).attribute(model, x, y, progress=False)
    bases = methods.basis_images(SIZE, SIZE, pairs).double().numpy()
    signs = methods.heat_map_signs(len(pairs), len(x), seed=3).double().numpy()
    z, s, w = (x[:, 0].double().numpy() - 0.5), (2 * y.numpy() - 1), wave().double().numpy()
    margin = GAIN * np.einsum("nhw,hw->n", z, w)  # no clipping at this eps: checked below
    assert ((x[None] + eps * torch.tensor(signs)[..., None, None, None] * torch.tensor(bases)[:, None, None])
            .abs().le(1).all())
    shift = GAIN * eps * signs * np.einsum("phw,hw->p", bases, w)[:, None]
    loss = np.logaddexp(0, -s * (margin + shift)).mean(1) - np.logaddexp(0, -s * margin).mean()
    errors = (s * (margin + shift) < 0).mean(1)
    np.testing.assert_allclose(result.values, methods.mirrored(loss, SIZE, SIZE, pairs), atol=1e-4)
    np.testing.assert_allclose(result.extra["error_rate"], methods.mirrored(errors, SIZE, SIZE, pairs))
    assert result.cost["forward_passes"] == len(x) * (len(pairs) + 1) and result.cost["backward_passes"] == 0


def test_mask_cost_from_its_record_equals_the_counted_passes():
    model, (x, y) = one_frequency_network(), images()
    with methods.PassCounter(model) as counter:
        result = DatasetMask(lr=0.05, max_steps=20, batch_size=8)(model, x, y, progress=False)
    recorded = methods.DatasetMaskMethod.from_result(result).cost
    assert (recorded["forward_passes"], recorded["backward_passes"]) == (counter.forward, counter.backward)


def test_mask_map_is_the_mean_of_its_lambda_path_and_one_lambda_is_the_dataset_mask():
    """The mask method learns one row per multiple of lam (one batched run) and averages
    them; each row is what LambdaPath gives at that lambda, and path=(1.0,) is DatasetMask."""
    from fm_core.masks import LambdaPath
    model, (x, y) = one_frequency_network(), images()
    settings = dict(lam=0.5, lr=0.05, max_steps=60, batch_size=8, window=10, randomize=1.0)
    method = methods.DatasetMaskMethod(path=(0.2, 1.0, 4.0), **settings)
    fmap = method.attribute(model, x, y, progress=False)
    learner = {k: v for k, v in asdict(method).items() if k not in ("lam", "path", "randomize")}  # its defaults
    rows = LambdaPath(lams=(0.1, 0.5, 2.0), **learner)(model, x, y, progress=False)
    np.testing.assert_allclose(fmap.extra["masks"], rows.masks)
    np.testing.assert_allclose(fmap.values, rows.masks.mean(0))
    assert fmap.settings["lams"] == pytest.approx([0.1, 0.5, 2.0]) and fmap.settings["path"] == [0.2, 1.0, 4.0]
    assert fmap.settings["row_steps"] == rows.steps.tolist() and fmap.settings["steps"] == max(rows.steps)
    assert fmap.settings["converged"] == bool(rows.converged.all())
    # a larger lambda removes more, so the mean ranks bins by how far up the path they last
    assert (rows.masks.mean((1, 2))[:-1] >= rows.masks.mean((1, 2))[1:]).all()
    one = methods.DatasetMaskMethod(path=(1.0,), **settings).attribute(model, x, y, progress=False)
    np.testing.assert_allclose(one.values, DatasetMask(lam=0.5, **learner)(model, x, y, progress=False).mask)
    with pytest.raises(UserError, match="positive multiples"):
        methods.DatasetMaskMethod(path=(0.0, 1.0))


def test_randomized_mask_map_learns_its_path_from_drawn_starts_and_penalty_weights():
    """By default each row starts from, and prices bins by, its own symmetric draw in
    [randomize, 1] (seeded): the map is the mean of LambdaPath's rows from those draws."""
    from fm_core.masks import LambdaPath, randomized_rows, symmetric_part
    model, (x, y) = one_frequency_network(), images()
    settings = dict(lam=0.5, lr=0.05, max_steps=60, batch_size=8, window=10)
    method = methods.DatasetMaskMethod(path=(0.2, 1.0, 4.0), **settings)
    assert method.randomize == methods.MASK_RANDOMIZE < 1
    fmap = method.attribute(model, x, y, progress=False)
    start, weights = randomized_rows(3, (SIZE, SIZE), method.randomize, method.seed)
    for draw in (start, weights):
        assert draw.shape == (3, SIZE, SIZE) and method.randomize <= draw.min() and draw.max() <= 1
        np.testing.assert_allclose(draw, symmetric_part(draw))
    assert not np.allclose(start, weights) and not np.allclose(start[0], start[1])
    learner = {k: v for k, v in asdict(method).items() if k not in ("lam", "path", "randomize")}
    rows = LambdaPath(lams=(0.1, 0.5, 2.0), **learner)(model, x, y, start=start, penalty_weights=weights,
                                                     progress=False)
    np.testing.assert_allclose(fmap.extra["masks"], rows.masks)
    np.testing.assert_allclose(fmap.values, rows.masks.mean(0))
    assert fmap.settings["randomize"] == method.randomize and fmap.settings["penalty_weighted"]
    plain = methods.DatasetMaskMethod(path=(0.2, 1.0, 4.0), **dict(settings, randomize=1.0))
    assert not np.allclose(plain.attribute(model, x, y, progress=False).extra["masks"], rows.masks)
    assert randomized_rows(3, (SIZE, SIZE), 1.0, 0) == (None, None)
    for bad in (0.0, 1.5):
        with pytest.raises(UserError, match="randomize"):
            methods.DatasetMaskMethod(randomize=bad)


def test_faithful_map_beats_the_random_floor():
    model, (x, y) = one_frequency_network(), images(n=16, seed=1)
    truth = np.zeros((SIZE, SIZE))
    truth[FREQ], truth[(-FREQ[0]) % SIZE, (-FREQ[1]) % SIZE] = 1, 1
    curves = faithfulness.frequency_curves(model, x, y, {"truth": truth}, points=5, progress=False)
    assert curves["truth"]["deletion accuracy"][0] <= 0.6  # the one pair removed: chance
    assert curves["truth"]["insertion accuracy"][0] == 1.0  # only that pair kept: all right
    assert curves["truth"]["AUC deletion accuracy"] < curves["random"]["AUC deletion accuracy"]
    assert curves["truth"]["AUC insertion accuracy"] > curves["random"]["AUC insertion accuracy"]
    scores = faithfulness.truth_scores(truth, {"low": truth.astype(bool), "high": np.roll(truth, 1, 0) > 0})
    assert scores["AUROC L"] == 1.0 and scores["precision@k L"] == 1.0 and scores["L-share"] == 1.0


def test_bad_input_is_a_user_error():
    model, (x, y) = one_frequency_network(), images(n=4)
    with pytest.raises(UserError, match="unknown method"):
        methods.get_method("saliency")
    with pytest.raises(UserError, match="eps"):
        methods.FourierHeatMap(eps=0.0).attribute(model, x, y)
    with pytest.raises(UserError, match="shape"):
        methods.GradientSpectrum().attribute(model, x[:, 0], y)
    with pytest.raises(UserError, match="labels"):
        methods.GradientSpectrum().attribute(model, x, y[:2])
    with pytest.raises(UserError, match="expects"):
        methods.GradientSpectrum().attribute(model, torch.zeros(2, 1, 4, 4), y[:2])


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "m.pt"
    save_model(build_model("resnet18", 5, 32, 0.5, 0.25, width=0.0625), path)
    return path


@pytest.mark.parametrize("argv, message", [
    (["--method", "saliency"], "invalid choice"),
    (["--method", "heatmap", "--eps", "0"], "eps"),
    (["--method", "heatmap", "--eps", "-1"], "eps"),
    (["--method", "gradient", "--limit", "0"], "limit"),
])
def test_cli_bad_input_is_one_line_and_exit_2(model_file, tmp_path, capsys, argv, message):
    code = cli.main(["attribute", "--model", str(model_file), "--out", str(tmp_path / "m.npz"), *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err


def test_cli_attribute_writes_map_settings_and_cost(model_file, tmp_path, capsys):
    out = tmp_path / "map.npz"
    assert cli.main(["attribute", "--method", "gradient", "--model", str(model_file), "--limit", "8",
                     "--out", str(out)]) == 0
    saved = methods.FrequencyMap.load(out)
    assert saved.values.shape == (32, 32) and saved.cost["backward_passes"] == 8 and saved.settings["images"] == 8


def test_faithfulness_prose_judges_network_by_network():
    """A map that beats the random ranking on average but not on one network is named
    with that network and its numbers; the prose never claims "all" for it."""
    from fm_core.pages import peer_methods

    def row(deletion, insertion):
        return {"AUC deletion accuracy": deletion, "AUC insertion accuracy": insertion}

    good, rnd = row(0.2, 0.6), row(0.4, 0.4)
    nets = {"vanilla": {"rows": {"mask": good, "heatmap": good, "ablation": good, "gradient": good, "random": rnd}},
            "rotate": {"rows": {"mask": row(0.2, 0.35), "heatmap": good, "ablation": row(0.5, 0.5),
                                "gradient": good, "random": rnd}}}
    result = {"networks": nets}
    assert peer_methods.faithful_networks(result)["mask"] == ["vanilla"]
    text = peer_methods.faithfulness_prose(result)
    assert "On all 2 networks: Fourier heat map, gradient spectrum." in text
    assert "The Fourier mask falls short on 1 of 2: rotate (insertion 0.350 vs random 0.400)." in text
    assert "frequency ablation falls short on 1 of 2: rotate (deletion 0.500 vs random 0.400)." in text


def test_split_half_reliability_separates_a_shared_map_from_noise():
    rng = np.random.default_rng(0)
    shared = rng.normal(size=(200, 1))
    steady = shared + 0.3 * rng.normal(size=(200, 16))  # every image shows the same map
    noise = rng.normal(size=(200, 16))  # no map in common
    assert methods.split_half_reliability(steady) > 0.95
    assert abs(methods.split_half_reliability(noise)) < 0.5
    assert methods.split_half_reliability(steady[:, :3]) is None  # too few images to split


@pytest.mark.parametrize("name", ["heatmap", "ablation", "gradient"])
def test_image_averaged_maps_report_their_reliability(name):
    model, (x, y) = one_frequency_network(), images()  # every image carries the one frequency
    result = methods.get_method(name, **({"eps": 1.0} if name == "heatmap" else {})).attribute(
        model, x, y, progress=False)
    assert result.settings["split_half_reliability"] > 0.8


def test_reliability_prose_names_the_shaky_maps():
    from fm_core.pages import peer_methods

    def fmap(rel):
        return methods.FrequencyMap(np.zeros((4, 4)), "x", {}, {"split_half_reliability": rel})

    maps = {"mask": fmap(None), "heatmap": fmap(0.97), "ablation": fmap(-0.4), "gradient": fmap(0.95)}
    result = {"networks": {"adversarial": {"maps": maps}}, "settings": {"heatmap": 32, "ablation": 32, "gradient": 256}}
    assert peer_methods.reliability(result) == {"adversarial": {"heatmap": 0.97, "ablation": -0.4, "gradient": 0.95}}
    text = peer_methods.reliability_prose(result)
    assert "Below 0.9: the frequency ablation of adversarial (-0.40)" in text
    maps["ablation"] = fmap(0.93)
    assert "Every such map reaches 0.9 or more" in peer_methods.reliability_prose(result)


def test_left_out_pairs_are_split_by_what_the_ablation_sees_and_bound_the_auroc():
    """A planted world of 8x8 with three H pairs: the mask keeps one, zeroes one the ablation
    reacts to and one it does not; the mask's AUROC on H must respect the stated bound, and
    the prose must give the counts and the bound (nothing typed: all from the maps)."""
    from fm_core.science.cue_analysis import mask_cue_shares
    from fm_core.pages import peer_methods

    def pair(a, i, j, v):
        a[i, j] = a[-i % 8, -j % 8] = v

    high, low = np.zeros((8, 8), bool), np.zeros((8, 8), bool)
    for i, j in ((0, 3), (3, 0), (2, 2)):
        pair(high, i, j, True)
    pair(low, 1, 1, True)
    mask, ablation = np.zeros((8, 8)), np.full((8, 8), 0.001)
    pair(mask, 0, 3, 1.0)          # kept
    pair(ablation, 3, 0, 0.2)      # zeroed, but the network reacts to it alone
    pair(ablation, 2, 2, 0.0005)   # zeroed, like any cue-free pair to the ablation
    # the path's map brings the zeroed pairs back below the kept one, above every cue-free bin
    path = mask.copy()
    pair(path, 3, 0, 0.4)
    pair(path, 2, 2, 0.2)

    def network():
        one = methods.FrequencyMap(mask, "mask", {})
        maps = {"mask": methods.FrequencyMap(path, "mask", {}), "ablation": methods.FrequencyMap(ablation, "ablation", {})}
        return {"L-bias": 0.1, "maps": maps, "rows": {"mask": {"AUROC H": mask_cue_shares(path, low, high)["AUROC H"]}},
                "one-lambda mask": {"map": one, "truth": {"AUROC H": mask_cue_shares(mask, low, high)["AUROC H"]}}}

    result = {"networks": {"vanilla": network()}}
    left = peer_methods.left_out_by_the_mask(result, {"low": low, "high": high})["vanilla"]
    assert (left["cue"], left["pairs"], left["zero"], left["reacts"], left["indistinct"]) == ("H", 3, 2, 1, 1)
    assert left["ablation"] == [0.2] and left["largest cue-free ablation"] == 0.001
    assert left["AUROC bound"] == pytest.approx(1 - 4 / 12, abs=1e-4) and left["AUROC"] <= left["AUROC bound"]
    assert left["path AUROC"] == 1.0 > left["AUROC bound"]  # the path ranks what one lambda ties
    text = peer_methods.left_out_prose({"vanilla": left}, lam=0.2)
    assert "*vanilla*: 2 of its 3 H pairs; AUROC H at most 0.67" in text and "by 0.2, more than any" in text
    assert "The path's map: AUROC H 1.000" in text and "(lambda 0.2)" in text and "above that bound for 1 of the 1 networks whose mask sets some to zero" in text
    mask[:] = 0
    for i, j in ((0, 3), (3, 0), (2, 2)):
        pair(mask, i, j, 0.5)
    result = {"networks": {"vanilla": network()}}
    left = peer_methods.left_out_by_the_mask(result, {"low": low, "high": high})
    assert "keeps every pair of the read cue for vanilla (H: AUROC 1.000" in peer_methods.left_out_prose(left)
    assert "midpoint" not in peer_methods.left_out_prose(left)
    # a network near the midpoint (page 12's rotate network, L-bias 0.46) reads both cues: said so
    left["vanilla"]["L-bias"] = 0.46
    assert ("vanilla (L-bias 0.46 on this page's probes, within 0.15 of the midpoint: it reads both cues, and the rule names H) (H: AUROC"
            in peer_methods.left_out_prose(left))


def test_path_convergence_note_names_the_rows_that_did_not_settle():
    from fm_core.pages import peer_methods

    def net(converged, steps):
        settings = {"lams": [0.02, 0.2], "row_converged": converged, "row_steps": steps, "max_steps": 600}
        rows = np.stack([np.full((4, 4), 0.25), np.full((4, 4), 0.01)])
        return {"maps": {"mask": methods.FrequencyMap(np.zeros((4, 4)), "mask", {}, settings, extra={"masks": rows})}}

    result = {"networks": {"vanilla": net([True, True], [300, 175]), "rotate": net([True, True], [550, 200])}}
    assert peer_methods.path_convergence_note(result) == (
        "Every row of the 2 mask maps' lambda paths converged within the budget (steps: 175 to 550).")
    result["networks"]["rotate"] = net([True, True], [600, 200])
    assert peer_methods.path_convergence_note(result).endswith(
        "may be unfinished rather than at their optimum: rotate, lambda 0.02 (mask mean 0.250; the other rows at "
        "most 0.010).")
    result["networks"]["rotate"] = net([False, True], [600, 200])
    assert "rows of the mask map's lambda path of rotate (lambda 0.02)" in peer_methods.path_convergence_note(result)


def test_cli_attribute_mask_learns_the_lambda_path_and_says_whether_it_converged(model_file, tmp_path, capsys,
                                                                                   monkeypatch):
    import dataclasses
    from fm_core.cli import probe
    from fm_core.profiles import get_profile
    short = dataclasses.replace(get_profile("smoke"), dmask_max_steps=20, dmask_window=5)  # a short run
    monkeypatch.setattr(probe, "get_profile", lambda name: short)
    out = tmp_path / "mask.npz"
    assert cli.main(["attribute", "--method", "mask", "--profile", "smoke", "--model", str(model_file),
                     "--limit", "8", "--out", str(out)]) == 0
    saved = methods.FrequencyMap.load(out)
    rows = saved.extra["masks"]
    assert rows.shape == (len(methods.MASK_PATH), 32, 32) and np.allclose(saved.values, rows.mean(0))
    assert saved.settings["lams"] == pytest.approx([saved.settings["lam"] * f for f in methods.MASK_PATH])
    printed = capsys.readouterr().out
    assert f"{sum(saved.settings['row_converged'])} of {len(methods.MASK_PATH)} rows converged" in printed

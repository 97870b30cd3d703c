"""Fourier masks for anyone's network (issue 38): the learners and the peer methods take
any torch.nn.Module (or callable) mapping images in [0, 1] to logits, on any number of
channels, with its normalisation given the torchattacks way; every mismatch is one line."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from fm_core import methods
from fm_core.errors import UserError
from fm_core.masks import DatasetMask, ImageMasks, LambdaPath
from fm_core.nets.models import build_model
from fm_core.profiles import get_profile

pytestmark = pytest.mark.usefixtures("one_thread")

FEW = dict(lr=0.05, max_steps=3, batch_size=4, window=2)


def _resnet18(channels: int) -> nn.Module:
    """torchvision's ResNet18 as a user has it: RGB, or its first layer made one-channel."""
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10)
    if channels != 3:
        net.conv1 = nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return net.eval()


def _images(n: int, channels: int, size: int = 32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, channels, size, size, generator=g), torch.arange(n) % 10


def _faces():
    """The four calls of the issue, each on (net, x, y)."""
    return {
        "DatasetMask": lambda net, x, y: DatasetMask(**FEW)(net, x, y, progress=False).masks,
        "LambdaPath": lambda net, x, y: LambdaPath(lams=(0.1, 1.0), **FEW)(net, x, y, progress=False).masks,
        "ImageMasks": lambda net, x, y: ImageMasks(max_steps=3, patience=2, batch_size=4)(
            net, x[:4], y[:4], progress=False).masks,
        "mask method": lambda net, x, y: methods.DatasetMaskMethod(**FEW).attribute(net, x, y, progress=False).values,
        "heatmap": lambda net, x, y: methods.FourierHeatMap().attribute(net, x[-2:], y[-2:], progress=False).values,
    }


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("face", list(_faces()))
def test_a_torchvision_resnet18_is_masked_and_comes_back_as_it_was_given(face, channels):
    net, (x, y) = _resnet18(channels), _images(8, channels)
    net.train()
    net.fc.weight.requires_grad_(False)
    before = ([m.training for m in net.modules()], [p.requires_grad for p in net.parameters()])
    out = _faces()[face](net, x, y)
    assert out.shape[-2:] == (32, 32) and np.isfinite(out).all()
    assert ([m.training for m in net.modules()], [p.requires_grad for p in net.parameters()]) == before


def test_the_same_weights_in_our_wrapper_and_as_a_plain_module_give_the_same_masks():
    """The cross-check of issue 38: our MaskedClassifier, and its core given as a plain
    module with the wrapper's normalisation said the torchattacks way, are one network;
    the masks agree to the last digit (same arithmetic in the same order)."""
    torch.manual_seed(0)
    ours = build_model("resnet18", 5, 16, 0.45, 0.22, width=0.0625).eval()
    plain = copy.deepcopy(ours.core)  # a torchvision ResNet, nothing of fm_core
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(8, 1, 16, 16, generator=g), torch.arange(8) % 5
    for learner in (DatasetMask(**FEW), LambdaPath(lams=(0.1, 1.0), **FEW),
                    ImageMasks(max_steps=4, patience=2, batch_size=4)):
        mine = learner(ours, x, y, progress=False).masks
        theirs = copy.copy(learner).set_normalization_used(0.45, 0.22)(plain, x, y, progress=False).masks
        np.testing.assert_array_equal(mine, theirs)


def test_a_plain_callable_is_a_network_too():
    x, y = _images(8, 3)
    result = DatasetMask(**FEW)(lambda images: images.mean((2, 3)) * 10, x, y % 3, progress=False)
    assert result.masks.shape == (1, 32, 32)


class _FixedSize(nn.Module):
    """A network that takes 3 x 16 x 16 images only (a flat linear head)."""

    def __init__(self, out_shape=None):
        super().__init__()
        self.head, self.out_shape = nn.Linear(3 * 16 * 16, 4), out_shape

    def forward(self, x):
        out = self.head(x.flatten(1))
        return out if self.out_shape is None else out.reshape(len(x), *self.out_shape)


MISMATCHES = {
    "channels vs the model": (lambda: (_FixedSize(), *_images(4, 1, 16)), "cannot take images of shape (1, 16, 16)"),
    "size vs the model": (lambda: (_FixedSize(), *_images(4, 3, 20)), "cannot take images of shape (3, 20, 20)"),
    "output not (N, K)": (lambda: (_FixedSize((2, 2)), *_images(4, 3, 16)), "logits of shape (N, K)"),
    "labels out of range": (lambda: (_FixedSize(), _images(4, 3, 16)[0], torch.tensor([0, 1, 2, 7])),
                            "labels must lie in 0..3"),
    "NaN pixels": (lambda: (_FixedSize(), _images(4, 3, 16)[0].index_fill(0, torch.tensor([3]), float("nan")),
                            torch.arange(4)), "finite and lie in [0, 1]"),
    "not a network": (lambda: ("resnet18", *_images(4, 3, 16)), "must be a torch.nn.Module or a callable"),
}


@pytest.mark.parametrize("face", list(_faces()))
@pytest.mark.parametrize("mismatch", MISMATCHES)
def test_each_mismatch_is_one_user_error_line(mismatch, face):
    make, message = MISMATCHES[mismatch]
    net, x, y = make()
    with pytest.raises(UserError) as caught:
        _faces()[face](net, x, y % 4 if mismatch != "labels out of range" else y)
    text = str(caught.value)
    assert "\n" not in text and message in text, text


def test_a_normalization_that_does_not_fit_is_one_line():
    net, (x, y) = _resnet18(3), _images(4, 3)
    for mean, std, message in (([0.5, 0.5], [0.2, 0.2], "images have 3 channel(s) but the network takes 2"),
                               ([0.5, 0.5, 0.5], [0.2, 0.0, 0.2], "std > 0"),
                               ([0.5] * 3, [0.2] * 2, "one number or one per channel")):
        with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
            DatasetMask(**FEW).set_normalization_used(mean, std)(net, x, y, progress=False)
    with pytest.raises(UserError, match="normalises its images itself"):
        DatasetMask(**FEW).set_normalization_used(0.5, 0.2)(build_model("resnet18", 10, 32, 0.5, 0.2, width=0.0625),
                                                            x[:, :1], y, progress=False)


def test_per_channel_masks_have_one_mask_per_channel_and_shared_is_the_default():
    from fm_core.nets.evaluation import accuracy
    net, (x, y) = _resnet18(3), _images(8, 3)
    assert DatasetMask().channels == "shared"
    result = DatasetMask(channels="per-channel", **FEW)(net, x, y, progress=False)
    assert result.masks.shape == (1, 3, 32, 32) and result.settings["channels"] == "per-channel"
    assert accuracy(net, x, y, result.applied) == pytest.approx(result.accuracy_after)
    path = LambdaPath(lams=(0.1, 1.0), channels="per-channel", **FEW)(net, x, y, start=np.full((32, 32), 0.9),
                                                                     progress=False)
    assert path.masks.shape == (2, 3, 32, 32)
    fmap = methods.DatasetMaskMethod(channels="per-channel", **FEW).attribute(net, x, y, progress=False)
    assert fmap.values.shape == (32, 32) and fmap.extra["masks"].shape == (5, 3, 32, 32)
    with pytest.raises(UserError, match="part 'both'"):
        DatasetMask(channels="per-channel", part="phase", **FEW)(net, x, y, progress=False)
    with pytest.raises(UserError, match="channels must be one of shared, per-channel"):
        DatasetMask(channels="each", **FEW)(net, x, y, progress=False)


# ------------------------------------------------------------------ the command line
def _cli(argv) -> tuple[int, str, str]:
    import contextlib
    import io

    from fm_core.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


class _Small(nn.Module):
    """A user's small RGB network: nothing of fm_core."""

    def __init__(self):
        super().__init__()
        self.conv, self.head = nn.Conv2d(3, 4, 3, padding=1), nn.Linear(4, 4)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).mean((2, 3)))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The README's three lines, and an RGB and a grayscale .npz."""
    folder = tmp_path_factory.mktemp("exported")
    torch.manual_seed(0)
    net = _Small().eval()
    program = torch.export.export(net, (torch.rand(2, 3, 16, 16),), dynamic_shapes=({0: torch.export.Dim("n")},))
    torch.export.save(program, folder / "net.pt2")
    rng = np.random.default_rng(0)
    for name, shape in (("rgb", (16, 16, 3)), ("gray", (16, 16))):
        np.savez(folder / f"{name}.npz", x_train=rng.random((8, *shape)), y_train=np.arange(8) % 4,
                 x_val=rng.random((8, *shape)), y_val=np.arange(8) % 4)
    return folder, net


def test_fm_mask_masks_an_exported_network_as_the_python_face_does(exported):
    from fm_core.data import load_dataset
    from fm_core.masks import MaskResult
    folder, net = exported
    norm = ["--mean", 0.5, 0.4, 0.3, "--std", 0.2, 0.25, 0.3]
    code, out, err = _cli(["mask", "--model", folder / "net.pt2", "--data", folder / "rgb.npz", "--max-steps", 3,
                           "--batch-size", 4, "--device", "cpu", "--out", folder / "mask.npz", *norm])
    assert code == 0, err
    ds = load_dataset(str(folder / "rgb.npz"), channels=3)
    learner = DatasetMask.from_profile(get_profile("quick"), max_steps=3, batch_size=4)
    mine = learner.set_normalization_used((0.5, 0.4, 0.3), (0.2, 0.25, 0.3))(net, ds.x_val, ds.y_val, progress=False)
    np.testing.assert_allclose(MaskResult.load(folder / "mask.npz").masks, mine.masks, atol=1e-6)
    for argv in (["image-masks", "--limit", 2, "--max-steps", 2], ["attribute", "--method", "gradient", "--limit", 2]):
        code, _, err = _cli([*argv, "--model", folder / "net.pt2", "--data", folder / "rgb.npz",
                             "--out", folder / "out.npz", *norm])
        assert code == 0, err


@pytest.mark.parametrize("argv, message", [
    (["--data", "gray.npz"], "the network takes 3 channels"),
    (["--mean", 0.5, 0.5, "--std", 0.2, 0.2], "normalization has 2 values per channel but the network takes 3"),
    (["--mean", 0.5], "give --mean and --std together"),
    (["--model", "junk.pt2"], "not a torch.export archive"),
])
def test_fm_mask_refuses_each_mismatch_in_one_line(exported, argv, message):
    folder, _ = exported
    (folder / "junk.pt2").write_bytes(b"junk")
    defaults = {"--model": "net.pt2", "--data": "rgb.npz"}
    given = dict(zip(argv[::2], argv[1::2])) if argv[0] in defaults else {}
    argv = [a for k, v in {**defaults, **given}.items() for a in (k, folder / v)] + \
        ([] if argv[0] in defaults else argv)
    code, _, err = _cli(["mask", *argv, "--max-steps", 2, "--out", folder / "bad.npz"])
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], err


def test_a_network_exported_in_training_mode_is_refused_in_one_line(exported, tmp_path):
    """Exported in training mode, batch norm uses the masked batch's statistics and dropout
    drops at random, and the graph cannot be put in eval mode afterwards."""
    folder, _ = exported
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 14 * 14, 4))
    errors = {}
    for mode in (True, False):
        program = torch.export.export(net.train(mode), (torch.rand(2, 3, 16, 16),),
                                      dynamic_shapes=({0: torch.export.Dim("n")},))
        torch.export.save(program, tmp_path / f"{mode}.pt2")
        code, _, errors[mode] = _cli(["mask", "--model", tmp_path / f"{mode}.pt2", "--data", folder / "rgb.npz",
                                      "--max-steps", 2, "--out", tmp_path / f"{mode}.npz"])
        assert code == (2 if mode else 0), errors[mode]
    lines = errors[True].strip().splitlines()
    assert len(lines) == 1 and "exported in training mode (batch_norm)" in lines[0], errors[True]


def test_an_archive_with_pickled_entries_is_refused_before_torch_reads_it(exported, tmp_path):
    """torch.export.load would unpickle an entry marked use_pickle (code on loading)."""
    import json
    import zipfile
    folder, _ = exported
    with zipfile.ZipFile(folder / "net.pt2") as src, zipfile.ZipFile(tmp_path / "evil.pt2", "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("model_weights_config.json"):
                config = json.loads(data)
                next(iter(config["config"].values()))["use_pickle"] = True
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    from fm_core.nets.exported import load_exported
    with pytest.raises(UserError, match="pickled weights or objects"):
        load_exported(tmp_path / "evil.pt2")


# ------------------------------------------------------------------ the data layer
def test_an_image_folder_reads_as_rgb_for_a_colour_network_and_as_before_for_ours(tmp_path, monkeypatch):
    from PIL import Image

    from fm_core.data import files as datafiles
    from fm_core.data import load_dataset
    monkeypatch.setattr(datafiles, "CACHE_DIR", tmp_path / "cache")
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c, colour in enumerate(((200, 20, 20), (20, 20, 200))):  # red and blue classes
            for i in range(2):
                pixels = np.clip(np.array(colour) + rng.integers(-10, 11, (24, 24, 3)), 0, 255).astype(np.uint8)
                (tmp_path / "tree" / split / f"c{c}").mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels, "RGB").save(tmp_path / "tree" / split / f"c{c}" / f"{i}.png")
    rgb = load_dataset(str(tmp_path / "tree"), size=16, channels=3)
    gray = load_dataset(str(tmp_path / "tree"), size=16)
    assert rgb.x_train.shape == (4, 3, 16, 16) and gray.x_train.shape == (4, 1, 16, 16)
    red = rgb.x_train[rgb.y_train == 0].mean((0, 2, 3))
    assert red[0] > 0.6 and red[2] < 0.2  # the channels are the image's, in RGB order
    with pytest.raises(UserError, match="grayscale .1 channel. or RGB .3."):
        load_dataset(str(tmp_path / "tree"), size=16, channels=4)
    with pytest.raises(UserError, match="synthetic data set is grayscale"):
        load_dataset("synthetic", channels=3)

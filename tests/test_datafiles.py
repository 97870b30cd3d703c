"""Loaders for data on disk: a fake Imagenette tree with the real synset names, generic
ImageFolder trees, .npz files, and every user mistake as a one-line UserError."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from fm_core import data
from fm_core.data import files as datafiles
from fm_core.errors import UserError

PAPER_SYNSETS = ["n02102040", "n03000684", "n03028079", "n03394916", "n03417042"]
PAPER_NAMES = ["English springer", "chain saw", "church", "French horn", "garbage truck"]
# Two of Imagenette's other classes, sorting before and after the paper's: both must be ignored.
EXTRA_SYNSETS = ["n01440764", "n03888257"]
REAL_NETWORK_PROBE = datafiles._network_available  # the fixture below stubs it out
SIZES = [(40, 30), (30, 44), (52, 36)]  # (width, height), never square


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Keep caches out of the repository's data/ and never touch the network."""
    monkeypatch.setattr(datafiles, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(datafiles, "_network_available", lambda *a, **k: False)


def write_image(path, level: int, size=(40, 30), seed=0, ext_format="JPEG"):
    """A small RGB image of mean grey ``level`` plus noise, so its class can be read back."""
    rng = np.random.default_rng(seed)
    w, h = size
    pixels = np.clip(level + rng.integers(-12, 13, size=(h, w, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, "RGB").save(path, ext_format)


def make_tree(root, classes, n_train=3, n_val=2, suffix=".JPEG", fmt="JPEG"):
    """root/{train,val}/<class>/*; class k has mean grey 30 + 45 k. Returns the levels."""
    levels = {c: 30 + 45 * k for k, c in enumerate(classes)}
    for split, n in (("train", n_train), ("val", n_val)):
        for c in classes:
            for i in range(n):
                write_image(root / split / c / f"img{i}{suffix}", levels[c], SIZES[i % len(SIZES)],
                            seed=hash((split, c, i)) % 2**32, ext_format=fmt)
    return levels


@pytest.fixture
def imagenette_root(tmp_path):
    """A fake imagenette2-160/ with the paper's 5 synsets, two extras, and an interleaved order."""
    root = tmp_path / "imagenette2-160"
    all_synsets = sorted(PAPER_SYNSETS + EXTRA_SYNSETS)
    levels = make_tree(root, all_synsets)
    return root, [levels[s] for s in PAPER_SYNSETS]


def assert_images(x, n, size):
    assert x.shape == (n, 1, size, size)
    assert x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0


# ---------------------------------------------------------------- Imagenette

def test_imagenette_loads_the_papers_five_classes(imagenette_root):
    root, levels = imagenette_root
    ds = datafiles.load_imagenette(root, size=16)
    assert_images(ds.x_train, 5 * 3, 16)
    assert_images(ds.x_val, 5 * 2, 16)
    assert ds.class_names == PAPER_NAMES
    assert ds.y_train.tolist() == [k for k in range(5) for _ in range(3)]
    assert ds.y_val.tolist() == [k for k in range(5) for _ in range(2)]
    # Each image's brightness tells its folder: labels point at the right synsets,
    # not at the extra classes that sort between them.
    for x, y in zip(torch.cat([ds.x_train, ds.x_val]), torch.cat([ds.y_train, ds.y_val])):
        assert abs(float(x.mean()) * 255 - levels[int(y)]) < 6
    assert (ds.mean, ds.std) == (0.449, 0.226)
    assert ds.name == "imagenette"
    assert ds.meta["synsets"] == PAPER_SYNSETS


def test_imagenette_train_augment_keeps_shape_and_draws_per_image(imagenette_root):
    root, _ = imagenette_root
    ds = datafiles.load_imagenette(root, size=16)
    assert ds.train_augment is not None
    torch.manual_seed(0)
    batch = torch.rand(8, 1, 16, 16)
    out = ds.train_augment(batch)
    assert out.shape == batch.shape and out.dtype == batch.dtype
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    assert not torch.equal(out, batch)
    # The same image repeated comes out differently: parameters are drawn per image.
    same = ds.train_augment(batch[:1].expand(8, -1, -1, -1).clone())
    assert len({tuple(img.flatten().tolist()) for img in same}) > 1
    assert ds.train_augment(ds.x_train[:4]).shape == (4, 1, 16, 16)


def test_imagenette_torchvision_layout(imagenette_root):
    """torchvision's Imagenette(root, size='160px') keeps the data in root/imagenette2-160/."""
    root, _ = imagenette_root
    ds = datafiles.load_imagenette(root.parent, size=12)
    assert ds.x_train.shape == (15, 1, 12, 12)
    assert ds.class_names == PAPER_NAMES


def test_load_dataset_imagenette_uses_data_dir(imagenette_root, monkeypatch):
    root, _ = imagenette_root
    monkeypatch.setenv("FM_DATA_DIR", str(root.parent))
    ds = data.load_dataset("imagenette", size=16, n_train=7)
    assert ds.x_train.shape == (7, 1, 16, 16) and ds.x_val.shape == (10, 1, 16, 16)
    assert ds.class_names == PAPER_NAMES and ds.train_augment is not None


@pytest.mark.parametrize("download", [None, False])
def test_imagenette_absent_offline_names_file_and_folder(tmp_path, monkeypatch, download):
    import torchvision.datasets

    attempts = []

    def no_download(*args, **kwargs):  # recorded, since a raise would become the UserError
        attempts.append(args)
        raise OSError("offline")

    monkeypatch.setattr(torchvision.datasets, "Imagenette", no_download)
    root = tmp_path / "data" / "imagenette2-160"
    with pytest.raises(UserError) as err:
        datafiles.load_imagenette(root, size=16, download=download)
    msg = str(err.value)
    assert "\n" not in msg
    assert "imagenette2-160.tgz" in msg
    assert str((tmp_path / "data").resolve()) + "/" in msg
    assert str(root.resolve() / "train" / "n02102040") in msg
    assert attempts == []


def test_imagenette_failed_download_is_a_user_error(tmp_path, monkeypatch):
    import torchvision.datasets

    def failing(*args, **kwargs):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets, "Imagenette", failing)
    with pytest.raises(UserError, match=r"download failed.*imagenette2-160\.tgz"):
        datafiles.load_imagenette(tmp_path / "imagenette2-160", size=16, download=True)


def test_imagenette_missing_class_folder(tmp_path):
    root = tmp_path / "imagenette2-160"
    make_tree(root, PAPER_SYNSETS)
    for img in (root / "val" / "n03394916").iterdir():
        img.unlink()
    (root / "val" / "n03394916").rmdir()
    with pytest.raises(UserError, match=r"val: missing class folder\(s\) n03394916"):
        datafiles.load_imagenette(root, size=16)


def test_network_probe_gives_up_quickly():
    """No network must mean a quick False, never a hang (192.0.2.1 is TEST-NET-1, unroutable)."""
    import time

    start = time.monotonic()
    assert REAL_NETWORK_PROBE("192.0.2.1", 443, timeout=0.5) is False
    assert time.monotonic() - start < 2


# ---------------------------------------------------------------- generic image folders

def test_image_folder_loads_grayscale_resize_then_centre_crop(tmp_path):
    root = tmp_path / "shapes"
    levels = make_tree(root, ["circle", "square", "triangle"], suffix=".png", fmt="PNG")
    ds = data.load_dataset(str(root), size=20)
    assert_images(ds.x_train, 9, 20)
    assert_images(ds.x_val, 6, 20)
    assert ds.class_names == ["circle", "square", "triangle"]
    assert ds.y_val.tolist() == [0, 0, 1, 1, 2, 2]
    assert ds.train_augment is None
    # Mean/std of the training set, not Imagenette's.
    assert ds.mean == pytest.approx(float(ds.x_train.mean()), abs=1e-6)
    assert ds.std == pytest.approx(float(ds.x_train.std()), abs=1e-6)
    # Pixel-exact against PIL: grayscale, shorter side to 20, centre crop, k / 255.
    with Image.open(root / "train" / "square" / "img1.png") as img:  # 30 x 44 (w x h)
        gray = img.convert("L").resize((20, 29), Image.BILINEAR)
    top = int(round((29 - 20) / 2.0))
    expected = np.asarray(gray, dtype=np.float32)[top:top + 20] / 255
    np.testing.assert_array_equal(ds.x_train[4, 0].numpy(), expected)
    assert abs(float(ds.x_train[4].mean()) * 255 - levels["square"]) < 6


def test_image_folder_ignores_hidden_folders_and_files(tmp_path):
    root = tmp_path / "f"
    make_tree(root, ["a", "b"], n_train=2, n_val=1)
    write_image(root / "train" / ".ipynb_checkpoints" / "x.jpg", 100)
    write_image(root / "train" / "a" / ".ipynb_checkpoints" / "x-checkpoint.jpg", 100)
    write_image(root / "train" / "a" / "._resource_fork.jpg", 100)
    (root / "train" / "a" / "notes.txt").write_text("not an image")
    ds = datafiles.load_image_folder(root, size=8)
    assert ds.class_names == ["a", "b"] and len(ds.y_train) == 4


def test_image_folder_cache_is_used_and_invalidated(tmp_path, monkeypatch):
    root = tmp_path / "f"
    make_tree(root, ["a", "b"], n_train=2, n_val=1)
    first = datafiles.load_image_folder(root, size=8)
    assert len(list((tmp_path / "cache").glob("f-8-*.npz"))) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although the cache is current")

    monkeypatch.setattr(datafiles, "_decode", no_decoding)
    again = datafiles.load_image_folder(root, size=8)
    assert torch.equal(first.x_train, again.x_train) and torch.equal(first.y_val, again.y_val)
    write_image(root / "train" / "b" / "new.jpg", 200)  # a new file must be seen
    with pytest.raises(AssertionError, match="decoded although"):
        datafiles.load_image_folder(root, size=8)


def test_image_folder_class_mismatch(tmp_path):
    root = tmp_path / "f"
    make_tree(root, ["a", "b"], n_train=1, n_val=1)
    write_image(root / "val" / "c" / "x.jpg", 10)
    with pytest.raises(UserError, match=r"same class folders.*only in val: \['c'\]"):
        datafiles.load_image_folder(root, size=8)


@pytest.mark.parametrize("missing", ["train", "val"])
def test_image_folder_missing_split_states_layout(tmp_path, missing):
    root = tmp_path / "f"
    make_tree(root, ["a"], n_train=1, n_val=1)
    for img in (root / missing / "a").iterdir():
        img.unlink()
    (root / missing / "a").rmdir()
    (root / missing).rmdir()
    with pytest.raises(UserError, match=rf"no {missing}/ folder; expected root/train/<class>"):
        data.load_dataset(str(root), size=8)


def test_image_folder_empty_class_folder(tmp_path):
    root = tmp_path / "f"
    make_tree(root, ["a", "b"], n_train=1, n_val=1)
    (root / "train" / "b" / "img0.JPEG").unlink()
    with pytest.raises(UserError, match="no valid file for the classes b"):
        datafiles.load_image_folder(root, size=8)


def test_image_folder_unreadable_image_names_the_file(tmp_path):
    root = tmp_path / "f"
    make_tree(root, ["a"], n_train=1, n_val=1)
    (root / "train" / "a" / "broken.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(UserError, match=r"unreadable image .*broken\.jpg") as err:
        datafiles.load_image_folder(root, size=8)
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- .npz files

def good_arrays(dtype=np.float32, n_train=6, n_val=4, size=8):
    rng = np.random.default_rng(0)
    if dtype == np.uint8:
        x = lambda n: rng.integers(0, 256, size=(n, size, size)).astype(np.uint8)  # noqa: E731
    else:
        x = lambda n: rng.random((n, size, size)).astype(dtype)  # noqa: E731
    return dict(x_train=x(n_train), y_train=np.arange(n_train) % 3,
                x_val=x(n_val), y_val=np.arange(n_val) % 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_npz_happy_path(tmp_path, dtype):
    arrays = good_arrays(dtype)
    path = tmp_path / "set.npz"
    np.savez(path, **arrays, class_names=np.array(["cat", "dog", "fox"]))
    ds = data.load_dataset(str(path))
    assert ds.name == str(path)
    assert_images(ds.x_train, 6, 8)
    assert_images(ds.x_val, 4, 8)
    assert ds.class_names == ["cat", "dog", "fox"]
    assert ds.y_train.dtype == torch.int64 and ds.y_train.tolist() == [0, 1, 2, 0, 1, 2]
    scale = 255.0 if dtype == np.uint8 else 1.0
    np.testing.assert_allclose(ds.x_val[:, 0].numpy(), arrays["x_val"] / scale, rtol=1e-6)


def test_npz_without_class_names_and_with_bytes_names(tmp_path):
    path = tmp_path / "a.npz"
    np.savez(path, **good_arrays())
    assert datafiles.load_npz_dataset(path).class_names == ["0", "1", "2"]
    np.savez(path, **good_arrays(), class_names=np.array([b"x", b"y", b"z"]))
    assert datafiles.load_npz_dataset(path).class_names == ["x", "y", "z"]


def _nan(a):
    a["x_train"][0, 0, 0] = np.nan
    return a


def _not_square(a):
    a["x_val"] = a["x_val"][:, :, :5]
    return a


def _short_labels(a):
    a["y_train"] = a["y_train"][:-1]
    return a


def _missing_keys(a):
    del a["y_val"], a["x_val"]
    return a


def _object_names(a):
    return dict(a, class_names=np.array(["a", 1, None], dtype=object))


def _bad_names(a):
    return dict(a, class_names=np.array([1, 2, 3]))


@pytest.mark.parametrize("corrupt, pattern", [
    (_missing_keys, r"missing array\(s\) x_val, y_val"),
    (_nan, r"x_train contains NaN"),
    (_not_square, r"images must be square, x_val is 8x5"),
    (_short_labels, r"y_train must have one integer label per image \(6\)"),
    (_object_names, r"holds Python objects \(a pickle\)"),
    (_bad_names, r"class_names must be a 1-D array of strings"),
])
def test_npz_bad_contents(tmp_path, corrupt, pattern):
    path = tmp_path / "bad.npz"
    np.savez(path, **corrupt(good_arrays()))
    with pytest.raises(UserError, match=pattern) as err:
        datafiles.load_npz_dataset(path)
    assert "\n" not in str(err.value)
    assert str(path) in str(err.value)


def test_npz_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        datafiles.load_npz_dataset(tmp_path / "absent.npz")
    with pytest.raises(UserError, match="not found"):
        data.load_dataset(str(tmp_path / "absent.npz"))


@pytest.mark.parametrize("content", [b"just some text\n", b"PK\x03\x04 truncated zip", None])
def test_not_an_npz(tmp_path, content):
    path = tmp_path / "fake.npz"
    if content is None:  # a bare .npy renamed: np.load would return an array, not a dict
        with open(path, "wb") as fh:
            np.save(fh, np.zeros((2, 4, 4)))
    else:
        path.write_bytes(content)
    with pytest.raises(UserError, match=r"fake\.npz: (not an \.npz archive|unreadable \.npz)") as err:
        data.load_dataset(str(path))
    assert "\n" not in str(err.value)

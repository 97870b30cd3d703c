"""``fashion-mnist``: the lookup order of ``fm data --get fashion-mnist`` (data folder, Debian's
package files, apt-get as root, torchvision's download, one-line error), damaged IDX files
as one UserError line, the loader's draw (5 classes, stratified, 32x32, seeded, cached), on
a small generated IDX fixture in the real format; and one end-to-end load of the real files
(Debian's package, obtained through get_fashion_mnist when absent, never skipped)."""
from __future__ import annotations

import gzip
import hashlib
import io
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from fm_core.cli import main
from fm_core.data import fashion_mnist as fm, load_dataset
from fm_core.errors import UserError

PER_CLASS = {"train": 12, "t10k": 7}  # images of each of the 10 classes in the fixture
SMALL_N = {"N_TRAIN": 22, "N_VAL": 13}  # draws the fixture can serve: 22 = 5 x 4 + 2, 13 = 5 x 2 + 3


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes: magic 0x0000 08 <ndim> (2051 images, 2049 labels),
    big-endian dimensions, then the data."""
    array = np.asarray(array, np.uint8)
    header = (0x800 + array.ndim).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def fixture_arrays(seed: int = 7) -> dict[str, np.ndarray]:
    """Per split: labels cycling 0..9 and 28x28 images whose brightness says the class
    (class c: a block of value 20 + 20 c, background 0), so that draws can be checked."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, per in PER_CLASS.items():
        labels = np.tile(np.arange(10, dtype=np.uint8), per)
        rng.shuffle(labels)
        images = np.zeros((len(labels), 28, 28), np.uint8)
        for i, c in enumerate(labels):
            images[i, 4:24, 6:22] = 20 + 20 * int(c)
            images[i, 0, 0] = i % 256  # every image differs
        out[f"{split}-images-idx3-ubyte"], out[f"{split}-labels-idx1-ubyte"] = images, labels
    return out


FIXTURE = {name: idx_bytes(a) for name, a in fixture_arrays().items()}
ORIGINAL_DOWNLOAD = fm._torchvision_download


def write_debian(folder: Path, files: dict[str, bytes] = FIXTURE) -> Path:
    """A Debian-like folder: the four files gzipped, as dataset-fashion-mnist installs them."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        (folder / f"{name}.gz").write_bytes(gzip.compress(body))
    return folder


def write_raw(data_folder: Path, files: dict[str, bytes] = FIXTURE) -> Path:
    raw = data_folder / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        (raw / name).write_bytes(body)
    return raw


def never(what: str):
    def called(*args, **kwargs):
        raise AssertionError(f"{what} must not be called here")
    return called


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """An empty data folder (FM_DATA_DIR), no Debian files, a non-root user without
    apt-get, the small draw sizes, and no network: each test opens what it needs."""
    data = tmp_path / "data"
    monkeypatch.setenv("FM_DATA_DIR", str(data))
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "no-debian-here")
    monkeypatch.setattr(fm.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(fm.shutil, "which", lambda name: None)
    monkeypatch.setattr(fm.subprocess, "run", never("subprocess.run"))
    monkeypatch.setattr(fm, "_torchvision_download", never("torchvision's download"))
    monkeypatch.setattr(fm, "_network_available", lambda *a, **k: True)  # the download itself is faked
    for name, value in SMALL_N.items():
        monkeypatch.setattr(fm, name, value)
    return data


def quiet(*_):
    pass


# --------------------------------------------------------------------------- lookup order

def test_files_in_the_data_folder_come_first(folder, monkeypatch, tmp_path):
    raw = write_raw(folder)
    monkeypatch.setattr(fm, "DEBIAN_DIR", write_debian(tmp_path / "debian"))
    monkeypatch.setattr(fm, "_from_debian", never("the Debian copy"))
    said = []
    assert fm.get_fashion_mnist(log=said.append) == raw
    assert len(said) == 1 and "already in" in said[0]


def test_debian_files_are_gunzipped_into_the_data_folder(folder, monkeypatch, tmp_path):
    monkeypatch.setattr(fm, "DEBIAN_DIR", write_debian(tmp_path / "debian"))
    said = []
    raw = fm.get_fashion_mnist(log=said.append)
    assert raw == folder / "FashionMNIST" / "raw"
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == FIXTURE  # whole, and no temporary file left
    assert len(said) == 1 and str(tmp_path / "debian") in said[0]


def test_a_damaged_file_in_the_data_folder_is_replaced_from_debian(folder, monkeypatch, tmp_path):
    raw = write_raw(folder)
    (raw / "train-images-idx3-ubyte").write_bytes(FIXTURE["train-images-idx3-ubyte"][:1000])
    monkeypatch.setattr(fm, "DEBIAN_DIR", write_debian(tmp_path / "debian"))
    fm.get_fashion_mnist(log=quiet)
    assert (raw / "train-images-idx3-ubyte").read_bytes() == FIXTURE["train-images-idx3-ubyte"]


def test_a_damaged_debian_gzip_falls_through_to_the_download(folder, monkeypatch, tmp_path):
    debian = write_debian(tmp_path / "debian")
    gz = debian / "t10k-labels-idx1-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:-12])  # truncated gzip stream
    monkeypatch.setattr(fm, "DEBIAN_DIR", debian)
    downloads = serve_download(monkeypatch)
    fm.get_fashion_mnist(log=quiet)
    assert downloads == [True]


class FakeApt:
    """Stands in for subprocess.run: records the commands; ``install`` installing the
    Debian files (after ``fail_first`` failed installs) as the real package would."""

    def __init__(self, debian: Path, fail_first: int = 0):
        self.debian, self.fail_first, self.commands = debian, fail_first, []

    def __call__(self, cmd, **kwargs):
        self.commands.append(cmd[:2])
        assert kwargs.get("timeout"), "apt-get must run with a timeout"
        ok = True
        if cmd[1] == "install":
            ok = self.fail_first <= 0
            self.fail_first -= 1
            if ok:
                write_debian(self.debian)
        return subprocess.CompletedProcess(cmd, 0 if ok else 100, "", "")


def as_root_with_apt(monkeypatch, apt: FakeApt) -> None:
    monkeypatch.setattr(fm.os, "geteuid", lambda: 0)
    monkeypatch.setattr(fm.shutil, "which", lambda name: "/usr/bin/apt-get" if name == "apt-get" else None)
    monkeypatch.setattr(fm.subprocess, "run", apt)


def test_apt_installs_the_package_as_root_then_copies_it(folder, monkeypatch, tmp_path):
    apt = FakeApt(tmp_path / "debian")
    monkeypatch.setattr(fm, "DEBIAN_DIR", apt.debian)
    as_root_with_apt(monkeypatch, apt)
    said = []
    raw = fm.get_fashion_mnist(log=said.append)
    assert apt.commands == [["apt-get", "install"]]
    assert (raw / "t10k-labels-idx1-ubyte").read_bytes() == FIXTURE["t10k-labels-idx1-ubyte"]
    assert "installed" in said[-1]


def test_apt_updates_once_when_the_install_fails(folder, monkeypatch, tmp_path):
    apt = FakeApt(tmp_path / "debian", fail_first=1)
    monkeypatch.setattr(fm, "DEBIAN_DIR", apt.debian)
    as_root_with_apt(monkeypatch, apt)
    fm.get_fashion_mnist(log=quiet)
    assert apt.commands == [["apt-get", "install"], ["apt-get", "update"], ["apt-get", "install"]]


@pytest.mark.parametrize("uid, apt_get", [(1000, "/usr/bin/apt-get"), (0, None)])
def test_apt_is_not_tried_unless_root_with_apt_get(folder, monkeypatch, uid, apt_get):
    monkeypatch.setattr(fm.os, "geteuid", lambda: uid)
    monkeypatch.setattr(fm.shutil, "which", lambda name: apt_get)
    monkeypatch.setattr(fm.subprocess, "run", never("apt-get"))
    downloads = serve_download(monkeypatch)
    fm.get_fashion_mnist(log=quiet)
    assert downloads == [True]


def serve_download(monkeypatch, files: dict[str, bytes] = FIXTURE) -> list:
    """torchvision's download replaced by one that writes ``files`` where torchvision
    would (``<root>/FashionMNIST/raw/``) and checks that the socket timeout is set."""
    calls = []

    def download(staging: Path) -> None:
        assert fm.socket.getdefaulttimeout() == fm.DOWNLOAD_TIMEOUT_S
        write_raw(staging, files)
        calls.append(True)

    monkeypatch.setattr(fm, "_torchvision_download", download)
    return calls


def test_the_download_comes_last_and_is_moved_into_place(folder, monkeypatch, tmp_path):
    apt = FakeApt(tmp_path / "debian", fail_first=2)  # apt-get fails twice: no package
    as_root_with_apt(monkeypatch, apt)
    downloads = serve_download(monkeypatch)
    said = []
    raw = fm.get_fashion_mnist(log=said.append)
    assert apt.commands == [["apt-get", "install"], ["apt-get", "update"], ["apt-get", "install"]]
    assert downloads == [True] and "downloaded by torchvision" in said[-1]
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == FIXTURE
    assert not (folder / "FashionMNIST.download").exists()
    assert fm.socket.getdefaulttimeout() is None  # restored


class FakeMirror:
    """Stands in for urllib.request.urlopen: serves the fixture's files gzipped by name."""

    def __init__(self):
        self.bodies = {f"{name}.gz": gzip.compress(body, mtime=0) for name, body in FIXTURE.items()}
        self.served = []

    def __call__(self, request, *args, **kwargs):
        url = request.full_url if hasattr(request, "full_url") else request
        body = self.bodies[url.rsplit("/", 1)[-1]]
        if request.get_header("Method") != "HEAD":  # torchvision's redirect probe is a HEAD
            self.served.append(url.rsplit("/", 1)[-1])
        response = io.BytesIO(body)
        response.url, response.length = url, len(body)
        return response


def test_torchvisions_real_download_code_lands_the_files(folder, monkeypatch):
    """torchvision's own download (its MD5 check and gunzip) with the network faked."""
    from torchvision.datasets import FashionMNIST

    mirror = FakeMirror()
    monkeypatch.setattr(urllib.request, "urlopen", mirror)
    monkeypatch.setattr(FashionMNIST, "resources",
                        [(name, hashlib.md5(body).hexdigest()) for name, body in mirror.bodies.items()])
    monkeypatch.setattr(fm, "_torchvision_download", ORIGINAL_DOWNLOAD)
    raw = fm.get_fashion_mnist(log=quiet)
    assert sorted(mirror.served) == sorted(mirror.bodies)
    assert {p.name: p.read_bytes() for p in raw.iterdir()} == FIXTURE  # the .gz stayed in the staging folder
    assert not (folder / "FashionMNIST.download").exists()


def test_nothing_works_is_one_line_with_exit_2(folder, monkeypatch, capsys):
    def offline(staging):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(fm, "_torchvision_download", offline)
    assert main(["data", "--get", "fashion-mnist"]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: Fashion-MNIST not found")
    assert "Traceback" not in captured.err + captured.out
    assert "dataset-fashion-mnist" in captured.err and "fm data --get fashion-mnist" in captured.err
    assert str((folder / "FashionMNIST" / "raw").resolve()) in captured.err
    assert "Temporary failure in name resolution" in captured.out  # the download's reason, said on the way
    assert not (folder / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").exists()
    assert not (folder / "FashionMNIST.download").exists()


def test_an_unreachable_server_is_not_waited_for(folder, monkeypatch, capsys):
    monkeypatch.setattr(fm, "_network_available", lambda *a, **k: False)  # never reaches the download
    assert main(["data", "--get", "fashion-mnist"]) == 2
    captured = capsys.readouterr()
    assert "no network access" in captured.out and captured.err.startswith("error: Fashion-MNIST not found")


def test_damaged_files_and_no_fresh_copy_say_so(folder, monkeypatch, capsys):
    raw = write_raw(folder)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"")
    monkeypatch.setattr(fm, "_network_available", lambda *a, **k: False)
    assert main(["data", "--get", "fashion-mnist"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{raw.resolve()} is damaged and no fresh copy was found" in err


def test_cli_get_says_where_the_files_came_from_and_how_to_use_them(folder, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(fm, "DEBIAN_DIR", write_debian(tmp_path / "debian"))
    assert main(["data", "--get", "fashion-mnist"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and str(tmp_path / "debian") in out[0] and "--data fashion-mnist" in out[1]


# --------------------------------------------------------------------------- damaged files

def _truncate(files):
    files["train-images-idx3-ubyte"] = files["train-images-idx3-ubyte"][:-300]
    return "train-images-idx3-ubyte", "truncated"


def _bad_magic(files):
    files["t10k-labels-idx1-ubyte"] = (2051).to_bytes(4, "big") + files["t10k-labels-idx1-ubyte"][4:]
    return "t10k-labels-idx1-ubyte", "magic number 2051, expected 2049"


def _count_mismatch(files):
    labels = fixture_arrays()["train-labels-idx1-ubyte"][:-3]
    files["train-labels-idx1-ubyte"] = idx_bytes(labels)
    return "train-labels-idx1-ubyte", "labels for"


def _labels_out_of_range(files):
    labels = fixture_arrays()["t10k-labels-idx1-ubyte"].copy()
    labels[5] = 12
    files["t10k-labels-idx1-ubyte"] = idx_bytes(labels)
    return "t10k-labels-idx1-ubyte", "expected 0..9"


def _wrong_dims(files):
    files["t10k-images-idx3-ubyte"] = idx_bytes(np.zeros((70, 32, 32), np.uint8))
    return "t10k-images-idx3-ubyte", "32x32, expected 28x28"


def _empty(files):
    files["train-labels-idx1-ubyte"] = b""
    return "train-labels-idx1-ubyte", "truncated"


@pytest.mark.parametrize("damage", [_truncate, _bad_magic, _count_mismatch, _labels_out_of_range,
                                    _wrong_dims, _empty])
def test_a_damaged_file_is_one_line_naming_it(folder, damage):
    files = dict(FIXTURE)
    name, reason = damage(files)
    raw = write_raw(folder, files)
    with pytest.raises(UserError) as err:
        load_dataset("fashion-mnist")
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(raw / name))
    assert reason in message and "fm data --get fashion-mnist" in message


def test_a_damaged_file_through_the_cli_is_one_line_with_exit_2(folder, capsys):
    files = dict(FIXTURE)
    _bad_magic(files)
    write_raw(folder, files)
    assert main(["data", "--data", "fashion-mnist"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "magic number" in err and "Traceback" not in err


# --------------------------------------------------------------------------- the loader

def test_the_loader_draws_five_stratified_classes_at_32(folder):
    write_raw(folder)
    ds = load_dataset("fashion-mnist")
    assert ds.name == "fashion-mnist" and ds.class_names == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]
    assert ds.x_train.shape == (22, 1, 32, 32) and ds.x_val.shape == (13, 1, 32, 32)
    assert np.bincount(ds.y_train.numpy()).tolist() == [5, 5, 4, 4, 4]  # 22 = 5 x 4 + 2
    assert np.bincount(ds.y_val.numpy()).tolist() == [3, 3, 3, 2, 2]  # 13 = 5 x 2 + 3
    assert 0.0 <= float(ds.x_train.min()) and float(ds.x_train.max()) <= 1.0
    # 28 px padded with 2 zero pixels each side, and each image really of its label
    x = ds.x_train[:, 0].numpy()
    assert (x[:, :2] == 0).all() and (x[:, -2:] == 0).all() and (x[:, :, :2] == 0).all() and (x[:, :, -2:] == 0).all()
    centre = np.rint(x[:, 16, 16] * 255).astype(int)
    assert (centre == 20 + 20 * ds.y_train.numpy()).all()
    # mean/std of the training subset
    assert ds.mean == pytest.approx(float(ds.x_train.mean()), rel=1e-6)
    assert ds.std == pytest.approx(float(ds.x_train.std()), rel=1e-6)


def test_the_draw_is_fixed_by_the_seed_and_cached(folder, monkeypatch):
    write_raw(folder)
    a = load_dataset("fashion-mnist", seed=0)
    assert len(list(folder.glob("fashion-mnist-32-s0-*.npz"))) == 1
    with monkeypatch.context() as mp:
        mp.setattr(fm, "read_raw", never("reading the IDX files (the cache holds the draw)"))
        b = load_dataset("fashion-mnist", seed=0)
    assert (a.x_train == b.x_train).all() and (a.y_val == b.y_val).all() and (a.x_val == b.x_val).all()
    (cache,) = folder.glob("fashion-mnist-32-s0-*.npz")
    cache.unlink()  # drawn again from the files: the same images
    b = load_dataset("fashion-mnist", seed=0)
    assert (a.x_train == b.x_train).all() and (a.y_train == b.y_train).all() and (a.x_val == b.x_val).all()
    c = load_dataset("fashion-mnist", seed=1)
    assert not (a.x_train.shape == c.x_train.shape and (a.x_train == c.x_train).all())


def test_another_size_is_resized_and_the_profile_subsamples_further(folder):
    write_raw(folder)
    ds = load_dataset("fashion-mnist", size=20, n_train=10, n_val=6)
    assert ds.x_train.shape == (10, 1, 20, 20) and ds.x_val.shape == (6, 1, 20, 20)
    assert 0.0 <= float(ds.x_train.min()) and float(ds.x_train.max()) <= 1.0


def test_missing_files_are_obtained_by_the_loader(folder, monkeypatch, tmp_path):
    monkeypatch.setattr(fm, "DEBIAN_DIR", write_debian(tmp_path / "debian"))
    ds = load_dataset("fashion-mnist")
    assert len(ds.y_train) == SMALL_N["N_TRAIN"]


def test_a_colour_network_is_refused_in_one_line(folder):
    with pytest.raises(UserError, match=r"^the fashion-mnist data set is grayscale \(1 channel\), but the network takes 3$"):
        load_dataset("fashion-mnist", channels=3)


# --------------------------------------------------------------------------- the real files

def test_the_real_files_give_the_papers_split_sizes_of_clothing(tmp_path, monkeypatch):
    """Debian's package (CI installs it in .ci/run); absent, get_fashion_mnist obtains it
    (apt-get as root, or torchvision's download) or this test fails: it never skips."""
    monkeypatch.setenv("FM_DATA_DIR", str(tmp_path / "data"))
    fm.get_fashion_mnist()
    ds = load_dataset("fashion-mnist")
    assert len(ds.y_train) == 4710 and len(ds.y_val) == 1934
    assert ds.class_names == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]
    assert ds.x_train.shape[1:] == (1, 32, 32)
    assert np.bincount(ds.y_train.numpy()).tolist() == [942] * 5
    assert np.bincount(ds.y_val.numpy()).tolist() == [387, 387, 387, 387, 386]
    # clothing on a black ground: a mid-dark mean, a bright maximum, the padding black
    assert 0.2 < ds.mean < 0.4 and 0.25 < ds.std < 0.45
    assert float(ds.x_train.max()) == 1.0 and float(ds.x_train[..., :2, :].max()) == 0.0


def test_only_the_raw_files_are_read_never_a_legacy_processed_file(folder):
    """torchvision would read FashionMNIST/processed/*.pt (torch's loader) before the checked raw files."""
    write_raw(folder)
    processed = folder / "FashionMNIST" / "processed"
    processed.mkdir()
    for name in ("training.pt", "test.pt"):
        (processed / name).write_bytes(b"not a tensor file")
    assert len(load_dataset("fashion-mnist").y_train) == SMALL_N["N_TRAIN"]


def test_the_name_is_a_name_for_the_book_even_beside_a_file_of_that_name(tmp_path, monkeypatch):
    from fm_core.book.build import data_parameter

    monkeypatch.chdir(tmp_path)
    (tmp_path / "fashion-mnist").write_text("")
    assert data_parameter("fashion-mnist") == "fashion-mnist"

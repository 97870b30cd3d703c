"""``fm data --get imagenette`` through torchvision's real download code, with the network
replaced by a fake server that serves a small tarball of the real layout: fresh download,
a finished tree left alone, an interrupted download and an interrupted extraction
resumed, a bad checksum, and the offline error as one line with exit code 2."""
from __future__ import annotations

import hashlib
import io
import tarfile
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image
from torchvision.datasets import Imagenette

from fm_core import data
from fm_core.data import files as datafiles
from fm_core.cli import main
from fm_core.errors import UserError
from fm_core.data.imagenette_download import IMAGENETTE_CLASSES, archive_path, get_imagenette, imagenette_url, staging_folder

SYNSETS = [wnid for wnid, _ in IMAGENETTE_CLASSES] + ["n01440764"]  # one class the paper drops


def fake_tarball() -> bytes:
    """imagenette2-160.tgz in miniature: imagenette2-160/{train,val}/<synset>/*.JPEG."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for split, count in (("train", 3), ("val", 2)):
            for k, wnid in enumerate(SYNSETS):
                for i in range(count):
                    jpeg = io.BytesIO()
                    pixels = np.full((20, 24, 3), 30 + 35 * k, np.uint8)
                    Image.fromarray(pixels, "RGB").save(jpeg, "JPEG")
                    info = tarfile.TarInfo(f"imagenette2-160/{split}/{wnid}/{wnid}_{i}.JPEG")
                    info.size = len(jpeg.getvalue())
                    tar.addfile(info, io.BytesIO(jpeg.getvalue()))
    return buffer.getvalue()


TARBALL = fake_tarball()


class FakeResponse(io.BytesIO):
    def __init__(self, url: str, body: bytes):
        super().__init__(body)
        self.url, self.length = url, len(body)


class FakeServer:
    """Stands in for urllib.request.urlopen; counts the tarball requests."""

    def __init__(self, body: bytes = TARBALL, offline: bool = False):
        self.body, self.offline, self.downloads = body, offline, 0

    def __call__(self, request, *args, **kwargs):
        url = request.full_url if hasattr(request, "full_url") else request
        if self.offline:
            raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
        if request.get_header("Method") != "HEAD":  # torchvision's redirect probe is a HEAD
            self.downloads += 1
        return FakeResponse(url, self.body)


@pytest.fixture
def data_folder(tmp_path, monkeypatch):
    """An empty data folder (FM_DATA_DIR), the cache beside it, and torchvision told the
    fake tarball's MD5, so that its own checksum test runs on it."""
    folder = tmp_path / "data"
    monkeypatch.setenv("FM_DATA_DIR", str(folder))
    monkeypatch.setattr(datafiles, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(datafiles, "_network_available", lambda *a, **k: False)
    url = Imagenette._ARCHIVES["160px"][0]
    monkeypatch.setitem(Imagenette._ARCHIVES, "160px", (url, hashlib.md5(TARBALL).hexdigest()))
    return folder


def serve(monkeypatch, **kwargs) -> FakeServer:
    server = FakeServer(**kwargs)
    monkeypatch.setattr(urllib.request, "urlopen", server)
    return server


def test_download_extracts_the_tree_the_loader_reads(data_folder, monkeypatch):
    server = serve(monkeypatch)
    tree = get_imagenette(log=lambda *_: None)
    assert tree == data_folder / "imagenette2-160" and server.downloads == 1
    assert not staging_folder(data_folder).exists()  # the archive is gone once extracted
    ds = data.load_dataset("imagenette", size=16)  # the name looks in FM_DATA_DIR
    assert ds.x_train.shape == (15, 1, 16, 16) and ds.x_val.shape == (10, 1, 16, 16)
    assert ds.class_names == [name for _, name in IMAGENETTE_CLASSES]


def test_the_url_is_torchvisions():
    assert imagenette_url() == Imagenette._ARCHIVES["160px"][0]
    assert imagenette_url().endswith("/imagenette2-160.tgz")


def test_a_finished_tree_is_not_downloaded_again(data_folder, monkeypatch):
    serve(monkeypatch)
    get_imagenette(log=lambda *_: None)
    server = serve(monkeypatch, offline=True)  # any request would fail the call
    said = []
    assert get_imagenette(log=said.append) == data_folder / "imagenette2-160"
    assert server.downloads == 0 and "nothing to download" in said[0]


def test_an_interrupted_download_starts_again(data_folder, monkeypatch):
    partial = archive_path(data_folder)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(TARBALL[: len(TARBALL) // 3])  # the connection dropped here
    with pytest.raises(UserError):  # half an archive is never taken for data
        datafiles.load_imagenette(data_folder / "imagenette2-160", size=16, download=False)
    server = serve(monkeypatch)
    get_imagenette(log=lambda *_: None)
    assert server.downloads == 1
    assert (data_folder / "imagenette2-160" / "val" / SYNSETS[-1]).is_dir()


def test_an_interrupted_extraction_is_redone_from_the_verified_archive(data_folder, monkeypatch):
    archive = archive_path(data_folder)
    archive.parent.mkdir(parents=True)
    archive.write_bytes(TARBALL)
    half = staging_folder(data_folder) / "imagenette2-160" / "train" / SYNSETS[0]
    half.mkdir(parents=True)  # extraction stopped after one folder
    with pytest.raises(UserError):  # the loader never sees the staging folder
        datafiles.load_imagenette(data_folder / "imagenette2-160", size=16, download=False)
    server = serve(monkeypatch, offline=True)  # the verified archive needs no network
    tree = get_imagenette(log=lambda *_: None)
    assert server.downloads == 0
    assert sorted(p.name for p in (tree / "val").iterdir()) == sorted(SYNSETS)


def test_a_corrupt_download_is_one_line_and_leaves_no_tree(data_folder, monkeypatch):
    serve(monkeypatch, body=TARBALL[:-100] + b"x" * 100)
    with pytest.raises(UserError, match="download failed") as err:
        get_imagenette(log=lambda *_: None)
    assert "\n" not in str(err.value)
    assert not (data_folder / "imagenette2-160").exists()


def test_an_incomplete_tree_in_place_is_named_not_deleted(data_folder):
    (data_folder / "imagenette2-160" / "train" / SYNSETS[0]).mkdir(parents=True)
    with pytest.raises(UserError, match=r"incomplete \(missing train/n03000684"):
        get_imagenette(log=lambda *_: None)
    assert (data_folder / "imagenette2-160" / "train" / SYNSETS[0]).is_dir()


def test_offline_cli_is_one_line_with_url_and_target_and_exit_2(data_folder, monkeypatch, capsys):
    serve(monkeypatch, offline=True)
    assert main(["data", "--get", "imagenette"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: Imagenette download failed")
    assert "Temporary failure in name resolution" in err
    assert imagenette_url() in err
    assert str(archive_path(data_folder.resolve())) in err
    assert not (data_folder / "imagenette2-160").exists()


def test_cli_get_downloads_and_says_how_to_use_it(data_folder, monkeypatch, capsys):
    serve(monkeypatch)
    assert main(["data", "--get", "imagenette"]) == 0
    out = capsys.readouterr().out
    assert f"Imagenette ready in {data_folder / 'imagenette2-160'}" in out and "--data imagenette" in out


def test_cli_get_refuses_other_names(capsys):
    assert main(["data", "--get", "cifar10"]) == 2
    assert "invalid choice" in capsys.readouterr().err

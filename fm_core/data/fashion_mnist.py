"""``fashion-mnist``: a second real data set the size of the paper's, obtained by one command.

Why: the paper (Karantzas et al. 2022) masks networks trained on 5 Imagenette classes,
grayscale, 4,710 training and 1,934 validation images. Imagenette needs a 94 MB download
and 128 px networks; Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, arXiv:1708.07747, MIT
licence) is packaged by Debian (``dataset-fashion-mnist``) and fits the small profiles'
32 px. The data set mirrors the paper's: Fashion-MNIST's first five classes by label
index, 4,710 training images drawn from its training file and 1,934 validation images
from its test file, a fixed-seed draw stratified by class; 28x28 padded with zeros to
32x32 (the background is 0), resized (antialiased bilinear) only for another ``size``.

The four IDX files are read through torchvision's ``FashionMNIST(root, download=False)``,
which reads them un-gzipped from ``<data>/FashionMNIST/raw/``. :func:`get_fashion_mnist`
puts them there, trying in order and stopping at the first that works: (a) files already
in the data folder and readable; (b) Debian's package files (:data:`DEBIAN_DIR`), gunzipped
atomically; (c) as root on Debian/Ubuntu, ``apt-get install dataset-fashion-mnist`` then (b);
(d) torchvision's own download with its MD5 checks, in a staging folder moved into place
when whole; (e) one UserError line saying how to get the files. A damaged file (truncated,
wrong magic number or dimensions, label count or values wrong) is one UserError line
naming the file and the command that fetches a fresh copy, never a traceback.
"""
from __future__ import annotations

import gzip
import os
import shutil
import socket
import subprocess
import zlib
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
import torch.nn.functional as F

from .dataset import Dataset, from_arrays
from .fashion_mnist_idx import (FILES, FOLDER, GET_COMMAND, IMAGE_SIDE, _first_line, files_present, raw_folder,
                                read_raw)
from .files import _network_available
from fm_core.errors import UserError
from fm_core.paths import data_dir
from fm_core.utils import atomic_path, load_npz, save_npz_atomic, stable_hash

NAME = "fashion-mnist"
# Where Debian's (and Ubuntu's) package dataset-fashion-mnist puts the gzipped IDX files.
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_PACKAGE = "dataset-fashion-mnist"
STAGING_SUFFIX = ".download"
PADDED_SIZE = 32  # 28 px + 2 zero pixels each side: the small profiles' size
# Fashion-MNIST's first five classes by label index: chosen by label order, a rule that
# looks at no result (no accuracy or mask was consulted). Expected to be of similar
# difficulty to the paper's five Imagenette classes: five everyday-object classes that a
# small CNN tells apart well but not perfectly (Pullover/Coat and T-shirt/top/Dress are
# confusable pairs), neither trivial nor near chance.
N_CLASSES = 5
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat")  # torchvision's names, labels 0-4
N_TRAIN, N_VAL = 4710, 1934  # the paper's split sizes
_CACHE_VERSION = 1  # bump when the draw or the processing changes, so old caches are never reused
# Bounds, so that a stalled network or package manager ends in the one-line error.
DOWNLOAD_TIMEOUT_S = 30.0
APT_TIMEOUT_S = 300.0


# --------------------------------------------------------------------------- obtaining them

def _readable(data_folder: Path) -> bool:
    """Whether the four files are in place and both splits read and pass the checks."""
    if not files_present(data_folder):
        return False
    try:
        read_raw(data_folder)
    except UserError:
        return False
    return True


def _from_debian(data_folder: Path, source: Path | None = None) -> bool:
    """Gunzip Debian's four files into the raw folder, each written to a temporary file and
    renamed (an interruption never leaves half a file under the final name). False when
    the package's files are absent or damaged."""
    source = Path(source) if source is not None else DEBIAN_DIR
    gz = [source / f"{name}.gz" for name in FILES]
    if not all(p.is_file() for p in gz):
        return False
    raw = raw_folder(data_folder)
    for src, name in zip(gz, FILES):
        try:
            # the source opened first: a file we cannot read is not the data folder's fault
            with gzip.open(src, "rb") as fin, atomic_path(raw / name) as tmp, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            print(f"{src}: not a whole gzip file ({_first_line(exc)}); skipping the Debian package's files")
            return False
        except OSError as exc:
            if isinstance(exc, UserError):  # the data folder cannot take the file (read-only, full)
                raise
            print(f"{src}: cannot read ({exc.strerror or exc}); skipping the Debian package's files")
            return False
    return _readable(data_folder)


def _apt_possible() -> bool:
    """Root on a system with apt-get (Debian, Ubuntu): the package can be installed."""
    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get") is not None


def _run(cmd: list[str]) -> bool:
    """Run a package-manager command, quietly and bounded in time; whether it succeeded."""
    try:
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              timeout=APT_TIMEOUT_S, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _apt_install() -> bool:
    """``apt-get install dataset-fashion-mnist``; after a failure, ``apt-get update`` once
    (the package lists may be missing or stale) and install again."""
    install = ["apt-get", "install", "-y", "-q", DEBIAN_PACKAGE]
    if _run(install):
        return True
    return _run(["apt-get", "update", "-q"]) and _run(install)


def _download_server() -> tuple[str, int]:
    """Host and port of torchvision's Fashion-MNIST mirror (its table, so they never drift)."""
    from torchvision.datasets import FashionMNIST

    url = urlparse(FashionMNIST.mirrors[0])
    return url.hostname or "", url.port or (443 if url.scheme == "https" else 80)


def _torchvision_download(staging: Path) -> None:
    """torchvision's download (MD5-checked, gunzipped) into ``staging/FashionMNIST/raw/``."""
    from torchvision.datasets import FashionMNIST  # looked up at call time: tests replace it

    FashionMNIST(str(staging), train=True, download=True)


def _download(data_folder: Path) -> bool:
    """torchvision's download in ``<data>/FashionMNIST.download/``, behind a socket timeout;
    the four files are moved into the raw folder once all are there and read. False (with
    the reason printed) when it fails: an offline machine is the usual case."""
    host, port = _download_server()
    # A DNS lookup ignores socket timeouts: without this probe (bounded in a thread) an
    # offline machine could hang here instead of reaching the one-line error.
    if not _network_available(host, port):
        print(f"torchvision's download skipped: {host} does not answer (no network access)")
        return False
    staging = data_folder / (FOLDER + STAGING_SUFFIX)
    # What an interrupted run left is dropped: torchvision would take files there as done.
    shutil.rmtree(staging, ignore_errors=True)
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        staging.mkdir(parents=True, exist_ok=True)
        _torchvision_download(staging)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - urllib, http, MD5 and gzip errors all mean: no download
        # torchvision's message spans lines ("Error downloading ...:", "Tried <url>, got:", why)
        print(f"torchvision's download failed ({' '.join(str(exc).split())[:240] or type(exc).__name__})")
        shutil.rmtree(staging, ignore_errors=True)
        return False
    finally:
        socket.setdefaulttimeout(previous_timeout)
    if not _readable(staging):
        print("torchvision's download did not produce four readable files")
        shutil.rmtree(staging, ignore_errors=True)
        return False
    raw = raw_folder(data_folder)
    for name in FILES:  # each a rename within the data folder: whole files only
        try:
            raw.mkdir(parents=True, exist_ok=True)
            os.replace(raw_folder(staging) / name, raw / name)
        except OSError as exc:
            raise UserError(f"cannot move {name} into {raw}: {exc.strerror or exc}") from None
    shutil.rmtree(staging, ignore_errors=True)
    return _readable(data_folder)


def not_found(data_folder: Path, damaged: bool = False) -> UserError:
    """How to get the files, in one line; ``damaged``: the data folder holds them, unreadable."""
    what = (f"Fashion-MNIST in {raw_folder(data_folder.resolve())} is damaged and no fresh copy was found"
            if damaged else "Fashion-MNIST not found")
    return UserError(
        f"{what}: install Debian's package {DEBIAN_PACKAGE} (sudo apt-get install "
        f"{DEBIAN_PACKAGE}) and run `{GET_COMMAND}`, or put the four IDX files ({', '.join(FILES)}, "
        f"un-gzipped) in {raw_folder(data_folder.resolve())}/")


def get_fashion_mnist(data_folder: Path | None = None, log=print) -> Path:
    """Make sure ``<data>/FashionMNIST/raw/`` holds the four readable IDX files; returns
    that folder. Tries, in order: the files already there, Debian's package files, installing
    the package (root with apt-get only), torchvision's download; else one UserError line."""
    data_folder = Path(data_folder) if data_folder is not None else data_dir()
    raw = raw_folder(data_folder)
    if _readable(data_folder):
        log(f"Fashion-MNIST is already in {raw}; nothing to fetch")
        return raw
    damaged = files_present(data_folder)  # there, but unreadable: a fresh copy replaces them
    if _from_debian(data_folder):
        log(f"Fashion-MNIST copied from {DEBIAN_DIR} (Debian's {DEBIAN_PACKAGE}) into {raw}")
        return raw
    if _apt_possible():
        log(f"installing Debian's {DEBIAN_PACKAGE} (apt-get)")
        if _apt_install() and _from_debian(data_folder):
            log(f"Fashion-MNIST installed ({DEBIAN_PACKAGE}) and copied into {raw}")
            return raw
    log("downloading Fashion-MNIST through torchvision")
    if _download(data_folder):
        log(f"Fashion-MNIST downloaded by torchvision into {raw}")
        return raw
    raise not_found(data_folder, damaged)


# --------------------------------------------------------------------------- the data set

def _draw(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` images of classes 0..N_CLASSES-1, equal counts per class as far as
    possible (the first ``n % N_CLASSES`` classes by label take one more), drawn without
    replacement; sorted, so the images keep the file's order."""
    base, extra = divmod(n, N_CLASSES)
    picks = []
    for c in range(N_CLASSES):
        pool = np.flatnonzero(y == c)
        want = base + (1 if c < extra else 0)
        if len(pool) < want:
            raise UserError(f"Fashion-MNIST has {len(pool)} images of class {c} ({CLASS_NAMES[c]}), "
                            f"{want} are needed; run `{GET_COMMAND}` for a fresh copy")
        picks.append(rng.choice(pool, size=want, replace=False))
    return np.sort(np.concatenate(picks))


def _resize(x: np.ndarray, size: int) -> np.ndarray:
    """uint8 (N, 28, 28) zero-padded to uint8 (N, 32, 32); at another ``size``, the padded
    images resized (antialiased bilinear) and rounded back to uint8, as the image folders'
    decoded pixels are (a quarter of float32's cache, and values within 1/510 of it)."""
    pad = (PADDED_SIZE - IMAGE_SIDE) // 2
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    if size == PADDED_SIZE:
        return x
    t = torch.from_numpy(x).float()[:, None]
    out = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out[:, 0].round_().clamp_(0, 255).to(torch.uint8).numpy()


def _cache_path(data_folder: Path, size: int, seed: int) -> Path:
    raw = raw_folder(data_folder)
    files = [(name, st.st_size, st.st_mtime_ns) for name in FILES for st in [os.stat(raw / name)]]
    key = stable_hash({"v": _CACHE_VERSION, "size": size, "seed": seed, "n": [N_TRAIN, N_VAL], "files": files},
                      length=10)
    return data_folder / f"fashion-mnist-{size}-s{seed}-{key}.npz"


def fashion_mnist_arrays(size: int = PADDED_SIZE, seed: int = 0, data_folder: Path | None = None) -> dict:
    """The data set's arrays, drawn and processed once and cached as an ``.npz`` in the data
    folder (the name holds size, seed and the raw files' sizes and times)."""
    data_folder = Path(data_folder) if data_folder is not None else data_dir()
    path = _cache_path(data_folder, size, seed)
    if path.exists():
        try:
            return load_npz(path)
        except (OSError, ValueError, EOFError, zlib.error):
            pass  # a damaged cache is made again
    raw = read_raw(data_folder)
    # Two streams from one seed: the validation draw does not depend on the training one.
    i_train = _draw(raw["y_train"], N_TRAIN, np.random.default_rng([seed, 0]))
    i_val = _draw(raw["y_val"], N_VAL, np.random.default_rng([seed, 1]))
    arrays = dict(x_train=_resize(raw["x_train"][i_train], size), y_train=raw["y_train"][i_train],
                  x_val=_resize(raw["x_val"][i_val], size), y_val=raw["y_val"][i_val],
                  i_train=i_train, i_val=i_val)
    try:
        save_npz_atomic(path, **arrays)
    except OSError:
        pass  # a read-only data folder only costs the next load its processing time
    return arrays


def load_fashion_mnist(size: int = PADDED_SIZE, seed: int = 0, data_folder: Path | None = None) -> Dataset:
    """Fashion-MNIST's classes 0-4, 4,710 training / 1,934 validation images at ``size``
    (default 32, zero-padded from 28), mean/std of the training subset. The files are
    obtained first (:func:`get_fashion_mnist`) when any is missing."""
    if int(size) != size or size < 1:
        raise UserError(f"image size must be a positive integer, got {size!r}")
    data_folder = Path(data_folder) if data_folder is not None else data_dir()
    if not files_present(data_folder):
        get_fashion_mnist(data_folder)
    a = fashion_mnist_arrays(int(size), seed, data_folder)
    return from_arrays(NAME, a["x_train"], a["y_train"], a["x_val"], a["y_val"], class_names=list(CLASS_NAMES),
                       meta={"source": str(raw_folder(data_folder)), "seed": seed,
                             "labels": list(range(N_CLASSES))})

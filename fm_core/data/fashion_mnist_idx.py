"""Fashion-MNIST's four IDX files: where they lie, and reading them through torchvision
with every damage a user can meet turned into one UserError line.

Why a module of its own: torchvision reads the files leniently and names none of them
(see :func:`_read_split`), so the checks that make a damaged file one line naming it and
the command that replaces it (``fm data --get fashion-mnist``) live here, apart from how
the files are obtained and how the data set is drawn (:mod:`fm_core.data.fashion_mnist`).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fm_core.errors import UserError
from fm_core.paths import data_dir

GET_COMMAND = "fm data --get fashion-mnist"
FOLDER = "FashionMNIST"  # torchvision's: it reads <root>/FashionMNIST/raw/<file>
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
IMAGE_SIDE = 28


def raw_folder(data_folder: Path | None = None) -> Path:
    """``<data>/FashionMNIST/raw/``, where torchvision reads the four un-gzipped files."""
    return (Path(data_folder) if data_folder is not None else data_dir()) / FOLDER / "raw"


def files_present(data_folder: Path | None = None) -> bool:
    raw = raw_folder(data_folder)
    return all((raw / name).is_file() for name in FILES)


def _damaged(path: Path, reason: str) -> UserError:
    return UserError(f"{path}: damaged Fashion-MNIST file ({reason}); run `{GET_COMMAND}` for a "
                     f"fresh copy (delete the file first if it stays)")


def _first_line(exc: BaseException) -> str:  # also the obtaining messages' (fashion_mnist)
    return ((str(exc).strip().splitlines() or [type(exc).__name__])[0])[:160]


def _read_split(root: Path, train: bool) -> tuple[np.ndarray, np.ndarray]:
    """One split's uint8 images (N, 28, 28) and int64 labels (N,), read by torchvision and
    checked here. torchvision (0.2x, ``read_sn3_pascalvincent_tensor`` with ``strict=False``)
    names no file and misses much: a truncated file or a wrong magic number is a bare
    ``RuntimeError`` from a reshape ("shape [...] is invalid for input of size ..."), an
    ``AssertionError`` or a ``KeyError`` (unknown type byte); an empty file a ``ValueError``
    from ``int(b'', 16)``; wrong image dimensions, a label count that differs from the image
    count and labels outside 0..9 are accepted as they are. Hence the header check first."""
    prefix = "train" if train else "t10k"
    images, labels = raw_folder(root) / f"{prefix}-images-idx3-ubyte", raw_folder(root) / f"{prefix}-labels-idx1-ubyte"
    for path in (images, labels):
        if not path.is_file():
            raise UserError(f"{path}: Fashion-MNIST file missing; run `{GET_COMMAND}`")
    # torchvision parses both files in its constructor; to name the damaged one, each is
    # also checked on its own header first (magic number, dimensions, length).
    _check_header(images, ndim=3)
    _check_header(labels, ndim=1)
    try:
        ds = _raw_reader()(str(root), train=train, download=False)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - AssertionError, RuntimeError (view), ValueError, TypeError
        raise _damaged(images, f"torchvision cannot read the split: {_first_line(exc)}") from None
    x, y = ds.data.numpy(), ds.targets.numpy()
    if x.ndim != 3 or x.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise _damaged(images, f"images of shape {tuple(x.shape[1:])}, expected {IMAGE_SIDE}x{IMAGE_SIDE}")
    if len(y) != len(x):
        raise _damaged(labels, f"{len(y)} labels for {len(x)} images in {images.name}")
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise _damaged(labels, f"labels {int(y.min())}..{int(y.max())}, expected 0..9")
    return x.astype(np.uint8, copy=False), y.astype(np.int64)


def _raw_reader():
    """torchvision's ``FashionMNIST`` reading only the raw IDX files: when a legacy
    ``FashionMNIST/processed/{training,test}.pt`` exists it would read those instead
    (with torch's pickle-based loader), data we never checked; this subclass never does."""
    from torchvision.datasets import FashionMNIST

    class RawFashionMNIST(FashionMNIST):
        def _check_legacy_exist(self):
            return False

        @property
        def raw_folder(self) -> str:  # torchvision names the folder after the class
            return os.path.join(self.root, FOLDER, "raw")

    return RawFashionMNIST


def _check_header(path: Path, ndim: int) -> None:
    """The IDX header: magic 0x0000 08 <ndim> (unsigned bytes; 2051 images, 2049 labels),
    big-endian dimensions, and exactly their product of bytes after them."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(4 + 4 * ndim)
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(head) < 4 + 4 * ndim:
        raise _damaged(path, f"truncated: {size} bytes, shorter than its header")
    magic = int.from_bytes(head[:4], "big")
    if magic != 0x800 + ndim:
        raise _damaged(path, f"magic number {magic}, expected {0x800 + ndim}")
    dims = [int.from_bytes(head[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    if ndim == 3 and dims[1:] != [IMAGE_SIDE, IMAGE_SIDE]:
        raise _damaged(path, f"images of {dims[1]}x{dims[2]}, expected {IMAGE_SIDE}x{IMAGE_SIDE}")
    expected = 4 + 4 * ndim + int(np.prod(dims))
    if size != expected:
        what = "truncated" if size < expected else "too long"
        raise _damaged(path, f"{what}: {size} bytes, its header says {expected}")


def read_raw(data_folder: Path | None = None) -> dict[str, np.ndarray]:
    """Both splits, all ten classes: ``x_train`` (60000, 28, 28) uint8, ``y_train``, ``x_val``
    (the test file), ``y_val``. Damaged or missing files are one UserError line."""
    root = Path(data_folder) if data_folder is not None else data_dir()
    x_train, y_train = _read_split(root, train=True)
    x_val, y_val = _read_split(root, train=False)
    return dict(x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val)

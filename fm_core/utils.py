"""Small shared helpers: seeding, atomic writes, devices, hashing, progress bars."""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch

from .errors import UserError


def progress_bar(iterable=None, *, progress: bool = True, **kwargs):
    """A tqdm bar (a widget in Jupyter when ipywidgets is installed, text otherwise),
    off when ``progress`` is False or ``TQDM_DISABLE`` is set: the book build sets it,
    since a bar executed by papermill would be printed into the rendered page.

    When ``FM_PROGRESS_FILE`` names a file (the book build sets it for its kernels), the
    bar is plain text appended to that file instead, never to stdout/stderr, one line at
    most every ``FM_PROGRESS_INTERVAL`` seconds (default 5); the build prints the file's
    new lines on its terminal (:mod:`fm_core.book.progress`)."""
    import warnings

    path = os.environ.get("FM_PROGRESS_FILE", "").strip()
    if path and progress:
        from fm_core.book.progress import file_progress_bar
        return file_progress_bar(path, iterable, **kwargs)
    with warnings.catch_warnings():  # tqdm.auto warns when ipywidgets is missing
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm
    off = os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes")
    return tqdm(iterable, disable=off or not progress, **kwargs)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch generator for data order."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """The device a ``--device`` value names: ``auto`` (CUDA when available, else the
    CPU), ``cpu``, ``cuda`` or ``cuda:N``. Asking for CUDA where there is none is a
    one-line :class:`UserError` (exit code 2), not a traceback from deep inside torch."""
    name = str(name).strip().lower()
    if name == "auto":
        return default_device()
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            built = "without CUDA" if torch.version.cuda is None else f"with CUDA {torch.version.cuda}, but no GPU is visible"
            raise UserError(f"--device {name}: this machine has no CUDA device (torch {torch.__version__} is built "
                            f"{built}); use --device cpu or auto")
        index = name.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise UserError(f"--device {name}: there are {torch.cuda.device_count()} CUDA device(s), cuda:0 onwards")
        return torch.device(name)
    raise UserError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")


def stable_hash(obj, length: int = 12) -> str:
    """A short hash of a JSON-serialisable object, independent of key order."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


class WriteError(OSError, UserError):
    """A file could not be written because its folder is read-only or the disk is full:
    a one-line :class:`UserError` (exit code 2) that is still an ``OSError``."""

    def __str__(self) -> str:
        return str(self.strerror)


# errno values that mean "this place cannot take the file", not a bug of ours
_STORAGE_ERRNOS = {errno.EACCES: "is read-only or not writable", errno.EPERM: "is read-only or not writable",
                   errno.EROFS: "is on a read-only file system", errno.ENOSPC: "is on a full disk",
                   errno.EDQUOT: "is over its disk quota", errno.EFBIG: "cannot hold a file this large"}


def write_error(path, exc: OSError) -> OSError:
    """``exc`` as a one-line :class:`WriteError` naming ``path`` when it means a read-only
    folder or a full disk; ``exc`` itself otherwise."""
    what = _STORAGE_ERRNOS.get(getattr(exc, "errno", None))
    if what is None or isinstance(exc, WriteError):
        return exc
    path = Path(path)
    return WriteError(exc.errno, f"cannot write {path}: {path.parent} {what} ({os.strerror(exc.errno)})")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    A run killed half-way never leaves a truncated file under the final name, a failed
    write leaves no temporary file, and a read-only folder or a full disk is reported
    as a one-line :class:`WriteError`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise write_error(path, exc) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def file_digest(path) -> tuple[str, int]:
    """(sha256 hex digest, size in bytes) of a file, read in 1 MiB blocks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def save_npz_atomic(path, **arrays) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def save_json_atomic(path, obj) -> None:
    text = json.dumps(obj, indent=2, sort_keys=True, default=str)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def load_npz(path) -> dict:
    """Load an ``.npz`` without pickles (object arrays are refused)."""
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}

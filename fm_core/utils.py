"""Small shared helpers: seeding, atomic writes, devices, hashing, progress bars."""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import random
import re
import tempfile
from pathlib import Path

import numpy as np
import torch

from .errors import UserError

# The writing half of the progress relay of a book build (fm_core.book.progress reads):
# here, below every package, so that no artefact's code key includes the build's code.
PROGRESS_FILE_ENV = "FM_PROGRESS_FILE"
PROGRESS_INTERVAL_ENV = "FM_PROGRESS_INTERVAL"
DEFAULT_PROGRESS_INTERVAL = 5.0
_SPLIT = re.compile(r"[\r\n]")


class _LineFile:
    """A file-like object for tqdm: each status tqdm draws (``\\r`` + text + padding)
    becomes one line of the file; blank redraws (a bar clearing itself) are dropped."""

    def __init__(self, path: str | os.PathLike):
        self._fh = open(path, "a", encoding="utf-8", buffering=1)
        self._last = ""

    def write(self, text: str) -> None:
        for part in _SPLIT.split(text):
            part = part.rstrip()
            if part and part != self._last:  # tqdm redraws the final state on close
                self._fh.write(part + "\n")
                self._last = part

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def progress_interval() -> float:
    """Seconds between two lines of one bar (``FM_PROGRESS_INTERVAL``, default 5)."""
    try:
        return max(0.0, float(os.environ.get(PROGRESS_INTERVAL_ENV, DEFAULT_PROGRESS_INTERVAL)))
    except ValueError:
        return DEFAULT_PROGRESS_INTERVAL


def file_progress_bar(path: str | os.PathLike, iterable=None, **kwargs):
    """A text tqdm bar whose lines are appended to ``path``; it always leaves its final
    state (``leave``) and closes the file when it closes."""
    from tqdm.std import tqdm

    class FileBar(tqdm):
        # a new postfix or description shows with the next line, not as a line of its
        # own: at most one line per FM_PROGRESS_INTERVAL
        def set_postfix(self, ordered_dict=None, refresh=True, **kwargs):
            super().set_postfix(ordered_dict, refresh=False, **kwargs)

        def set_postfix_str(self, s="", refresh=True):
            super().set_postfix_str(s, refresh=False)

        def set_description(self, desc=None, refresh=True):
            super().set_description(desc, refresh=False)

        def display(self, msg=None, pos=None):
            self._shown_n = self.n
            return super().display(msg, pos)

        def close(self):
            if self.disable:
                return
            # the log's last line of a stage shows where it ended: drawn now unless the
            # last line drawn already showed this count
            self.leave = getattr(self, "_shown_n", None) != self.n
            try:
                super().close()
            finally:
                self.fp.close()

    kwargs.pop("file", None)
    kwargs.pop("position", None)  # one bar per line in the file: no terminal positions
    kwargs.setdefault("mininterval", progress_interval())
    kwargs.setdefault("ascii", True)
    kwargs["disable"] = False
    kwargs["dynamic_ncols"] = False
    return FileBar(iterable, file=_LineFile(path), **kwargs)


def progress_bar(iterable=None, *, progress: bool = True, **kwargs):
    """A tqdm bar (a widget in Jupyter when ipywidgets is installed, text otherwise),
    off when ``progress`` is False or ``TQDM_DISABLE`` is set: the book build sets it,
    since a bar executed by papermill would be printed into the rendered page.

    When ``FM_PROGRESS_FILE`` names a file (the book build sets it for its kernels), the
    bar is plain text appended to that file instead, never to stdout/stderr, one line at
    most every ``FM_PROGRESS_INTERVAL`` seconds (default 5); the build prints the file's
    new lines on its terminal (:mod:`fm_core.book.progress`, the reading half)."""
    import warnings

    path = os.environ.get(PROGRESS_FILE_ENV, "").strip()
    if path and progress:
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

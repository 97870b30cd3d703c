"""Every check on what a user hands us, in one place: command-line numbers, ``.npz`` data
files (inspected before anything is allocated), image folders, image arrays and labels,
and model files. Each problem becomes one line: a :class:`~fm_core.errors.UserError`
(exit code 2 on the command line), never a traceback, never a half-written output.

:func:`fm_core.data.dataset.from_arrays` calls :func:`images` and :func:`labels`;
:mod:`fm_core.data.files` calls :func:`npz_members` and :func:`image_folder`;
:func:`fm_core.nets.models.load_model` calls :func:`model_meta`; the command line's numeric
options are parsed by :func:`number`.
"""
from __future__ import annotations

import argparse
import math
import os
import zipfile
from pathlib import Path

import numpy as np

from fm_core.errors import UserError

# Images smaller than this cannot go through the networks' pooling stages; larger than
# MAX_SIZE is not a Fourier-mask data set this code can hold in memory.
MIN_SIZE, MAX_SIZE = 8, 4096
MAX_WIDTH = 8.0
MAX_CLASSES = 100_000


# ------------------------------------------------------------------- command-line numbers
def number(kind=float, minimum=None, maximum=None, positive: bool = False):
    """An argparse ``type=``: a finite ``kind`` (int or float), > 0 when ``positive``,
    within [minimum, maximum]; otherwise argparse's one-line error (exit 2)."""
    def parse(text):
        try:
            value = kind(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(
                f"not {'an integer' if kind is int else 'a number'}: {text!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number: {text!r}")
        if positive and value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}: {text!r}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be <= {maximum:g}: {text!r}")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def positive(kind=float, maximum=None):
    return number(kind, maximum=maximum, positive=True)


def seed(text):
    return number(int, minimum=0, maximum=2**32 - 1)(text)


# ----------------------------------------------------------------------------- npz files
def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 << 30


def npz_members(path: Path) -> dict[str, tuple[tuple, np.dtype]]:
    """The arrays an ``.npz`` declares, ``{name: (shape, dtype)}``, read from their
    headers only: nothing is allocated. Refused: a file that is not a zip archive,
    pickled (object) arrays, a header whose declared size differs from the bytes the
    archive holds, and arrays that together would not fit in half this machine's memory."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):  # np.load would also accept a bare .npy or a pickle
        raise UserError(f"{path}: not an .npz archive (save one with numpy.savez)")
    members, total = {}, 0
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                if not info.filename.endswith(".npy"):
                    raise UserError(f"{path}: member {info.filename!r} is not a .npy array")
                with zf.open(info) as fh:
                    shape, dtype = _npy_header(fh)
                    header = fh.tell()
                if dtype.hasobject:
                    raise UserError(f"{path}: array {name!r} holds Python objects (a pickle); refused, "
                                    "save plain numeric or string arrays")
                declared = math.prod(shape) * dtype.itemsize
                if declared != info.file_size - header:
                    raise UserError(f"{path}: array {name!r} declares shape {shape} ({declared} bytes) "
                                    f"but holds {info.file_size - header} bytes; the file is damaged")
                total += declared
                members[name] = (tuple(shape), dtype)
    except UserError:
        raise
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - bad zip, bad header, unsupported compression...
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"{path}: unreadable .npz ({reason[:160]})") from None
    if total > _memory_bytes() // 2:
        raise UserError(f"{path}: its arrays need {total / 2**30:.1f} GiB, more than half of this "
                        f"machine's memory ({_memory_bytes() / 2**30:.1f} GiB)")
    return members


def _npy_header(fh) -> tuple[tuple, np.dtype]:
    """(shape, dtype) from a .npy header (format 1.0, 2.0 or 3.0), the data left unread."""
    fmt = np.lib.format
    version = fmt.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, _, dtype = fmt.read_array_header_2_0(fh)
    else:  # 3.0 (utf-8 field names): numpy's own reader, where this numpy has it
        from numpy.lib import _format_impl
        shape, _, dtype = _format_impl._read_array_header(fh, version)
    return shape, dtype


# --------------------------------------------------------------------- arrays and labels
def images(name: str, key: str, x, channels: int = 1) -> np.ndarray:
    """Images of float in [0, 1] or uint8, square, at least one. One channel (the
    default): (N, H, W) (or (N, 1, H, W), (N, H, W, 1)), returned float32 (N, H, W);
    ``channels`` C > 1: (N, C, H, W) or (N, H, W, C), returned float32 (N, C, H, W)."""
    x = np.asarray(x)
    if channels == 1:
        if x.ndim == 4 and x.shape[1] == 1:
            x = x[:, 0]
        elif x.ndim == 4 and x.shape[3] == 1:
            x = x[..., 0]
        if x.ndim == 4 and x.shape[-1] in (3, 4):
            raise UserError(f"{name}: {key} has {x.shape[-1]} colour channels, shape {x.shape}; "
                            "give grayscale images (N, H, W), or a network that takes colour")
        if x.ndim != 3:
            raise UserError(f"{name}: {key} must have shape (N, H, W), got {x.shape}")
    else:
        if x.ndim == 4 and x.shape[-1] == channels and x.shape[1] == x.shape[2]:
            x = x.transpose(0, 3, 1, 2)  # channels last, as images are usually stored
        if x.ndim != 4 or x.shape[1] != channels:
            raise UserError(f"{name}: {key} has shape {x.shape}, but the network takes {channels} channels: "
                            f"give (N, {channels}, H, W) or (N, H, W, {channels})")
    if x.shape[-2] != x.shape[-1]:
        raise UserError(f"{name}: images must be square, {key} is {x.shape[-2]}x{x.shape[-1]}")
    if not MIN_SIZE <= x.shape[-1] <= MAX_SIZE:
        raise UserError(f"{name}: {key} images are {x.shape[-2]}x{x.shape[-1]}; sizes from "
                        f"{MIN_SIZE} to {MAX_SIZE} are supported")
    if len(x) == 0:
        raise UserError(f"{name}: the train and val splits must both hold images ({key} is empty)")
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    if x.dtype.kind != "f":
        raise UserError(f"{name}: {key} must be float in [0, 1] or uint8, got {x.dtype}")
    if not np.isfinite(x).all():
        raise UserError(f"{name}: {key} contains NaN or infinite pixels")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        raise UserError(f"{name}: {key} pixels must lie in [0, 1] (found {lo:.3g}..{hi:.3g})")
    return np.ascontiguousarray(x, dtype=np.float32)


def labels(name: str, y_train, y_val, n_train: int, n_val: int,
           class_names=None) -> tuple[np.ndarray, np.ndarray, int]:
    """Integer labels, one per image, 0..C-1 with every class present in the training
    split and at least two classes; returns (y_train, y_val, C) as int64."""
    ys = []
    for key, y, n in (("y_train", y_train, n_train), ("y_val", y_val, n_val)):
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != n:
            raise UserError(f"{name}: {key} must have one integer label per image ({n}), got shape {y.shape}")
        if y.dtype.kind in "iu":
            pass
        elif y.dtype.kind == "f" and np.isfinite(y).all() and np.all(y == np.round(y)) \
                and (len(y) == 0 or np.abs(y).max() < 2**31):
            y = y.astype(np.int64)
        else:
            raise UserError(f"{name}: {key} must hold integer labels, got {y.dtype}")
        if len(y) and y.min() < 0:
            raise UserError(f"{name}: {key} has negative labels")
        ys.append(y)
    present = np.unique(ys[0])
    if len(present) < 2:
        raise UserError(f"{name}: y_train holds {len(present)} class; a classifier needs at least two")
    if int(present[-1]) >= MAX_CLASSES:
        raise UserError(f"{name}: label {int(present[-1])} is out of range (at most {MAX_CLASSES} classes)")
    num_classes = int(present[-1]) + 1
    if class_names is not None:
        if len(class_names) < num_classes:
            raise UserError(f"{name}: {len(class_names)} class_names for {num_classes} classes")
        num_classes = len(class_names)
    if len(present) < num_classes:
        missing = sorted(set(range(num_classes)) - set(present.tolist()))[:5]
        raise UserError(f"{name}: class(es) {missing} have no training image; labels must be 0..C-1 "
                        f"with every class in y_train")
    if len(ys[1]) and int(ys[1].max()) >= num_classes:
        raise UserError(f"{name}: y_val has label {int(ys[1].max())}, out of range 0..{num_classes - 1}")
    return ys[0].astype(np.int64), ys[1].astype(np.int64), num_classes


# --------------------------------------------------------------------------- folders
def image_folder(root: Path, max_depth: int = 8) -> None:
    """Refuse a folder tree that cannot be scanned safely: a symlink loop (which would
    list images again and again) or a tree deeper than ``max_depth``."""
    root = Path(root)
    seen = set()
    for dirpath, dirnames, _ in os.walk(root, followlinks=True, onerror=_raise_walk_error):
        st = os.stat(dirpath)
        ident = (st.st_dev, st.st_ino)
        if ident in seen:
            raise UserError(f"{dirpath}: a symbolic link loop (this folder is inside itself); remove the link")
        seen.add(ident)
        if len(Path(dirpath).relative_to(root).parts) > max_depth:
            raise UserError(f"{dirpath}: folders nested deeper than {max_depth} levels; "
                            "expected root/train/<class>/<image>")


def _raise_walk_error(exc: OSError) -> None:
    raise UserError(f"{exc.filename}: {exc.strerror or exc}") from None


# --------------------------------------------------------------------------- model files
def model_meta(path, payload) -> dict:
    """The metadata of a loaded model file, checked before a network is built from it."""
    import json

    if not isinstance(payload, dict) or payload.get("format") != "fm_core.model/1":
        raise UserError(f"{path} is not an fm_core model file (train one with `python -m fm_core train`)")
    try:
        meta = json.loads(payload["meta_json"])
        state = payload["state_dict"]
        assert isinstance(meta, dict) and isinstance(state, dict)
        arch, width, size = meta["arch"], float(meta["width"]), int(meta["size"])
        num_classes, mean, std = int(meta["num_classes"]), float(meta["mean"]), float(meta["std"])
        meta["pooled_head"] = bool(meta["pooled_head"])
    except (KeyError, TypeError, ValueError, AssertionError):
        raise UserError(f"{path}: damaged model file (its metadata is incomplete)") from None
    if arch not in ("vgg11_bn", "resnet18") or not 0 < width <= MAX_WIDTH \
            or not MIN_SIZE <= size <= MAX_SIZE or not 2 <= num_classes <= MAX_CLASSES \
            or not (math.isfinite(mean) and math.isfinite(std) and std > 0):
        raise UserError(f"{path}: damaged model file (implausible metadata: arch {arch!r}, width {width}, "
                        f"size {size}, {num_classes} classes)")
    return meta

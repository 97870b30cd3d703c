"""Data sets read from disk: the paper's Imagenette, any ImageFolder tree, and ``.npz`` files.

Every loader returns a :class:`fm_core.data.dataset.Dataset` built by :func:`fm_core.data.dataset.from_arrays`,
which owns the checks on pixels and labels; this module only finds and decodes the files,
and turns every problem a user can fix into a one-line :class:`~fm_core.errors.UserError`.

Image folders are decoded once (grayscale, ``Resize(size)`` then ``CenterCrop(size)``) and
cached as ``uint8`` under ``data/cache/``; ``ToTensor``'s ``k / 255`` values are recovered
exactly from the ``uint8`` pixels, so the cache changes nothing but the loading time.
"""
from __future__ import annotations

import os
import re
import socket
import threading
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.transforms import v2
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS
from tqdm import tqdm

from . import validate
from .dataset import Dataset, from_arrays
from fm_core.errors import UserError
from .imagenette_download import IMAGENETTE_ARCHIVE, IMAGENETTE_CLASSES, IMAGENETTE_FOLDER, find_imagenette_tree, get_imagenette, imagenette_url
from fm_core.paths import IMAGENETTE_MEAN, IMAGENETTE_STD, data_dir
from fm_core.utils import load_npz, save_npz_atomic, stable_hash

# Where decoded image folders are cached; None means data_dir() / "cache", looked up at
# call time so that pointing FM_DATA_DIR elsewhere (as tests do) moves the cache too.
CACHE_DIR: Path | None = None
_CACHE_VERSION = 1  # bump when decoding changes, so old caches are never reused
_NPZ_KEYS = ("x_train", "y_train", "x_val", "y_val")
_FOLDER_LAYOUT = "root/train/<class>/<image> and root/val/<class>/<image>"


# --------------------------------------------------------------------------- npz files

def load_npz_dataset(path: str | os.PathLike, channels: int = 1) -> Dataset:
    """Load an ``.npz`` with ``x_train``, ``y_train``, ``x_val``, ``y_val`` and optional
    ``class_names``; images (N, H, W) float in [0, 1] or uint8 (``channels`` C > 1:
    (N, C, H, W) or (N, H, W, C)). The data set's name is the path."""
    path = Path(path)
    arrays = _read_npz(path)
    missing = [k for k in _NPZ_KEYS if k not in arrays]
    if missing:
        raise UserError(f"{path}: missing array(s) {', '.join(missing)}; an .npz data set needs "
                        f"{', '.join(_NPZ_KEYS)} (and optionally class_names)")
    names = _npz_class_names(arrays.get("class_names"), path)
    return from_arrays(str(path), *(arrays[k] for k in _NPZ_KEYS), class_names=names, channels=channels,
                       meta={"source": str(path)})


def _read_npz(path: Path) -> dict:
    """All arrays of an ``.npz``, refusing pickles, damaged files and arrays too large for
    memory (checked from the headers before anything is allocated, see
    :func:`fm_core.data.validate.npz_members`); any unreadable file is a UserError."""
    validate.npz_members(path)
    try:
        return load_npz(path)
    except MemoryError:
        raise UserError(f"{path}: too large to load into memory") from None
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - zlib, zip, format errors: all mean a damaged file
        # ValueError is also how numpy refuses object (pickled) arrays.
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"{path}: unreadable .npz ({reason[:160]})") from None


def _npz_class_names(names: np.ndarray | None, path: Path) -> list[str] | None:
    """``class_names`` as a list of str (bytes arrays are decoded), or None when absent."""
    if names is None:
        return None
    if names.ndim != 1 or names.dtype.kind not in "US":
        raise UserError(f"{path}: class_names must be a 1-D array of strings, "
                        f"got dtype {names.dtype} and shape {names.shape}")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names.tolist()]


# --------------------------------------------------------------------------- image folders

def _is_image(path: str) -> bool:
    """An image file outside hidden folders (Jupyter's .ipynb_checkpoints copies images)."""
    return (path.lower().endswith(IMG_EXTENSIONS)
            and not any(part.startswith(".") for part in Path(path).parts[-2:]))


def _class_dirs(split_dir: Path) -> list[str]:
    """Sorted class folder names, skipping hidden ones (ImageFolder's default keeps them)."""
    return sorted(e.name for e in os.scandir(split_dir) if e.is_dir() and not e.name.startswith("."))


class _GrayFolder(ImageFolder):
    """ImageFolder over a fixed class list, decoding grayscale ``uint8`` (1, size, size)
    (or RGB, (3, size, size), with ``rgb``).

    A file that fails to decode yields a blank image and its error message, so that the
    error reaches the caller as one line even from a DataLoader worker process."""

    def __init__(self, split_dir: Path, classes: list[str], size: int, rgb: bool = False):
        self._classes = list(classes)
        self._size, self._channels = size, 3 if rgb else 1
        tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size),
                                 transforms.PILToTensor()])
        try:
            super().__init__(str(split_dir), transform=tf, loader=_open_rgb if rgb else _open_gray,
                             is_valid_file=_is_image)
        except FileNotFoundError as exc:  # a class folder without any image
            raise UserError(f"{split_dir}: {str(exc).splitlines()[0]}") from None

    def find_classes(self, directory):
        # The caller decides the classes (same for train and val; Imagenette keeps 5 of 10).
        return self._classes, {c: i for i, c in enumerate(self._classes)}

    def __getitem__(self, index):
        path = self.samples[index][0]
        try:
            x, y = super().__getitem__(index)
            return x, y, ""
        except OSError as exc:  # PIL's UnidentifiedImageError and truncated files are OSErrors
            return torch.zeros(self._channels, self._size, self._size, dtype=torch.uint8), -1, f"{path}: {exc}"


# PIL modes whose convert("L") clips values above 255 instead of scaling them.
_WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def _open_gray(path: str) -> Image.Image:
    """Open an image as 8-bit grayscale (PIL's ITU-R 601-2 luma, as transforms.Grayscale).
    16-bit and float images are refused (PIL would clip them to white, silently)."""
    with Image.open(path) as img:
        if img.mode in _WIDE_MODES:
            raise OSError(f"{img.mode} ({'float' if img.mode == 'F' else '16/32-bit'}) images are not "
                          "supported; save them as 8-bit")
        return img.convert("L")


def _open_rgb(path: str) -> Image.Image:
    """Open an image as 8-bit RGB (16-bit and float images refused, as in :func:`_open_gray`)."""
    with Image.open(path) as img:
        if img.mode in _WIDE_MODES:
            raise OSError(f"{img.mode} images are not supported; save them as 8-bit")
        return img.convert("RGB")


def _decode(folder: _GrayFolder, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Decode a whole split in batches: uint8 (N, 1, size, size) and int64 labels (N,)."""
    # Worker processes only pay off on big folders; small ones load faster in-process.
    workers = min(4, os.cpu_count() or 1) if len(folder) >= 512 else 0
    loader = DataLoader(folder, batch_size=256, shuffle=False, num_workers=workers)
    xs, ys = [], []
    for x, y, errors in tqdm(loader, desc=f"loading {split}", disable=None, leave=False):
        bad = [e for e in errors if e]
        if bad:
            raise UserError(f"unreadable image {bad[0].splitlines()[0]}")
        xs.append(x.numpy())
        ys.append(y.numpy())
    return np.concatenate(xs), np.concatenate(ys).astype(np.int64)


def _split_dirs(root: Path) -> tuple[Path, Path]:
    """``root/train`` and ``root/val``, or a UserError that states the expected layout."""
    if not root.is_dir():
        raise UserError(f"{root}: no such folder; expected {_FOLDER_LAYOUT}")
    missing = [s for s in ("train", "val") if not (root / s).is_dir()]
    if missing:
        raise UserError(f"{root}: no {' or '.join(s + '/' for s in missing)} folder; "
                        f"expected {_FOLDER_LAYOUT}")
    return root / "train", root / "val"


def _cache_file(root: Path, size: int, classes: list[str], folders: list[_GrayFolder], rgb: bool = False) -> Path:
    """Cache path keyed by the folder, size, classes and every file's size and mtime,
    so that adding, removing or editing an image decodes the folder again."""
    files = [(os.path.relpath(p, root), st.st_size, st.st_mtime_ns)
             for f in folders for p, _ in f.samples for st in [os.stat(p)]]
    key = stable_hash({"v": _CACHE_VERSION, "root": str(root.resolve()), "size": size,
                       "classes": classes, "files": files, **({"rgb": True} if rgb else {})})  # gray: keys as before
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", root.resolve().name) or "folder"
    cache_dir = Path(CACHE_DIR) if CACHE_DIR is not None else data_dir() / "cache"
    return cache_dir / f"{slug}-{size}-{key}.npz"


def _read_cache(path: Path) -> dict | None:
    try:
        arrays = load_npz(path)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None  # absent or damaged: decode again
    return arrays if all(k in arrays for k in _NPZ_KEYS) else None


def _load_folder_arrays(root: Path, size: int, classes: list[str], rgb: bool = False) -> dict[str, np.ndarray]:
    """Decoded uint8 images and labels of both splits, from the cache when it is current."""
    if int(size) != size or size < 1:
        raise UserError(f"image size must be a positive integer, got {size!r}")
    size = int(size)
    train_dir, val_dir = _split_dirs(root)
    folders = [_GrayFolder(train_dir, classes, size, rgb), _GrayFolder(val_dir, classes, size, rgb)]
    cache = _cache_file(root, size, classes, folders, rgb)
    arrays = _read_cache(cache)
    if arrays is None:
        (x_train, y_train), (x_val, y_val) = (_decode(f, s) for f, s in zip(folders, ("train", "val")))
        arrays = dict(x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val)
        try:
            save_npz_atomic(cache, **arrays)
        except OSError:
            pass  # a read-only data/ only costs the next load its decoding time
    return arrays


def load_image_folder(root: str | os.PathLike, size: int, channels: int = 1) -> Dataset:
    """Load an ImageFolder tree (``root/train/<class>/``, ``root/val/<class>/``) as grayscale
    (``channels`` 1) or RGB (3) ``size`` x ``size`` images (Resize then CenterCrop); classes are the sorted folder names
    and must be the same in both splits. Mean/std come from the training set; no augmentation."""
    root = Path(root)
    train_dir, val_dir = _split_dirs(root)
    validate.image_folder(root)
    classes, val_classes = _class_dirs(train_dir), _class_dirs(val_dir)
    if not classes:
        raise UserError(f"{train_dir}: no class folder; expected {_FOLDER_LAYOUT}")
    if classes != val_classes:
        only_train = sorted(set(classes) - set(val_classes))
        only_val = sorted(set(val_classes) - set(classes))
        raise UserError(f"{root}: train/ and val/ must hold the same class folders "
                        f"(only in train: {only_train or 'none'}; only in val: {only_val or 'none'})")
    if channels not in (1, 3):
        raise UserError(f"{root}: image folders are read as grayscale (1 channel) or RGB (3), "
                        f"not {channels} channels")
    arrays = _load_folder_arrays(root, size, classes, rgb=channels == 3)
    return from_arrays(str(root), **arrays, class_names=classes, channels=channels, meta={"source": str(root)})


# --------------------------------------------------------------------------- Imagenette

class PaperTrainAugment:
    """The paper's random training transform on batches (B, 1, H, W): RandomResizedCrop back
    to ``size`` and RandomHorizontalFlip, with independent parameters for every image, as a
    per-sample DataLoader transform would draw them. Uses torch's global RNG, on any device.

    The stored training images are already Resize + CenterCrop, so crops are drawn from the
    centre square rather than from the full Resize(128) image as in the paper."""

    def __init__(self, size: int):
        self.size = int(size)
        self._transform = v2.Compose([
            v2.RandomResizedCrop(self.size, antialias=True),
            v2.RandomHorizontalFlip(),
        ])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        # v2 transforms draw one set of parameters per call, so a whole batch would share
        # one crop; per-image calls keep the augmentation as diverse as the paper's.
        return torch.stack([self._transform(img) for img in x]).clamp_(0.0, 1.0)

    def __repr__(self) -> str:
        return f"PaperTrainAugment(RandomResizedCrop({self.size}, antialias=True), RandomHorizontalFlip())"


def _network_available(host: str = "s3.amazonaws.com", port: int = 443, timeout: float = 3.0) -> bool:
    """Whether ``host`` answers within ``timeout`` seconds. The probe runs in a daemon thread
    because a DNS lookup ignores socket timeouts and can hang on an offline machine."""
    answered = []

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            answered.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answered)


def _imagenette_missing(root: Path, reason: str) -> UserError:
    """The one-line instruction: the command that fetches it, or which file to fetch and
    where to extract it."""
    root = root.resolve()
    where = root.parent if root.name == IMAGENETTE_FOLDER else root
    return UserError(
        f"Imagenette not found ({reason}): run `fm data --get imagenette`, or download "
        f"{IMAGENETTE_ARCHIVE} (about 94 MB, {imagenette_url()}) and extract it in {where}/ "
        f"so that {where / IMAGENETTE_FOLDER / 'train' / IMAGENETTE_CLASSES[0][0]}/ exists")


def load_imagenette(root: str | os.PathLike | None = None, size: int = 128,
                    download: bool | None = None) -> Dataset:
    """The paper's data: Imagenette's 5 classes (English springer, chain saw, church, French
    horn, garbage truck), grayscale, Resize(size) + CenterCrop(size) for both splits, with
    the paper's mean/std (0.449/0.226) and its random crop/flip as ``train_augment``.

    ``download``: None tries torchvision's download only when fast.ai's server answers
    within seconds, True always tries, False never does. Without the data, a UserError
    names the file to fetch and the folder to extract it in."""
    root = Path(root) if root is not None else data_dir() / IMAGENETTE_FOLDER
    found = find_imagenette_tree(root)
    if found is None:
        if download is False:
            raise _imagenette_missing(root, "download disabled")
        if download is None and not _network_available():
            raise _imagenette_missing(root, "no network access")
        # torchvision extracts into <its folder>/imagenette2-160, which is ``root`` when
        # ``root`` bears that name (the default, data/imagenette2-160) and its child otherwise.
        get_imagenette(root.parent if root.name == IMAGENETTE_FOLDER else root)
        found = find_imagenette_tree(root)
        if found is None:
            raise _imagenette_missing(root, "the download did not produce it")
    synsets = [wnid for wnid, _ in IMAGENETTE_CLASSES]
    for split in ("train", "val"):
        missing = [w for w in synsets if not (found / split / w).is_dir()]
        if missing:
            raise UserError(f"{found / split}: missing class folder(s) {', '.join(missing)}; "
                            f"re-extract {IMAGENETTE_ARCHIVE} there")
    arrays = _load_folder_arrays(found, size, synsets)
    return from_arrays(
        "imagenette", **arrays, class_names=[name for _, name in IMAGENETTE_CLASSES],
        mean=IMAGENETTE_MEAN, std=IMAGENETTE_STD, train_augment=PaperTrainAugment(size),
        meta={"source": str(found), "synsets": synsets})

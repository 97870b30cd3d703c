"""Data sets, named by one string everywhere (library, CLI, notebook parameters).

- ``synthetic`` (default): the two-cue world (a low- and a high-frequency cue per class
  at known bins, over a 1/f^2 background), see :mod:`fm_core.data.synthetic`; generated from
  a seed in seconds and cached under ``data/``.
- ``imagenette``: the paper's 5 classes, grayscale, from ``data/imagenette2-160/``.
- ``fashion-mnist``: Fashion-MNIST's classes 0-4 in the paper's split sizes (4,710 / 1,934),
  grayscale, 28 px padded to 32, from ``data/FashionMNIST/raw/`` (Debian's package
  ``dataset-fashion-mnist`` or torchvision's download), see :mod:`fm_core.data.fashion_mnist`.
- a folder in ImageFolder layout (``train/`` and ``val/``, one sub-folder per class).
- an ``.npz`` with ``x_train``, ``y_train``, ``x_val``, ``y_val`` and optional
  ``class_names``.
- in memory, not by name: the cue world in colour (:mod:`fm_core.data.colour_cues`).

Every loader returns a :class:`Dataset`: square images in [0, 1], one channel, or C
channels from a folder (RGB) or an ``.npz`` for a network that takes C.
"""
from __future__ import annotations

from pathlib import Path

from . import fashion_mnist, files as datafiles, synthetic
from .dataset import Dataset, from_arrays, subsample
from fm_core.errors import UserError
from fm_core.paths import DATA_NAMES, data_dir

__all__ = ["Dataset", "NAMED", "from_arrays", "load_dataset"]

# The data sets known by name (anything else is a path); all three are grayscale.
NAMED = DATA_NAMES


def load_dataset(name: str = "synthetic", size: int = 32, seed: int = 0,
                 n_train: int | None = None, n_val: int | None = None,
                 world: synthetic.CueWorld | None = None, channels: int = 1) -> Dataset:
    """Load (or generate) the data set named ``name`` at ``size`` x ``size``; ``world``:
    the synthetic cue world's knobs (default :class:`fm_core.data.synthetic.CueWorld`);
    ``channels``: what the network takes (colour from a folder or an ``.npz`` only)."""
    name = str(name)
    if channels != 1 and name in NAMED:
        raise UserError(f"the {name} data set is grayscale (1 channel), but the network takes {channels}")
    if name == "synthetic":
        ds = synthetic.load_synthetic(size=size, seed=seed, world=world or synthetic.CueWorld())
    elif name == "imagenette":
        ds = datafiles.load_imagenette(data_dir() / datafiles.IMAGENETTE_FOLDER, size=size)
    elif name == fashion_mnist.NAME:
        ds = fashion_mnist.load_fashion_mnist(size=size, seed=seed)
    else:
        path = Path(name).expanduser()
        if not path.exists():
            raise UserError(f"data set {name!r} not found: give 'synthetic', 'imagenette', "
                            "'fashion-mnist', a folder with train/ and val/, or an .npz file")
        if path.is_dir():
            ds = datafiles.load_image_folder(path, size=size, channels=channels)
        elif path.suffix == ".npz":
            ds = datafiles.load_npz_dataset(path, channels=channels)
        else:
            raise UserError(f"{path}: expected a folder (ImageFolder layout) or an .npz file")
    return subsample(ds, n_train, n_val, seed)

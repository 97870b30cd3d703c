"""What the sub-commands share: the parser that reports a mistake in one line, the
options several of them take (:func:`_option`), the argument types that check a number or a path as it is read, and loading a data set for
a saved model."""
from __future__ import annotations

import argparse
from pathlib import Path

from fm_core.errors import UserError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, as for every other user mistake
        raise UserError(f"{self.prog}: {message}")


def _option(*names, **settings) -> argparse.ArgumentParser:
    """One option that several sub-commands share, as a parent parser (argparse's
    ``parents=``): its help and default are written once."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(*names, **settings)
    return parent


def _out_path(value: str, suffix: str | None = None) -> Path:
    path = Path(value).expanduser()
    if path.parent and not path.parent.exists():
        raise UserError(f"output folder does not exist: {path.parent}")
    if suffix and path.suffix != suffix:
        raise UserError(f"output file must end in {suffix}: {path}")
    return path


def _positive(kind, maximum=None):
    """A finite number > 0 (and <= ``maximum``): see :func:`fm_core.data.validate.number`."""
    from fm_core.data.validate import positive

    return positive(kind, maximum)


def _non_negative_int(text):
    from fm_core.data.validate import number

    return number(int, minimum=0)(text)


def _seed(text):
    from fm_core.data.validate import seed

    return seed(text)


def _load_for_model(model, data: str, split: str, class_index=None):
    from fm_core.data import load_dataset

    # an exported network may leave its size free; the data then brings its own
    ds = load_dataset(data, size=model.size or 32, channels=model.channels or 1)
    if model.size and ds.size != model.size:
        raise UserError(f"{data}: images are {ds.size}x{ds.size} but the model expects {model.size}x{model.size}")
    x, y = ds.split(split)
    if class_index is not None:
        if not 0 <= class_index < ds.num_classes:
            raise UserError(f"--class must lie in 0..{ds.num_classes - 1}")
        x, y = x[y == class_index], y[y == class_index]
    return ds, x, y

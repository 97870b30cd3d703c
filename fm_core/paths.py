"""Where things live, and the constants more than one module needs: one place for each.

``FM_DATA_DIR`` and ``FM_RUNS_DIR`` move the data folder and the artefact store (the
tests point both at temporary folders); both are read at call time.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# The data sets known by name (all grayscale); any other --data is a path. Here, not in
# fm_core.data, so that the book builder can tell names from paths without importing torch.
DATA_NAMES = ("synthetic", "imagenette", "fashion-mnist")

# The paper's grayscale Imagenette normalisation (authors' code: mean 0.449, std 0.226).
IMAGENETTE_MEAN, IMAGENETTE_STD = 0.449, 0.226


# When set, the artefact store appends one JSON line per artefact it computes (stage,
# name, seconds) to this file: the book build's "where the time goes" (fm_core.store).
STAGE_LOG_ENV = "FM_STAGE_LOG"


def data_dir() -> Path:
    """Data sets, downloaded or generated (``$FM_DATA_DIR``, default ``<repo>/data``)."""
    return Path(os.environ.get("FM_DATA_DIR") or REPO_ROOT / "data")


RUNS_ENV = "FM_RUNS_DIR"


def runs_root() -> Path:
    """The artefact store (``$FM_RUNS_DIR``, default ``<repo>/runs``)."""
    return Path(os.environ.get(RUNS_ENV) or REPO_ROOT / "runs")

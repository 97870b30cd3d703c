"""The record of the cue world's calibration: the training runs on candidate worlds that
chose its amplitudes, reliabilities, epochs and eps. Computed by
``scripts/calibrate_cues.py`` and committed as ``cue_calibration.json`` beside this
module (a record of measurements, shown on the data page, not recomputed by the book)."""
from __future__ import annotations

import json
from pathlib import Path

CALIBRATION_FILE = Path(__file__).with_name("cue_calibration.json")
COLUMNS = ("regime", "world", "n_train", "epochs", "eps", "val_acc", "pgd_acc", "l_only", "h_only", "l_bias",
           "train_sec")


def load_calibration() -> list[dict]:
    return json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))["runs"]


def calibration_table() -> dict[str, dict]:
    """{run tag: {column: value}} for display."""
    return {run["tag"]: {c: run.get(c) for c in COLUMNS} for run in load_calibration()}

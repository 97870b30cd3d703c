"""The numbers the paper reported, cited, never computed here: read from the data file
``paper_numbers.json`` beside this module (Karantzas et al. 2022, Front. Artif. Intell.
5:890016, doi:10.3389/frai.2022.890016, CC BY 4.0)."""
from __future__ import annotations

import json
from pathlib import Path

_NUMBERS = json.loads((Path(__file__).with_name("paper_numbers.json")).read_text(encoding="utf-8"))

CITATION: str = _NUMBERS["citation"]
# Table 1: validation accuracy (%), (standard, with the network's dataset mask).
TABLE1: dict[str, tuple[float, float]] = {k: tuple(v) for k, v in _NUMBERS["table1"].items() if k != "note"}
# Table 2: accuracy (%) against the vanilla network's clean predictions.
TABLE2: dict[str, float] = _NUMBERS["table2"]
TABLE2_NOTEBOOK: dict[str, float] = _NUMBERS["table2_notebook"]
# Table 3: linear classifier on single-image masks (85% train / 15% test), accuracy (%).
TABLE3: dict[str, dict[str, float]] = _NUMBERS["table3"]
TABLE3_NOTEBOOK: dict = _NUMBERS["table3_notebook"]
# Images selected for the single-image experiments by the authors' code (VGG11).
SELECTED_IMAGES: int = _NUMBERS["selected_images"]

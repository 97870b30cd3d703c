"""Known truth in colour, at every carrier and a larger size than the test's: the AUROC of
the shared and the per-channel Fourier mask maps of a small RGB network on the planted
channel and frequencies, on held-out images (fm_core.methods.colour_truth).

    .venv/bin/python scripts/colour_cues.py out.json

About a minute per carrier on one core.
"""
from __future__ import annotations

import json
import sys

import torch

from fm_core.data.colour_cues import COLOUR_CARRIERS
from fm_core.methods.colour_truth import colour_recovery
from fm_core.utils import save_json_atomic

if __name__ == "__main__":
    torch.set_num_threads(1)
    results = [colour_recovery(carrier, n_held_out=256, max_steps=150) for carrier in COLOUR_CARRIERS]
    print(json.dumps(results, indent=1))
    if len(sys.argv) > 1:
        save_json_atomic(sys.argv[1], results)

"""How the Fourier mask's frequency map (fm_core.methods.MASK_PATH) was chosen, re-run.

Per network, masks are learned on disjoint 64-image subsets of the validation split's
first images (the size `fm attribute --method mask --limit 64` gets), down the lambda grid
of the widest candidate in one batched run; each candidate map is the mean of some of its
rows (the one-lambda mask is the row at the profile's lambda). The last candidate is the
widest grid randomized as `fm attribute --method mask` learns it (each row its own start
and penalty weights drawn in [MASK_RANDOMIZE, 1]: fm_core.masks.randomized_rows). The
choice uses no cue truth: deletion and insertion areas (fm_core.methods.faithfulness.frequency_curves) on 512
held-out validation images, two tie-break seeds per subset. Then, and only to report it,
each map's AUROC on the planted L and H bins, and the randomized map's AUROC on 64-image
subsets of the validation images the profile never draws (never used in the choice).

    FM_RUNS_DIR=/tmp/choose .venv/bin/python scripts/choose_mask_map.py out.json

Trains the quick main networks first if the store lacks them (~1 min); ~20 min on 2 cores.
"""
from __future__ import annotations

import dataclasses
import json
import sys

import numpy as np

from fm_core.masks import DatasetMask, LambdaPath
from fm_core.methods import get_method
from fm_core.methods.faithfulness import frequency_curves
from fm_core.profiles import get_profile
from fm_core.science.cue_analysis import mask_cue_shares
from fm_core.store import pipeline
from fm_core.utils import save_json_atomic

MULTIPLES = (0.1, 0.25, 0.5, 1.0, 2.5)  # of the profile's lambda: the widest grid tried
# (the grids 0.1,1; 0.25,1; 0.1,0.5,1 were tried too and fell between the one lambda and the widest grid)
CANDIDATES = {"one lambda": (1.0,), "0.1 to 1": (0.1, 0.25, 0.5, 1.0), "0.1 to 2.5": MULTIPLES}
RANDOMIZED = "0.1 to 2.5, randomized"  # fm_core.methods.MASK_PATH with MASK_RANDOMIZE
MEASURES = ("AUC deletion accuracy", "AUC deletion loss", "AUC insertion accuracy", "AUC insertion loss")


def main(out: str, subsets: int = 6, size: int = 64, held: int = 512, fresh_subsets: int = 8,
         seeds: int = 2) -> None:
    cfg = get_profile("quick")
    ds = pipeline.get_dataset(cfg)
    x, y = ds.split("val")
    # the synthetic validation split holds more images than the profile's n_val draws
    everything = pipeline.get_dataset(dataclasses.replace(cfg, n_val=None))
    seen = {image.numpy().tobytes() for image in x}
    unused = [i for i, image in enumerate(everything.x_val) if image.numpy().tobytes() not in seen]
    unused_x, unused_y = everything.x_val[unused], everything.y_val[unused]
    fresh_subsets = min(fresh_subsets, len(unused) // size)
    xh, yh = x[subsets * size:subsets * size + held], y[subsets * size:subsets * size + held]
    result = {"multiples": list(MULTIPLES), "lam": cfg.dmask_lam, "subsets": subsets, "size": size,
              "unused images": len(unused), "networks": {}}
    for regime in ("vanilla", "adversarial"):
        model = pipeline.get_network(cfg, regime)
        method = get_method("mask", **dataclasses.asdict(DatasetMask.from_profile(cfg)))
        rows = {name: {"faithfulness": [], "AUROC L": [], "AUROC H": []} for name in [*CANDIDATES, RANDOMIZED]}
        for i in range(subsets):
            path = LambdaPath.from_profile(cfg, lams=tuple(cfg.dmask_lam * f for f in MULTIPLES))(
                model, x[i * size:(i + 1) * size], y[i * size:(i + 1) * size], progress=False)
            maps = {name: path.masks[[MULTIPLES.index(f) for f in grid]].mean(0) for name, grid in CANDIDATES.items()}
            maps[RANDOMIZED] = method.attribute(model, x[i * size:(i + 1) * size], y[i * size:(i + 1) * size],
                                                progress=False).values
            for seed in range(seeds):
                curves = frequency_curves(model, xh, yh, maps, points=15, seed=seed, progress=False)
                for name in maps:
                    rows[name]["faithfulness"].append([curves[name][m] for m in MEASURES])
            for name, values in maps.items():
                shares = mask_cue_shares(values, ds.truth["low"], ds.truth["high"])
                rows[name]["AUROC L"].append(shares["AUROC L"])
                rows[name]["AUROC H"].append(shares["AUROC H"])
            print(f"{regime}: subset {i + 1}/{subsets}, steps per row {path.steps.tolist()}", flush=True)
        result["networks"][regime] = {
            name: {**dict(zip(MEASURES, np.round(np.mean(r["faithfulness"], 0), 4).tolist())),
                   **{f"{m} SD": float(np.round(s, 4)) for m, s in zip(MEASURES, np.std(r["faithfulness"], 0))},
                   "AUROC L": round(float(np.mean(r["AUROC L"])), 3), "AUROC H": round(float(np.mean(r["AUROC H"])), 3),
                   "AUROC L per subset": np.round(r["AUROC L"], 3).tolist(),
                   "AUROC H per subset": np.round(r["AUROC H"], 3).tolist()}
            for name, r in rows.items()}
        fresh = []  # 64-image subsets of images the profile never uses: the randomized map's AUROC only
        for i in range(fresh_subsets):
            xs, ys = unused_x[i * size:(i + 1) * size], unused_y[i * size:(i + 1) * size]
            shares = mask_cue_shares(method.attribute(model, xs, ys, progress=False).values,
                                     ds.truth["low"], ds.truth["high"])
            fresh.append({"AUROC L": round(shares["AUROC L"], 3), "AUROC H": round(shares["AUROC H"], 3)})
        result["networks"][regime][RANDOMIZED]["fresh subsets"] = fresh
        print(f"  {regime}: randomized map on fresh subsets {fresh}", flush=True)
        for name, r in result["networks"][regime].items():
            print(f"  {regime:12s} {name:12s} deletion acc {r[MEASURES[0]]:.3f} loss {r[MEASURES[1]]:.3f}  "
                  f"insertion acc {r[MEASURES[2]]:.3f} loss {r[MEASURES[3]]:.3f}  | AUROC L {r['AUROC L']:.3f} "
                  f"H {r['AUROC H']:.3f}", flush=True)
    save_json_atomic(out, result)
    print(json.dumps({"written": out}))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: choose_mask_map.py OUT.json")
    main(sys.argv[1])

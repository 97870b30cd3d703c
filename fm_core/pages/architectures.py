"""ResNet18 beside VGG11 (page 14): the paper's five regimes trained in both
architectures on the profile's data (the authors trained ResNet18 too and show VGG11
only). Per network: Table 1's accuracies, behaviour on the cue probes, and the dataset
mask's cue shares, so that the page can ask whether the architecture changes which cue a
network reads and whether the mask still agrees with behaviour.
"""
from __future__ import annotations

from fm_core.nets.evaluation import near_chance
from fm_core.profiles import REGIMES, Profile
from fm_core.science import experiments
from fm_core.store import pipeline
from .cue_conditions import agreement, network_row

ARCHITECTURES = ("vgg11_bn", "resnet18")
ARCH_NAMES = {"vgg11_bn": "VGG11", "resnet18": "ResNet18"}


def architecture_rows(cfg: Profile, progress: bool = True) -> dict:
    """``{"VGG11": {regime: row}, "ResNet18": {...}}``: each row Table 1's standard,
    masked and PGD accuracy (score half), the probes and L-bias, the mask's L-share
    (:func:`fm_core.pages.cue_conditions.network_row`) and whether the network sits within
    10 points of chance; with each architecture's rank agreement of L-bias and L-share."""
    out = {}
    for arch in ARCHITECTURES:
        variant = cfg.replace(arch=arch)
        nets = {r: pipeline.get_network(variant, r, progress) for r in REGIMES}
        masks = {r: pipeline.get_dataset_mask(variant, r, progress=progress) for r in REGIMES}
        x, y = pipeline.score_half(variant)
        # the profile's own architecture: its Table 1 as the networks page stored it (the
        # same computation; PGD on every network is the costly part). Another architecture's
        # is computed here and not saved as "table1", which is the profile's own
        stored = pipeline.load_results(cfg).get("table1") if variant == cfg else None
        table = stored or experiments.table1(nets, masks, x, y, variant.eps_pixel, variant.pgd_steps,
                                             seed=variant.seed)
        classes = pipeline.get_dataset(variant).num_classes
        rows = {}
        for regime in REGIMES:
            row = {"standard, %": table[regime]["standard"], "PGD, %": table[regime]["pgd"],
                   **network_row(variant, regime, progress)}
            row["near chance"] = near_chance(row["standard, %"] / 100, classes)
            rows[regime] = row
        out[ARCH_NAMES[arch]] = {"rows": rows, **agreement(rows)}
    pipeline.save_result(cfg, "architectures", {
        f"{arch}.{regime}.{k}": v for arch, res in out.items() for regime, row in res["rows"].items()
        for k, v in row.items() if k in ("standard, %", "PGD, %", "L-bias", "L-share", "masked, %")})
    return out

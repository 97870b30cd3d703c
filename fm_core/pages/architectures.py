"""ResNet18 beside VGG11 (page 14): the paper's five regimes trained in both
architectures on the profile's data (the authors trained ResNet18 too and show VGG11
only). Per network: Table 1's accuracies, behaviour on the cue probes, and the dataset
mask's cue shares, so that the page can ask whether the architecture changes which cue a
network reads and whether the mask still agrees with behaviour.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from fm_core.nets.evaluation import near_chance
from fm_core.profiles import REGIMES, Profile
from fm_core.science import experiments
from fm_core.store import pipeline
from .common import VERDICT_KEY
from .cue_conditions import agreement, leaning, network_row
from .cue_question import BIAS_SHIFT

ARCHITECTURES = ("vgg11_bn", "resnet18")
ARCH_NAMES = {"vgg11_bn": "VGG11", "resnet18": "ResNet18"}
# An architecture's masks *follow behaviour* when their L-shares lie on average at most this
# far from the networks' L-biases (the book's line since page 14 was written; not measured).
# Two architectures *read differently* when a regime's L-biases lie page 10's BIAS_SHIFT apart.
FOLLOWS_WITHIN = 0.15


@dataclass(frozen=True)
class ArchitectureVerdict:
    """Page 14's answer, from :func:`architecture_rows` (the first two architectures)."""
    compared: tuple[str, ...]          # regimes whose network is near chance in neither architecture
    left_out: tuple[str, ...]          # the others: an untrained network's L-bias means nothing
    read_differently: tuple[str, ...]  # compared regimes whose L-biases lie BIAS_SHIFT or more apart
    switched_cue: tuple[str, ...]      # of those, the regimes whose networks clearly read different cues
    near_midpoint: tuple[str, ...]     # of those, the regimes with one network within NEAR_MIDPOINT of 0.5
    changes_what_is_read: bool         # some compared regime reads differently
    masks_follow: tuple[str, ...]      # architectures whose mean |L-bias - L-share| is FOLLOWS_WITHIN or less


def judge_architectures(results: dict) -> ArchitectureVerdict:
    (_, ra), (_, rb) = list(results.items())[:2]
    compared = tuple(r for r in REGIMES if not (ra["rows"][r]["near chance"] or rb["rows"][r]["near chance"]))
    bias = {r: (ra["rows"][r]["L-bias"], rb["rows"][r]["L-bias"]) for r in compared}
    changed = tuple(r for r in compared if abs(bias[r][0] - bias[r][1]) >= BIAS_SHIFT)
    return ArchitectureVerdict(
        compared=compared, left_out=tuple(r for r in REGIMES if r not in compared), read_differently=changed,
        switched_cue=tuple(r for r in changed if {leaning(bias[r][0]), leaning(bias[r][1])} == {"L", "H"}),
        near_midpoint=tuple(r for r in changed if "neither" in (leaning(bias[r][0]), leaning(bias[r][1]))),
        changes_what_is_read=bool(changed),
        masks_follow=tuple(name for name, res in results.items() if res["mean |L-bias - L-share|"] <= FOLLOWS_WITHIN))


def architecture_rows(cfg: Profile, progress: bool = True) -> dict:
    """``{"VGG11": {regime: row}, "ResNet18": {...}}``: each row Table 1's standard,
    masked and PGD accuracy (score half), the probes and L-bias, the mask's L-share
    (:func:`fm_core.pages.cue_conditions.network_row`) and whether the network sits within
    10 points of chance; with each architecture's rank agreement of L-bias and L-share.
    The page's verdict (:func:`judge_architectures`) is stored with the numbers."""
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
        **{f"{arch}.{regime}.{k}": v for arch, res in out.items() for regime, row in res["rows"].items()
           for k, v in row.items() if k in ("standard, %", "PGD, %", "L-bias", "L-share", "masked, %")},
        VERDICT_KEY: asdict(judge_architectures(out))})
    return out

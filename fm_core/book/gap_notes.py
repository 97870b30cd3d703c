"""Why a number differs from the paper's: one short paragraph per group of gaps, its
words chosen by the numbers (which table, which way the gap goes, what the controls
measured) and by the build's setting (synthetic cue world, Imagenette, the paper's own
set-up). Pages call :func:`gap_notes` under a table; every number in the text is
formatted from the results, none is typed. Table 3's and page 08's conclusions are
templates over their pages' verdicts (:func:`fm_core.pages.mask_classifier.judge_table3`,
:func:`fm_core.pages.ground_truth.judge_ground_truth`).
"""
from __future__ import annotations

from typing import Iterable, Mapping

from fm_core.pages.adversarial_reversal import restores_apart
from fm_core.pages.ground_truth import CHANCE_AUROC, RANKS_WELL, judge_ground_truth
from fm_core.pages.mask_classifier import SIGNIFICANCE, judge_table3
from fm_core.science import paper
from fm_core.profiles import Profile
from .tables import DIFFERS, REPRODUCED_WITHIN_PP, SPREAD_MARGIN_SDS, WITHIN_SPREAD, Comparison


# The paper's images: grayscale Imagenette-5 at 128 x 128 pixels
PAPER_IMAGE_SIZE = 128


def papers_setup(cfg: Profile) -> bool:
    """Imagenette at 128 px through torchvision's full-width VGG11-bn, as in the paper."""
    return (cfg.data == "imagenette" and cfg.size == PAPER_IMAGE_SIZE and cfg.width == 1
            and cfg.arch == "vgg11_bn" and not cfg.pooled_head)


def setting(cfg: Profile) -> str:
    """The clause that says how this build's set-up differs from the paper's."""
    net = f"{cfg.arch} at width x{cfg.width:g}, {cfg.epochs} epochs"
    if cfg.data == "synthetic":
        return (f"This build trains on the synthetic two-cue world at {cfg.size} px ({net}), "
                "not on Imagenette at 128 px")
    if papers_setup(cfg):
        return "This build runs the paper's set-up (Imagenette-5, 128 px, VGG11-bn)"
    if cfg.data == "imagenette":
        return f"This build uses the paper's Imagenette-5, but at {cfg.size} px ({net})"
    return f"This build uses the data set {cfg.data} at {cfg.size} px ({net}), not Imagenette"


def _pp(value: float) -> str:
    return f"{value:.1f}"


def _number(c: Comparison, value) -> str:
    return _pp(value) if c.kind == "pp" else f"{value:g}"


def _rows(group: list[Comparison]) -> str:
    """The rows of a group as "name: paper -> this build"; Table 1 one entry per network."""
    if group[0].table == "Table 1":
        networks: dict[str, list[str]] = {}
        for c in group:
            regime, what = c.label.split(": ", 1)
            what = "" if what == "accuracy" else what.replace("accuracy ", "") + " "
            networks.setdefault(regime, []).append(f"{what}{_pp(c.paper)} → {_pp(c.build)}")
        return "; ".join(f"{regime} {', '.join(parts)}" for regime, parts in networks.items())
    return "; ".join(f"{c.label.split(': ')[0]} {_number(c, c.paper)} → {_number(c, c.build)}"
                     for c in group)


def _table1(group, higher: bool, cfg: Profile, context: Mapping) -> str:
    if cfg.data == "synthetic":
        why = ("the cue world is built so that its planted cues can be learned, so its "
               "accuracies say how well they were learned and cannot be compared with "
               "Imagenette's" if higher else
               "the profile's network is smaller and trains for fewer epochs than the paper's")
    elif papers_setup(cfg):
        why = ("the set-up is the paper's, so a gap this size points at training: compare the "
               "kept epoch and the validation loss in the training history on the networks "
               "page, and other seeds")
    else:
        why = ("the task differs from the paper's in image size and network" if higher else
               "the smaller images and network change what can be learned")
    return f"{setting(cfg)}; {why}."


def _table2(group, higher: bool, cfg: Profile, context: Mapping) -> str:
    key = group[0].key
    # the controls: the rows the paper has no number for (random, same-class and class masks)
    controls = {k: v for k, v in context.get("table2", {}).items() if k != "n" and k not in paper.TABLE2}
    if key == "table2.M(x_A)":
        lead = ("Masks learned on clean images bring the clean prediction back on more "
                "adversarial images than in the paper." if higher else
                "Masks learned on clean images bring the clean prediction back on fewer "
                "adversarial images than in the paper.")
        if controls:
            name, best = max(controls.items(), key=lambda kv: kv[1])
            own, n = group[0].build, int(context.get("table2", {}).get("n") or 0)
            apart = restores_apart(own, best, n) if n else best < own - REPRODUCED_WITHIN_PP
            within = f", within the 95% intervals of {n} images" if n else ""
            lead += (f" The controls restore less (best: {name}, {_pp(best)}; the 95% intervals lie apart), so the "
                     "image's own mask matters." if apart else
                     f" A control restores about as much ({name}: {_pp(best)}{within}), so the reversal may come "
                     "from the class's frequencies rather than from the image's own mask.")
        return lead
    if key == "table2.Mc(x)":
        if higher:
            return ("The complements keep the class more often than in the paper: the "
                    "frequencies the masks drop still carry it.")
        where = ("a few planted bins, which the masks keep" if cfg.data == "synthetic"
                 else "the frequencies that the masks keep")
        return (f"The complements lose the class more often than in the paper: the class's "
                f"evidence lies in {where}, and the complement removes them.")
    if key == "table2.M(x)":
        return ("Some learned masks change the clean prediction: their optimisation stopped "
                "(step limit or patience) before the prediction was kept.")
    return f"{setting(cfg)}."


def _p(values: Mapping) -> str:
    """"p = 0.005" (and, at the floor, that no shuffle did as well)."""
    p, n = values["p_value"], values["n_permutations"]
    floor = judge_table3(values).p_at_floor
    return f"p = {p:.2g}" + (f" (no shuffle did as well; the smallest p that {n:g} shuffles can give)"
                             if floor else "")


def _coverage(values: Mapping) -> str:
    """A sentence when the masks leave some of the data set's classes out (which sets chance)."""
    left_out = values.get("classes_left_out") or {}
    if not left_out:
        return ""
    which = ", ".join(f"{name} ({n} mask{'' if n == 1 else 's'})" for name, n in left_out.items())
    return (f" The masks cover {values['classes_tested']:g} of the data set's {values['classes_in_data']:g} classes, "
            f"hence that chance: left out {which}, since the selected images (those the attack flips) need not "
            "hold every class, and a class needs two masks, one to fit and one to hold out.")


def table3_verdict(values: Mapping) -> str:
    """Markdown: Table 3's conclusion from its stored numbers (:func:`fm_core.pages.mask_classifier.table3_values`):
    the k-fold accuracy, its interval, the shuffled-labels control and the permutation test."""
    true, null = values["true_labels"], values["shuffled_labels"]
    verdict = judge_table3(values)
    if not verdict.fitted:
        return f"No classifier could be fitted: {values.get('reason', 'no usable masks')}."
    chance, level = values["chance"], values["confidence_pct"]
    score = (f"Classifiers that did not see a mask label {_pp(true['test_mean'])}% of the "
             f"{values['n_masks']:g} single-image masks correctly ({values['n_folds']:g}-fold cross-validation; "
             f"{level:g}% Wilson interval {_pp(true['test_low'])} to {_pp(true['test_high'])}; chance "
             f"{_pp(chance)}%, the largest class {_pp(values['majority'])}% of the masks). With shuffled labels the same "
             f"procedure scores {_pp(null['test_mean'])}% ({_pp(null['test_low'])} to {_pp(null['test_high'])} "
             f"over {values['n_permutations']:g} shuffles): {_p(values)}.{_coverage(values)}")
    covers = verdict.interval_covers_chance
    if verdict.carries_class_information:
        text = score + (" **The masks carry class information**: a linear classifier finds it in masks it "
                        "was not fitted to.")
    elif not verdict.significant:
        text = score + (f" **No class information is found** at this number of masks (p at least "
                        f"{SIGNIFICANCE:g}{', and the interval covers chance' if covers else ''}); this is "
                        "absence of evidence, and more masks would narrow the interval.")
    else:
        text = score + (f" The permutation test is below {SIGNIFICANCE:g} but the interval still covers "
                        "chance: the evidence is weak.")
    std = values.get("standardised_test")
    if std is not None and std == std:
        moved = true["test_mean"] - std > REPRODUCED_WITHIN_PP
        text += (f" Standardising every bin first gives {_pp(std)}% on the same folds"
                 + (": the masks are almost all zeros, and standardisation scales the bins that hold only "
                    "numerical residue up to the few bins a mask keeps, which drowns them; the classifier "
                    "therefore reads the masks on their own common scale." if moved else "."))
    return text


def _table3(group, higher: bool, cfg: Profile, context: Mapping) -> str:
    key = group[0].key
    values = context.get("table3", {})
    if key.endswith(".train"):
        text = ("Training accuracy is measured on the masks each classifier was fitted to and is not the "
                "score (the test rows are); the paper's classifier was trained differently.")
        shuffled = values.get("shuffled_labels", {}).get("train_mean")
        chance = values.get("chance")
        nearer = judge_table3(values).shuffled_fit_nearer_chance
        if nearer is None:
            return text
        return text + (f" Under shuffled labels the classifier fits {_pp(shuffled)}% of its training masks "
                       + ("(chance " + _pp(chance) + "%): the regularisation chosen inside each fold keeps it "
                          "from memorising labels that carry nothing." if nearer
                          else "(chance " + _pp(chance) + "%): with more mask bins than masks a linear "
                          "classifier can memorise even labels that carry nothing."))
    if key == "table3.true_labels.test":
        text = f"Single-image masks separate the classes {'better' if higher else 'less well'} than in the paper"
        if higher and cfg.data == "synthetic":
            text += " (the cue world plants a few frequencies per class, which the masks keep)"
        if "p_value" not in values or values["p_value"] != values["p_value"]:
            return text + "."
        true = values["true_labels"]
        text += (f": {values['n_masks']:g} masks, {values['n_folds']:g}-fold, interval "
                 f"{_pp(true['test_low'])} to {_pp(true['test_high'])}, {_p(values)}.")
        return text + (" The masks carry class information." if judge_table3(values).significant else
                       " The permutation test finds no class information at this number of masks.")
    chance = values.get("chance")
    text = "The shuffled-labels test accuracy is the control: it should lie near chance"
    if chance is None or chance != chance:
        return text + "."
    near = abs(group[0].build - chance) <= REPRODUCED_WITHIN_PP
    spread = values.get("shuffled_labels", {})
    return text + (f" ({_pp(chance)}), and it does."
                   if near else
                   f" ({_pp(chance)}), and lies {'above' if group[0].build > chance else 'below'} it "
                   f"by more than the tolerance (over the shuffles: {_pp(spread.get('test_low', chance))} to "
                   f"{_pp(spread.get('test_high', chance))}).")


def _selection(group, higher: bool, cfg: Profile, context: Mapping) -> str:
    return ("The selection keeps the validation images (scoring half) whose prediction PGD "
            "flips, up to the profile's limit; its size follows this build's validation set "
            f"and profile ({cfg.data}), not the paper's.")


_EXPLAIN = {"Table 1": _table1, "Table 2": _table2, "Table 3": _table3, "Section 3": _selection}


def gap_notes(comparisons: Iterable[Comparison], cfg: Profile, context: Mapping | None = None) -> str:
    """Markdown: for every comparison whose verdict is "differs", grouped by what it
    measures and the direction of the gap, one paragraph naming the rows and saying why.
    ``context``: the tables' full values (``{"table2": ..., "table3": ...}``), whose
    controls the text consults. Empty when every number is reproduced."""
    context = context or {}
    groups: dict[tuple, list[Comparison]] = {}
    for c in comparisons:
        if c.verdict == DIFFERS:
            groups.setdefault((c.table, c.key, c.gap > 0), []).append(c)
    # One explanation per direction for Table 1's two accuracies, and for Table 3's two
    # training accuracies (true and shuffled labels).
    merged: dict[tuple, list[Comparison]] = {}
    for (table, key, higher), group in groups.items():
        family = "" if table == "Table 1" else "train" if key.endswith(".train") else key
        merged.setdefault((table, family, higher), []).extend(group)
    paragraphs = []
    for (table, _, higher), group in merged.items():
        direction = "above" if higher else "below"
        explain = _EXPLAIN.get(table, lambda *a: f"{setting(cfg)}.")
        paragraphs.append(f"**{table}, {direction} the paper** (paper → this build: {_rows(group)}). "
                          + explain(group, higher, cfg, context))
    unsettled = [c for c in comparisons if c.verdict == WITHIN_SPREAD]
    if unsettled:
        paragraphs.append("**Within the seed spread** (" + "; ".join(
            f"{c.table}, {c.label}: paper {_number(c, c.paper)}, this build {_number(c, c.build)}, seed SD "
            f"{_number(c, c.sd)}" for c in unsettled) + f"): the gap to the paper is within {SPREAD_MARGIN_SDS:g} "
            "seed SDs of the verdict's line, so whether these reproduce is a draw of the seed; this build "
            "does not decide it.")
    return "\n\n".join(paragraphs)


def ground_truth_prose(scores: Mapping[str, Mapping], reliance: Mapping[str, Mapping], chance: float) -> str:
    """The ground-truth page's answer in words, from its two tables: how many masks rank
    the planted bins well, which are below chance and why that can be, and what the two-cue
    truth means for a network that reads one cue: its verdict
    (:func:`fm_core.pages.ground_truth.judge_ground_truth`) in words."""
    verdict = judge_ground_truth(scores, reliance, chance)
    good, below = verdict.ranks_well, verdict.below_chance
    one_cue = {regime: cue for regime, cue in verdict.reads.items() if cue in ("L", "H")}
    lines = [f"**Answer.** {len(good)} of {len(scores)} masks rank the planted frequencies above the "
             f"rest with an AUROC of at least {RANKS_WELL:g}" + (f" ({'; '.join(good)})." if good else ".")]
    if one_cue:
        def without(regime, cue):
            return reliance[regime][f"{cue} bins removed"]

        # "mainly", not "only": removing the other cue's bins costs less than half of the way
        # to chance, yet the network may still read that cue alone well above chance
        lines.append("The truth here is *both* cues, but by the first table "
                     + ", ".join(f"the {r} network depends mainly on {c} (without its {c} bins "
                                 f"{without(r, c):.1f}%, without its {_other(c)} bins {without(r, _other(c)):.1f}%, "
                                 f"all frequencies {reliance[r]['all frequencies']:.1f}%)"
                                 for r, c in one_cue.items())
                     + f": removing that cue's bins costs at least half of the way to chance ({chance:g}%), "
                     "removing the other cue's costs less. Such a network may still read the other cue alone "
                     "(the table's \"bins only\" columns), but a faithful mask of it keeps mainly one cue, so its "
                     "AUROC against both cues stays below 1 by design; the cue page scores each cue separately.")
    if below:
        lines.append(f"Below chance (AUROC under {CHANCE_AUROC:g}): {'; '.join(below)}. Such a mask keeps other bins more "
                     "than its own planted ones; a class mask, scored against its own class's bins only, "
                     "does so when it keeps what tells its class from the others, other classes' cue "
                     "bins among them.")
    return " ".join(lines)


def _other(cue: str) -> str:
    return "H" if cue == "L" else "L"


def _cue_band_means(figure4: Mapping) -> dict[str, dict[str, float]]:
    """Per network, the mean radial difference to the reference over each cue's bands."""
    out = {}
    for i, regime in enumerate(figure4["regimes"]):
        row = figure4["radial"][i]
        out[regime] = {cue: float(sum(row[b] for b in bands) / len(bands))
                       for cue, bands in figure4["cue_bands"].items() if bands}
    return out


def band_prose(kept: Mapping, energy: Mapping) -> str:
    """Figure 4 read in words (nothing typed): per network, whether it keeps more or less
    of the L-cue and the H-cue bands than the reference network by fraction kept, and
    where the paper's energy metric disagrees in sign, with the reason."""
    if not kept.get("cue_bands"):
        return ""
    by_kept, by_energy = _cue_band_means(kept), _cue_band_means(energy)
    ref = kept["reference"]

    def word(v):
        return "more" if v > 0 else "less"

    parts = [f"{r}: {word(v['L'])} of the L-cue bands ({v['L']:+.2f}), {word(v['H'])} of the H-cue bands "
             f"({v['H']:+.2f})" for r, v in by_kept.items() if "L" in v and "H" in v]
    lines = [f"**Figure 4, read.** Against the {ref} network, by fraction kept: " + "; ".join(parts) + "."]
    clashes = [f"{r}'s {cue} bands (fraction kept {by_kept[r][cue]:+.2f}, energy {by_energy[r][cue]:+.2f})"
               for r in by_kept for cue in by_kept[r]
               if cue in by_energy.get(r, {}) and (by_kept[r][cue] > 0) != (by_energy[r][cue] > 0)]
    if clashes:
        lines.append("The paper's energy metric disagrees in sign for " + "; ".join(clashes) + ". Energy is a "
                     "band's share of a unit-norm mask's squared total: a mask that keeps more of a band "
                     "than the reference, but keeps still more elsewhere, gives that band a smaller share. "
                     "Fraction kept answers \"how much of this band does the mask keep\"; energy answers "
                     "\"where does the mask put its weight\".")
    else:
        lines.append("The paper's energy metric agrees in sign on every cue band.")
    return " ".join(lines)

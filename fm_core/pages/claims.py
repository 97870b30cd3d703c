"""What the pages claim, gathered from their stored results, so that a number two pages both
report can be checked to agree (issue 36: the same quantity carries the same number and
spread wherever it appears, or the pages label different settings).

A :class:`Claim` is one number a page shows: its page (the notebook's stem), the quantity
(named alike wherever it appears, e.g. "cue world: vanilla L-bias"), its value, its seed SD
(None: one network) and the setting it was measured at, a label computed from the stored
inputs (:func:`~fm_core.pages.common.seeds_setting` for a spread; the configuration for one
network), never typed per number. :func:`disagreements` pairs claims of the same quantity and
setting that differ by more than the stored rounding.

Shared by the pages' checks (tests/test_claims.py), not a page itself. The headline file is
left out: it is the stored results flattened (:func:`fm_core.book.headline.headline_values`),
the same numbers by construction.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from fm_core.profiles import PROFILES, Profile
from fm_core.store import pipeline
from . import conclusions as conclusions_page, cue_question
from .architectures import ARCH_NAMES
from .common import seeds_setting
from .real_images import BEHAVIOUR, MASKS, ROBUSTNESS, real_images_cfg
from .stability import PER_SEED

CUES, REAL = "cue world", "real images"  # a quantity's world, the first word of its name
MAIN_PAIR = ("vanilla", "adversarial")   # the networks pages 10, 11 and 14 all show
# page 10's per-network fields and their names in the stability (11) and architectures (14) rows
CUE_FIELDS = {"L-bias": "L-bias", "L-share": "L-share", "clean, %": "clean, %"}
ARCH_FIELDS = {"L-bias": "L-bias", "L-share": "L-share", "clean, %": "standard, %", "masked, %": "masked, %"}

# Copies of one number agree within one unit of the last digit the store keeps: percentages
# are stored to 2 decimals (experiments.pct, round(..., 2)) and page 09 rounds them again;
# 0-1 numbers to 4 (round(..., 4)), and an SD combined from rounded SDs moves in that digit too
PERCENT_TOLERANCE, UNIT_TOLERANCE = 0.01, 1e-4


@dataclass(frozen=True)
class Claim:
    page: str                # the notebook's stem, e.g. "10_cue_question"
    quantity: str            # the same name on every page that shows it
    value: float
    spread: float | None     # SD over the setting's seeds; None: one network
    setting: str             # where it was measured (own settings and seed, or the seeds and their settings)
    source: str = ""         # the stored result it was read from


def own_setting(cfg: Profile) -> str:
    """One network's setting: the profile, the data, the seed and whatever the
    configuration changes from its profile (the real images' epochs and eps)."""
    base = PROFILES[cfg.name].as_dict() if cfg.name in PROFILES else {}
    changed = [f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in cfg.as_dict().items()
               if k in base and base[k] != v and k not in ("data", "seed")]
    return f"{cfg.name} profile, {cfg.data}, seed {cfg.seed}" + (f" ({', '.join(changed)})" if changed else "")


def gather_claims(cfg: Profile, spread: dict | None = None) -> list[Claim]:
    """Every claim of the results stored for ``cfg`` (the cue world) and its real images
    (:func:`~fm_core.pages.real_images.real_images_cfg`); ``spread`` is the cue world's seed
    spread as page 10 shows it (:meth:`fm_core.book.report.Page.spread`)."""
    real_cfg = real_images_cfg(cfg)
    cue = pipeline.load_results(cfg)
    real = cue if real_cfg.data == cfg.data else pipeline.load_results(real_cfg)
    return claims_from_results(cue, real, own_setting(cfg), own_setting(real_cfg), spread,
                               arch=ARCH_NAMES.get(cfg.arch))


def claims_from_results(cue: dict, real: dict, cue_setting: str, real_setting: str,
                        spread: dict | None = None, arch: str | None = None) -> list[Claim]:
    """The claims of stored results (``{name: values}``, as :func:`pipeline.load_results`
    gives them) of the cue world and the real images; ``cue_setting`` and ``real_setting``
    label their profile's own networks (:func:`own_setting`), ``arch`` is the profile's
    architecture as page 14 names it. A result not stored gives no claims."""
    return (_cue_question(cue, cue_setting, spread) + _stability(cue, cue_setting)
            + _architectures(cue, cue_setting, arch) + _paper_tables(real, real_setting)
            + _real_images(real, real_setting) + _conclusions(cue, real, cue_setting, real_setting, spread))


def _cue_rows(cues: dict) -> dict:
    return conclusions_page._cue_rows(cues)  # page 10's rows from its stored "cues"


def _gap_claims(page: str, source: str, rows: dict, setting: str, spread_claims=()) -> list[Claim]:
    """The adversarial-minus-vanilla L-bias and L-share of one network pair (``rows``), at ``setting``."""
    return [Claim(page, f"{CUES}: {field}, adversarial minus vanilla",
                  rows["adversarial"][field] - rows["vanilla"][field], None, setting, source)
            for field in ("L-bias", "L-share") if all(r in rows for r in MAIN_PAIR)] + list(spread_claims)


def _cue_question(cue: dict, setting: str, spread: dict | None) -> list[Claim]:
    """Page 10: each network's row, and the gaps with the seed SD it shows (:func:`cue_question.judge_answer`)."""
    rows = _cue_rows(cue.get("cues") or {})
    claims = [Claim("10_cue_question", f"{CUES}: {r} {f}", rows[r][f], None, setting, "cues")
              for r in MAIN_PAIR if r in rows for f in CUE_FIELDS if f in rows[r]]
    if not all(r in rows for r in MAIN_PAIR):
        return claims
    verdict = cue_question.judge_answer({"rows": rows}, spread)
    measured = seeds_setting((spread or {}).get("seeds"))  # fm spread: every seed at the profile's own settings
    spreads = [Claim("10_cue_question", f"{CUES}: {f}, adversarial minus vanilla", gap, sd, measured, "cues")
               for f, gap, sd in (("L-bias", verdict.bias_gap, verdict.bias_gap_sd),
                                  ("L-share", verdict.share_gap, verdict.share_gap_sd)) if sd is not None]
    return claims + _gap_claims("10_cue_question", "cues", rows, setting, spreads)


def _stability(cue: dict, setting: str) -> list[Claim]:
    """Page 11: the profile's own seed (its first) as one network, and each gap's SD over the
    seeds, labelled with what its extra seeds change (stored with the numbers)."""
    stored = cue.get("stability") or {}
    inputs = stored.get("inputs") or {}
    per_seed = {r: stored[r][PER_SEED] for r in MAIN_PAIR if PER_SEED in (stored.get(r) or {})}
    if not inputs.get("seeds") or len(per_seed) < len(MAIN_PAIR):  # stored before it kept its seeds
        return []
    first = {r: {f: values[0] for f, values in per_seed[r].items()} for r in MAIN_PAIR}
    claims = [Claim("11_stability", f"{CUES}: {r} {f}", first[r][f], None, setting, "stability")
              for r in MAIN_PAIR for f in first[r]]
    measured = seeds_setting(inputs["seeds"], inputs.get("extra seeds"))
    spreads = []
    for field in ("L-bias", "L-share"):
        # as page 10 combines its two SDs (common.difference_sd: independent draws), so that the
        # same seeds at the same settings give the same number on both pages
        sds = [float(np.std(per_seed[r][field], ddof=1)) for r in MAIN_PAIR]
        spreads.append(Claim("11_stability", f"{CUES}: {field}, adversarial minus vanilla",
                             first["adversarial"][field] - first["vanilla"][field],
                             float(np.hypot(*sds)), measured, "stability"))
    return claims + _gap_claims("11_stability", "stability", first, setting, spreads)


def _architectures(cue: dict, setting: str, arch: str | None) -> list[Claim]:
    """Page 14: the profile's own architecture's rows are the profile's own networks."""
    stored = cue.get("architectures") or {}
    return [Claim("14_architectures", f"{CUES}: {r} {f}", stored[key], None, setting, "architectures")
            for r in MAIN_PAIR for f, name in ARCH_FIELDS.items()
            if (key := f"{arch}.{r}.{name}") in stored]


def _paper_tables(real: dict, setting: str) -> list[Claim]:
    """Tables 1-3 where pages 03, 06 and 07 show them and page 09 reproduces them (rounded
    as :func:`fm_core.pages.reproduction.reproduction` rounds)."""
    claims = []
    for regime, row in (real.get("table1") or {}).items():
        if not isinstance(row, dict):
            continue
        for field, name in (("standard", "clean"), ("masked", "masked"), ("pgd", "PGD")):
            if field in row:
                q = f"{REAL}: {regime} {name} accuracy, %"
                claims.append(Claim("03_networks", q, row[field], None, setting, "table1"))
                if field != "pgd":  # page 09 shows Table 1's standard and masked columns
                    claims.append(Claim("09_reproduction", q, row[field], None, setting, "table1"))
    for key, value in (real.get("table2") or {}).items():
        if key != "n":
            claims += [Claim("06_adversarial_reversal", f"{REAL}: Table 2 {key}, %", value, None, setting, "table2"),
                       Claim("09_reproduction", f"{REAL}: Table 2 {key}, %", round(value, 2), None, setting, "table2")]
    t3 = real.get("table3") or {}
    for kind in ("true_labels", "shuffled_labels"):
        if kind in t3:
            q = f"{REAL}: Table 3 {kind.replace('_', ' ')}, test accuracy, %"
            claims += [Claim(page, q, t3[kind]["test_mean"], None, setting, "table3")
                       for page in ("07_mask_classifier", "09_reproduction")]
    return claims


def _real_images(real: dict, setting: str) -> list[Claim]:
    """Pages 03 and 04 on real images: robustness (clean and PGD accuracy, the eps that
    breaks the vanilla network at 1x), and each seed's network on page 04's two tables."""
    claims = []
    robust = real.get(ROBUSTNESS) or {}
    for regime in MAIN_PAIR:
        for field, name in (("clean, %", "clean"), ("PGD, %", "PGD")):
            if field in robust.get(regime, {}):
                claims.append(Claim("03_networks", f"{REAL}: {regime} {name} accuracy, %", robust[regime][field],
                                    None, setting, ROBUSTNESS))
    at_eps = ((real.get("real_images_eps") or {}).get("accuracy by multiple") or {}).get("1")
    if at_eps is not None:  # the eps page breaks the vanilla network at multiples of the profile's eps
        claims.append(Claim("03_networks", f"{REAL}: vanilla PGD accuracy, %", at_eps, None, setting, "real_images_eps"))
    masks, behaviour = real.get(MASKS) or {}, real.get(BEHAVIOUR) or {}
    inputs = masks.get("inputs") or {}
    seeds = [str(s) for s in inputs.get("seeds", [])]
    for regime, by_seed in (masks.get("networks") or {}).items():
        for i, seed in enumerate(seeds):
            row = by_seed.get(seed)
            if row is None:
                continue
            # the first seed is the profile's own network (real_images.seed_variant); the others
            # train at the extra seeds' setting and are each one network there
            at = setting if i == 0 else seeds_setting([seed], inputs.get("extra seeds"))
            claims += [Claim("04_dataset_masks", f"{REAL}: {regime} {name} accuracy, %", row[field], None, at, MASKS)
                       for field, name in (("clean, %", "clean"), ("masked, %", "masked")) if field in row]
            clean = (((behaviour.get("networks") or {}).get(regime) or {}).get(seed) or {}).get("band ablation", {})
            if "clean" in clean:
                claims.append(Claim("04_dataset_masks", f"{REAL}: {regime} clean accuracy, %", clean["clean"], None,
                                    at, BEHAVIOUR))
    mb = (masks.get("verdict") or {}).get("mask_behaviour")
    if mb and seeds:
        claims.append(Claim("04_dataset_masks", f"{REAL}: rho (mask low share, low-pass preference), mean over seeds",
                            mb["rho_mean"], mb["rho_sd"], seeds_setting(seeds, inputs.get("extra seeds")), MASKS))
    return claims


def _conclusions(cue: dict, real: dict, cue_setting: str, real_setting: str, spread: dict | None) -> list[Claim]:
    """The conclusions page: the pages' verdicts applied again to the same stored results."""
    page, claims = "17_conclusions", []
    if cue.get("cues"):
        answer = conclusions_page.judge_robust_low(real, cue["cues"], spread)
        claims += [Claim(page, f"{CUES}: L-bias, adversarial minus vanilla", answer.cue_bias_gap, None, cue_setting, "cues"),
                   Claim(page, f"{CUES}: L-share, adversarial minus vanilla", answer.cue_share_gap, None, cue_setting,
                         "cues")]
        if answer.cue_bias_gap_sd is not None:
            claims.append(Claim(page, f"{CUES}: L-bias, adversarial minus vanilla", answer.cue_bias_gap,
                                answer.cue_bias_gap_sd, seeds_setting((spread or {}).get("seeds")), "cues"))
    read = conclusions_page.judge_masks_read(real, cue.get("cues") or {}, cue.get("cue_ablation") or {},
                                             cue.get("architectures") or {})
    inputs = (real.get(MASKS) or {}).get("inputs") or {}
    if read.real_agree is not None:
        claims.append(Claim(page, f"{REAL}: rho (mask low share, low-pass preference), mean over seeds",
                            read.real_rho_mean, read.real_rho_sd,
                            seeds_setting([str(s) for s in inputs.get("seeds", [])], inputs.get("extra seeds")), MASKS))
    reversal, table3 = conclusions_page.judge_reversal(real, {}), conclusions_page.judge_table3(real)
    setting = real_setting
    if reversal.real_images:
        claims += [Claim(page, f"{REAL}: Table 2 {key}, %", value, None, setting, "table2")
                   for key, value in (("M(x_A)", reversal.real_own_mask),
                                      ("random mask, same size (x_A)", reversal.real_random_mask))]
    if table3.built:
        claims.append(Claim(page, f"{REAL}: Table 3 true labels, test accuracy, %", table3.accuracy, None, setting,
                            "table3"))
    return claims


def scale_tolerance(quantity: str) -> float:
    """The tolerance of :func:`disagreements` for ``quantity``: its stored rounding."""
    return PERCENT_TOLERANCE if "%" in quantity else UNIT_TOLERANCE


def disagreements(claims, tolerance: float | None = None) -> list[tuple[Claim, Claim]]:
    """Pairs of claims of the same quantity at the same setting whose values differ, or whose
    spreads (both measured) differ, by more than ``tolerance`` (None: the quantity's stored
    rounding, :func:`scale_tolerance`). Claims at different settings are not compared: their
    labels say they measured different things."""
    def apart(a, b, tol):
        if a != a or b != b:  # NaN (an all-zero mask's L-share) agrees only with NaN
            return not (a != a and b != b)
        return abs(a - b) > tol + 1e-12  # 1e-12: float noise

    out = []
    for a, b in combinations(claims, 2):
        if a.quantity != b.quantity or a.setting != b.setting:
            continue
        tol = scale_tolerance(a.quantity) if tolerance is None else tolerance
        if apart(a.value, b.value, tol) or (a.spread is not None and b.spread is not None
                                            and apart(a.spread, b.spread, tol)):
            out.append((a, b))
    return out


def shared_quantities(claims) -> dict[str, set[str]]:
    """``{quantity: {pages}}`` for every quantity that two or more pages report."""
    pages: dict[str, set[str]] = {}
    for c in claims:
        pages.setdefault(c.quantity, set()).add(c.page)
    return {q: p for q, p in sorted(pages.items()) if len(p) > 1}

"""Figures of the cue world: its probe images, the planted cue bins, behaviour against
mask share, and the step budget of a mask. The look is :mod:`.style`'s.
"""
from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .style import CUE_COLOURS, FONT, SHIFT_NOTE, WIDTH, _grid, _image, _shift

def plot_probe_samples(probes: Mapping[str, dict], per_set: int = 5) -> Figure:
    """A few images of each probe set, titled with the classes their cues show."""
    names = list(probes)
    fig, axes = _grid(len(names), per_set, height_per_row=1.5)
    for i, name in enumerate(names):
        p = probes[name]
        for j in range(per_set):
            lo, hi = int(p["y_low"][j]), int(p["y_high"][j])
            title = f"L {lo if lo >= 0 else '-'} / H {hi if hi >= 0 else '-'}"
            _image(axes[i, j], np.asarray(p["x"][j]).squeeze(), title, vmin=0, vmax=1)
        axes[i, 0].set_ylabel(name, fontsize=FONT)
        axes[i, 0].axis("on")
        axes[i, 0].set_xticks([])
        axes[i, 0].set_yticks([])
    fig.tight_layout()
    return fig


def plot_cue_truths(truth: Mapping[str, np.ndarray], radial_bands: np.ndarray) -> Figure:
    """The two cues' bins (all classes) over the radial partition of Figures 4 and 7."""
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH * 0.75, WIDTH * 0.36))
    im = axes[0].imshow(_shift(np.asarray(radial_bands).argmax(0)), cmap="viridis")
    fig.colorbar(im, ax=axes[0], fraction=0.046, label="radial band")
    axes[0].set_title(f"radial bands {SHIFT_NOTE}", fontsize=FONT)
    code = np.zeros(np.asarray(truth["low"]).shape[-2:])
    code[np.asarray(truth["low"]).any(0)] = 1
    code[np.asarray(truth["high"]).any(0)] = 2
    from matplotlib.colors import ListedColormap
    im = axes[1].imshow(_shift(code), cmap=ListedColormap(["white", CUE_COLOURS["L"], CUE_COLOURS["H"]]),
                        vmin=-0.5, vmax=2.5)
    bar = fig.colorbar(im, ax=axes[1], fraction=0.046, ticks=[0, 1, 2])
    bar.ax.set_yticklabels(["no cue", "L bins", "H bins"])
    axes[1].set_title(f"planted cue bins {SHIFT_NOTE}", fontsize=FONT)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


# Points nearer each other than this on both axes (which span 0 to 1) would hide each other:
# page 10's positive controls and the robust-H world's networks land on (0, 0) and (1, 1)
COINCIDE_WITHIN = 0.03
# Such points are drawn on a ring of this radius around their true position (axis units):
# wide enough that markers of the scatter's size lie apart, small against the diagonal's
# agreement line (AGREES_WITHIN, 0.3, in fm_core.pages.cue_question)
SPREAD_RADIUS = 0.05
# The networks trained on one cue only stand out by their marker (the names of
# fm_core.pages.cue_conditions' positive controls end in "only")
CONTROL_MARKERS = {"L": "s", "H": "^"}


def coinciding_groups(rows: Mapping[str, Mapping]) -> list[list[str]]:
    """The conditions whose (L-share, L-bias) points lie within :data:`COINCIDE_WITHIN` of
    each other, chained (a group holds every point near one of its members), in ``rows``'
    order; groups of one point are left out."""
    names = list(rows)
    xy = {n: np.array([rows[n]["L-share"], rows[n]["L-bias"]], dtype=float) for n in names}
    group_of = {n: i for i, n in enumerate(names)}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if np.max(np.abs(xy[a] - xy[b])) <= COINCIDE_WITHIN and group_of[a] != group_of[b]:
                old, new = group_of[b], group_of[a]
                group_of.update({n: new for n, g in group_of.items() if g == old})
    groups = {}
    for n in names:
        groups.setdefault(group_of[n], []).append(n)
    return [g for g in groups.values() if len(g) > 1]


def drawn_positions(rows: Mapping[str, Mapping]) -> dict[str, tuple[float, float]]:
    """Where each condition's point is drawn: at its (L-share, L-bias), or, when it
    coincides with others (:func:`coinciding_groups`), on a ring of :data:`SPREAD_RADIUS`
    around the group's mean, in ``rows``' order from the top (deterministic)."""
    at = {n: (float(r["L-share"]), float(r["L-bias"])) for n, r in rows.items()}
    for group in coinciding_groups(rows):
        cx, cy = np.mean([at[n] for n in group], axis=0)
        for j, n in enumerate(group):
            angle = np.pi / 2 + 2 * np.pi * j / len(group)
            at[n] = (float(cx + SPREAD_RADIUS * np.cos(angle)), float(cy + SPREAD_RADIUS * np.sin(angle)))
    return at


def _marker(name: str) -> str:
    for cue, marker in CONTROL_MARKERS.items():
        if name.endswith(f"{cue} only"):
            return marker
    return "o"


def plot_bias_vs_share(rows: Mapping[str, Mapping]) -> Figure:
    """Behaviour against masks: each condition's L-bias (cue-conflict probes) against its
    dataset mask's L-share; the diagonal is perfect agreement. Conditions at the same point
    are drawn apart on a small ring, each joined by a grey line to their true position (a
    black dot); the positive controls (trained on one cue only) have their own markers."""
    fig, ax = plt.subplots(figsize=(WIDTH * 0.8, WIDTH * 0.5))
    drawn = drawn_positions(rows)
    dot_label = "true position of points\ndrawn apart around it"
    for i, (name, row) in enumerate(rows.items()):
        true_xy, xy = (row["L-share"], row["L-bias"]), drawn[name]
        if xy != true_xy:
            ax.plot(*zip(true_xy, xy), color="0.55", lw=0.8, zorder=1)
            ax.plot(*true_xy, "k.", ms=4, zorder=3, label=dot_label)
            dot_label = None
        control = _marker(name) != "o"
        ax.scatter(*xy, s=50 if control else 36, marker=_marker(name), color=plt.get_cmap("tab20")(i % 20),
                   edgecolors="k" if control else "none", linewidths=0.8, label=name, zorder=2)
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1, zorder=0)
    margin = COINCIDE_WITHIN + SPREAD_RADIUS
    ax.set_xlim(-margin, 1 + margin)
    ax.set_ylim(-margin, 1 + margin)
    ax.set_xlabel("mask's L-share  (mean on L bins / (L + H))")
    ax.set_ylabel("L-bias  (cue-conflict probes)")
    handles, labels = ax.get_legend_handles_labels()
    dots = [i for i, label in enumerate(labels) if label.startswith("true position")]
    order = [i for i in range(len(labels)) if i not in dots] + dots  # the dot's entry last
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=FONT, loc="center left",
              bbox_to_anchor=(1.02, 0.5))
    ax.set_aspect("equal")
    fig.tight_layout()
    return fig


def plot_step_budget_curve(curve: Mapping) -> Figure:
    """Single-image masks against their step budget (:func:`fm_core.science.experiments.step_budget_curve`):
    the median steps taken, and quality (mean mask value, prediction kept, agreement with
    the largest budget's masks)."""
    budgets = np.asarray(curve["budget"])
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH, 3.0))
    axes[0].plot(budgets, curve["median steps"], marker="o", label="median steps taken")
    axes[0].plot(budgets, budgets, color="0.6", ls="--", lw=1, label="budget")
    axes[0].set_xlabel("step budget (max steps = one-cycle length)")
    axes[0].set_ylabel("steps")
    axes[0].legend(fontsize=FONT)
    axes[1].plot(budgets, curve["mean mask value"], marker="o", label="mean mask value")
    axes[1].plot(budgets, np.asarray(curve["prediction kept, %"]) / 100, marker="s", label="prediction kept")
    axes[1].plot(budgets, curve["correlation with the largest budget's masks"], marker="^",
                 label="correlation with the largest budget")
    axes[1].set_xlabel("step budget")
    axes[1].set_ylim(-0.05, 1.05)
    axes[1].legend(fontsize=FONT)
    fig.tight_layout()
    return fig

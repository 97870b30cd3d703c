"""The explorer page (``book/13_explorer.ipynb``): pick a network of the cue world, an
objective, a lambda and an image; see the dataset mask, the image before and after it,
and the mask's cue shares. Every view comes from the artefact store
(:func:`fm_core.store.pipeline.get_dataset_mask`): a choice seen before shows at once, a new
one learns its mask first (seconds to a minute on a CPU at the quick profile) and keeps
it. In JupyterLab :func:`explorer_widget` draws ipywidgets; the static book shows
:func:`plot_views` of a small grid, computed the same way.
"""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from fm_core.science import cue_analysis
from fm_core.pages import cue_conditions
from fm_core.pages.common import budget_of, settle_words
from fm_core.store import pipeline
from fm_core.errors import UserError
from fm_core.fourier import filter_images
from .figures.style import _grid, _image, _mask
from fm_core.profiles import CHOICES, Profile

def lambdas(cfg: Profile) -> list[float]:
    """The lambdas the explorer offers: the profile's, and the lambda path's (page 10)."""
    return sorted({float(cfg.dmask_lam), *map(float, cfg.dmask_path_lams)})


def view(cfg: Profile, condition: str = "vanilla", objective: str | None = None,
         lam: float | None = None, image: int = 0, progress: bool = True) -> dict:
    """One explorer view: the ``condition``'s network (a name of
    :func:`fm_core.pages.cue_conditions.conditions`), its dataset mask under ``objective`` and
    ``lam`` (default: the profile's), held-out image number ``image`` before and after
    the mask, and the mask's cue shares (the cue world only)."""
    found = {name: (variant, regime) for name, variant, regime in cue_conditions.conditions(cfg)}
    if condition not in found:
        raise UserError(f"unknown condition {condition!r}; choose one of {', '.join(found)}")
    variant, regime = found[condition]
    changes = {k: v for k, v in (("dmask_invariance", objective), ("dmask_lam", lam)) if v is not None}
    variant = variant.replace(**changes)
    x, _ = pipeline.score_half(variant)
    if not 0 <= image < len(x):
        raise UserError(f"image must be between 0 and {len(x) - 1}, not {image}")
    net = pipeline.get_network(variant, regime, progress)
    result = pipeline.get_dataset_mask(variant, regime, progress=progress)
    mask = result.mask
    truth = pipeline.get_dataset(variant).truth or {}
    shares = (cue_analysis.mask_cue_shares(mask, truth["low"], truth["high"])
              if "low" in truth and "high" in truth else {})
    return {"condition": condition, "objective": variant.dmask_invariance, "lambda": variant.dmask_lam,
            "image": image, "x": x[image, 0].numpy(), "mask": np.asarray(mask),
            "filtered": filter_images(net, x[image:image + 1], mask)[0, 0].numpy(),
            "shares": shares, "converged": bool(result.converged[0]), "steps": int(result.steps[0]),
            "budget": budget_of(result)}


def caption(v: dict) -> str:
    """One line on a view: what was chosen, the L-share and the mask's mean."""
    share = v["shares"].get("L-share")
    return (f"{v['condition']}, {v['objective']}, lambda {v['lambda']:g}: "
            + (f"L-share {share:.2f}, " if share is not None else "")
            + f"mask mean {float(v['mask'].mean()):.3f}"
            + _convergence(v))


def _convergence(v: dict) -> str:
    """"" for a mask that converged before its budget ran out, else what it did, in
    parentheses (:func:`fm_core.pages.common.settle_words`)."""
    words = settle_words(v["converged"], v["steps"], v.get("budget"))
    return f" ({words}: {v['steps']} steps)" if words else ""


def plot_views(views: list[dict]) -> Figure:
    """One row per view: the mask (DC in the centre), the image on [0, 1], the filtered
    image on its own grey scale (what a sparse mask keeps is faint on [0, 1])."""
    fig, axes = _grid(len(views), 3, height_per_row=2.2)
    for row, v in zip(axes, views):
        _mask(row[0], v["mask"], "mask", colorbar=True)
        _image(row[1], v["x"], f"image {v['image']}", vmin=0, vmax=1)
        _image(row[2], v["filtered"], "after the mask\n(own grey scale)")  # a sparse mask leaves little contrast
        row[1].set_title(f"{caption(v)}\nimage {v['image']}", fontsize=8)
    fig.tight_layout()
    return fig


def static_grid(cfg: Profile, conditions=("vanilla", "adversarial"), image: int = 0) -> list[dict]:
    """The views the static book shows: each of ``conditions`` at the profile's objective
    and lambda (the masks the other pages use, so nothing new is learned)."""
    return [view(cfg, c, image=image, progress=False) for c in conditions]


def explorer_widget(cfg: Profile):
    """Dropdowns for condition, objective and lambda, a slider for the image; the row
    redraws on every change (a mask not yet in the store is learned first). Returns the
    widget box (display it); ``box.controls`` holds the controls by name and
    ``box.views`` every view drawn, the last one last."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    names = [name for name, _, _ in cue_conditions.conditions(cfg)]
    controls = {
        "condition": widgets.Dropdown(options=names, value=names[0], description="network"),
        "objective": widgets.Dropdown(options=CHOICES["dmask_invariance"], value=cfg.dmask_invariance,
                                      description="objective"),
        "lam": widgets.Dropdown(options=lambdas(cfg), value=float(cfg.dmask_lam), description="lambda"),
        "image": widgets.IntSlider(value=0, min=0, max=len(pipeline.score_half(cfg)[0]) - 1,
                                   description="image"),
    }
    out = widgets.Output()
    box = widgets.VBox([widgets.HBox([controls["condition"], controls["objective"]]),
                        widgets.HBox([controls["lam"], controls["image"]]), out])
    box.controls, box.views = controls, []

    def redraw(*_):
        with out:
            out.clear_output(wait=True)
            v = view(cfg, **{k: w.value for k, w in controls.items()})
            box.views.append(v)
            plot_views([v])
            plt.show()

    for w in controls.values():
        w.observe(redraw, names="value")
    redraw()
    return box

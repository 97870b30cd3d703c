"""The settings a page used, in words, generated from its profile: every page that trains,
attacks or learns masks says how (:meth:`fm_core.book.report.Page.show_settings`), so that no
page says "PGD" or "a dataset mask" without its eps, steps and batch."""
from __future__ import annotations

from fm_core.profiles import Profile


def _training(c: Profile) -> str:
    head = "a global-pool head" if c.pooled_head else "torchvision's head"
    counted = f" (counted from epoch {c.early_stop_start + 1})" if c.early_stop_start else ""
    stop = (f", stopping once {c.early_stop_patience} epochs pass without the validation loss falling "
            f"by {c.early_stop_delta:g}{counted}" if c.early_stop_patience else "")
    return (f"{c.arch}, width x{c.width:g}, {head}; Adam with a one-cycle rate (max {c.max_lr:g}, "
            f"warm-up {c.pct_start:g} of the run), batches of {c.batch_size}, at most {c.epochs} "
            f"epochs{stop}; seed {c.seed}")


def _attack(c: Profile) -> str:
    train_steps = c.adv_train_steps or c.pgd_steps
    how = (f"one PGD step of eps/8 from a random start in the eps ball (a weak, fast attack; "
           f"Wong et al. 2020 take one step of 1.25 eps)" if train_steps == 1
           else f"PGD with {train_steps} steps of eps/8 from a random start")
    warm = (f", eps rising linearly to its value over the first {c.adv_warmup_epochs} epochs"
            if c.adv_warmup_epochs else "")
    return (f"L-inf PGD (torchattacks) with eps {c.eps_pixel * 255:.3g}/255 in [0, 1] pixel units, "
            f"step eps/8, {c.pgd_steps} steps from a random start, for every accuracy under attack; "
            f"the adversarial network trains on {how}{warm}")


def _dataset_masks(c: Profile) -> str:
    budget = (f"at most {c.dmask_max_steps} steps" if c.dmask_max_steps is not None
              else f"at most {c.dmask_epochs} passes over the images")
    window = f"every {c.dmask_window} steps" if c.dmask_window else "every epoch"
    half = f"{c.n_val // 2} images" if c.n_val else "half of the validation set"
    return (f"learned on the fit half of the validation set ({half}); lambda {c.dmask_lam:g}, "
            f"invariance '{c.dmask_invariance}', Adam lr {c.dmask_lr:g} ({c.dmask_schedule.replace('_', '-')}), "
            f"batches of {c.dmask_batch_size}, {budget}; converged once the window-averaged mask "
            f"({window}) moves less than {c.dmask_tol:g} per bin {c.dmask_patience} times running"
            + ("; the paper's revert rule is on" if c.dmask_revert else ""))


def _image_masks(c: Profile) -> str:
    count = f"{c.imask_images} selected images" if c.imask_images else "every selected image"
    return (f"{count}, lambda {c.imask_lam:g}, Adam lr {c.imask_lr:g} (one-cycle), at most "
            f"{c.imask_max_steps} steps, stopping after {c.imask_patience} steps without improvement, "
            f"batches of {c.imask_batch_size}")


def _classifier(c: Profile) -> str:
    return (f"stratified {c.classifier_folds}-fold cross-validation, {c.classifier_permutations} "
            f"label shuffles in the permutation test")


def _cue_world(c: Profile) -> str:
    cues = {"both": "both cues", "low": "the L cue only", "high": "the H cue only"}[c.cue_train]
    return (f"H amplitude {c.cue_h_ratio:g} x eps, reliability rho_L {c.cue_rho_l:g} and rho_H "
            f"{c.cue_rho_h:g}, training images carry {cues}"
            + ("; H carried by phase alone (the phase-cue variant)" if c.cue_h_carrier == "phase" else "")
            + f"; data seed {c.data_seed}")


TOPICS = {"training": ("training", _training), "attack": ("PGD", _attack),
          "dataset masks": ("dataset masks", _dataset_masks), "image masks": ("single-image masks", _image_masks),
          "classifier": ("mask classifier", _classifier), "cue world": ("cue world", _cue_world)}


def describe(cfg: Profile, *topics: str) -> list[tuple[str, str]]:
    """(label, sentence) for each of ``topics`` (the keys of :data:`TOPICS`)."""
    unknown = [t for t in topics if t not in TOPICS]
    if unknown:
        raise ValueError(f"unknown settings topic(s) {unknown}; choose from {', '.join(TOPICS)}")
    return [(TOPICS[t][0], TOPICS[t][1](cfg)) for t in topics]

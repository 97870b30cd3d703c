"""Training the paper's five networks: vanilla, adversarial, scale, translate, rotate.

Adam with a one-cycle schedule (max lr 1e-3, pct_start 0.1, annealed to ~0), and the
weights of the epoch with minimum validation cross-entropy are kept (the paper; the
authors' code keeps maximum accuracy). Augmentations are torchvision transforms v2,
drawn per image on the fly and sampled per batch (:mod:`fm_core.nets.augment`);
adversarial training uses torchattacks' PGD and trains on the adversarial images only,
as the paper's code does.
"""
from __future__ import annotations

import copy
import hashlib
import json
import random
import time
import warnings
from pathlib import Path

import numpy as np

import torch
import torch.nn.functional as F

from .attacks import eps_normalised, make_pgd, pgd_attack
from .augment import augment_batch
from fm_core.data.dataset import Dataset
from .evaluation import accuracy, loss_and_accuracy, near_chance
from fm_core.errors import UserError
from .models import MaskedClassifier, build_model
from .distributed import DataParallel
from fm_core.profiles import REGIMES, Profile
from fm_core.utils import atomic_path, default_device, progress_bar, seed_everything

CHECKPOINT_FORMAT = "fm_core.train_checkpoint/1"
# The profile fields train_network reads: a checkpoint made with other values is refused.
TRAINING_FIELDS = ("arch", "width", "pooled_head", "seed", "epochs", "batch_size", "max_lr",
                   "pct_start", "eps_pixel", "pgd_steps", "adv_train_steps", "adv_warmup_epochs",
                   "early_stop_patience", "early_stop_delta", "early_stop_start")


def check_regime(regime: str) -> str:
    if regime not in REGIMES:
        raise UserError(f"unknown regime {regime!r}; choose one of {', '.join(REGIMES)}")
    return regime


def warmup_epochs(profile: Profile, regime: str) -> int:
    """The epochs of the eps warm-up (adversarial training only), never all of them."""
    return min(profile.adv_warmup_epochs, profile.epochs - 1) if regime == "adversarial" else 0


def set_training_eps(attack, profile: Profile, epoch: int) -> float:
    """eps for the adversarial training of ``epoch`` (0-based): a linear ramp from
    eps/warm-up to eps over the first ``adv_warmup_epochs`` (from-scratch adversarial
    training on small data can otherwise collapse to chance), then eps. The step is
    eps/8 at the paper's 10 steps, and 2.5 eps/steps with fewer steps, so the attack
    can still reach the boundary of the ball."""
    ramp = min(1.0, (epoch + 1) / profile.adv_warmup_epochs) if profile.adv_warmup_epochs else 1.0
    attack.eps = profile.eps_pixel * ramp
    attack.alpha = pgd_step_size(attack.eps, attack.steps)
    return attack.eps


def pgd_step_size(eps: float, steps: int) -> float:
    """The paper's eps/8 at 10 steps or more; 2.5 eps/steps with fewer (Madry et al.'s rule,
    so the attack can reach the ball's boundary); one step: 1.25 eps from a random start,
    the "fast" adversarial training of Wong, Rice & Kolter (2020)."""
    if steps >= 10:
        return eps / 8
    return 1.25 * eps if steps == 1 else 2.5 * eps / steps


def should_stop_early(val_losses: list[float], first_candidate: int, profile: Profile,
                      val_accs: list[float], num_classes: int) -> bool:
    """Real early stopping (Keras' ``EarlyStopping`` with ``min_delta``): stop once
    ``early_stop_patience`` epochs in a row failed to bring the validation loss more than
    ``early_stop_delta`` below the lowest loss so far (0 patience: never; the paper trains
    all its epochs). Epochs before ``first_candidate`` (``early_stop_start``, or the eps
    warm-up of adversarial training, whose losses are not comparable) neither set the bar
    nor count.

    Never while the epoch of the lowest loss so far is within
    :data:`~fm_core.nets.evaluation.CHANCE_MARGIN` of chance in accuracy: such a network has
    learned nothing worth keeping, and its validation loss can rise for a few epochs at
    the schedule's high learning rate while its training accuracy climbs (the phase-cue
    network of seed 2031 was stopped after 3 of 8 epochs at 21% held-out accuracy, its
    training accuracy at 89%)."""
    patience = profile.early_stop_patience
    if not patience:
        return False
    bar, waited, bar_acc = float("inf"), 0, None
    for loss, acc in zip(val_losses[first_candidate:], val_accs[first_candidate:]):
        if loss < bar - profile.early_stop_delta:
            bar, waited, bar_acc = loss, 0, acc
        else:
            waited += 1
            if loss < bar:
                bar, bar_acc = loss, acc
    return waited >= patience and not near_chance(bar_acc, num_classes)


def new_model(dataset: Dataset, profile: Profile, regime: str) -> MaskedClassifier:
    return build_model(profile.arch, dataset.num_classes, dataset.size, dataset.mean,
                       dataset.std, width=profile.width, pooled_head=profile.pooled_head,
                       data=dataset.name, regime=regime, class_names=dataset.class_names)


def train_network(dataset: Dataset, regime: str, profile: Profile, progress: bool = True,
                  device: str | torch.device | None = None,
                  checkpoint: str | Path | None = None, evaluate_pgd: bool = True,
                  distributed: bool = False) -> MaskedClassifier:
    """Train one network of the paper under ``regime``; the model's ``meta`` records the
    configuration and metrics (clean and PGD validation accuracy, time, history).

    ``checkpoint``: a file rewritten atomically after every epoch (weights, optimiser,
    schedule, every random generator, the best epoch so far, history, time). When it
    exists, training continues after its last completed epoch and ends with the weights
    an uninterrupted run gets (bit-identical on CPU); one made for other settings or
    other data is refused with a :class:`UserError`. The caller deletes it once the
    model is saved (a kill in between loses nothing).

    ``evaluate_pgd``: measure PGD accuracy on the validation split at the end (``pgd_acc``
    in the metrics; 10-step PGD costs about a third of a training epoch per image). The
    book's store skips it and measures PGD where a table needs it.

    Speed: the network trains in channels_last memory format (about a quarter faster
    per step on CPU, and the format GPUs prefer); results differ from the default format
    by float rounding only.

    ``distributed``: under torchrun or srun, DistributedDataParallel: each process trains
    on its share of every batch, and only rank 0 writes the checkpoint (see
    :class:`fm_core.nets.distributed.DataParallel`); one process without a launcher."""
    check_regime(regime)
    device = torch.device(device) if device is not None else default_device()
    generator = seed_everything(profile.seed)
    model = new_model(dataset, profile, regime).to(device, memory_format=torch.channels_last)
    parallel = DataParallel(model, enabled=distributed)
    optimiser = torch.optim.Adam(model.parameters(), lr=profile.max_lr, weight_decay=0.0)
    steps_per_epoch = -(-len(dataset.y_train) // profile.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=profile.max_lr, total_steps=profile.epochs * steps_per_epoch,
        pct_start=profile.pct_start)
    attack = None
    if regime == "adversarial":
        attack = make_pgd(model, profile.eps_pixel, profile.adv_train_steps or profile.pgd_steps)

    history = {k: [] for k in ("train_loss", "train_acc", "val_loss", "val_acc", "lr")}
    best = (float("inf"), None, -1)  # (val loss, state, epoch)
    first_epoch, elapsed = 0, 0.0
    fingerprint = None
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        fingerprint = training_fingerprint(dataset, regime, profile)
        if checkpoint.exists():
            state = load_checkpoint(checkpoint, fingerprint)
            first_epoch, elapsed, history, best = _restore(state, model, optimiser, schedule, generator)
    start = time.perf_counter()
    bar = progress_bar(range(first_epoch, profile.epochs), progress=progress, desc=f"train {regime}",
                       leave=True, initial=first_epoch, total=profile.epochs)
    for epoch in bar:
        # checked before each epoch, from the history: a resumed run stops where an
        # uninterrupted one did
        if should_stop_early(history["val_loss"], max(warmup_epochs(profile, regime), profile.early_stop_start), profile,
                             val_accs=history["val_acc"], num_classes=dataset.num_classes):
            break
        model.train()
        if attack is not None:
            set_training_eps(attack, profile, epoch)
        order = torch.randperm(len(dataset.y_train), generator=generator)
        seen, loss_sum, correct = 0, 0.0, 0
        for i in range(0, len(order), profile.batch_size):
            idx = parallel.share(order[i:i + profile.batch_size])
            xb, yb = dataset.x_train[idx], dataset.y_train[idx]
            if dataset.train_augment is not None:
                xb = dataset.train_augment(xb)
            xb = augment_batch(xb, regime).to(device).contiguous(memory_format=torch.channels_last)
            yb = yb.to(device)
            if attack is not None:
                xb = attack(xb, yb)  # torchattacks evaluates the model in eval mode
                model.train()
            logits = parallel.model(xb)
            loss = F.cross_entropy(logits, yb)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            seen += len(yb)
            loss_sum += loss.item() * len(yb)
            correct += (logits.argmax(1) == yb).sum().item()
        seen, loss_sum, correct = parallel.sum(seen, loss_sum, correct)
        val_loss, val_acc = parallel.evaluate(loss_and_accuracy, model, dataset.x_val, dataset.y_val)
        for key, value in zip(history, (loss_sum / seen, correct / seen, val_loss, val_acc,
                                        schedule.get_last_lr()[0])):
            history[key].append(value)
        # during the eps warm-up the network is trained against a weaker attack: its
        # epochs are not candidates (their clean loss is lower, their robustness is not)
        if val_loss < best[0] and epoch >= warmup_epochs(profile, regime):
            best = (val_loss, copy.deepcopy(model.core.state_dict()), epoch)
        if checkpoint is not None and parallel.is_main:
            save_checkpoint(checkpoint, fingerprint, epoch, elapsed + time.perf_counter() - start,
                            history, best, model, optimiser, schedule, generator)
        bar.set_postfix(loss=f"{loss_sum / seen:.3f}", val_loss=f"{val_loss:.3f}",
                        acc=f"{correct / seen:.3f}", val_acc=f"{val_acc:.3f}")
    bar.close()
    train_seconds = elapsed + time.perf_counter() - start

    model.core.load_state_dict(best[1])
    model = model.to(memory_format=torch.contiguous_format).eval()
    val_loss, val_acc = loss_and_accuracy(model, dataset.x_val, dataset.y_val)
    metrics = dict(val_loss=val_loss, val_acc=val_acc, best_epoch=best[2], epochs_trained=len(history["val_loss"]),
                   train_seconds=train_seconds, history=history)
    if evaluate_pgd:
        x_adv = pgd_attack(model, dataset.x_val, dataset.y_val, profile.eps_pixel,
                           profile.pgd_steps, seed=profile.seed)
        metrics["pgd_acc"] = accuracy(model, x_adv, dataset.y_val)
    model.meta.update(config=profile.as_dict(), eps_pixel=profile.eps_pixel,
                      eps_normalised=eps_normalised(profile.eps_pixel, dataset.std), metrics=metrics)
    return model


# ------------------------------------------------------------------ checkpoints
def training_fingerprint(dataset: Dataset, regime: str, profile: Profile) -> str:
    """What a training run depends on: the regime, the training settings and the data
    (every image and label, the normalisation, the class names)."""
    digest = hashlib.sha256()
    for t in (dataset.x_train, dataset.y_train, dataset.x_val, dataset.y_val):
        t = t.detach().cpu().contiguous()
        digest.update(str((t.dtype, tuple(t.shape))).encode())
        digest.update(t.numpy().tobytes())
    what = {"regime": regime, "settings": {f: getattr(profile, f) for f in TRAINING_FIELDS},
            "mean": dataset.mean, "std": dataset.std, "classes": list(dataset.class_names),
            "augment": repr(dataset.train_augment), "data": digest.hexdigest()}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


def _rng_states(generator: torch.Generator) -> dict:
    np_state = np.random.get_state()
    py_state = random.getstate()
    states = {
        "order": generator.get_state(),
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_json": json.dumps([np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])]),
        "python_keys": torch.tensor(py_state[1], dtype=torch.int64),
        "python_json": json.dumps([py_state[0], py_state[2]]),
    }
    if torch.cuda.is_available():
        states["cuda"] = list(torch.cuda.get_rng_state_all())
    return states


def _set_rng_states(states: dict, generator: torch.Generator) -> None:
    generator.set_state(states["order"])
    torch.set_rng_state(states["torch"])
    name, pos, has_gauss, gauss = json.loads(states["numpy_json"])
    np.random.set_state((name, states["numpy_keys"].numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, gauss_next = json.loads(states["python_json"])
    random.setstate((version, tuple(int(v) for v in states["python_keys"].tolist()), gauss_next))
    if "cuda" in states and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])


def _cpu(obj):
    if torch.is_tensor(obj):
        return obj.detach().cpu().clone()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


def save_checkpoint(path: Path, fingerprint: str, epoch: int, elapsed: float, history: dict, best: tuple,
                    model: MaskedClassifier, optimiser, schedule, generator: torch.Generator) -> None:
    """Atomically: everything needed to continue after ``epoch`` (0-based, completed).
    Plain tensors, numbers, strings, lists and dicts only (``torch.load(weights_only=True)``)."""
    best_loss, best_state, best_epoch = best
    payload = {
        "format": CHECKPOINT_FORMAT,
        "fingerprint": fingerprint,
        "epochs_done": epoch + 1,
        "elapsed": float(elapsed),
        "history_json": json.dumps(history),
        "best_loss": float(best_loss),
        "best_epoch": int(best_epoch),
        # the best state is the current one when the best epoch is this epoch: not stored twice
        "best_state": None if best_epoch == epoch else _cpu(best_state),
        "model": _cpu(model.core.state_dict()),
        "optimiser": _cpu(optimiser.state_dict()),
        "schedule_json": json.dumps(schedule.state_dict()),
        "rng": _rng_states(generator),
    }
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            torch.save(payload, fh)


def load_checkpoint(path: Path, fingerprint: str | None = None) -> dict:
    """A training checkpoint, checked: a damaged file or one made for other settings or
    data is refused with a one-line :class:`UserError`."""
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols of foreign files
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, not a tensor file, a pickle with code
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"training checkpoint {path} is damaged ({first[:120]}); delete it to start over") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"{path} is not a training checkpoint of this version; delete it to start over")
    if fingerprint is not None and state.get("fingerprint") != fingerprint:
        raise UserError(f"training checkpoint {path} was made with other settings or data; "
                        "rerun with the same arguments, or delete it to start over")
    return state


def _restore(state: dict, model: MaskedClassifier, optimiser, schedule, generator) -> tuple:
    """Load a checkpoint into the run; returns (first epoch, elapsed, history, best)."""
    try:
        model.core.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(json.loads(state["schedule_json"]))
        _set_rng_states(state["rng"], generator)
        history = json.loads(state["history_json"])
        epochs_done = int(state["epochs_done"])
        best_state = state["best_state"]
        if best_state is None:  # the best epoch was the last completed one
            best_state = copy.deepcopy(model.core.state_dict())
        best = (float(state["best_loss"]), best_state, int(state["best_epoch"]))
        elapsed = float(state["elapsed"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"training checkpoint does not fit this run ({first[:120]}); delete it to start over") from None
    return epochs_done, elapsed, history, best

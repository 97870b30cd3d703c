"""Training the paper's five networks: vanilla, adversarial, scale, translate, rotate.

Adam with a one-cycle schedule (max lr 1e-3, pct_start 0.1, annealed to ~0), and the
weights of the epoch with minimum validation cross-entropy are kept (the paper; the
authors' code keeps maximum accuracy). Augmentations are torchvision transforms v2,
drawn per image on the fly; adversarial training uses torchattacks' PGD and trains on
the adversarial images only, as the paper's code does.
"""
from __future__ import annotations

import copy
import time

import torch
import torch.nn.functional as F
from torchvision.transforms import v2

from .attacks import accuracy, eps_normalised, make_pgd, pgd_attack
from .data import Dataset
from .errors import UserError
from .models import MaskedClassifier, build_model
from .profiles import REGIMES, Profile
from .utils import default_device, progress_bar, seed_everything

TRAINING_VERSION = 1  # bump when training changes its results: cached networks retrain

# The paper's augmentations (FACTS.md): scale in [0.5, 1.5], translation up to 0.4 of the
# width/height, rotation by up to 180 degrees.
AUGMENTATIONS = {
    "scale": v2.RandomAffine(degrees=0, scale=(0.5, 1.5)),
    "translate": v2.RandomAffine(degrees=0, translate=(0.4, 0.4)),
    "rotate": v2.RandomRotation(degrees=180),
}


def check_regime(regime: str) -> str:
    if regime not in REGIMES:
        raise UserError(f"unknown regime {regime!r}; choose one of {', '.join(REGIMES)}")
    return regime


def augment_batch(x: torch.Tensor, regime: str) -> torch.Tensor:
    """Draw the regime's random transform independently for every image of the batch."""
    transform = AUGMENTATIONS.get(regime)
    if transform is None:
        return x
    return torch.stack([transform(img) for img in x])


@torch.no_grad()
def evaluate(model: MaskedClassifier, x: torch.Tensor, y: torch.Tensor,
             batch_size: int = 512) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` on (x, y), in eval mode."""
    device = next(model.parameters()).device
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
        logits = model(xb)
        loss += F.cross_entropy(logits, yb, reduction="sum").item()
        correct += (logits.argmax(1) == yb).sum().item()
    return loss / len(x), correct / len(x)


def new_model(dataset: Dataset, profile: Profile, regime: str) -> MaskedClassifier:
    return build_model(profile.arch, dataset.num_classes, dataset.size, dataset.mean,
                       dataset.std, width=profile.width, pooled_head=profile.pooled_head,
                       data=dataset.name, regime=regime, class_names=dataset.class_names)


def train_network(dataset: Dataset, regime: str, profile: Profile, progress: bool = True,
                  device: str | torch.device | None = None) -> MaskedClassifier:
    """Train one network of the paper under ``regime``; the model's ``meta`` records the
    configuration and metrics (clean and PGD validation accuracy, time, history)."""
    check_regime(regime)
    device = torch.device(device) if device is not None else default_device()
    generator = seed_everything(profile.seed)
    model = new_model(dataset, profile, regime).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=profile.max_lr, weight_decay=0.0)
    steps_per_epoch = -(-len(dataset.y_train) // profile.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=profile.max_lr, total_steps=profile.epochs * steps_per_epoch,
        pct_start=profile.pct_start)
    attack = make_pgd(model, profile.eps_pixel, profile.pgd_steps) if regime == "adversarial" else None

    history = {k: [] for k in ("train_loss", "train_acc", "val_loss", "val_acc", "lr")}
    best = (float("inf"), None, -1)  # (val loss, state, epoch)
    start = time.perf_counter()
    bar = progress_bar(range(profile.epochs), progress=progress, desc=f"train {regime}", leave=True)
    for epoch in bar:
        model.train()
        order = torch.randperm(len(dataset.y_train), generator=generator)
        seen, loss_sum, correct = 0, 0.0, 0
        for i in range(0, len(order), profile.batch_size):
            idx = order[i:i + profile.batch_size]
            xb, yb = dataset.x_train[idx], dataset.y_train[idx]
            if dataset.train_augment is not None:
                xb = dataset.train_augment(xb)
            xb, yb = augment_batch(xb, regime).to(device), yb.to(device)
            if attack is not None:
                xb = attack(xb, yb)  # torchattacks evaluates the model in eval mode
                model.train()
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            seen += len(yb)
            loss_sum += loss.item() * len(yb)
            correct += (logits.argmax(1) == yb).sum().item()
        val_loss, val_acc = evaluate(model, dataset.x_val, dataset.y_val)
        for key, value in zip(history, (loss_sum / seen, correct / seen, val_loss, val_acc,
                                        schedule.get_last_lr()[0])):
            history[key].append(value)
        if val_loss < best[0]:
            best = (val_loss, copy.deepcopy(model.core.state_dict()), epoch)
        bar.set_postfix(loss=f"{loss_sum / seen:.3f}", val_loss=f"{val_loss:.3f}",
                        acc=f"{correct / seen:.3f}", val_acc=f"{val_acc:.3f}")
    train_seconds = time.perf_counter() - start

    model.core.load_state_dict(best[1])
    model.eval()
    val_loss, val_acc = evaluate(model, dataset.x_val, dataset.y_val)
    x_adv = pgd_attack(model, dataset.x_val, dataset.y_val, profile.eps_pixel,
                       profile.pgd_steps, seed=profile.seed)
    model.meta.update(
        config=profile.as_dict(),
        training_version=TRAINING_VERSION,
        eps_pixel=profile.eps_pixel,
        eps_normalised=eps_normalised(profile.eps_pixel, dataset.std),
        metrics=dict(val_loss=val_loss, val_acc=val_acc,
                     pgd_acc=accuracy(model, x_adv, dataset.y_val),
                     best_epoch=best[2], train_seconds=train_seconds, history=history),
    )
    return model

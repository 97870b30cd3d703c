"""Training loop for calibrating the two-cue world (copies fm_core.nets.training.train_network,
adds an eps warm-up and a cheaper PGD during training) and the probe evaluation.

Usage: python train_proto.py '{"regime": "adversarial", "eps": 0.0157, "epochs": 10, ...}'
Appends one JSON line per run to results.jsonl.

- vanilla / adversarial, VGG11-bn width 0.25 pooled head (the quick profile), Adam
  one-cycle (max lr 1e-3, pct_start 0.1), batch 128;
- adversarial: trains on PGD images only (as the paper); eps ramps linearly from 0 to its
  final value over the first ``warmup`` fraction of the optimiser steps; ``train_steps``
  PGD steps with step ``alpha_mult * eps / train_steps`` and a random start; the model is
  in eval mode while the attack runs (as torchattacks does);
- kept weights: minimum clean validation loss among epochs that end after the warm-up
  (the repository keeps min val loss; before the warm-up ends the net is not yet robust);
- evaluation: clean val acc, PGD val acc (10 steps, step eps/8, random start, as the
  repository), and on probe sets from another seed: L-only acc (vs L label), H-only acc
  (vs H label), cue-conflict: P(pred = L class), P(pred = H class), L-bias, and the
  accuracies on H-removed and L-removed images.
"""
from __future__ import annotations

import copy
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, "/work/main")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)

import cueworld as cw
from fm_core.data.dataset import from_arrays
from fm_core.nets.models import build_model
from torchvision.transforms import v2

# Local copies (the repository's training module is being edited): the paper's
# augmentations and the clean evaluation.
AUGMENTATIONS = {
    "scale": v2.RandomAffine(degrees=0, scale=(0.5, 1.5)),
    "translate": v2.RandomAffine(degrees=0, translate=(0.4, 0.4)),
    "rotate": v2.RandomRotation(degrees=180),
}


def augment_batch(x, regime):
    t = AUGMENTATIONS.get(regime)
    return x if t is None else torch.stack([t(img) for img in x])


@torch.no_grad()
def evaluate(model, x, y, bs=512):
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(x), bs):
        logits = model(x[i:i + bs])
        loss += F.cross_entropy(logits, y[i:i + bs], reduction="sum").item()
        correct += (logits.argmax(1) == y[i:i + bs]).sum().item()
    return loss / len(x), correct / len(x)

PROBE_SEED = 9001


def pgd(model, x, y, eps, steps, alpha, generator=None):
    """L-inf PGD with random start in [0, 1] pixel space; model in eval mode."""
    was = model.training
    model.eval()
    if eps <= 0:
        model.train(was)
        return x
    delta = (torch.rand(x.shape, generator=generator) * 2 - 1) * eps
    xa = (x + delta).clamp(0, 1).detach()
    for _ in range(steps):
        xa.requires_grad_(True)
        loss = F.cross_entropy(model(xa), y)
        (g,) = torch.autograd.grad(loss, xa)
        xa = xa.detach() + alpha * g.sign()
        xa = torch.min(torch.max(xa, x - eps), x + eps).clamp(0, 1).detach()
    model.train(was)
    return xa


def predict(model, x, bs=512):
    model.eval()
    with torch.no_grad():
        return torch.cat([model(x[i:i + bs]).argmax(1) for i in range(0, len(x), bs)])


def to_tensor(x_uint8):
    return torch.from_numpy(x_uint8.astype(np.float32) / 255.0)[:, None]


def evaluate_probes(model, probes):
    out = {}
    for name, (x, ll, lh) in probes.items():
        p = predict(model, to_tensor(x)).numpy()
        if name == "conflict":
            pl, ph = float((p == ll).mean()), float((p == lh).mean())
            out.update(conflict_L=pl, conflict_H=ph, l_bias=pl / max(pl + ph, 1e-9))
        else:
            lab = ll if name in ("l_only", "h_removed") else lh
            if name == "l_removed":
                lab = lh
            out[name] = float((p == lab).mean())
    return out


def main(cfg: dict) -> dict:
    data_kw = dict(cfg.get("data", {}))
    size = cfg.get("size", 32)
    n_train, n_val = cfg.get("n_train", cw.N_TRAIN), cfg.get("n_val", cw.N_VAL)
    regime = cfg.get("regime", "vanilla")
    epochs = cfg.get("epochs", 10)
    eps = cfg.get("eps", 4 / 255)
    train_steps = cfg.get("train_steps", 10)
    alpha_mult = cfg.get("alpha_mult", None)  # None: step eps/8 as the repository
    warmup = cfg.get("warmup", 0.35)
    seed = cfg.get("seed", 31)
    bs = 128
    augment = cfg.get("augment", "none")

    t0 = time.perf_counter()
    xt, yt, xv, yv = cw.splits(size, cfg.get("data_seed", 0), n_train, n_val, **data_kw)
    ds = from_arrays("cueworld", xt, yt, xv, yv, class_names=cw.CLASS_NAMES)
    probe_kw = {k: v for k, v in data_kw.items() if k not in ("rho_l", "rho_h")}
    probes = cw.probe_sets(cfg.get("n_probe", 1000), size, PROBE_SEED, **probe_kw)
    t_data = time.perf_counter() - t0

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build_model("vgg11_bn", 5, size, ds.mean, ds.std, width=cfg.get("width", 0.25),
                        pooled_head=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    spe = -(-len(ds.y_train) // bs)
    total = epochs * spe
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=total, pct_start=0.1)
    warm_steps = int(round(warmup * total)) if regime == "adversarial" else 0
    history, best, step = [], (float("inf"), None, -1), 0
    t1 = time.perf_counter()
    for epoch in range(epochs):
        te = time.perf_counter()
        model.train()
        order = torch.randperm(len(ds.y_train), generator=gen)
        seen = correct = 0
        loss_sum = 0.0
        for i in range(0, len(order), bs):
            idx = order[i:i + bs]
            xb, yb = ds.x_train[idx], ds.y_train[idx]
            if augment != "none":
                xb = augment_batch(xb, augment)
            if regime == "adversarial":
                e = eps * min(1.0, (step + 1) / warm_steps) if warm_steps else eps
                alpha = (alpha_mult * e / train_steps) if alpha_mult else e / 8
                xb = pgd(model, xb, yb, e, train_steps, alpha, gen)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            seen += len(yb)
            loss_sum += loss.item() * len(yb)
            correct += (logits.argmax(1) == yb).sum().item()
        vl, va = evaluate(model, ds.x_val, ds.y_val)
        history.append(dict(epoch=epoch, train_loss=round(loss_sum / seen, 4),
                            train_acc=round(correct / seen, 4), val_loss=round(vl, 4),
                            val_acc=round(va, 4), sec=round(time.perf_counter() - te, 1)))
        print(json.dumps(history[-1]), flush=True)
        if step >= warm_steps and vl < best[0]:
            best = (vl, copy.deepcopy(model.core.state_dict()), epoch)
    t_train = time.perf_counter() - t1
    last = evaluate_probes(model, probes) if cfg.get("eval_last", True) else None
    model.core.load_state_dict(best[1])
    model.eval()
    vl, va = evaluate(model, ds.x_val, ds.y_val)
    n_pgd = cfg.get("n_pgd", 500)
    xa = pgd(model, ds.x_val[:n_pgd], ds.y_val[:n_pgd], eps, 10, eps / 8,
             torch.Generator().manual_seed(0))
    pgd_acc = float((predict(model, xa) == ds.y_val[:n_pgd]).float().mean())
    res = dict(cfg=cfg, best_epoch=best[2], val_acc=round(va, 4), pgd_acc=round(pgd_acc, 4),
               train_sec=round(t_train, 1), sec_per_epoch=round(t_train / epochs, 1),
               data_sec=round(t_data, 1),
               **{k: round(v, 4) for k, v in evaluate_probes(model, probes).items()},
               last_epoch_probes={k: round(v, 4) for k, v in last.items()} if last else None,
               history=history)
    print("RESULT", json.dumps({k: v for k, v in res.items() if k != "history"}), flush=True)
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.jsonl"), "a") as f:
        f.write(json.dumps(res) + "\n")
    return res


if __name__ == "__main__":
    main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {})

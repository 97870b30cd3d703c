"""Command line: ``python -m fm_core`` (or ``fm``) with the sub-commands
``data``, ``train``, ``mask``, ``image-masks``, ``bench`` and ``book``.

A user's mistake is reported as one line on stderr with exit code 2, never a traceback.
Defaults come from the ``quick`` profile (``--profile`` picks another).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .errors import UserError
from .profiles import PROFILES, REGIMES, get_profile


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, as for every other user mistake
        raise UserError(f"{self.prog}: {message}")


def _out_path(value: str, suffix: str | None = None) -> Path:
    path = Path(value).expanduser()
    if path.parent and not path.parent.exists():
        raise UserError(f"output folder does not exist: {path.parent}")
    if suffix and path.suffix != suffix:
        raise UserError(f"output file must end in {suffix}: {path}")
    return path


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
        return value
    return parse


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


def _load_for_model(model, data: str, split: str, class_index=None):
    from .data import load_dataset

    ds = load_dataset(data, size=model.size)
    if ds.size != model.size:
        raise UserError(f"{data}: images are {ds.size}x{ds.size} but the model expects {model.size}x{model.size}")
    x, y = ds.split(split)
    if class_index is not None:
        if not 0 <= class_index < ds.num_classes:
            raise UserError(f"--class must lie in 0..{ds.num_classes - 1}")
        x, y = x[y == class_index], y[y == class_index]
    return ds, x, y


def cmd_data(args) -> None:
    from .data import load_dataset

    start = time.perf_counter()
    ds = load_dataset(args.data, size=args.size, seed=args.seed)
    print(ds.describe() + f"; pixel mean {ds.mean:.3f}, std {ds.std:.3f}"
          + ("; planted texture frequencies: %d bins" % ds.ground_truth.sum()
             if ds.ground_truth is not None else ""))
    if args.show:
        from .plots import plot_dataset_overview

        out = _out_path(args.out, ".png")
        fig = plot_dataset_overview(ds)
        fig.savefig(out, dpi=110, bbox_inches="tight")
        print(f"wrote {out} ({time.perf_counter() - start:.1f} s)")


def cmd_train(args) -> None:
    from .data import load_dataset
    from .models import save_model
    from .training import check_regime, train_network

    check_regime(args.regime)
    out = _out_path(args.out)
    base = get_profile(args.profile)
    cfg = base.replace(data=args.data, **{k: v for k, v in dict(
        arch=args.arch, width=args.width, size=args.size, epochs=args.epochs,
        batch_size=args.batch_size, seed=args.seed).items() if v is not None})
    ds = load_dataset(cfg.data, size=cfg.size, seed=cfg.data_seed)
    if ds.size != cfg.size:
        cfg = cfg.replace(size=ds.size)  # an .npz brings its own image size
    print(ds.describe())
    model = train_network(ds, args.regime, cfg)
    save_model(model, out)
    m = model.meta["metrics"]
    print(f"{args.regime}: val acc {100 * m['val_acc']:.2f}%, PGD acc {100 * m['pgd_acc']:.2f}% "
          f"(eps {cfg.eps_pixel:.4f} px = {model.meta['eps_normalised']:.3f} normalised), "
          f"best epoch {m['best_epoch'] + 1}/{cfg.epochs}, {m['train_seconds']:.0f} s -> {out}")


def cmd_mask(args) -> None:
    from .masks import learn_dataset_mask
    from .models import freeze, load_model
    from .utils import default_device, save_npz_atomic

    out = _out_path(args.out, ".npz")
    model = freeze(load_model(args.model, device=default_device()))
    cfg = get_profile(args.profile)
    _, x, y = _load_for_model(model, args.data, args.split, args.class_index)
    result = learn_dataset_mask(
        model, x, y, lam=args.lam or cfg.dmask_lam, lr=args.lr or cfg.dmask_lr,
        epochs=args.epochs or cfg.dmask_epochs, batch_size=args.batch_size or cfg.dmask_batch_size,
        patience=cfg.dmask_patience, seed=cfg.seed)
    save_npz_atomic(out, mask=result.mask, accuracy_before=result.accuracy_before,
                    accuracy_after=result.accuracy_after, kept=result.kept,
                    **{f"history_{k}": v for k, v in result.history.items()})
    print(f"mask: accuracy {100 * result.accuracy_before:.2f}% -> {100 * result.accuracy_after:.2f}% "
          f"masked, mean mask {result.mask.mean():.3f}, {result.epochs_run} epochs -> {out}")


def cmd_image_masks(args) -> None:
    import numpy as np

    from .masks import learn_image_masks
    from .models import freeze, load_model
    from .utils import default_device, save_npz_atomic

    out = _out_path(args.out, ".npz")
    model = freeze(load_model(args.model, device=default_device()))
    cfg = get_profile(args.profile)
    _, x, y = _load_for_model(model, args.data, args.split)
    indices = np.arange(len(y)) if args.limit is None else np.arange(min(args.limit, len(y)))
    result = learn_image_masks(
        model, x[indices], lam=args.lam or cfg.imask_lam, lr=args.lr or cfg.imask_lr,
        max_steps=args.max_steps or cfg.imask_max_steps,
        patience=cfg.imask_patience if args.patience is None else args.patience,
        batch_size=args.batch_size or cfg.imask_batch_size,
        checkpoint=out.with_suffix(".partial.npz"))
    save_npz_atomic(out, indices=indices, **{k: np.asarray(v) for k, v in result.items()})
    out.with_suffix(".partial.npz").unlink(missing_ok=True)
    kept = float(np.mean(result["final_predictions"] == result["predictions"]))
    print(f"{len(indices)} single-image masks: prediction kept for {100 * kept:.1f}%, "
          f"mean mask {result['masks'].mean():.3f}, median {int(np.median(result['steps']))} steps -> {out}")


def cmd_bench(args) -> None:
    from .bench import make_bench_images, make_bench_model, run_bench

    cfg = get_profile(args.profile)
    out = _out_path(args.out, ".json")
    x = make_bench_images(cfg.size, n=args.batch_size)
    result = run_bench(make_bench_model(cfg.name), x, steps=args.steps, batch_size=args.batch_size, out=out)
    ratios, secs = result["ratios"], result["seconds"]
    print(f"bench ({args.batch_size} images x {args.steps} steps, {cfg.size}x{cfg.size}, "
          f"{result['threads']} threads): batched {secs['batched']:.2f} s, one at a time "
          f"{secs['one_at_a_time']:.2f} s ({ratios['one_at_a_time/batched']:.1f}x), floor "
          f"{secs['floor']:.2f} s (batched/floor {ratios['batched/floor']:.2f}) -> {out}")


def cmd_book(args) -> None:
    from .book import build_book

    build_book(profile=args.profile, data=args.data, only=args.only)
    _print_networks(get_profile(args.profile, data=args.data))


def _print_networks(cfg) -> None:
    """The five networks' accuracies, from the results the book just stored."""
    from .store import load_results

    table1 = load_results(cfg).get("table1")
    if not table1:
        return
    print(f"networks ({cfg.name}): clean / masked / PGD validation accuracy, training time")
    for regime in (r for r in REGIMES if r in table1):
        v = table1[regime]
        print(f"  {regime:<12} {v['standard']:6.2f}% / {v['masked']:6.2f}% / {v['pgd']:6.2f}%  "
              f"{v['train_seconds']:6.1f} s")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fm", description="Fourier masks: data, networks, masks, book.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    profiles = list(PROFILES)

    p = sub.add_parser("data", help="describe a data set; --show writes a PNG overview")
    p.add_argument("--data", default="synthetic")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--show", action="store_true")
    p.add_argument("--out", default="dataset.png")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("train", help="train one network")
    p.add_argument("--data", default="synthetic")
    p.add_argument("--regime", default="vanilla", help=", ".join(REGIMES))
    p.add_argument("--arch", choices=["vgg11_bn", "resnet18"])
    p.add_argument("--width", type=_positive(float))
    p.add_argument("--size", type=_positive(int))
    p.add_argument("--epochs", type=_positive(int))
    p.add_argument("--batch-size", type=_positive(int))
    p.add_argument("--seed", type=int)
    p.add_argument("--profile", default="quick", choices=profiles)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("mask", help="learn a dataset (or class) mask for a model")
    p.add_argument("--model", required=True)
    p.add_argument("--data", default="synthetic")
    p.add_argument("--split", default="val", choices=["train", "val"])
    p.add_argument("--class", dest="class_index", type=int)
    p.add_argument("--lam", type=_positive(float))
    p.add_argument("--lr", type=_positive(float))
    p.add_argument("--epochs", type=_positive(int))
    p.add_argument("--batch-size", type=_positive(int))
    p.add_argument("--profile", default="quick", choices=profiles)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_mask)

    p = sub.add_parser("image-masks", help="learn single-image masks, many at once")
    p.add_argument("--model", required=True)
    p.add_argument("--data", default="synthetic")
    p.add_argument("--split", default="val", choices=["train", "val"])
    p.add_argument("--limit", type=_positive(int))
    p.add_argument("--batch-size", type=_positive(int))
    p.add_argument("--max-steps", type=_positive(int))
    p.add_argument("--patience", type=_non_negative_int, help="0 turns early stopping off")
    p.add_argument("--lam", type=_positive(float))
    p.add_argument("--lr", type=_positive(float))
    p.add_argument("--seed", type=int, default=0, help="recorded; mask learning is deterministic")
    p.add_argument("--profile", default="quick", choices=profiles)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_image_masks)

    p = sub.add_parser("bench", help="batched vs one-at-a-time single-image masks; writes JSON")
    p.add_argument("--profile", default="quick", choices=profiles)
    p.add_argument("--batch-size", type=_positive(int), default=64)
    p.add_argument("--steps", type=_positive(int), default=30)
    p.add_argument("--out", default="bench.json")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("book", help="execute the notebooks and render the book")
    p.add_argument("--profile", default="quick", choices=profiles)
    p.add_argument("--data")
    p.add_argument("--only", help="execute only notebooks whose name contains this")
    p.set_defaults(func=cmd_book)
    return parser


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0

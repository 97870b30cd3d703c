"""The sub-commands that make things: ``data`` (describe, show or download a data set),
``train`` (a network), ``mask`` (a dataset or class mask), ``image-masks`` (single-image
masks, many at once, in one process or several) and ``merge`` (their shards)."""
from __future__ import annotations

import time
from pathlib import Path

from fm_core.errors import UserError
from fm_core.profiles import get_profile

from .arguments import _load_for_model, _out_path


def cmd_data(args) -> None:
    from fm_core.data import load_dataset

    if args.get == "fashion-mnist":
        from fm_core.data.fashion_mnist import get_fashion_mnist

        get_fashion_mnist()
        print("use it with --data fashion-mnist (e.g. fm book --data fashion-mnist)")
        return
    if args.get:  # "imagenette"; argparse's choices refuse the rest
        from fm_core.data.imagenette_download import get_imagenette

        get_imagenette()
        print("use it with --data imagenette (e.g. fm book --profile paper --data imagenette)")
        return
    start = time.perf_counter()
    ds = load_dataset(args.data, size=args.size, seed=args.seed)
    print(ds.describe() + f"; pixel mean {ds.mean:.3f}, std {ds.std:.3f}"
          + (f"; planted cue bins: L {int(ds.truth['low'].sum())}, H {int(ds.truth['high'].sum())}"
             if ds.truth is not None else ""))
    if args.show:
        from fm_core.book.figures import plot_dataset_overview

        out = _out_path(args.out, ".png")
        fig = plot_dataset_overview(ds)
        fig.savefig(out, dpi=110, bbox_inches="tight")
        print(f"wrote {out} ({time.perf_counter() - start:.1f} s)")


def cmd_train(args) -> None:
    from fm_core.nets import distributed
    from fm_core.data import load_dataset
    from fm_core.nets.models import save_model
    from fm_core.nets.training import check_regime, train_network
    from fm_core.utils import resolve_device

    check_regime(args.regime)
    device = resolve_device(args.device)  # first: a missing GPU fails before any work
    out = _out_path(args.out)
    base = get_profile(args.profile)
    cfg = base.replace(data=args.data, **{k: v for k, v in dict(
        arch=args.arch, width=args.width, size=args.size, epochs=args.epochs,
        batch_size=args.batch_size, seed=args.seed).items() if v is not None})
    ds = load_dataset(cfg.data, size=cfg.size, seed=cfg.data_seed)
    if ds.size != cfg.size:
        cfg = cfg.replace(size=ds.size)  # an .npz brings its own image size
    ranks = distributed.init_distributed()  # under torchrun/srun: DistributedDataParallel
    checkpoint = out.with_suffix(".partial.pt")  # rewritten every epoch: a rerun continues from it
    if ranks.is_main:
        print(ds.describe() + (f"; {ranks.world_size} processes" if ranks.distributed else ""))
        if checkpoint.exists():
            print(f"resuming from {checkpoint}")
    try:
        model = train_network(ds, args.regime, cfg, checkpoint=checkpoint, progress=ranks.is_main,
                              device=distributed.rank_device(ranks) if ranks.distributed else device,
                              distributed=ranks.distributed)
    finally:
        distributed.close()
    if not ranks.is_main:  # the ranks hold the same network: rank 0 writes it
        return
    save_model(model, out)
    checkpoint.unlink(missing_ok=True)  # only once the model is saved
    m = model.meta["metrics"]
    print(f"{args.regime}: val acc {100 * m['val_acc']:.2f}%, PGD acc {100 * m['pgd_acc']:.2f}% "
          f"(eps {cfg.eps_pixel:.4f} px = {model.meta['eps_normalised']:.3f} normalised), "
          f"best epoch {m['best_epoch'] + 1}/{cfg.epochs}, {m['train_seconds']:.0f} s -> {out}")


def load_network(args, device):
    """``--model``: our model file (its normalisation inside), or a network exported with
    ``torch.export`` (``.pt2``) and the normalisation it expects (``--mean``, ``--std``,
    one number or one per channel each; none: it takes images in [0, 1]).
    Returns (network, normalization)."""
    from fm_core.nets.exported import EXPORTED_SUFFIX, load_exported
    from fm_core.nets.models import freeze, load_model

    if (args.mean is None) != (args.std is None):
        raise UserError("give --mean and --std together (the normalisation the network expects)")
    if Path(args.model).suffix != EXPORTED_SUFFIX:
        if args.mean is not None:
            raise UserError(f"--mean and --std are for an exported network ({EXPORTED_SUFFIX}); "
                            "our model files carry their own normalisation")
        return freeze(load_model(args.model, device=device)), None
    return load_exported(args.model, device), None if args.mean is None else (args.mean, args.std)


def cmd_mask(args) -> None:
    from fm_core.masks import DatasetMask
    from fm_core.utils import resolve_device

    out = _out_path(args.out, ".npz")
    model, normalization = load_network(args, resolve_device(args.device))
    _, x, y = _load_for_model(model, args.data, args.split, args.class_index)
    learner = DatasetMask.from_profile(get_profile(args.profile), **_given(
        lam=args.lam, lr=args.lr, max_steps=args.max_steps, batch_size=args.batch_size, seed=args.seed,
        part=args.part, channels=args.channels))
    if normalization is not None:
        learner.set_normalization_used(*normalization)
    result = learner(model, x, y)
    result.save(out)
    kind = ("" if learner.part == "both" else learner.part + " ") + "mask" + \
        ("" if learner.channels == "shared" else " per channel")
    print(f"{kind}: accuracy {100 * result.accuracy_before:.2f}% -> {100 * result.accuracy_after:.2f}% "
          f"masked, mean mask {result.mask.mean():.3f}, {int(result.steps[0])} steps, "
          f"{'converged' if result.all_converged else 'NOT converged within the budget'} -> {out}")


def cmd_image_masks(args) -> None:
    import numpy as np

    from fm_core.nets import distributed
    from fm_core.masks import ImageMasks, shards
    from fm_core.nets.exported import ExportedNetwork
    from fm_core.utils import resolve_device

    out = _out_path(args.out, ".npz")
    if args.precision == "bf16" and args.dtype == "float64":
        raise UserError("--precision bf16 runs the network in bfloat16: it does not go with --dtype float64")
    device = resolve_device(args.device)
    ranks = distributed.init_distributed()  # under torchrun/srun: each rank learns its shard
    model, normalization = load_network(args, distributed.rank_device(ranks) if ranks.distributed else device)
    if args.dtype == "float64" and isinstance(model, ExportedNetwork):
        raise UserError("--dtype float64 is for our model files; "
                        "an exported network runs in the dtype it was exported in")
    if args.dtype == "float64":
        model = model.double()  # the learner runs in the model's dtype
    _, x, y = _load_for_model(model, args.data, args.split)
    indices = np.arange(len(y)) if args.limit is None else np.arange(min(args.limit, len(y)))
    learner = ImageMasks.from_profile(get_profile(args.profile), **_given(
        lam=args.lam, lr=args.lr, max_steps=args.max_steps, patience=args.patience, batch_size=args.batch_size,
        precision=args.precision, channels_last=args.channels_last))
    if normalization is not None:
        learner.set_normalization_used(*normalization)

    def learn(positions, checkpoint):
        chosen = indices[positions]
        result = learner(model, x[chosen], checkpoint=checkpoint, progress=ranks.is_main)
        result.extra.update(indices=chosen, labels=y[chosen].numpy())
        return result

    try:
        if ranks.distributed:
            result = shards.learn_sharded(learn, len(indices), out, ranks)
        else:
            checkpoint = out.with_suffix(".partial.npz")
            result = learn(np.arange(len(indices)), checkpoint)
            result.save(out)
            checkpoint.unlink(missing_ok=True)
    finally:
        distributed.close()
    if result is None:  # not rank 0: its shard is saved and merged by rank 0
        return
    print(f"{len(indices)} single-image masks: prediction kept for {100 * result.kept.mean():.1f}%, "
          f"mean mask {result.masks.mean():.3f}, median {int(np.median(result.steps))} steps"
          + (f", {ranks.world_size} processes" if ranks.distributed else "") + f" -> {out}")


def cmd_merge(args) -> None:
    from fm_core.masks.shards import find_shards, merge_shards

    out = _out_path(args.out, ".npz")
    shards = [Path(s) for s in args.shards] or find_shards(out)
    result = merge_shards(shards)
    result.save(out)
    print(f"{len(shards)} shards merged: {len(result.masks)} single-image masks -> {out} "
          "(the shards are kept)")


def _given(**options) -> dict:
    """The options set on the command line (argparse leaves the others None)."""
    return {k: v for k, v in options.items() if v is not None}

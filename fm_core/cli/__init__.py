"""Command line: ``python -m fm_core`` (or ``fm``) with the sub-commands ``data``,
``train``, ``mask``, ``image-masks``, ``merge``, ``attribute``, ``cues``, ``runs``, ``bench``, ``book``,
``expected`` and ``readme``.

A user's mistake is reported as one line on stderr with exit code 2, never a traceback.
Defaults come from the ``quick`` profile (``--profile`` picks another).

Size: one short function per sub-command and the one parser that lists them all; each
command's work is done by the library, so a reader finds every verb and flag here.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from fm_core.errors import UserError
from fm_core.profiles import PROFILES, REGIMES, get_profile


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


def _positive(kind, maximum=None):
    """A finite number > 0 (and <= ``maximum``): see :func:`fm_core.data.validate.number`."""
    from fm_core.data.validate import positive

    return positive(kind, maximum)


def _non_negative_int(text):
    from fm_core.data.validate import number

    return number(int, minimum=0)(text)


def _seed(text):
    from fm_core.data.validate import seed

    return seed(text)


def _load_for_model(model, data: str, split: str, class_index=None):
    from fm_core.data import load_dataset

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
    from fm_core.data import load_dataset

    if args.get:  # only "imagenette" so far; argparse's choices refuse the rest
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


def cmd_mask(args) -> None:
    from fm_core.masks import DatasetMask
    from fm_core.nets.models import freeze, load_model
    from fm_core.utils import resolve_device

    out = _out_path(args.out, ".npz")
    model = freeze(load_model(args.model, device=resolve_device(args.device)))
    _, x, y = _load_for_model(model, args.data, args.split, args.class_index)
    learner = DatasetMask.from_profile(get_profile(args.profile), lam=args.lam, lr=args.lr, max_steps=args.max_steps,
                                       batch_size=args.batch_size, seed=args.seed)
    result = learner(model, x, y)
    result.save(out)
    print(f"mask: accuracy {100 * result.accuracy_before:.2f}% -> {100 * result.accuracy_after:.2f}% "
          f"masked, mean mask {result.mask.mean():.3f}, {int(result.steps[0])} steps, "
          f"{'converged' if result.all_converged else 'NOT converged within the budget'} -> {out}")


def cmd_image_masks(args) -> None:
    import numpy as np

    from fm_core.nets import distributed
    from fm_core.masks import ImageMasks
    from fm_core.nets.models import freeze, load_model
    from fm_core.utils import resolve_device

    out = _out_path(args.out, ".npz")
    if args.precision == "bf16" and args.dtype == "float64":
        raise UserError("--precision bf16 runs the network in bfloat16: it does not go with --dtype float64")
    device = resolve_device(args.device)
    ranks = distributed.init_distributed()  # under torchrun/srun: each rank learns its shard
    model = freeze(load_model(args.model, device=distributed.rank_device(ranks) if ranks.distributed else device))
    if args.dtype == "float64":
        model = model.double()  # the learner runs in the model's dtype
    _, x, y = _load_for_model(model, args.data, args.split)
    indices = np.arange(len(y)) if args.limit is None else np.arange(min(args.limit, len(y)))
    learner = ImageMasks.from_profile(get_profile(args.profile), lam=args.lam, lr=args.lr,
                                      max_steps=args.max_steps, patience=args.patience,
                                      batch_size=args.batch_size, precision=args.precision,
                                      channels_last=args.channels_last)

    def learn(positions, checkpoint):
        chosen = indices[positions]
        result = learner(model, x[chosen], checkpoint=checkpoint, progress=ranks.is_main)
        result.extra.update(indices=chosen, labels=y[chosen].numpy())
        return result

    try:
        if ranks.distributed:
            result = distributed.learn_sharded(learn, len(indices), out, ranks)
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
    from fm_core.nets.distributed import find_shards, merge_shards

    out = _out_path(args.out, ".npz")
    shards = [Path(s) for s in args.shards] or find_shards(out)
    result = merge_shards(shards)
    result.save(out)
    print(f"{len(shards)} shards merged: {len(result.masks)} single-image masks -> {out} "
          "(the shards are kept)")


def cmd_cues(args) -> None:

    from fm_core.data import synthetic
    from fm_core.science.cue_analysis import behaviour
    from fm_core.nets.models import freeze, load_model
    from fm_core.utils import default_device, save_json_atomic

    out = _out_path(args.out, ".json")
    model = freeze(load_model(args.model, device=default_device()))
    config = model.meta.get("config", {})
    data = args.data or config.get("data", "synthetic")
    if data != "synthetic":
        raise UserError(f"{data}: only the synthetic cue world has cue probes (--data synthetic)")
    defaults = synthetic.CueWorld()
    world = synthetic.CueWorld(h_ratio=config.get("cue_h_ratio", defaults.h_ratio),
                               rho_l=config.get("cue_rho_l", defaults.rho_l),
                               rho_h=config.get("cue_rho_h", defaults.rho_h))
    seed = int(config.get("data_seed", 0))
    probes = synthetic.load_probes(model.size, seed, world)
    result = {"model": str(args.model), "world": dataclasses.asdict(world), "probe_seed":
              seed + synthetic.PROBE_SEED_OFFSET, "probe_images": len(probes["conflict"]["y_low"]),
              **behaviour(model, probes)}
    save_json_atomic(out, result)
    for key, value in result.items():
        if key not in ("model", "world"):
            print(f"  {key:<34} {value}")
    print(f"L-bias {result['L-bias']:.3f} -> {out}")


def cmd_attribute(args) -> None:
    from fm_core.methods.peers import get_method
    from fm_core.nets.models import freeze, load_model
    from fm_core.utils import default_device

    out = _out_path(args.out, ".npz")
    model = freeze(load_model(args.model, device=default_device()))
    if args.eps is not None and args.method != "heatmap" or args.top_k is not None and args.method != "ablation":
        raise UserError("--eps belongs to --method heatmap and --top-k to --method ablation")
    settings = {"heatmap": dict(eps=args.eps), "ablation": dict(top_k=args.top_k)}.get(args.method, {})
    if args.method == "mask":  # the profile's dataset-mask settings, as `fm mask` uses them
        from fm_core.masks import DatasetMask
        settings = dataclasses.asdict(DatasetMask.from_profile(get_profile(args.profile)))
    method = get_method(args.method, **settings)  # checks the settings before any data is loaded
    _, x, y = _load_for_model(model, args.data, args.split)
    n = len(y) if args.limit is None else min(args.limit, len(y))
    result = method.attribute(model, x[:n], y[:n])
    result.save(out)
    c = result.cost
    print(f"{args.method} map of {n} images: {c['forward_passes']} forward and {c['backward_passes']} backward "
          f"passes, {c['seconds']:.1f} s -> {out}")


def cmd_bench(args) -> None:
    from .bench import make_bench_images, make_bench_model, run_bench
    from fm_core.utils import resolve_device

    cfg = get_profile(args.profile)
    out = _out_path(args.out, ".json")
    device = resolve_device(args.device)
    if args.gpu_check:  # scripts/gpu_check.sh: the paper profile's rates and projected wall time
        from .gpu_check import run_gpu_check

        result = run_gpu_check(device, tiny=args.tiny, out=out)
        hours = result["projection"]["hours"]
        print(f"gpu check on {result['device']}" + (" (tiny sizes)" if args.tiny else "")
              + f": whole paper profile {hours['low']:.1f} / {hours['assumed']:.1f} / {hours['high']:.1f} h "
              f"(low / assumed / high steps per image mask) -> {out}")
        return
    x = make_bench_images(cfg.size, n=args.batch_size)
    if args.methods:  # the peer methods' passes and seconds instead (fm_core.store.method_results)
        from fm_core.store.method_results import bench_methods
        result = bench_methods(make_bench_model(cfg.name).to(device), x, out=out)
        for name, cost in result["methods"].items():
            print(f"  {name:<9} {cost['forward_passes']:>8} forward, {cost['backward_passes']:>7} backward, "
                  f"{cost['seconds']:.2f} s")
        print(f"peer methods on {len(x)} images -> {out}")
        return
    cases = [c.strip() for c in args.cases.split(",") if c.strip()] if args.cases else None
    result = run_bench(make_bench_model(cfg.name).to(device), x, steps=args.steps, batch_size=args.batch_size,
                       out=out, cases=cases, train_batch_size=cfg.batch_size)
    print(f"bench ({args.batch_size} images x {args.steps} steps, {cfg.size}x{cfg.size}, {result['device']}, "
          f"{result['threads']} threads); ratios (a/b > 1: b is faster):")
    for name, ratio in result["ratios"].items():
        print(f"  {name:<45} {ratio:7.2f}")
    print(f"-> {out}")


def cmd_book(args) -> None:
    from fm_core.book.build import build_book

    from fm_core.store.headline import write_headline

    build_book(profile=args.profile, data=args.data, only=args.only, jobs=args.jobs)
    cfg = get_profile(args.profile, data=args.data)
    _print_networks(cfg)
    print(f"headline numbers -> {write_headline(cfg)}")


def cmd_expected(args) -> None:
    from fm_core.store.headline import headline_path, write_expected

    if not headline_path(args.profile).exists():
        raise UserError(f"no headline file at {headline_path(args.profile)}; build the book first "
                        f"(fm book --profile {args.profile})")
    print(f"expected numbers -> {write_expected(args.profile)}")


def cmd_readme(args) -> None:
    from fm_core.store.headline import update_readme

    update_readme()
    print("README.md: results block regenerated from expected/quick.json")


def cmd_runs(args) -> int:
    """List (or with --verify, check) the artefact store, per profile."""
    from fm_core.paths import runs_root
    from fm_core.store import verify_store

    root = runs_root()
    folders = [root / args.profile] if args.profile else sorted(
        p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []
    if not folders or not any(f.is_dir() for f in folders):
        raise UserError(f"no artefact store at {folders[0] if args.profile else root}")
    if not args.verify:
        for folder in folders:
            files = [p for p in folder.rglob("*") if p.is_file() and p.suffix in (".pt", ".npz")]
            print(f"{folder}: {len(files)} artefacts, {sum(p.stat().st_size for p in files) / 2**20:.1f} MiB")
        return 0
    checked, problems = 0, []
    for folder in folders:
        n, found = verify_store(folder)
        checked, problems = checked + n, problems + found
    for path, problem in problems:
        print(f"{path}: {problem}")
    where = ", ".join(str(f) for f in folders)
    print(f"{checked} artefacts checked in {where}: "
          + (f"{len(problems)} problem(s)" if problems else "all intact"))
    return 1 if problems else 0


def _print_networks(cfg) -> None:
    """The five networks' accuracies, from the results the book just stored."""
    from fm_core.store.pipeline import load_results

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

    p = sub.add_parser("data", help="describe a data set; --show writes a PNG overview; "
                                    "--get imagenette downloads the paper's data")
    p.add_argument("--get", choices=["imagenette"],
                   help="download into the data folder ($FM_DATA_DIR, default data/), resumable")
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
    p.add_argument("--width", type=_positive(float, 8.0))
    p.add_argument("--size", type=_positive(int, 4096))
    p.add_argument("--epochs", type=_positive(int, 100_000))
    p.add_argument("--batch-size", type=_positive(int, 1 << 20))
    p.add_argument("--seed", type=_seed)
    p.add_argument("--profile", default="quick", choices=profiles)
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("mask", help="learn a dataset (or class) mask for a model")
    p.add_argument("--model", required=True)
    p.add_argument("--data", default="synthetic")
    p.add_argument("--split", default="val", choices=["train", "val"])
    p.add_argument("--class", dest="class_index", type=int)
    p.add_argument("--lam", type=_positive(float))
    p.add_argument("--lr", type=_positive(float))
    p.add_argument("--max-steps", type=_positive(int, 10_000_000),
                   help="optimiser steps at most (default: the profile's); learning stops once the mask converges")
    p.add_argument("--batch-size", type=_positive(int))
    p.add_argument("--seed", type=_seed, help="seeds the order of the images (default: the profile's)")
    p.add_argument("--profile", default="quick", choices=profiles)
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
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
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"],
                   help="float64: results of one and of many processes agree to 1e-6")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                   help="bf16: the network under bfloat16 autocast (faster where native; masks within "
                        "BF16_MASK_TOLERANCE of fp32's, fm_core/masks/objective.py)")
    p.add_argument("--channels-last", action="store_true", help="the network in channels_last memory (a speed option)")
    p.add_argument("--profile", default="quick", choices=profiles)
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    p.set_defaults(func=cmd_image_masks)

    p = sub.add_parser("merge", help="merge the shards of a multi-process image-masks run into one file")
    p.add_argument("shards", nargs="*", help="shard files (default: <out>.rank*-of-*.npz beside --out)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("cues", help="probe a model of the synthetic cue world: accuracies and L-bias; writes JSON")
    p.add_argument("--model", required=True)
    p.add_argument("--data", help="default: the world recorded in the model file")
    p.add_argument("--out", default="cues.json")
    p.set_defaults(func=cmd_cues)

    p = sub.add_parser("attribute", help="one peer method's frequency map of a model (map, settings, cost); writes .npz")
    p.add_argument("--method", required=True, choices=["mask", "heatmap", "ablation", "gradient"])
    p.add_argument("--model", required=True)
    p.add_argument("--data", default="synthetic")
    p.add_argument("--split", default="val", choices=["train", "val"])
    p.add_argument("--limit", type=_positive(int), help="only the first N images")
    p.add_argument("--eps", type=float, help="heatmap: L2 norm of each basis image (default 4.0)")
    p.add_argument("--top-k", type=int, help="ablation: also the binary map of the top k pairs")
    p.add_argument("--profile", default="quick", choices=profiles, help="mask: the profile's mask settings")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_attribute)

    p = sub.add_parser("bench", help="mask and training steps: seconds and ratios (batched, bf16, "
                                     "channels_last); writes JSON")
    p.add_argument("--profile", default="quick", choices=profiles)
    p.add_argument("--batch-size", type=_positive(int), default=64)
    p.add_argument("--steps", type=_positive(int), default=30)
    p.add_argument("--methods", action="store_true", help="instead: each peer method's passes and seconds")
    p.add_argument("--cases", help="comma-separated bench cases (default: all; see fm_core.cli.bench.CASES)")
    p.add_argument("--gpu-check", action="store_true",
                   help="instead: the paper profile's mask-step rates, a training epoch and the projected "
                        "wall time of the whole profile (scripts/gpu_check.sh)")
    p.add_argument("--tiny", action="store_true", help="--gpu-check with toy sizes (runs on a CPU in seconds)")
    p.add_argument("--out", default="bench.json")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("book", help="execute the notebooks and render the book")
    p.add_argument("--profile", default="quick", choices=profiles)
    p.add_argument("--data")
    p.add_argument("--only", help="execute only notebooks whose name contains this")
    p.add_argument("--jobs", type=_positive(int), default=None,
                   help="pages executed side by side (default: 2 on two cores or more, each kernel "
                        "with its share of the cores)")
    p.set_defaults(func=cmd_book)

    p = sub.add_parser("expected", help="write expected/<profile>.json from the last build's headline numbers")
    p.add_argument("--profile", default="quick", choices=profiles)
    p.set_defaults(func=cmd_expected)

    p = sub.add_parser("readme", help="regenerate README's results block from expected/quick.json")
    p.set_defaults(func=cmd_readme)

    p = sub.add_parser("runs", help="the artefact store; --verify checks every artefact against its record")
    p.add_argument("--verify", action="store_true", help="one line per problem; exit code 1 if any")
    p.add_argument("--profile", choices=profiles, help="only this profile's store (default: all)")
    p.set_defaults(func=cmd_runs)
    return parser


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        code = args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: out of memory (a data set or setting too large for this machine)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code if isinstance(code, int) else 0

"""The sub-commands about the project as a whole: ``book`` (build the website),
``spread`` (the headline numbers at other seeds), ``expected`` and ``readme`` (the
headline numbers and README's copy of them), ``runs`` (what the artefact store holds)
and ``bench`` (how fast this machine is)."""
from __future__ import annotations

from fm_core.errors import UserError
from fm_core.profiles import REGIMES, get_profile

from .arguments import _out_path


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
    if args.methods:  # the peer methods' passes and seconds instead (fm_core.pages.peer_methods)
        from fm_core.pages.peer_methods import bench_methods
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
    from fm_core.book.headline import write_headline

    if args.seed is not None:  # another draw: its own store and website, nothing overwritten
        from fm_core.book.seeds import build_at_seed
        from fm_core.book.seed_spread import seed_store

        if args.data is not None or args.only is not None:
            raise UserError("--seed builds the whole book on the profile's data set; leave out --data and --only")
        build_at_seed(args.profile, args.seed, jobs=args.jobs)
        print(f"book and headline numbers at seed {args.seed} -> {seed_store(args.profile, args.seed)}")
        return
    build_book(profile=args.profile, data=args.data, only=args.only, jobs=args.jobs)
    cfg = get_profile(args.profile, data=args.data)
    _print_networks(cfg)
    if args.data is None:  # the paper's pages ran on the profile's real images
        from fm_core.book.headline import real_images_results
        from fm_core.pages.real_images import REAL_DATA
        _print_networks(cfg, real_images_results(cfg).get("table1"), REAL_DATA.get(cfg.name, cfg.data))
    print(f"headline numbers -> {write_headline(cfg)}")


def cmd_spread(args) -> None:
    from fm_core.book.seeds import measure_spread
    from fm_core.book.seed_spread import SPREAD_SEEDS

    seeds = _int_list(args.seeds, "--seeds") if args.seeds else SPREAD_SEEDS.get(args.profile)
    print(f"seed spread -> {measure_spread(args.profile, seeds, jobs=args.jobs)}")


def _int_list(text: str, option: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"{option} takes whole numbers separated by commas, not {text!r}") from None


def cmd_expected(args) -> None:
    from fm_core.book.headline import headline_path, write_expected

    if not headline_path(args.profile).exists():
        raise UserError(f"no headline file at {headline_path(args.profile)}; build the book first "
                        f"(fm book --profile {args.profile})")
    print(f"expected numbers -> {write_expected(args.profile)}")


def cmd_readme(args) -> None:
    from fm_core.book.headline import update_readme

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


def _print_networks(cfg, table1: dict | None = None, data: str | None = None) -> None:
    """The five networks' accuracies, from the results the book just stored (``table1``:
    another configuration's, e.g. the real images', on the data set ``data``)."""
    from fm_core.store.pipeline import load_results

    table1 = load_results(cfg).get("table1") if table1 is None else table1
    if not table1:
        return
    print(f"networks ({cfg.name}, {data or cfg.data}): clean / masked / PGD validation accuracy, training time")
    for regime in (r for r in REGIMES if r in table1):
        v = table1[regime]
        print(f"  {regime:<12} {v['standard']:6.2f}% / {v['masked']:6.2f}% / {v['pgd']:6.2f}%  "
              f"{v['train_seconds']:6.1f} s")

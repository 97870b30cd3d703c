"""Command line: ``python -m fm_core`` (or ``fm``) with the sub-commands ``data``,
``train``, ``mask``, ``image-masks``, ``merge``, ``attribute``, ``cues``, ``runs``,
``bench``, ``book``, ``spread``, ``expected`` and ``readme``.

A user's mistake is reported as one line on stderr with exit code 2, never a traceback.
Defaults come from the ``quick`` profile (``--profile`` picks another).

The parser here lists every verb and flag; the commands themselves live by group in
:mod:`.learn` (data, train, mask, image-masks, merge), :mod:`.probe` (cues, attribute)
and :mod:`.project` (book, spread, expected, readme, runs, bench), each a short function
whose work the library does.
"""
from __future__ import annotations

import argparse
import sys

from fm_core.errors import UserError
from fm_core.profiles import PROFILES, REGIMES

from .arguments import _non_negative_int, _option, _Parser, _positive, _seed
from .learn import cmd_data, cmd_image_masks, cmd_mask, cmd_merge, cmd_train
from .probe import cmd_attribute, cmd_cues
from .project import cmd_bench, cmd_book, cmd_expected, cmd_readme, cmd_runs, cmd_spread


def _normalization_options(p) -> None:
    """--mean and --std: how an exported network (--model net.pt2) expects its images normalised."""
    for name in ("mean", "std"):
        p.add_argument(f"--{name}", type=float, nargs="+", metavar="X",
                       help=f"an exported network's (.pt2) normalisation {name}, one number or one per channel "
                            "(e.g. ImageNet's --mean 0.485 0.456 0.406 --std 0.229 0.224 0.225)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fm", description="Fourier masks: data, networks, masks, book.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    profiles = list(PROFILES)
    # options that several commands share; where a command's differs, it writes its own
    profile = _option("--profile", default="quick", choices=profiles)
    out = _option("--out", required=True)
    device = _option("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")

    p = sub.add_parser("data", help="describe a data set; --show writes a PNG overview; "
                                    "--get imagenette downloads the paper's data, --get fashion-mnist "
                                    "obtains Fashion-MNIST")
    p.add_argument("--get", choices=["imagenette", "fashion-mnist"],
                   help="obtain into the data folder ($FM_DATA_DIR, default data/): imagenette by download "
                        "(resumable), fashion-mnist from the folder, Debian's package or torchvision's download")
    p.add_argument("--data", default="synthetic")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--show", action="store_true")
    p.add_argument("--out", default="dataset.png")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("train", help="train one network", parents=[profile, out, device])
    p.add_argument("--data", default="synthetic")
    p.add_argument("--regime", default="vanilla", help=", ".join(REGIMES))
    p.add_argument("--arch", choices=["vgg11_bn", "resnet18"])
    p.add_argument("--width", type=_positive(float, 8.0))
    p.add_argument("--size", type=_positive(int, 4096))
    p.add_argument("--epochs", type=_positive(int, 100_000))
    p.add_argument("--batch-size", type=_positive(int, 1 << 20))
    p.add_argument("--seed", type=_seed)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("mask", help="learn a dataset (or class) mask for a model", parents=[profile, out, device])
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
    p.add_argument("--part", choices=["both", "amplitude", "phase"],
                   help="what the mask acts on: both (the paper's mask of the Fourier coefficients, the "
                        "default), the amplitude alone or the phase alone (book page 15)")
    p.add_argument("--channels", choices=["shared", "per-channel"],
                   help="one mask for all colour channels (the default, the paper's) or one per channel")
    _normalization_options(p)
    p.set_defaults(func=cmd_mask)

    p = sub.add_parser("image-masks", help="learn single-image masks, many at once", parents=[profile, out, device])
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
    _normalization_options(p)
    p.set_defaults(func=cmd_image_masks)

    p = sub.add_parser("merge", help="merge the shards of a multi-process image-masks run into one file",
                       parents=[out])
    p.add_argument("shards", nargs="*", help="shard files (default: <out>.rank*-of-*.npz beside --out)")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("cues", help="probe a model of the synthetic cue world: accuracies and L-bias; writes JSON")
    p.add_argument("--model", required=True)
    p.add_argument("--data", help="default: the world recorded in the model file")
    p.add_argument("--out", default="cues.json")
    p.set_defaults(func=cmd_cues)

    p = sub.add_parser("attribute", help="one peer method's frequency map of a model (map, settings, cost); writes .npz",
                       parents=[out])
    p.add_argument("--method", required=True, choices=["mask", "heatmap", "ablation", "gradient"])
    p.add_argument("--model", required=True)
    p.add_argument("--data", default="synthetic")
    p.add_argument("--split", default="val", choices=["train", "val"])
    p.add_argument("--limit", type=_positive(int), help="only the first N images")
    p.add_argument("--eps", type=float, help="heatmap: L2 norm of each basis image (default 4.0)")
    p.add_argument("--top-k", type=int, help="ablation: also the binary map of the top k pairs")
    p.add_argument("--profile", default="quick", choices=profiles, help="mask: the profile's mask settings")
    _normalization_options(p)
    p.set_defaults(func=cmd_attribute)

    p = sub.add_parser("bench", help="mask and training steps: seconds and ratios (batched, bf16, "
                                     "channels_last); writes JSON", parents=[profile, device])
    p.add_argument("--batch-size", type=_positive(int), default=64)
    p.add_argument("--steps", type=_positive(int), default=30)
    p.add_argument("--methods", action="store_true", help="instead: each peer method's passes and seconds")
    p.add_argument("--cases", help="comma-separated bench cases (default: all; see fm_core.cli.bench.CASES)")
    p.add_argument("--gpu-check", action="store_true",
                   help="instead: the paper profile's mask-step rates, a training epoch and the projected "
                        "wall time of the whole profile (scripts/gpu_check.sh)")
    p.add_argument("--tiny", action="store_true", help="--gpu-check with toy sizes (runs on a CPU in seconds)")
    p.add_argument("--out", default="bench.json")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("book", help="execute the notebooks and render the book", parents=[profile])
    p.add_argument("--data")
    p.add_argument("--only", help="execute only notebooks whose name contains this")
    p.add_argument("--jobs", type=_positive(int), default=None,
                   help="pages executed side by side (default: 2 on two cores or more, each kernel "
                        "with its share of the cores)")
    p.add_argument("--seed", type=int, default=None,
                   help="build at another training seed, in its own store runs/<profile>/seeds/<seed>/ "
                        "(the default build is left as it is)")
    p.set_defaults(func=cmd_book)

    p = sub.add_parser("spread", help="the headline numbers at other seeds (a book build each): how far "
                                      "they move; `fm expected` takes its tolerances from it", parents=[profile])
    p.add_argument("--seeds", help="comma-separated, the profile's own seed first "
                                   "(default: fm_core.book.seed_spread.SPREAD_SEEDS)")
    p.add_argument("--jobs", type=_positive(int), default=None)
    p.set_defaults(func=cmd_spread)

    p = sub.add_parser("expected", help="write expected/<profile>.json from the last build's headline numbers",
                       parents=[profile])
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

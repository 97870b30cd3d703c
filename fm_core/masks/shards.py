"""Single-image masks learned by more than one process (torchrun, srun; the ranks come
from :mod:`fm_core.nets.distributed`), in shards.

The mask of an image does not depend on the other images (see
:mod:`fm_core.masks.image_masks`), so rank r learns the images at positions r, r + W, r + 2W,
... (strided, so that every rank gets a like mix of easy and hard images) and saves them
as its own shard, ``<out>.rank<r>-of-<W>.npz``, with a resumable checkpoint beside it.
:func:`merge_shards` puts the shards back in order: the merged result is the one-process
result (equal up to float rounding; to 1e-6 or better in float64).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from fm_core.errors import UserError
from fm_core.nets.distributed import Ranks, barrier

from .result import MaskResult

# The MaskResult fields with one entry per image (the ones a merge concatenates).
PER_IMAGE_FIELDS = ("masks", "steps", "kept", "predictions", "final_predictions")
SHARD_KEYS = ("shard_positions", "shard_of")  # extra arrays of a shard, dropped by the merge


def shard_positions(n: int, ranks: Ranks) -> np.ndarray:
    """The positions (into the run's n images) that ``ranks.rank`` learns."""
    if n < ranks.world_size:
        raise UserError(f"{n} image(s) for {ranks.world_size} processes: use at most {n} processes")
    return np.arange(ranks.rank, n, ranks.world_size)


def shard_path(out: Path, rank: int, world_size: int) -> Path:
    out = Path(out)
    return out.with_name(f"{out.stem}.rank{rank}-of-{world_size}{out.suffix}")


def checkpoint_of(shard: Path) -> Path:
    return Path(shard).with_suffix(".partial" + Path(shard).suffix)


def learn_shard(learn: Callable[[np.ndarray, Path], MaskResult], n: int, out: Path, ranks: Ranks) -> Path:
    """This rank's shard of a run over n images: ``learn(positions, checkpoint)`` returns
    the masks of those positions (resuming from ``checkpoint``); saved with its positions
    beside ``out``. Returns the shard's path."""
    path = shard_path(out, ranks.rank, ranks.world_size)
    positions = shard_positions(n, ranks)
    result = learn(positions, checkpoint_of(path))
    result.extra.update(shard_positions=positions, shard_of=np.array([ranks.rank, ranks.world_size, n]))
    result.save(path)
    return path


def learn_sharded(learn: Callable[[np.ndarray, Path], MaskResult], n: int, out: Path,
                  ranks: Ranks) -> MaskResult | None:
    """Every rank learns its shard; once all are saved, rank 0 merges them, saves the
    result to ``out`` and deletes the shards and their checkpoints (a kill before that
    loses nothing: a rerun resumes each shard from its finished checkpoint). Returns the
    merged result on rank 0, None elsewhere."""
    learn_shard(learn, n, out, ranks)
    barrier()
    if not ranks.is_main:
        return None
    shards = [shard_path(out, r, ranks.world_size) for r in range(ranks.world_size)]
    merged = merge_shards(shards)
    merged.save(out)
    remove_shards(shards)
    return merged


def remove_shards(shards) -> None:
    for shard in shards:
        Path(shard).unlink(missing_ok=True)
        checkpoint_of(shard).unlink(missing_ok=True)


def find_shards(out: Path) -> list[Path]:
    """The shards saved for ``out`` (``<out>.rank*-of-*.npz``), by rank."""
    out = Path(out)
    found = [p for p in out.parent.glob(f"{out.stem}.rank*-of-*{out.suffix}") if ".partial" not in p.suffixes]
    if not found:
        raise UserError(f"no shards {shard_path(out, '*', '*').name} in {out.parent.resolve()}")
    return sorted(found, key=lambda p: p.name)


def merge_shards(paths) -> MaskResult:
    """The shards of one run (one per rank, any order) as one result, images in the
    run's order, without the shard bookkeeping: what one process would have returned."""
    shards = []
    for path in paths:
        try:
            result = MaskResult.load(path)
        except Exception as exc:  # missing, truncated, not a mask result
            raise UserError(f"cannot read the shard {path} ({type(exc).__name__})") from None
        if not set(SHARD_KEYS) <= set(result.extra):
            raise UserError(f"{path} is not a shard of a multi-process run (no shard positions)")
        shards.append((path, result))
    ranks_found = sorted(int(r.extra["shard_of"][0]) for _, r in shards)
    world, n = (int(v) for v in shards[0][1].extra["shard_of"][1:])
    if ranks_found != list(range(world)) or any(
            [int(v) for v in r.extra["shard_of"][1:]] != [world, n] for _, r in shards):
        raise UserError(f"the shards {', '.join(str(p) for p, _ in shards)} are not the {world} shards "
                        f"of one run (ranks found: {ranks_found})")
    if any(r.settings != shards[0][1].settings for _, r in shards):
        raise UserError("the shards were learned with different settings")
    positions = np.concatenate([r.extra["shard_positions"] for _, r in shards])
    if not np.array_equal(np.sort(positions), np.arange(n)):
        raise UserError(f"the shards do not cover the run's {n} images exactly once")
    order = np.argsort(positions, kind="stable")
    results = [r for _, r in shards]
    fields = {name: np.concatenate([getattr(r, name) for r in results])[order] for name in PER_IMAGE_FIELDS}
    extra = {key: np.concatenate([r.extra[key] for r in results])[order]
             for key in results[0].extra if key not in SHARD_KEYS}
    return MaskResult(**fields, settings=results[0].settings, extra=extra)

"""More than one process: torch.distributed for single-image masks and for training.

Launch: ``torchrun`` (and submitit's ``TorchDistributedEnvironment().export()``) set
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; a plain
``srun`` sets ``SLURM_PROCID``, ``SLURM_NTASKS`` and ``SLURM_LOCALID`` (then
``MASTER_ADDR`` must be exported; ``MASTER_PORT`` defaults to 29500). Without them, or
with a world of one, nothing changes: one process, no process group.

Single-image masks: the mask of an image does not depend on the other images (see
:mod:`fm_core.masks.image_masks`), so rank r learns the images at positions r, r + W, r + 2W,
... (strided, so that every rank gets a like mix of easy and hard images) and saves them
as its own shard, ``<out>.rank<r>-of-<W>.npz``, with a resumable checkpoint beside it.
:func:`merge_shards` puts the shards back in order: the merged result is the one-process
result (equal up to float rounding; to 1e-6 or better in float64).

Training: :class:`DataParallel` gives :func:`fm_core.nets.training.train_network` the
DistributedDataParallel model, this rank's share of each batch and the sums of the
ranks' metrics; only rank 0 writes files and shows progress.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist

from fm_core.errors import UserError
from fm_core.masks.result import MaskResult

# Ranks wait at a barrier for the slowest rank's shard, which can take hours on the
# paper profile; torch's default (30 minutes for gloo, 10 for NCCL) would end the run.
BARRIER_TIMEOUT = datetime.timedelta(hours=24)
# The MaskResult fields with one entry per image (the ones a merge concatenates).
PER_IMAGE_FIELDS = ("masks", "steps", "kept", "predictions", "final_predictions")
SHARD_KEYS = ("shard_positions", "shard_of")  # extra arrays of a shard, dropped by the merge


@dataclass(frozen=True)
class Ranks:
    """This process's place in the run: rank, number of processes, rank on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


ONE_PROCESS = Ranks()
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
SLURM_VARS = ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID")


def ranks_from_env(env=None) -> Ranks:
    """The ranks that torchrun/submitit (``RANK``...) or srun (``SLURM_PROCID``...) set.
    SLURM's variables count only inside an ``srun`` step (``SLURM_STEP_ID`` set): a batch
    script's own shell has them too, and must not wait for tasks that never start."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" in env:
        names = TORCHRUN_VARS
    elif "SLURM_NTASKS" in env and "SLURM_STEP_ID" in env:
        names = SLURM_VARS
    else:
        return ONE_PROCESS
    try:
        rank, world, local = (int(env.get(name, "0")) for name in names)
    except ValueError:
        raise UserError(f"{', '.join(names)} must be integers, got "
                        f"{', '.join(repr(env.get(n)) for n in names)}") from None
    if world < 1 or not 0 <= rank < world or local < 0:
        raise UserError(f"{names[0]}={rank}, {names[1]}={world}, {names[2]}={local}: "
                        "need 0 <= rank < world size and local rank >= 0")
    return Ranks(rank, world, local)


def init_distributed() -> Ranks:
    """Join the process group (once per process) when there is more than one process:
    NCCL on GPUs (this process's GPU is ``cuda:LOCAL_RANK``), gloo on CPU."""
    ranks = ranks_from_env()
    if not ranks.distributed or dist.is_initialized():
        return ranks
    if "MASTER_ADDR" not in os.environ:
        raise UserError("MASTER_ADDR is not set: export the host of rank 0, e.g. MASTER_ADDR=$(scontrol "
                        "show hostnames $SLURM_JOB_NODELIST | head -n 1), or launch with torchrun")
    os.environ.setdefault("MASTER_PORT", "29500")
    share_cores()
    if torch.cuda.is_available():
        torch.cuda.set_device(ranks.local_rank)
        dist.init_process_group("nccl", rank=ranks.rank, world_size=ranks.world_size,
                                timeout=BARRIER_TIMEOUT, device_id=rank_device(ranks))
    else:
        dist.init_process_group("gloo", rank=ranks.rank, world_size=ranks.world_size, timeout=BARRIER_TIMEOUT)
    return ranks


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity: a SLURM or container limit)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def local_world_size(env=None) -> int:
    """How many ranks share this machine: torchrun's ``LOCAL_WORLD_SIZE``, srun's
    ``SLURM_NTASKS_PER_NODE`` (when set as one number), else 1."""
    env = os.environ if env is None else env
    for name in ("LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE"):
        try:
            return max(1, int(env[name]))
        except (KeyError, ValueError):
            continue
    return 1


def share_cores() -> int:
    """Give this rank its share of the machine's cores as torch threads. Left alone,
    every rank would start one thread per core (W ranks: W x cores threads fighting for
    the cores), or torchrun's OMP_NUM_THREADS=1 would leave cores idle; cores / ranks
    on this machine is neither. Returns the thread count."""
    threads = max(1, available_cores() // local_world_size())
    torch.set_num_threads(threads)
    return threads


def rank_device(ranks: Ranks) -> torch.device:
    """This process's device: its own GPU (``cuda:LOCAL_RANK``), or the CPU."""
    return torch.device(f"cuda:{ranks.local_rank}") if torch.cuda.is_available() else torch.device("cpu")


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def close() -> None:
    """Leave the process group (a no-op in one process)."""
    if dist.is_initialized():
        dist.destroy_process_group()


# ------------------------------------------------------------------ image-mask shards
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


# ------------------------------------------------------------------------- training
class DataParallel:
    """Data-parallel training for :func:`fm_core.nets.training.train_network`: ``model`` is
    the DistributedDataParallel wrapper (the model itself in one process), ``share``
    this rank's part of a batch, ``sum`` the ranks' totals. Every rank draws the same
    shuffled order (same seed), so the shares of a batch are disjoint and cover it; DDP
    averages the ranks' gradients, which is the batch's mean gradient when the shares are
    equal (BatchNorm statistics stay per rank, as in plain DDP)."""

    def __init__(self, model: torch.nn.Module, enabled: bool):
        self.ranks = init_distributed() if enabled else ONE_PROCESS
        self.model = model
        if self.ranks.distributed:
            from torch.nn.parallel import DistributedDataParallel

            device = next(model.parameters()).device
            self.model = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)

    @property
    def is_main(self) -> bool:
        return self.ranks.is_main

    def share(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous share of a batch of indices; a batch smaller than the
        world (a last, short batch) is taken whole by every rank, so every rank steps."""
        if not self.ranks.distributed or len(batch) < self.ranks.world_size:
            return batch
        return batch.tensor_split(self.ranks.world_size)[self.ranks.rank]

    def sum(self, *values: float) -> list[float]:
        """The sums over the ranks of ``values`` (unchanged in one process)."""
        if not self.ranks.distributed:
            return list(values)
        # on this rank's device: NCCL reduces GPU tensors only
        totals = torch.tensor(values, dtype=torch.float64, device=rank_device(self.ranks))
        dist.all_reduce(totals)
        return totals.tolist()

    def evaluate(self, measure: Callable, model: torch.nn.Module, *args) -> tuple:
        """``measure(model, *args)`` as rank 0 finds it, on every rank. BatchNorm's running
        statistics are per rank (each normalised its own share): rank 0's are copied to
        all first, so every rank holds the same network, and its numbers (the best epoch,
        early stopping) decide for all, so no rank leaves the loop alone."""
        if not self.ranks.distributed:
            return measure(model, *args)
        for buffer in model.buffers():
            dist.broadcast(buffer.data, src=0)
        result = [measure(model, *args) if self.is_main else None]
        dist.broadcast_object_list(result, src=0)
        return result[0]

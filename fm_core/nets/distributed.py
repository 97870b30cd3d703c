"""More than one process: torch.distributed's ranks, for training and for single-image masks.

Launch: ``torchrun`` (and submitit's ``TorchDistributedEnvironment().export()``) set
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; a plain
``srun`` sets ``SLURM_PROCID``, ``SLURM_NTASKS`` and ``SLURM_LOCALID`` (then
``MASTER_ADDR`` must be exported; ``MASTER_PORT`` defaults to 29500). Without them, or
with a world of one, nothing changes: one process, no process group.

Single-image masks are learned in shards, one per rank (:mod:`fm_core.masks.shards`).

Training: :class:`DataParallel` gives :func:`fm_core.nets.training.train_network` the
DistributedDataParallel model, this rank's share of each batch and the sums of the
ranks' metrics; only rank 0 writes files and shows progress.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Callable

import torch
import torch.distributed as dist

from fm_core.errors import UserError

# Ranks wait at a barrier for the slowest rank's shard, which can take hours on the
# paper profile; torch's default (30 minutes for gloo, 10 for NCCL) would end the run.
BARRIER_TIMEOUT = datetime.timedelta(hours=24)


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

"""Bench cases that time whole ``fm`` commands in fresh processes (process start, torch
import and all): ``sharded`` (:mod:`fm_core.nets.distributed`) and ``side_by_side`` (the
book's ``jobs``, :func:`fm_core.book.execute.default_jobs`) and ``malloc`` (the book's
malloc setting). :mod:`fm_core.cli.bench`
registers them; each takes its :class:`fm_core.cli.bench.BenchSetup`.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fm_core.nets.distributed import SLURM_VARS, TORCHRUN_VARS, available_cores
from fm_core.errors import UserError
from fm_core.paths import REPO_ROOT

SHARDED_RANKS = 2
# A launcher's variables, which the bench's own commands must not inherit.
LAUNCH_VARS = (*TORCHRUN_VARS, *SLURM_VARS, "SLURM_STEP_ID", "SLURM_NTASKS_PER_NODE", "LOCAL_WORLD_SIZE",
               "MASTER_ADDR", "MASTER_PORT")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _command_env(threads: int) -> dict:
    """This process's environment for a bench command: no launcher variables, CPU only,
    ``threads`` torch threads, the package importable."""
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS}
    env.update(OMP_NUM_THREADS=str(threads), TQDM_DISABLE="1", CUDA_VISIBLE_DEVICES="",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])))
    return env


def _timed_command(command: list[str], threads: int, timeout: float, case: str = "sharded") -> float:
    """Wall seconds of a command on the CPU with ``threads`` threads per process."""
    start = time.perf_counter()
    proc = subprocess.run(command, env=_command_env(threads), capture_output=True, text=True, timeout=timeout)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"bench case {case!r}: {' '.join(command[:6])} ... failed (exit {proc.returncode}):\n"
                           + proc.stdout[-1000:] + proc.stderr[-3000:])
    return took


def _check_rebuildable(s, case: str) -> None:
    if "arch" not in s.model.meta:
        raise UserError(f"bench case {case!r} saves the model for its commands: use a model made by "
                        "fm_core.nets.models.build_model (as fm bench's is)")


def _write_model_and_images(s, folder: Path) -> None:
    """The bench's model (``model.pt``) and images (``images.npz``, as both splits) in
    ``folder``, for commands that read files."""
    from fm_core.nets.models import save_model
    save_model(s.model, folder / "model.pt")
    images = s.x.detach().float().cpu()[:, 0].numpy()
    # unused (targets are the network's own predictions), but a data file needs 2+ classes
    labels = np.arange(len(images), dtype=np.int64) % int(s.model.meta.get("num_classes", 2))
    np.savez(folder / "images.npz", x_train=images, y_train=labels, x_val=images, y_val=labels)


def sharded_case(s: BenchSetup, timeout: float = 3600) -> dict:
    """``fm image-masks`` on the bench images for ``steps`` steps (patience 0, one pool,
    float64, CPU): as one process with all cores, and under torchrun with
    :data:`SHARDED_RANKS` ranks of cores / ranks threads each (as
    :func:`fm_core.nets.distributed.share_cores` gives them)."""
    from fm_core.masks.result import MaskResult

    n, ranks = len(s.x), SHARDED_RANKS
    _check_rebuildable(s, "sharded")
    if n < ranks:
        raise UserError(f"bench case 'sharded' needs at least {ranks} images, got {n}")
    cores = available_cores()
    profile = s.model.meta.get("profile", "quick")
    with tempfile.TemporaryDirectory(prefix="fm-bench-sharded-") as tmp:
        tmp = Path(tmp)
        _write_model_and_images(s, tmp)
        args = ["-m", "fm_core", "image-masks", "--model", str(tmp / "model.pt"), "--data", str(tmp / "images.npz"),
                "--split", "val", "--limit", str(n), "--batch-size", str(n), "--max-steps", str(s.steps),
                "--patience", "0", "--dtype", "float64", "--profile", str(profile), "--device", "cpu"]
        one = _timed_command([sys.executable, *args, "--out", str(tmp / "one.npz")], cores, timeout)
        torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(ranks),
                    "--master_addr", "127.0.0.1", "--master_port", str(_free_port())]
        sharded = _timed_command([*torchrun, *args, "--out", str(tmp / "sharded.npz")], max(1, cores // ranks),
                                 timeout)
        a, b = MaskResult.load(tmp / "one.npz"), MaskResult.load(tmp / "sharded.npz")
    diff = float(np.abs(a.masks.astype(np.float64) - b.masks.astype(np.float64)).max())
    return {"ranks": ranks, "cores": cores, "threads": {"one_process": cores, "per_rank": max(1, cores // ranks)},
            "seconds": {"one_process": one, f"sharded_{ranks}_ranks": sharded},
            "ratios": {f"sharded: one process/{ranks} ranks": one / sharded},
            "max_abs_diff": diff, "same_steps": bool(np.array_equal(a.steps, b.steps)),
            "note": f"whole `fm image-masks` commands on the CPU (gloo, float64), process start, torch import and "
                    f"process group included; each of the {ranks} ranks gets cores/ranks = "
                    f"{max(1, cores // ranks)} of this machine's {cores} core(s) as threads, the one process all "
                    f"{cores}, so the ratio measures the parallel efficiency of sharding on the hardware at hand "
                    f"(ratio / {ranks}; on a 2-core machine one core per rank, and {ranks} would be perfect); "
                    f"max_abs_diff: merged masks vs the one-process masks"}


def _two_mask_commands(s: BenchSetup, folder: Path) -> list[list[str]]:
    """Two ``fm mask`` commands (seeds 0 and 1) on the bench model and images written to
    ``folder``: a dataset mask of at most ``4 x steps`` steps each, on the CPU."""
    return [[sys.executable, "-m", "fm_core", "mask", "--model", str(folder / "model.pt"),
             "--data", str(folder / "images.npz"), "--split", "val", "--max-steps", str(4 * s.steps),
             "--batch-size", str(min(32, len(s.x))), "--seed", str(i), "--device", "cpu",
             "--profile", str(s.model.meta.get("profile", "quick")), "--out", str(folder / f"m{i}.npz")]
            for i in range(2)]


def _side_by_side_commands(commands: list[list[str]], threads: int, timeout: float,
                           malloc_tunables: str | None = None) -> float:
    """Wall seconds of ``commands`` started together, ``threads`` threads each (and
    ``malloc_tunables`` as their GLIBC_TUNABLES; None: glibc's defaults)."""
    start = time.perf_counter()
    env = _command_env(threads)
    env.pop("GLIBC_TUNABLES", None)
    if malloc_tunables is not None:
        env["GLIBC_TUNABLES"] = malloc_tunables
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in commands]
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"bench case 'side_by_side' failed (exit {proc.returncode}):\n" + err[-3000:])
    return time.perf_counter() - start


def side_by_side_case(s: BenchSetup, timeout: float = 3600) -> dict:
    """Two ``fm mask`` commands (a dataset mask on the bench images, ``4 x steps`` steps
    at most, CPU): one after the other with all cores each, then side by side with
    cores / 2 threads each, as :mod:`fm_core.book.run` runs two pages."""
    _check_rebuildable(s, "side_by_side")
    cores = available_cores()
    with tempfile.TemporaryDirectory(prefix="fm-bench-side-") as tmp:
        tmp = Path(tmp)
        _write_model_and_images(s, tmp)
        commands = _two_mask_commands(s, tmp)
        after = sum(_timed_command(c, cores, timeout, case="side_by_side") for c in commands)
        together = _side_by_side_commands(commands, max(1, cores // 2), timeout)
    return {"cores": cores, "threads": {"one_after_the_other": cores, "side_by_side": max(1, cores // 2)},
            "seconds": {"one_after_the_other": after, "side_by_side": together},
            "ratios": {"two commands: one after the other/side by side": after / together},
            "note": "whole `fm mask` commands, process start and torch import included (as a book page's "
                    "kernel start is); above 1, running two at a time with half the cores each is faster"}


# rounds of the malloc case: each runs both settings once, and the faster of each is kept
MALLOC_ROUNDS = 2


def malloc_case(s: BenchSetup, timeout: float = 3600) -> dict:
    """The book's malloc setting (:data:`fm_core.book.execute.MALLOC_TUNABLES`): two ``fm
    mask`` commands side by side (as ``side_by_side``, as the book runs its pages), with
    glibc's default malloc and with the book's ``GLIBC_TUNABLES``; default first, then
    tuned, :data:`MALLOC_ROUNDS` times, the faster of each kept (a shared machine's noise
    only ever adds)."""
    from fm_core.book.execute import MALLOC_TUNABLES

    _check_rebuildable(s, "malloc")
    cores = available_cores()
    seconds = {"glibc_default": [], "book_tunables": []}
    with tempfile.TemporaryDirectory(prefix="fm-bench-malloc-") as tmp:
        tmp = Path(tmp)
        _write_model_and_images(s, tmp)
        commands = _two_mask_commands(s, tmp)
        for _ in range(MALLOC_ROUNDS):
            for name, tunables in (("glibc_default", None), ("book_tunables", MALLOC_TUNABLES)):
                seconds[name].append(_side_by_side_commands(commands, max(1, cores // 2), timeout,
                                                            malloc_tunables=tunables))
    best = {k: min(v) for k, v in seconds.items()}
    return {"cores": cores, "tunables": MALLOC_TUNABLES, "seconds": best, "all_seconds": seconds,
            "ratios": {"malloc: glibc default/book tunables": best["glibc_default"] / best["book_tunables"]},
            "note": "two whole `fm mask` commands side by side, process start included; above 1, the book's "
                    "malloc setting is faster (glibc only; elsewhere both runs are the same)"}

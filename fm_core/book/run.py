"""The build's execute step for a whole book: the selected pages, one at a time or side
by side in worker processes (``build.jobs``), each with its own progress and stage log.

``build`` is :class:`fm_core.book.build._Build` (its ``selected`` notebooks, ``parameters``,
``jobs``, ``report`` and folders); the report records each page's status, seconds and
the seconds of every artefact it computed, per stage.
"""
from __future__ import annotations

import time
from pathlib import Path

from .execute import (execute, execution_order, finish_executed, page_flags, page_parameters, run_page,
                      threads_per_kernel)
from .progress import read_stage_log
from fm_core.errors import UserError
from .report import format_seconds


def _page_logs(build, nb: Path) -> tuple[Path, Path]:
    """(progress lines, stage log) of one page: each page writes its own, so that pages
    running side by side do not mix their lines; :func:`_merge_logs` joins them."""
    logs = build.build_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    progress, stages = logs / f"{nb.stem}.progress.log", logs / f"{nb.stem}.stages.jsonl"
    for path in (progress, stages):
        path.write_text("", encoding="utf-8")
    return progress, stages


def _merge_logs(build) -> None:
    """``progress.log`` and ``stages.jsonl``: the pages' own logs, in page order."""
    logs = build.build_dir / "logs"
    for merged, suffix in ((build.progress_log, ".progress.log"), (build.stage_log, ".stages.jsonl")):
        parts = [logs / f"{nb.stem}{suffix}" for nb in build.selected]
        merged.write_text("".join(p.read_text(encoding="utf-8") for p in parts if p.is_file()),
                          encoding="utf-8")


def _page_done(build, nb: Path, parameters: dict, seconds: float, stage_log: Path) -> None:
    stages, _ = read_stage_log(stage_log)
    build.report["notebooks"][nb.name] = {
        "status": "executed", "profile": build.profile, "seconds": round(seconds, 2),
        "parameters": parameters, "stages": stages}
    build.pages.append(nb.stem)
    build.say(f"{nb.stem}: {format_seconds(seconds)}")


def _page_failed(build, nb: Path, parameters: dict, seconds: float) -> None:
    build.report["notebooks"][nb.name] = {
        "status": "failed", "seconds": round(seconds, 2), "profile": build.profile,
        "parameters": parameters, "executed": str(build.src / nb.name)}
    build.save_report("failed")


def _execute_one(build, nb: Path, overall) -> None:
    """One page in this process (a build with one job)."""
    out = build.src / nb.name
    progress, stages = _page_logs(build, nb)
    parameters = page_parameters(build.parameters, nb)
    if overall is not None:
        overall.set_postfix_str(nb.stem)
    t0 = time.perf_counter()
    try:
        execute(nb, out, parameters, build.book_dir, build.progress, position=1,
                progress_file=progress, emit=build.say, stage_log=stages)
    except UserError:
        _page_failed(build, nb, parameters, time.perf_counter() - t0)
        raise
    finish_executed(out, nb, parameters)
    _page_done(build, nb, parameters, time.perf_counter() - t0, stages)
    if overall is not None:
        overall.update(1)


def next_page(pending: list[Path], running: list[Path]) -> Path | None:
    """The first of ``pending`` whose ``after`` pages (its ``fm_book`` metadata: the
    stems of pages whose artefacts it reads) are neither pending nor running; None when
    every pending page waits for a running one. A page that reads another's work would
    otherwise start beside it and wait on the store's lock with its core idle. Should
    nothing be running and no page free (a cycle), the first pending page starts."""
    busy = {nb.stem for nb in [*pending, *running]}
    for nb in pending:
        if not busy & set(page_flags(nb).get("after", [])):
            return nb
    return None if running else (pending[0] if pending else None)


def _execute_side_by_side(build, notebooks: list[Path], overall) -> None:
    """Pages in ``build.jobs`` worker processes, each kernel with its share of the cores.
    Two pages that need one artefact do not compute it twice: the store's lock makes the
    second wait (:mod:`fm_core.store`). At the first failure no further page starts; the
    running ones finish (their artefacts are kept), then the failure is raised."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    threads = threads_per_kernel(build.jobs)
    build.report["jobs"], build.report["threads_per_kernel"] = build.jobs, threads
    pending, running, failure = list(notebooks), {}, None
    context = multiprocessing.get_context("spawn")  # no forked copy of this process's threads
    with ProcessPoolExecutor(max_workers=build.jobs, mp_context=context) as pool:
        while (pending and failure is None) or running:
            while pending and failure is None and len(running) < build.jobs:
                nb = next_page(pending, [nb for nb, *_ in running.values()])
                if nb is None:  # every pending page waits for a running one
                    break
                pending.remove(nb)
                progress, stages = _page_logs(build, nb)
                parameters = page_parameters(build.parameters, nb)
                future = pool.submit(run_page, nb, build.src / nb.name, parameters,
                                     build.book_dir, progress, stages, threads)
                running[future] = (nb, parameters, stages, time.perf_counter())
            if overall is not None:
                overall.set_postfix_str(", ".join(nb.stem for nb, *_ in running.values()))
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                nb, parameters, stages, t0 = running.pop(future)
                try:
                    seconds = future.result()
                except UserError as err:
                    _page_failed(build, nb, parameters, time.perf_counter() - t0)
                    failure = failure or err
                    if running:
                        build.say(f"{nb.stem} failed; waiting for {len(running)} running page(s)")
                    continue
                _page_done(build, nb, parameters, seconds, stages)
                if overall is not None:
                    overall.update(1)
    if failure is not None:
        build.save_report("failed")
        raise failure


def execute_all(build) -> None:
    """Execute the selected notebooks, ``build.jobs`` at a time (their order:
    :func:`fm_core.book.execute.execution_order`); stop at the first that fails."""
    build.build_dir.mkdir(parents=True, exist_ok=True)
    for nb in build.selected:  # no stale log of an earlier build is merged if this one fails
        _page_logs(build, nb)
    overall = None
    if build.progress and build.selected:
        from tqdm.auto import tqdm
        overall = tqdm(total=len(build.selected), desc=f"book ({build.profile})",
                       unit="notebook", position=0, disable=False)
    try:
        for group in execution_order(build.selected):
            if build.jobs > 1 and len(group) > 1:
                _execute_side_by_side(build, group, overall)
            else:
                for nb in group:
                    _execute_one(build, nb, overall)
    finally:
        _merge_logs(build)
        if overall is not None:
            overall.close()

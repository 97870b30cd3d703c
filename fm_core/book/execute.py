"""The build's execute step: papermill runs one notebook into the build tree.

Notebooks execute with the kernel ``python3``, their working directory the book folder,
the repository root on ``PYTHONPATH`` (fm_core imports without installation),
``TQDM_DISABLE=1`` (no progress bars in the pages), glibc's malloc told to keep freed
memory (:data:`MALLOC_TUNABLES`) and ``FM_PROGRESS_FILE`` naming the build's
``progress.log``: :func:`fm_core.utils.progress_bar` writes the long stages'
progress there, and :func:`execute` prints it on the terminal while the notebook runs
(:mod:`fm_core.book.progress`).

After a notebook ran, :func:`finish_executed` removes its parameter cells from the page and appends
a "re-run this page" note with the papermill command that recomputes it.
"""
from __future__ import annotations

import contextlib
import json
import os
import shlex
import time
from pathlib import Path
from typing import Callable

from .progress import ProgressTail
from fm_core.errors import UserError
from fm_core.paths import REPO_ROOT, STAGE_LOG_ENV
from fm_core.utils import PROGRESS_FILE_ENV

KERNEL_NAME = "python3"
RERUN_TAG = "fm-rerun-note"
# glibc's malloc hands every freed block above its threshold back to the system, and torch
# frees and re-allocates its activations every step, so the kernel zeroes fresh pages
# millions of times a build (25 million page faults, 60 s of system time in a quick
# build). Raising the mmap threshold to glibc's maximum (32 MiB) and the trim threshold
# keeps those blocks in the heap: faster, numbers unchanged (malloc does not touch the
# arithmetic); `fm bench --cases malloc` measures by how much. glibc reads it at process
# start, so it is set for the kernels; other C libraries ignore it. A user's own
# GLIBC_TUNABLES wins.
MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456"


def first_line(source: str) -> str:
    """The first line of code (not blank, not a comment) of a cell's source."""
    lines = [line.strip() for line in (source or "").splitlines() if line.strip()]
    return next((line for line in lines if not line.startswith("#")), lines[0] if lines else "")


def one_line(text, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@contextlib.contextmanager
def kernel_environment(progress_file: Path | None = None, stage_log: Path | None = None,
                       threads: int | None = None):
    """Environment that the papermill kernels inherit (restored afterwards): the
    progress file and the stage log (:data:`fm_core.store.STAGE_LOG_ENV`) among it,
    :data:`MALLOC_TUNABLES` (unless ``GLIBC_TUNABLES`` is set already), and with ``threads``
    the number of torch (OpenMP) threads of the kernel."""
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "TQDM_DISABLE", PROGRESS_FILE_ENV, STAGE_LOG_ENV,
                                            "OMP_NUM_THREADS", "MKL_NUM_THREADS", "GLIBC_TUNABLES")}
    paths = [str(REPO_ROOT)] + [p for p in (saved["PYTHONPATH"] or "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    os.environ["TQDM_DISABLE"] = "1"
    os.environ["GLIBC_TUNABLES"] = saved["GLIBC_TUNABLES"] or MALLOC_TUNABLES
    if progress_file is not None:
        os.environ[PROGRESS_FILE_ENV] = str(progress_file)
    else:
        os.environ.pop(PROGRESS_FILE_ENV, None)
    if stage_log is not None:
        os.environ[STAGE_LOG_ENV] = str(stage_log)
    else:
        os.environ.pop(STAGE_LOG_ENV, None)
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def executed_ok(path: Path) -> tuple[bool, str | None, dict]:
    """Whether ``path`` is a notebook that papermill executed without error, its profile
    and the papermill parameters it ran with."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False, None, {}
    meta = nb.get("metadata", {}).get("papermill")
    if not meta or meta.get("exception"):
        return False, None, {}
    for cell in nb.get("cells", []):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return False, None, {}
    parameters = dict(meta.get("parameters") or {})
    return True, parameters.get("profile"), parameters


def _kernel_manager_class():
    """nbclient's kernel manager, asking for CurveZMQ transport encryption where this
    jupyter_client offers it (ipykernel warns about plain TCP otherwise); else None."""
    try:
        import zmq
        from jupyter_client.manager import AsyncKernelManager
        from traitlets import default
    except ImportError:  # pragma: no cover
        return None
    if not AsyncKernelManager.class_traits().get("transport_encryption") or not zmq.has("curve"):
        return None

    class EncryptedKernelManager(AsyncKernelManager):
        @default("transport_encryption")
        def _default_transport_encryption(self):
            return "auto"

    return EncryptedKernelManager


def execute(nb: Path, out: Path, parameters: dict, book_dir: Path, progress: bool,
            position: int, progress_file: Path | None = None,
            emit: Callable[[str], None] | None = None, stage_log: Path | None = None,
            threads: int | None = None) -> None:
    """Execute ``nb`` into ``out`` with papermill. The lines that the kernel's progress
    bars append to ``progress_file`` are handed to ``emit`` (prefixed with the notebook's
    name) as they come. ``threads``: the kernel's torch threads (default: torch's own
    choice). Raises UserError with one line naming the cell on failure."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    bar = ({"desc": nb.stem, "leave": False, "position": position, "disable": False}
           if progress else False)
    km_class = _kernel_manager_class()
    extra = {"kernel_manager_class": km_class} if km_class is not None else {}
    tail = (ProgressTail(progress_file, lambda line: emit(f"  {nb.stem} | {line}"))
            if progress_file is not None and emit is not None else contextlib.nullcontext())
    try:
        with kernel_environment(progress_file, stage_log, threads), tail:
            pm.execute_notebook(str(nb), str(out), parameters=parameters,
                                kernel_name=KERNEL_NAME, language="python", cwd=str(book_dir),
                                progress_bar=bar, log_output=False, **extra)
    except PapermillExecutionError as err:
        raise UserError(
            f"notebook {nb.name} failed in cell [{err.exec_count}] "
            f"(`{one_line(first_line(err.source), 80)}`): "
            f"{err.ename}: {one_line(err.evalue)}; the executed notebook is kept at {out}"
        ) from None
    except (KeyboardInterrupt, UserError):
        raise
    except Exception as err:  # kernel died, kernel missing, unreadable notebook, ...
        kept = f"; the partial notebook is at {out}" if out.exists() else ""
        raise UserError(f"notebook {nb.name} could not be executed: "
                        f"{type(err).__name__}: {one_line(err)}{kept}") from None


def _shown_path(nb: Path) -> str:
    """``nb`` relative to the repository when it is inside it (``book/03_x.ipynb``)."""
    try:
        return nb.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(nb)


def rerun_note(nb: Path, parameters: dict) -> str:
    """Markdown of the note appended to each executed page: how to recompute it."""
    args = " ".join(f"-p {shlex.quote(str(k))} {shlex.quote(str(v))}"
                    for k, v in parameters.items())
    source = shlex.quote(_shown_path(nb))
    book_args = " ".join(f"--{k} {shlex.quote(str(v))}" for k, v in parameters.items())
    return "\n".join([
        ":::{admonition} Re-run this page",
        ":class: seealso",
        f"This page is the notebook `{_shown_path(nb)}` executed by papermill with "
        f"{', '.join(f'`{k}={v}`' for k, v in parameters.items()) or 'its defaults'}. "
        "The download button at the top of the page (`.ipynb`) gives the executed "
        "notebook, outputs included. To compute the page again, from the repository's root:",
        "",
        "```bash",
        f"papermill {source} out.ipynb {args}".rstrip(),
        f"python -m fm_core book {book_args} --only {shlex.quote(nb.stem)}".replace("  ", " "),
        "```",
        "",
        "Any setting of the profile can be changed for this page alone, through its "
        "`settings` parameter (the names are the fields of `fm_core.profiles.Profile`; a "
        "changed setting is shown in the page's header and enters every artefact's key):",
        "",
        "```bash",
        f"papermill {source} out.ipynb {args} -y 'settings: {{dmask_lam: 0.5}}'".replace("  ", " "),
        "```",
        "",
        f"**Open it live**: `make lab` starts JupyterLab on the book folder with the project's "
        f"kernel; open `{nb.name}`, edit its first code cell (the parameters) and run all "
        "cells. The artefact store reuses what it has and computes only what the change needs.",
        "",
        "There are no Binder or Colab launch buttons: they need a network and a hosted "
        "copy of the repository, and this book is built and read offline.",
        ":::",
    ])


def finish_executed(out: Path, source: Path, parameters: dict) -> None:
    """Leave the ``parameters`` and ``injected-parameters`` cells of the executed
    notebook ``out`` out of the page (the provenance block at its top and the re-run
    note at its end say which values were used) and append the re-run note (once)."""
    import nbformat
    nb = nbformat.read(out, as_version=4)
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if ({"parameters", "injected-parameters"} & set(tags)) and "remove-cell" not in tags:
            cell.setdefault("metadata", {}).setdefault("tags", []).append("remove-cell")
    nb.cells = [c for c in nb.cells if RERUN_TAG not in c.get("metadata", {}).get("tags", [])]
    nb.cells.append(nbformat.v4.new_markdown_cell(rerun_note(source, parameters),
                                                  metadata={"tags": [RERUN_TAG]}))
    nbformat.write(nb, out)


# ------------------------------------------------------------------ parallel builds
#: a notebook's metadata key for its place in the build: ``{"start_first": true}`` for a
#: long page that needs little of the others' work (started before them in a parallel
#: build), ``{"after": ["05_single_image_masks"]}`` for a page that reads another's
#: artefacts (it does not start while that page is pending or running, so it never waits
#: on the store's lock with its core idle: :func:`fm_core.book.run.next_page`; the build
#: report's "waiting for another page" stage shows where a page still waits),
#: ``{"after_others": true}`` for a page that reads the results the others save,
#: ``{"parameters": {...}}`` for parameters the build gives that page alone (the explorer's
#: ``widgets: false``: a static page has no kernel behind its controls)
ORDER_KEY = "fm_book"


def page_flags(nb: Path) -> dict:
    """The ``fm_book`` metadata of notebook ``nb`` (empty when absent or unreadable)."""
    try:
        flags = json.loads(Path(nb).read_text(encoding="utf-8")).get("metadata", {}).get(ORDER_KEY, {})
    except (OSError, ValueError):
        return {}
    return flags if isinstance(flags, dict) else {}


def page_parameters(parameters: dict, nb: Path) -> dict:
    """The build's ``parameters`` with the page's own (its ``fm_book`` metadata) on top."""
    own = page_flags(nb).get("parameters", {})
    return {**parameters, **(own if isinstance(own, dict) else {})}


def execution_order(notebooks: list[Path]) -> tuple[list[Path], list[Path]]:
    """(the pages that may run side by side, in the order they start; the pages that run
    once those have all finished). Otherwise the order of ``notebooks``."""
    flags = {nb: page_flags(nb) for nb in notebooks}
    later = [nb for nb in notebooks if flags[nb].get("after_others")]
    together = [nb for nb in notebooks if nb not in later]
    together.sort(key=lambda nb: not flags[nb].get("start_first"))  # stable: else name order
    return together, later


def default_jobs() -> int:
    """Pages executed side by side: two where there are two cores or more. Two kernels of
    one torch thread each do more work per second than one kernel of two threads on this
    project's small networks (see the README's build section), and their waits overlap."""
    return max(1, min(2, os.cpu_count() or 1))


def threads_per_kernel(jobs: int) -> int | None:
    """Each kernel's share of the cores when ``jobs`` pages run side by side (None with
    one page at a time: torch's own choice, all cores)."""
    return None if jobs <= 1 else max(1, (os.cpu_count() or 1) // jobs)


def run_page(nb: Path, out: Path, parameters: dict, book_dir: Path, progress_file: Path,
             stage_log: Path, threads: int | None) -> float:
    """Execute and finish one page in a worker process of a parallel build; its progress
    lines are printed as they come. Returns its wall seconds."""
    t0 = time.perf_counter()
    execute(nb, out, parameters, book_dir, progress=False, position=0, progress_file=progress_file,
            emit=lambda line: print(line, flush=True), stage_log=stage_log, threads=threads)
    finish_executed(out, nb, parameters)
    return time.perf_counter() - t0

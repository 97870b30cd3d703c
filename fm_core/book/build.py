"""Build the book: papermill executes the notebooks, then Jupyter Book renders them.

Layout (``<out>`` is the book folder unless ``output_dir`` is given)::

    book/                     sources: _config.yml, _toc.yml, index.md, glossary.md,
                              citation.md, build_report.md (a stub), references.bib,
                              NN_name.ipynb (committed without outputs)
    <out>/_build/src/         the build tree: copies of the sources plus the *executed*
                              notebooks; ``_toc.yml`` and ``build_report.md`` here are
                              generated
    <out>/_build/html/        the website (index.html)
    <out>/_build/build_report.json   per-notebook status, parameters and seconds,
                              Sphinx warnings
    <out>/_build/progress.log the notebooks' progress lines (also shown on the terminal),
                              joined from each page's own log in ``_build/logs/``
    <out>/_build/stages.jsonl the seconds of every artefact computed, page by page
    <out>/_build/sphinx.log   the full jupyter-book output

Which pages are built: every ``*.ipynb`` directly in ``book/``, sorted by name. With
``only``, the notebooks whose name contains ``only`` are executed; every other notebook
reuses its executed copy in the build tree if one exists from an earlier build (whatever
its profile; each page states its own profile at the top) and is otherwise left out of
this build's table of contents (listed in the report). So ``--only`` never fails because
another page is missing or slow.

Pages run two at a time on two cores or more (``jobs``), each kernel with its share of
the cores; a page whose notebook metadata says ``"fm_book": {"after_others": true}`` (the
reproduction summary, which reads the results the others save) runs once they are done,
and ``"start_first"`` starts a long page early. Every artefact is computed once, by
whichever page asks first (the store's lock), with the same seed and threads, so the
numbers do not depend on which page computed them.

The steps of :func:`build_book`, one function each: :func:`_prepare` (check the
arguments, copy the sources), :func:`_plan` (which notebooks run, which are reused or
left out), :func:`fm_core.book.run.execute_all` (papermill, :mod:`fm_core.book.execute`; progress
on the terminal, :mod:`fm_core.book.progress`), :func:`_write_pages` (the toc,
:mod:`fm_core.book.toc`, and the "Build report" page), :func:`_render_site`
(Jupyter Book, :mod:`fm_core.book.render`) and :func:`_finish` (report and summary).
The parameters passed to the notebooks are ``profile`` and, when given, ``data`` and
``seed``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path

from .execute import KERNEL_NAME, default_jobs, executed_ok, one_line
from .run import execute_all
from .render import BUILD, fill_report_page, render, write_report_page
from .toc import EXTRA_PART_CAPTION, make_toc, toc_parts, write_toc
from fm_core.errors import UserError
from fm_core.paths import DATA_NAMES, REPO_ROOT
from .report import format_seconds

__all__ = ["build_book", "list_notebooks", "make_toc", "read_build_report", "data_parameter",
           "DEFAULT_BOOK_DIR", "KERNEL_NAME", "EXTRA_PART_CAPTION", "BUILD"]

DEFAULT_BOOK_DIR = REPO_ROOT / "book"
#: what is never copied from the book folder into the build tree
_SKIP = {BUILD, "_executed", ".ipynb_checkpoints", "__pycache__", ".DS_Store"}


# ---------------------------------------------------------------------------- helpers
def list_notebooks(book_dir: str | os.PathLike = DEFAULT_BOOK_DIR) -> list[Path]:
    """The book's notebooks: ``*.ipynb`` directly in ``book_dir``, sorted by name."""
    return sorted(p for p in Path(book_dir).glob("*.ipynb")
                  if p.is_file() and not p.name.startswith("."))


def _say(message: str, progress: bool) -> None:
    if progress:
        from tqdm.auto import tqdm
        tqdm.write(message)
    else:
        print(message, flush=True)


def data_parameter(data: str | os.PathLike) -> str:
    """``data`` as the notebooks should see it: a path that exists relative to the
    current directory is made absolute (the notebooks run in the book folder); a name
    (``synthetic``, ``imagenette``, ``fashion-mnist``: ``DATA_NAMES``) is passed as it is."""
    text = str(data)
    path = Path(text).expanduser()
    if text not in DATA_NAMES and path.exists():
        return str(path.resolve())
    return text


def _sync_sources(book_dir: Path, src: Path, notebooks: list[Path]) -> None:
    """Copy everything but notebooks into the build tree; drop stale copies there.

    Executed notebooks already in the tree are kept (for ``only``) unless their source
    notebook is gone."""
    src.mkdir(parents=True, exist_ok=True)
    keep = {nb.name for nb in notebooks}
    for entry in src.iterdir():
        if entry.suffix == ".ipynb" and entry.name in keep:
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    for entry in book_dir.iterdir():
        if entry.name in _SKIP or entry.name.startswith(".") or entry.suffix == ".ipynb":
            continue
        if entry.is_dir():
            shutil.copytree(entry, src / entry.name,
                            ignore=shutil.ignore_patterns(*_SKIP, "*.ipynb"))
        else:
            shutil.copy2(entry, src / entry.name)


# ------------------------------------------------------------------------------ steps
@dataclasses.dataclass
class _Build:
    """The state that the steps of one build share."""
    profile: str
    book_dir: Path
    output_dir: Path
    progress: bool
    notebooks: list[Path]
    selected: list[Path]
    parameters: dict
    report: dict
    jobs: int = 1
    started: float = dataclasses.field(default_factory=time.perf_counter)
    pages: list[str] = dataclasses.field(default_factory=list)

    @property
    def build_dir(self) -> Path:
        return self.output_dir / BUILD

    @property
    def src(self) -> Path:
        return self.build_dir / "src"

    @property
    def progress_log(self) -> Path:
        return self.build_dir / "progress.log"

    @property
    def stage_log(self) -> Path:
        return self.build_dir / "stages.jsonl"

    def say(self, message: str) -> None:
        _say(message, self.progress)

    def save_report(self, status: str | None = None) -> None:
        if status is not None:
            self.report["status"] = status
        self.build_dir.mkdir(parents=True, exist_ok=True)
        self.report["total_seconds"] = round(time.perf_counter() - self.started, 2)
        (self.build_dir / "build_report.json").write_text(json.dumps(self.report, indent=2),
                                                          encoding="utf-8")


def _prepare(profile, data, only, book_dir, output_dir, progress, jobs=None, seed=None) -> _Build:
    """Check the arguments, choose the notebooks to execute, copy the sources."""
    from fm_core.profiles import get_profile

    started = time.perf_counter()
    get_profile(profile)  # an unknown profile fails now, not in the first notebook
    book_dir = Path(book_dir) if book_dir is not None else DEFAULT_BOOK_DIR
    book_dir = book_dir.resolve()
    for needed in ("_config.yml", "_toc.yml"):
        if not (book_dir / needed).is_file():
            raise UserError(f"{book_dir} is not a book folder: {needed} is missing")
    output_dir = Path(output_dir).resolve() if output_dir is not None else book_dir

    notebooks = list_notebooks(book_dir)
    selected = [nb for nb in notebooks if only in nb.name] if only else list(notebooks)
    if only and not selected:
        names = ", ".join(nb.stem for nb in notebooks) or "none"
        raise UserError(f"no notebook name contains {only!r}; notebooks: {names}")
    parameters = {"profile": str(profile)}
    if data is not None:
        parameters["data"] = data_parameter(data)
    if seed is not None:
        parameters["seed"] = int(seed)
    report = {"profile": str(profile), "data": data, "seed": seed, "only": only, "book_dir": str(book_dir),
              "notebooks": {}, "sphinx_warnings": [], "status": "running"}
    build = _Build(str(profile), book_dir, output_dir, progress, notebooks, selected,
                   parameters, report, jobs=default_jobs() if jobs is None else jobs, started=started)
    if build.jobs < 1:
        raise UserError(f"jobs must be 1 or more, not {build.jobs}")
    _sync_sources(book_dir, build.src, notebooks)
    return build


def _plan(build: _Build) -> None:
    """The notebooks not selected: reuse an executed copy from an earlier build, or
    leave them out of this build."""
    for nb in build.notebooks:
        if nb in build.selected:
            continue
        ok, used, parameters = executed_ok(build.src / nb.name)
        if ok:
            build.pages.append(nb.stem)
            build.report["notebooks"][nb.name] = {"status": "reused", "profile": used,
                                                  "parameters": parameters}
            stale = nb.stat().st_mtime > (build.src / nb.name).stat().st_mtime
            build.say(f"reusing {nb.stem} from an earlier build (profile {used}"
                      f"{'; its source has changed since' if stale else ''})")
        else:
            build.report["notebooks"][nb.name] = {"status": "skipped"}
            build.say(f"leaving out {nb.stem}: not executed yet (build without --only to add it)")


def _write_pages(build: _Build) -> None:
    """The generated pages of the build tree: the toc and the "Build report" page."""
    build.pages = [nb.stem for nb in build.notebooks if nb.stem in set(build.pages)]
    write_report_page(build.src, build.report, toc_parts(build.book_dir))
    write_toc(build.book_dir, build.src, build.pages)


def _render_site(build: _Build) -> list[str]:
    """Render the website; record the render time and Sphinx's warnings."""
    build.say("rendering the website (jupyter-book build) ...")
    t0 = time.perf_counter()
    try:
        warnings = render(build.src, build.output_dir, build.build_dir / "sphinx.log",
                          build.book_dir)
    except UserError:
        build.save_report("failed")
        raise
    build.report["render_seconds"] = round(time.perf_counter() - t0, 2)
    build.report["sphinx_warnings"] = warnings
    return warnings


def _finish(build: _Build, warnings: list[str], strict: bool) -> Path:
    """Save the report (and fill it into its page), print the summary."""
    index = build.build_dir / "html" / "index.html"
    build.report["index"] = str(index)
    build.save_report("ok")
    fill_report_page(index.parent, build.report)
    for warning in warnings:
        print(f"sphinx: {warning}", file=sys.stderr)
    left_out = [n for n, r in build.report["notebooks"].items() if r["status"] == "skipped"]
    print(f"book built in {format_seconds(build.report['total_seconds'])} "
          f"({len(build.pages)} notebook page(s), profile {build.profile}"
          f"{', ' + str(len(left_out)) + ' left out' if left_out else ''}, "
          f"{len(warnings)} Sphinx warning(s)): {index}", flush=True)
    if strict and warnings:
        raise UserError(f"Sphinx reported {len(warnings)} warning(s), the first: "
                        f"{one_line(warnings[0])}; full log: {build.build_dir / 'sphinx.log'}")
    return index


# ------------------------------------------------------------------------------ build
def build_book(profile: str = "quick", data: str | None = None, only: str | None = None,
               book_dir: str | os.PathLike | None = None, progress: bool = True,
               output_dir: str | os.PathLike | None = None, strict: bool = False,
               jobs: int | None = None, seed: int | None = None) -> Path:
    """Execute the book's notebooks with papermill and render the website.

    profile, data, seed: papermill parameters of every notebook (``data`` and ``seed``
        only when given; :func:`fm_core.book.seeds.build_at_seed` builds at another seed
        in a store of its own).
    only: execute only the notebooks whose name contains this string; the others reuse
        an executed copy from an earlier build if there is one, else are left out.
    book_dir: the book sources (default ``<repo>/book``); notebooks run with it as cwd.
    progress: progress bars for the notebooks (the notebooks' own progress lines are
        printed either way).
    output_dir: where ``_build/`` goes (default ``book_dir``).
    strict: raise UserError when Sphinx reports warnings (they are always recorded).
    jobs: pages executed side by side, each kernel with its share of the cores (default
        :func:`fm_core.book.execute.default_jobs`: two on two cores or more).

    Returns the path of ``index.html``. Raises UserError with one line naming the
    notebook, cell and error when a notebook fails (its executed copy is kept).
    """
    build = _prepare(profile, data, only, book_dir, output_dir, progress, jobs, seed)
    _plan(build)
    execute_all(build)
    _write_pages(build)
    warnings = _render_site(build)
    return _finish(build, warnings, strict)


def read_build_report(output_dir: str | os.PathLike | None = None) -> dict:
    """The ``build_report.json`` of the last build under ``output_dir`` (default: the book)."""
    path = Path(output_dir or DEFAULT_BOOK_DIR) / BUILD / "build_report.json"
    if not path.is_file():
        raise UserError(f"no book build report at {path}; build the book first")
    return json.loads(path.read_text(encoding="utf-8"))

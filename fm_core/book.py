"""Build the book: papermill executes the notebooks, then Jupyter Book renders them.

Layout (``<out>`` is the book folder unless ``output_dir`` is given)::

    book/                     sources: _config.yml, _toc.yml, index.md, references.bib,
                              NN_name.ipynb (committed without outputs)
    <out>/_build/src/         the build tree: copies of the sources plus the *executed*
                              notebooks; ``_toc.yml`` here is generated
    <out>/_build/html/        the website (index.html)
    <out>/_build/build_report.json   per-notebook status and seconds, Sphinx warnings
    <out>/_build/sphinx.log   the full jupyter-book output

Which pages are built: every ``*.ipynb`` directly in ``book/``, sorted by name. With
``only``, the notebooks whose name contains ``only`` are executed; every other notebook
reuses its executed copy in the build tree if one exists from an earlier build (whatever
its profile; each page states its own profile at the top) and is otherwise left out of
this build's table of contents (listed in the report). So ``--only`` never fails because
another page is missing or slow.

The committed ``book/_toc.yml`` is a template: it gives the order and the parts. The
build copies it with the pages that are not in the build tree removed (empty parts
dropped) and any notebook that it does not list appended in a last part, so a notebook
added to ``book/`` appears without editing the toc.

Notebooks execute with the kernel ``python3``, their working directory the book folder,
the repository root on ``PYTHONPATH`` (fm_core imports without installation) and
``TQDM_DISABLE=1`` (no progress bars in the pages). The parameters passed are
``profile`` and, when given, ``data``.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable

import yaml

from .errors import UserError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BOOK_DIR = REPO_ROOT / "book"
KERNEL_NAME = "python3"
BUILD = "_build"
#: what is never copied from the book folder into the build tree
_SKIP = {BUILD, "_executed", ".ipynb_checkpoints", "__pycache__", ".DS_Store"}
_WARNING_RE = re.compile(r"\b(WARNING|ERROR|CRITICAL|SEVERE):")
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
EXTRA_PART_CAPTION = "More pages"


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


def _fmt_time(seconds: float) -> str:
    from .report import format_seconds
    return format_seconds(seconds)


@contextlib.contextmanager
def _kernel_environment():
    """Environment that the papermill kernels inherit (restored afterwards)."""
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "TQDM_DISABLE")}
    paths = [str(REPO_ROOT)] + [p for p in (saved["PYTHONPATH"] or "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    os.environ["TQDM_DISABLE"] = "1"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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


def _executed_ok(path: Path) -> tuple[bool, str | None]:
    """Whether ``path`` is a notebook that papermill executed without error, and its
    profile."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False, None
    meta = nb.get("metadata", {}).get("papermill")
    if not meta or meta.get("exception"):
        return False, None
    for cell in nb.get("cells", []):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return False, None
    return True, (meta.get("parameters") or {}).get("profile")


def _hide_parameter_cells(path: Path) -> None:
    """Collapse the ``parameters`` and ``injected-parameters`` cells in the book (the
    provenance block at the top of the page says what was used)."""
    import nbformat
    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if ({"parameters", "injected-parameters"} & set(tags)) and "hide-input" not in tags:
            cell.setdefault("metadata", {}).setdefault("tags", []).append("hide-input")
            changed = True
    if changed:
        nbformat.write(nb, path)


def _first_line(source: str) -> str:
    """The first line of code (not blank, not a comment) of a cell's source."""
    lines = [line.strip() for line in (source or "").splitlines() if line.strip()]
    return next((line for line in lines if not line.startswith("#")), lines[0] if lines else "")


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ------------------------------------------------------------------------------ toc
def _entry_key(entry: dict) -> str | None:
    f = entry.get("file")
    if f is None:
        return None
    f = str(f).replace("\\", "/")
    return re.sub(r"\.(ipynb|md|rst)$", "", f)


def _filter_entries(entries: list, present: set[str], listed: set[str]) -> list:
    out = []
    for entry in entries or []:
        entry = dict(entry)
        key = _entry_key(entry)
        if key is not None:
            listed.add(key)
        for sub in ("sections", "chapters"):
            if sub in entry:
                entry[sub] = _filter_entries(entry[sub], present, listed)
                if not entry[sub]:
                    del entry[sub]
        if key is None or key in present:
            out.append(entry)
        elif entry.get("sections") or entry.get("chapters"):
            # the page is missing but some of its children are not: promote them
            out.extend(entry.get("sections", []) + entry.get("chapters", []))
    return out


def make_toc(template: dict, notebooks: list[str], other_pages: Iterable[str] = ()) -> dict:
    """The template toc keeping only the pages that exist: the ``notebooks`` (names
    without suffix, in order) and ``other_pages`` (markdown pages). Notebooks that the
    template does not list are appended, in a last part when the toc has parts."""
    toc = dict(template)
    have = set(notebooks) | set(other_pages)
    listed: set[str] = set()
    if toc.get("root") is not None:
        listed.add(_entry_key({"file": toc["root"]}))
    extra = []
    if "parts" in toc:
        parts = []
        for part in toc["parts"]:
            part = dict(part)
            part["chapters"] = _filter_entries(part.get("chapters", []), have, listed)
            if part["chapters"]:
                parts.append(part)
        extra = [{"file": p} for p in notebooks if p not in listed]
        if extra:
            parts.append({"caption": EXTRA_PART_CAPTION, "chapters": extra})
        if parts:
            toc["parts"] = parts
        else:
            toc.pop("parts")
    else:
        key = "sections" if "sections" in toc else "chapters"
        entries = _filter_entries(toc.get(key, []), have, listed)
        entries += [{"file": p} for p in notebooks if p not in listed]
        if entries:
            toc[key] = entries
        else:
            toc.pop(key, None)
    return toc


def _write_toc(book_dir: Path, src: Path, notebooks: list[str]) -> dict:
    template = yaml.safe_load((book_dir / "_toc.yml").read_text(encoding="utf-8")) or {}
    if not isinstance(template, dict) or "root" not in template:
        raise UserError(f"{book_dir / '_toc.yml'} has no 'root:' entry")
    others = [str(p.relative_to(src).with_suffix("")).replace("\\", "/")
              for ext in ("*.md", "*.rst") for p in src.rglob(ext)]
    toc = make_toc(template, notebooks, others)
    (src / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")
    return toc


# ---------------------------------------------------------------------------- execute
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


def _execute(nb: Path, out: Path, parameters: dict, book_dir: Path, progress: bool,
             position: int) -> None:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    bar = ({"desc": nb.stem, "leave": False, "position": position, "disable": False}
           if progress else False)
    km_class = _kernel_manager_class()
    extra = {"kernel_manager_class": km_class} if km_class is not None else {}
    try:
        with _kernel_environment():
            pm.execute_notebook(str(nb), str(out), parameters=parameters,
                                kernel_name=KERNEL_NAME, language="python", cwd=str(book_dir),
                                progress_bar=bar, log_output=False, **extra)
    except PapermillExecutionError as err:
        raise UserError(
            f"notebook {nb.name} failed in cell [{err.exec_count}] "
            f"(`{_one_line(_first_line(err.source), 80)}`): "
            f"{err.ename}: {_one_line(err.evalue)}; the executed notebook is kept at {out}"
        ) from None
    except (KeyboardInterrupt, UserError):
        raise
    except Exception as err:  # kernel died, kernel missing, unreadable notebook, ...
        kept = f"; the partial notebook is at {out}" if out.exists() else ""
        raise UserError(f"notebook {nb.name} could not be executed: "
                        f"{type(err).__name__}: {_one_line(err)}{kept}") from None


# ----------------------------------------------------------------------------- render
def _render(src: Path, output_dir: Path, log_path: Path, book_dir: Path) -> list[str]:
    """Run ``jupyter-book build``; return Sphinx's warnings (full output in ``log_path``),
    with paths in the build tree shown as the book's source files."""
    html = output_dir / BUILD / "html"
    if html.exists():  # pages of notebooks that left the book must not linger
        shutil.rmtree(html)
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()",
           "build", str(src), "--path-output", str(output_dir), "--builder", "html", "--all"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    env.pop("FORCE_COLOR", None)
    env["NO_COLOR"] = "1"
    proc = subprocess.run(cmd, cwd=str(src), env=env, capture_output=True, text=True)
    log = proc.stdout + ("\n" if proc.stdout and proc.stderr else "") + proc.stderr
    log = _ANSI_RE.sub("", log)
    log_path.write_text(log, encoding="utf-8")
    warnings = [line.strip().replace(str(src), str(book_dir))
                for line in log.splitlines() if _WARNING_RE.search(line)]
    if proc.returncode != 0 or not (html / "index.html").exists():
        last = next((l for l in reversed(log.splitlines()) if l.strip()), "no output")
        raise UserError(f"jupyter-book build failed (exit {proc.returncode}): "
                        f"{_one_line(last)}; full log: {log_path}")
    return warnings


# ------------------------------------------------------------------------------ build
def data_parameter(data: str | os.PathLike) -> str:
    """``data`` as the notebooks should see it: a path that exists relative to the
    current directory is made absolute (the notebooks run in the book folder); a name
    (``synthetic``, ``imagenette``) is passed as it is."""
    text = str(data)
    path = Path(text).expanduser()
    if text not in ("synthetic", "imagenette") and path.exists():
        return str(path.resolve())
    return text


def build_book(profile: str = "quick", data: str | None = None, only: str | None = None,
               book_dir: str | os.PathLike | None = None, progress: bool = True,
               output_dir: str | os.PathLike | None = None, strict: bool = False) -> Path:
    """Execute the book's notebooks with papermill and render the website.

    profile, data: papermill parameters of every notebook (``data`` only when given).
    only: execute only the notebooks whose name contains this string; the others reuse
        an executed copy from an earlier build if there is one, else are left out.
    book_dir: the book sources (default ``<repo>/book``); notebooks run with it as cwd.
    output_dir: where ``_build/`` goes (default ``book_dir``).
    strict: raise UserError when Sphinx reports warnings (they are always recorded).

    Returns the path of ``index.html``. Raises UserError with one line naming the
    notebook, cell and error when a notebook fails (its executed copy is kept).
    """
    from .profiles import get_profile

    started = time.perf_counter()
    get_profile(profile)  # an unknown profile fails now, not in the first notebook
    book_dir = Path(book_dir) if book_dir is not None else DEFAULT_BOOK_DIR
    book_dir = book_dir.resolve()
    for needed in ("_config.yml", "_toc.yml"):
        if not (book_dir / needed).is_file():
            raise UserError(f"{book_dir} is not a book folder: {needed} is missing")
    output_dir = Path(output_dir).resolve() if output_dir is not None else book_dir
    build_dir = output_dir / BUILD
    src = build_dir / "src"
    report_path = build_dir / "build_report.json"

    notebooks = list_notebooks(book_dir)
    if only:
        selected = [nb for nb in notebooks if only in nb.name]
        if not selected:
            names = ", ".join(nb.stem for nb in notebooks) or "none"
            raise UserError(f"no notebook name contains {only!r}; notebooks: {names}")
    else:
        selected = list(notebooks)

    _sync_sources(book_dir, src, notebooks)
    parameters = {"profile": str(profile)}
    if data is not None:
        parameters["data"] = data_parameter(data)

    report: dict = {"profile": str(profile), "data": data, "only": only,
                    "book_dir": str(book_dir), "notebooks": {}, "sphinx_warnings": [],
                    "status": "running"}
    pages: list[str] = []
    for nb in notebooks:
        if nb in selected:
            continue
        ok, used = _executed_ok(src / nb.name)
        if ok:
            pages.append(nb.stem)
            report["notebooks"][nb.name] = {"status": "reused", "profile": used}
            stale = (nb.stat().st_mtime > (src / nb.name).stat().st_mtime)
            _say(f"reusing {nb.stem} from an earlier build (profile {used}"
                 f"{'; its source has changed since' if stale else ''})", progress)
        else:
            report["notebooks"][nb.name] = {"status": "skipped"}
            _say(f"leaving out {nb.stem}: not executed yet (build without --only to add it)",
                 progress)

    def save_report():
        build_dir.mkdir(parents=True, exist_ok=True)
        report["total_seconds"] = round(time.perf_counter() - started, 2)
        report_path.write_text(json.dumps(report, indent=2), encoding="utf-8")

    overall = None
    if progress and selected:
        from tqdm.auto import tqdm
        overall = tqdm(total=len(selected), desc=f"book ({profile})", unit="notebook",
                       position=0, disable=False)
    try:
        for nb in selected:
            out = src / nb.name
            if overall is not None:
                overall.set_postfix_str(nb.stem)
            t0 = time.perf_counter()
            try:
                _execute(nb, out, parameters, book_dir, progress, position=1)
            except UserError:
                report["notebooks"][nb.name] = {
                    "status": "failed", "seconds": round(time.perf_counter() - t0, 2),
                    "profile": str(profile), "executed": str(out)}
                report["status"] = "failed"
                save_report()
                raise
            seconds = time.perf_counter() - t0
            _hide_parameter_cells(out)
            report["notebooks"][nb.name] = {"status": "executed", "profile": str(profile),
                                            "seconds": round(seconds, 2)}
            pages.append(nb.stem)
            _say(f"{nb.stem}: {_fmt_time(seconds)}", progress)
            if overall is not None:
                overall.update(1)
    finally:
        if overall is not None:
            overall.close()

    pages = [nb.stem for nb in notebooks if nb.stem in set(pages)]
    _write_toc(book_dir, src, pages)
    _say("rendering the website (jupyter-book build) ...", progress)
    t0 = time.perf_counter()
    try:
        warnings = _render(src, output_dir, build_dir / "sphinx.log", book_dir)
    except UserError:
        report["status"] = "failed"
        save_report()
        raise
    report["render_seconds"] = round(time.perf_counter() - t0, 2)
    report["sphinx_warnings"] = warnings
    index = build_dir / "html" / "index.html"
    report["index"] = str(index)
    report["status"] = "ok"
    save_report()

    for warning in warnings:
        print(f"sphinx: {warning}", file=sys.stderr)
    left_out = [n for n, r in report["notebooks"].items() if r["status"] == "skipped"]
    summary = (f"book built in {_fmt_time(report['total_seconds'])} "
               f"({len(pages)} notebook page(s), profile {profile}"
               f"{', ' + str(len(left_out)) + ' left out' if left_out else ''}, "
               f"{len(warnings)} Sphinx warning(s)): {index}")
    print(summary, flush=True)
    if strict and warnings:
        raise UserError(f"Sphinx reported {len(warnings)} warning(s), the first: "
                        f"{_one_line(warnings[0])}; full log: {build_dir / 'sphinx.log'}")
    return index


def read_build_report(output_dir: str | os.PathLike | None = None) -> dict:
    """The ``build_report.json`` of the last build under ``output_dir`` (default: the book)."""
    path = Path(output_dir or DEFAULT_BOOK_DIR) / BUILD / "build_report.json"
    if not path.is_file():
        raise UserError(f"no book build report at {path}; build the book first")
    return json.loads(path.read_text(encoding="utf-8"))

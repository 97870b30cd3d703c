"""The build's render step: Jupyter Book turns the build tree into the website, and the
"Build report" page is written from ``build_report.json``.

The report page (``build_report.md`` in the build tree, replacing the committed stub of
``book/``) is written before rendering, with the notebooks' status, profile, parameters
and seconds. What is only known after rendering (the render time, the number of Sphinx
warnings, the whole build's time) stands in the page as placeholders that
:func:`fill_report_page` replaces in the rendered HTML (and in its ``_sources`` copy).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .execute import one_line
from fm_core.errors import UserError
from fm_core.paths import REPO_ROOT
from .report import format_seconds

BUILD = "_build"
REPORT_PAGE = "build_report"
_WARNING_RE = re.compile(r"\b(WARNING|ERROR|CRITICAL|SEVERE):")
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: placeholders of the report page, filled after rendering
PLACEHOLDERS = {"render": "FMREPORT-RENDER-SECONDS", "warnings": "FMREPORT-SPHINX-WARNINGS",
                "total": "FMREPORT-TOTAL-SECONDS"}


def render(src: Path, output_dir: Path, log_path: Path, book_dir: Path) -> list[str]:
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
                        f"{one_line(last)}; full log: {log_path}")
    return warnings


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def report_page(report: dict, parts=()) -> str:
    """The "Build report" page (MyST markdown) of a build report in progress; ``parts``:
    the toc's (caption, pages) (:func:`fm_core.book.toc.toc_parts`) for the time per part."""
    rows, executed_total = [], 0.0
    for name, entry in sorted(report["notebooks"].items()):
        status = entry.get("status", "?")
        params = entry.get("parameters") or ({"profile": entry["profile"]}
                                             if entry.get("profile") else {})
        shown = ", ".join(f"`{k}={v}`" for k, v in params.items()) or "-"
        if "seconds" in entry:
            seconds = format_seconds(entry["seconds"])
            if status == "executed":
                executed_total += entry["seconds"]
        else:
            seconds = "earlier build" if status == "reused" else "-"
        page = Path(name).stem
        link = f"[{page}]({page}.ipynb)" if status in ("executed", "reused") else page
        rows.append(f"| {link} | {_cell(status)} | {_cell(entry.get('profile') or '-')} "
                    f"| {_cell(shown)} | {_cell(seconds)} |")
    command = f"python -m fm_core book --profile {report['profile']}"
    if report.get("data") is not None:
        command += f" --data {report['data']}"
    if report.get("only"):
        command += f" --only {report['only']}"
    lines = [
        "# Build report", "",
        f"This page was written by the build that made this website (`{command}`), from "
        "its `_build/build_report.json`. Each notebook was executed by papermill "
        "(*executed*), or kept from an earlier build (*reused*, with `--only`); "
        "*skipped* notebooks are not in this build.", "",
        "| notebook | status | profile | parameters | time |",
        "|---|---|---|---|---|",
        *rows,
        f"| **total** (notebooks executed) | | | | **{format_seconds(executed_total)}** |", "",
        f"- rendering the website (Jupyter Book): {PLACEHOLDERS['render']}",
        f"- Sphinx warnings: {PLACEHOLDERS['warnings']} (listed in "
        "`_build/build_report.json`; the full log is `_build/sphinx.log`)",
        f"- the whole build: {PLACEHOLDERS['total']}", "",
        *part_table(report, parts),
        *stage_table(report),
    ]
    return "\n".join(lines)


def part_table(report: dict, parts) -> list[str]:
    """Markdown lines of "time per part": the executed notebooks' seconds summed over each
    part of the toc, and that sum over the kernels that ran side by side, which is about
    the wall time the part adds (in the quick builds measured, the kernels were idle for
    under 4% of the build: 20 of 607 s, 17 of 683 s)."""
    seconds = {Path(n).stem: e["seconds"] for n, e in report["notebooks"].items()
               if e.get("status") == "executed" and "seconds" in e}
    listed = {page for _, pages in parts for page in pages}
    rows, placed = [], set()
    for caption, pages in [*parts, ("other pages", [p for p in seconds if p not in listed])]:
        mine = [p for p in pages if p in seconds and p not in placed]
        placed.update(mine)
        if mine:
            rows.append((caption, mine, sum(seconds[p] for p in mine)))
    if len(rows) < 2:
        return []
    jobs = max(1, int(report.get("jobs") or 1))
    lines = ["## Time per part", "",
             f"Notebook time summed over each part of the book, and that sum divided by the {jobs} "
             f"kernel{'s' if jobs > 1 else ''} that ran side by side: about the wall time the part adds "
             "to a build. An artefact is counted where it was computed (the *computed here* column below).", "",
             "| part | notebooks | notebook time | wall time, about |", "|---|---|---|---|"]
    lines += [f"| {_cell(caption)} | {len(mine)} | {format_seconds(total)} | {format_seconds(total / jobs)} |"
              for caption, mine, total in rows]
    return lines + [""]


def stage_table(report: dict) -> list[str]:
    """Markdown lines of "where the time goes": per executed notebook, what the artefact
    store computed there (seconds per stage, artefacts in brackets) and the rest (kernel
    start, evaluation, plots, analysis); then the totals per stage."""
    executed = {n: e for n, e in sorted(report["notebooks"].items()) if e.get("status") == "executed"}
    if not executed:
        return []
    lines = ["## Where the time goes", "",
             "Each artefact the store computed (`fm_core.store.fetch`) logged its seconds under "
             "its stage; *rest* is the notebook's remaining time: starting the kernel, "
             "evaluations, analysis and plots. An artefact computed by an earlier page is "
             "only loaded by the later ones.", "",
             "| notebook | computed here | rest | total |", "|---|---|---|---|"]
    totals: dict[str, list] = {}
    rest_total = 0.0
    for name, entry in executed.items():
        stages = entry.get("stages", {})
        used = sum(row["seconds"] for row in stages.values())
        rest = max(0.0, entry["seconds"] - used)
        rest_total += rest
        for stage, row in stages.items():
            total = totals.setdefault(stage, [0.0, 0])
            total[0] += row["seconds"]
            total[1] += row["count"]
        computed = "; ".join(f"{stage} {format_seconds(row['seconds'])} ({row['count']})"
                             for stage, row in sorted(stages.items(), key=lambda kv: -kv[1]["seconds"])) or "-"
        lines.append(f"| {Path(name).stem} | {_cell(computed)} | {format_seconds(rest)} | "
                     f"{format_seconds(entry['seconds'])} |")
    lines += ["", "| stage | time | artefacts |", "|---|---|---|"]
    for stage, (seconds, count) in sorted(totals.items(), key=lambda kv: -kv[1][0]):
        lines.append(f"| {_cell(stage)} | {format_seconds(seconds)} | {count} |")
    lines.append(f"| rest | {format_seconds(rest_total)} | |")
    lines.append(f"| **all notebooks** | **{format_seconds(sum(e['seconds'] for e in executed.values()))}** | |")
    return lines + [""]


def write_report_page(src: Path, report: dict, parts=()) -> Path:
    path = src / f"{REPORT_PAGE}.md"
    path.write_text(report_page(report, parts), encoding="utf-8")
    return path


def fill_report_page(html_dir: Path, report: dict) -> None:
    """Put the render time, Sphinx warning count and whole build time into the rendered
    report page (which was written before they were known)."""
    values = {
        PLACEHOLDERS["render"]: format_seconds(report.get("render_seconds", 0.0)),
        PLACEHOLDERS["warnings"]: str(len(report.get("sphinx_warnings", []))),
        PLACEHOLDERS["total"]: format_seconds(report.get("total_seconds", 0.0)),
    }
    for path in (html_dir / f"{REPORT_PAGE}.html", html_dir / "_sources" / f"{REPORT_PAGE}.md"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            for key, value in values.items():
                text = text.replace(key, value)
            path.write_text(text, encoding="utf-8")

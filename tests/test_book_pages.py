"""A book that shows its work (issue #10, item 4): per notebook page a download button
for the executed notebook and the command that recomputes it; a "Build report" page
written from build_report.json; a citation page."""
from __future__ import annotations

import html as htmllib
import json
import re
from pathlib import Path

import nbformat
import pytest

from fm_core.book.build import read_build_report
from fm_core.book.render import PLACEHOLDERS, report_page


def _text(page: Path) -> str:
    return htmllib.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


@pytest.fixture
def built(only_book):
    """conftest.py's book of two tiny notebooks: 10_first executed, then 20_second executed
    alone (--only) with 10_first reused. Its output folder and html folder."""
    return only_book.out, only_book.html


def test_each_page_ends_with_the_command_that_recomputes_it(built):
    out, html = built
    executed = nbformat.read(out / "_build" / "src" / "20_second.ipynb", as_version=4)
    note = executed.cells[-1]
    assert note.cell_type == "markdown"
    assert "papermill" in note.source and "-p profile quick -p data synthetic" in note.source
    text = _text(html / "20_second.html")
    assert "Re-run this page" in text
    assert re.search(r"papermill \S*20_second\.ipynb out\.ipynb -p profile quick -p data synthetic",
                     text), text[-1500:]
    assert "python -m fm_core book --profile quick --data synthetic --only 20_second" in text
    assert "no Binder or Colab" in text
    # reused pages keep their own note (with their own profile), once
    first = nbformat.read(out / "_build" / "src" / "10_first.ipynb", as_version=4)
    notes = [c for c in first.cells if "fm-rerun-note" in c.get("metadata", {}).get("tags", [])]
    assert len(notes) == 1 and "-p profile smoke" in notes[0].source


def test_download_button_gives_the_executed_notebook(built):
    _, html = built
    page = (html / "20_second.html").read_text()
    links = re.findall(r'href="([^"]*_sources/20_second\.ipynb)"', page)
    assert links, "no download button for the notebook"
    downloaded = json.loads((html / links[0]).read_text())
    outputs = [o for c in downloaded["cells"] for o in c.get("outputs", [])]
    assert any("computed quick" in "".join(o.get("text", "")) for o in outputs), \
        "the download is not the executed notebook"
    assert not re.search(r"mybinder|colab\.research|launch-buttons|thebe-launch-button", page, re.I)


def test_build_report_page(built):
    out, html = built
    report = read_build_report(out)
    page = html / "build_report.html"
    assert page.is_file(), "the build report page is not in the book"
    assert "build_report.html" in (html / "index.html").read_text(), "not in the toc"
    text = _text(page)
    for placeholder in PLACEHOLDERS.values():
        assert placeholder not in text
        assert placeholder not in (html / "_sources" / "build_report.md").read_text()
    assert re.search(r"10_first\s*\|?\s*reused\s*\|?\s*smoke", text.replace("\n", " ")) \
        or ("10_first" in text and "reused" in text)
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", page.read_text(), re.S)
    cells = [[htmllib.unescape(re.sub(r"<[^>]+>", "", c)).strip()
              for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r, re.S)] for r in rows]
    by_name = {}
    for c in cells:  # the execution table comes first; "where the time goes" repeats names
        if c:
            by_name.setdefault(c[0], c)
    assert by_name["10_first"][1:4] == ["reused", "smoke", "profile=smoke"]
    assert by_name["20_second"][1:4] == ["executed", "quick", "profile=quick, data=synthetic"]
    assert by_name["20_second"][4].endswith(" s")
    assert any(name.startswith("total") for name in by_name)
    assert f"Sphinx warnings: {len(report['sphinx_warnings'])}" in text
    assert "Where the time goes" in text  # the stage table of the executed notebook follows
    assert re.search(r"rendering the website \(Jupyter Book\): \d", text)
    assert re.search(r"the whole build: \d", text)
    assert "python -m fm_core book --profile quick --data synthetic --only 20_" in text


def test_report_page_lists_skipped_and_failed_notebooks():
    md = report_page({"profile": "smoke", "data": None, "only": None, "notebooks": {
        "01_a.ipynb": {"status": "executed", "profile": "smoke", "seconds": 12.5,
                       "parameters": {"profile": "smoke"}},
        "02_b.ipynb": {"status": "skipped"}}})
    assert "| [01_a](01_a.ipynb) | executed | smoke | `profile=smoke` | 12.5 s |" in md
    assert "| 02_b | skipped | - | - | - |" in md
    assert "**12.5 s**" in md


def test_citation_page_is_in_the_book(built):
    _, html = built
    text = _text(html / "citation.html")
    assert "@article{karantzas2022" in text and "@misc{fmcompanion2026" in text
    assert "[Karantzas et al., 2022]" in text

"""The book renders with no network (issue #10): MathJax, fonts, icons and scripts come
with the website; one citation style; one search bar; the citation files.

The checks of a built website read the smoke book, built once per session (conftest.py);
its introduction holds the formulas."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from fm_core.book import check as book_check
from fm_core.book.build import read_build_report

REPO = Path(__file__).resolve().parent.parent
BOOK = REPO / "book"
#: the page with formulas (inline, and a displayed equation)
FORMULAS = "00_introduction.html"


@pytest.fixture
def site(smoke_book) -> Path:
    """The html folder of the smoke book."""
    return smoke_book[1].parent


def _pages(site: Path) -> list[Path]:
    return sorted(site.glob("*.html"))


def test_the_book_builds_without_warnings(site):
    report = read_build_report(site.parent.parent)
    assert report["status"] == "ok" and report["sphinx_warnings"] == []
    assert {"index.html", FORMULAS, "citation.html", "build_report.html"} <= \
        {p.name for p in _pages(site)}


def test_no_page_fetches_anything_from_the_network(site):
    remote = {p.name: book_check.remote_assets(p.read_text()) for p in _pages(site)}
    assert not {k: v for k, v in remote.items() if v}, remote
    # no stylesheet pulls fonts or icons remotely either
    css = {str(p.relative_to(site)): book_check.remote_urls_in_css(p.read_text(errors="replace"))
           for p in (site / "_static").rglob("*.css")}
    assert not {k: v for k, v in css.items() if v}, css


def test_mathjax_is_shipped_with_the_site(site):
    page = (site / FORMULAS).read_text()
    scripts = re.findall(r'<script[^>]+src="([^"]*mathjax[^"]*)"', page, re.I)
    assert scripts, "the formula page loads no MathJax"
    for src in scripts:
        assert not book_check.REMOTE.match(src), src
        assert (site / src.split("?")[0]).is_file(), f"{src} is not in the site"
    # the CommonHTML fonts MathJax asks for are there too
    assert list((site / "_static" / "mathjax").rglob("*.woff")), "MathJax fonts are missing"


@pytest.mark.skipif(book_check.find_chromium() is None,
                    reason="Chromium is not installed (apt-get install chromium): the "
                           "offline rendering of formulas is not checked")
def test_formulas_render_offline_in_chromium(site, tmp_path):
    dom = book_check.dump_dom(site / FORMULAS)
    assert re.search(r"<mjx-container|MathJax_", dom), "MathJax typeset nothing"
    assert len(re.findall(r"<mjx-container", dom)) >= 3
    assert book_check.page_problems(site / FORMULAS, png=tmp_path / "formulas.png") == []


def test_one_citation_style(site):
    """The text cites "[Karantzas et al., 2022]" and the bibliography's label is the same,
    not pybtex's alpha label "[KBOC+22]"."""
    page = (site / "citation.html").read_text()
    text = re.sub(r"<[^>]+>", "", page)
    assert "KBOC" not in text
    assert "[Karantzas et al., 2022]" in text
    labels = re.findall(r'<span class="label">(.*?)</span>\s*</span>', page, re.S)
    labels = [re.sub(r"<[^>]+>", "", l) for l in labels]
    assert "[Karantzas et al., 2022]" in labels, labels
    assert "[The fm_core authors, 2026]" in labels, labels
    # the index cites into the same bibliography, in the same words
    assert "Karantzas et al., 2022" in re.sub(r"<[^>]+>", "", (site / "index.html").read_text())


def test_one_search_bar(site):
    page = (site / FORMULAS).read_text()
    header = re.search(r'<header[^>]*id="pst-header".*?</header>', page, re.S)
    assert header is None or "search" not in header.group(0).lower(), \
        "the header shows a second search bar"
    sidebar = page[page.index('id="pst-primary-sidebar"'):]
    assert "search-button-field" in sidebar, "the sidebar's search bar is gone"


def test_citation_files_agree():
    from pybtex.database import parse_string

    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    assert cff["title"] and cff["authors"] and cff["message"]
    paper = cff["preferred-citation"]
    assert paper["type"] == "article" and paper["doi"] == "10.3389/frai.2022.890016"
    assert [a["family-names"] for a in paper["authors"]][:3] == \
        ["Karantzas", "Besier", "Ortega Caro"]

    bib = parse_string((BOOK / "references.bib").read_text(), "bibtex")
    assert bib.entries["karantzas2022"].fields["doi"] == paper["doi"]
    assert str(paper["year"]) == bib.entries["karantzas2022"].fields["year"]
    assert cff["version"] in bib.entries["fmcompanion2026"].fields["howpublished"]
    # the BibTeX shown on the citation page is the bibliography's, entry for entry
    page = (BOOK / "citation.md").read_text()
    blocks = re.findall(r"```bibtex\n(.*?)```", page, re.S)
    shown = parse_string("\n".join(blocks), "bibtex")
    assert set(shown.entries) == {"karantzas2022", "fmcompanion2026"}
    for key, entry in shown.entries.items():
        assert dict(entry.fields) == dict(bib.entries[key].fields), key


@pytest.mark.skipif(book_check.find_chromium() is None,
                    reason="Chromium is not installed (apt-get install chromium)")
def test_a_console_error_is_a_page_problem(tmp_path):
    """A script error a reader never sees on screen still shows in page_problems (the
    book once declared sphinx-thebe's `const THEBE_JS_URL` twice on every page)."""
    page = tmp_path / "twice.html"
    page.write_text("<html><body><script>const URL_ONCE = 1;</script>"
                    "<script>const URL_ONCE = 2;</script><p>text</p></body></html>")
    assert any("console error: Uncaught SyntaxError" in p for p in book_check.page_problems(page))
    page.write_text("<html><body><script>const URL_ONCE = 1;</script><p>text</p></body></html>")
    assert book_check.page_problems(page) == []


def test_overflowing_tables_are_found(tmp_path):
    """A table far wider than the text column is reported; a narrow one is not."""
    from fm_core.book import check as book_check
    if book_check.find_chromium() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    wide = "".join(f"<th>a long column header number {i}</th>" for i in range(30))
    page = tmp_path / "p.html"
    page.write_text("<html><body><main><article class='bd-article' style='width:600px'>"
                    f"<table><thead><tr>{wide}</tr></thead></table>"
                    "<table><thead><tr><th>x</th><th>y</th></tr></thead></table>"
                    "</article></main></body></html>")
    found = book_check.overflowing_tables(page)
    assert len(found) == 1 and "a long column header number 0" in found[0], found
    # page_problems measures them in the run that reads the page's text
    problems = book_check.page_problems(page, table_width=1280)
    assert problems == [f"table wider than the text column at 1280 px: {found[0]}"], problems
    assert book_check.page_problems(page) == []
    assert not list(tmp_path.glob(".fm-measure-*")), "the measuring copy must be removed"

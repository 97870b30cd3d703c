"""The book's Sphinx extension drops sphinx-thebe's assets from every page."""
from types import SimpleNamespace

from fm_core.book import sphinx as book_sphinx


def test_thebe_assets_are_dropped_and_others_kept():
    config = SimpleNamespace(filename=None, attributes={"body": 'const THEBE_JS_URL = "https://unpkg.com/x"'})
    thebe_js = SimpleNamespace(filename="sphinx-thebe.js", attributes={"async": "async"})
    kept = SimpleNamespace(filename="_static/mathjax/tex-chtml.js", attributes={})
    context = {"script_files": [config, thebe_js, kept, config],
               "css_files": ["_static/sphinx-thebe.css", "_static/styles/theme.css"]}
    book_sphinx._drop_thebe(None, "page", "page.html", context, None)
    assert context["script_files"] == [kept]
    assert context["css_files"] == ["_static/styles/theme.css"]

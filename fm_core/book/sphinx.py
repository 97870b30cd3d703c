"""The book's own Sphinx extension (``sphinx.extra_extensions`` in ``book/_config.yml``).

- One citation style: the text cites author-year (``bibtex_reference_style:
  author_year``, "[Karantzas et al., 2022]") and the bibliography's labels are the same
  author-year text (the style :data:`STYLE_NAME`, set as ``bibtex_default_style``),
  not pybtex's alpha labels ("[KBOC+22]").
- Offline: the book must render with no network. MathJax comes from the
  ``sphinx-mathjax-offline`` extension (``_static/mathjax``); a remote ``mathjax_path``
  or a remote script/stylesheet added to a page is reported as a Sphinx warning (so a
  strict build fails) rather than silently needing the network.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict

STYLE_NAME = "fm_author_year"
_REMOTE = re.compile(r"^(https?:)?//", re.I)


def _plain(latex: str) -> str:
    from pybtex.richtext import Text
    return Text.from_latex(latex).render_as("text")


def author_year_label(entry) -> str:
    """``Karantzas et al., 2022``, ``Smith and Jones, 2020``, ``Smith, 2020``."""
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_plain(" ".join(p.prelast_names + p.last_names)) for p in persons]
    if not names:
        who = _plain(entry.fields.get("organization", entry.key))
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    year = _plain(entry.fields.get("year", "n.d."))
    return f"{who}, {year}"


def _register_style() -> None:
    import pybtex.plugin
    from pybtex.style.formatting.unsrt import Style as UnsrtStyle
    from pybtex.style.labels import BaseLabelStyle

    class AuthorYearLabels(BaseLabelStyle):
        def format_labels(self, sorted_entries):
            labels = [author_year_label(e) for e in sorted_entries]
            counts, seen = Counter(labels), defaultdict(int)
            for label in labels:  # two papers of one author and year: 2022a, 2022b
                if counts[label] > 1:
                    seen[label] += 1
                    label += "abcdefghijklmnopqrstuvwxyz"[(seen[label] - 1) % 26]
                yield label

    class AuthorYearStyle(UnsrtStyle):
        default_label_style = AuthorYearLabels
        default_sorting_style = "author_year_title"

    pybtex.plugin.register_plugin("pybtex.style.formatting", STYLE_NAME, AuthorYearStyle,
                                  force=True)


def _check_mathjax(app) -> None:
    from sphinx.util import logging
    path = str(getattr(app.config, "mathjax_path", "") or "")
    if _REMOTE.match(path):
        logging.getLogger(__name__).warning(
            f"MathJax is loaded from {path}: offline, formulas show as TeX; add "
            "sphinx-mathjax-offline to sphinx.extra_extensions")


def _check_remote_assets(app, pagename, templatename, context, doctree) -> None:
    from sphinx.util import logging
    remote = []
    for key in ("script_files", "css_files"):
        for asset in context.get(key, []) or []:
            name = getattr(asset, "filename", asset)
            if isinstance(name, str) and _REMOTE.match(name) and "mathjax" not in name.lower():
                remote.append(name)
    if remote:
        logging.getLogger(__name__).warning(
            f"page {pagename} loads {', '.join(sorted(set(remote)))} from the network")


def _is_thebe_asset(asset) -> bool:
    name = str(getattr(asset, "filename", asset) or "")
    body = str((getattr(asset, "attributes", None) or {}).get("body", ""))
    return "sphinx-thebe" in name or "THEBE_JS_URL" in body


def _drop_thebe(app, pagename, templatename, context, doctree) -> None:
    """Leave sphinx-thebe's scripts and style out of every page: the book has no live
    code cells (``launch_buttons.thebe: false``), and sphinx-thebe registers its
    configuration script once per read of the sources, so a rebuild declared
    ``const THEBE_JS_URL`` twice (a SyntaxError in the console) and named a remote URL."""
    for key in ("script_files", "css_files"):
        if context.get(key):  # in place: handlers that run later (MathJax's) append to this list
            context[key][:] = [a for a in context[key] if not _is_thebe_asset(a)]


def _no_figure_numbers(app, config) -> None:
    """Keep ``numfig`` off as ``_config.yml`` asks: sphinx-jupyterbook-latex turns it on for
    every builder, and the book's running "Fig. N" clashed with the paper's figure numbers
    that the captions quote."""
    config["numfig"] = False


def setup(app):
    _register_style()
    app.connect("config-inited", _no_figure_numbers, priority=900)  # after sphinx-jupyterbook-latex
    app.connect("builder-inited", _check_mathjax)
    app.connect("html-page-context", _drop_thebe, priority=400)
    app.connect("html-page-context", _check_remote_assets)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

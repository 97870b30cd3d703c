"""Checks of the rendered website, as a reader would see it (used by the tests).

- :func:`remote_assets`: scripts, stylesheets, fonts, icons and images that a page
  would fetch from the network (``src``/``href`` starting ``http(s)://`` or ``//``);
  the book must need none.
- :func:`dump_dom`: the page rendered by headless Chromium (and, with ``png``, its
  screenshot) with the
  network cut off (a proxy that refuses, and every host name unresolvable), after
  MathJax had time to typeset.
- :func:`page_problems`: what a reader should never see: a blank page, a Python
  traceback, raw TeX (MathJax did not run), an image whose file is missing.

Chromium is optional: :func:`find_chromium` returns None where it is not installed
(Debian: ``apt-get install chromium``).
"""
from __future__ import annotations

import os
import re
from html import unescape
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

REMOTE = re.compile(r"^\s*(https?:)?//", re.I)
#: raw TeX that MathJax should have replaced (outside code blocks)
RAW_TEX = re.compile(r"\$\$|\\frac\b|\\begin\{|\\\(|\\\[|\\mathcal\b|\\sum\b")
TRACEBACK = "Traceback (most recent call last)"
OFFLINE_FLAGS = ["--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]


class _Assets(HTMLParser):
    """Collects the assets of a page and its text outside code, scripts and styles."""

    _HIDDEN = {"script", "style", "pre", "code", "textarea", "mjx-assistive-mml"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.assets: list[tuple[str, str]] = []  # (tag, url)
        self.images: list[str] = []
        self.text: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.assets.append(("script", a["src"]))
        elif tag == "link" and a.get("href"):
            rel = (a.get("rel") or "").lower()
            if any(r in rel for r in ("stylesheet", "preload", "icon", "modulepreload", "font")):
                self.assets.append((f"link {rel}", a["href"]))
        elif tag in ("img", "source", "iframe", "embed") and a.get("src"):
            self.assets.append((tag, a["src"]))
            if tag == "img":
                self.images.append(a["src"])
        if tag in self._HIDDEN:
            self._hidden += 1

    def handle_endtag(self, tag):
        if tag in self._HIDDEN and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.text.append(data)


def _parse(html: str) -> _Assets:
    parser = _Assets()
    parser.feed(html)
    parser.close()
    return parser


def remote_assets(html: str) -> list[str]:
    """``tag url`` of each script, stylesheet, font, icon or image fetched remotely."""
    found = [f"{tag} {url}" for tag, url in _parse(html).assets if REMOTE.match(url)]
    # stylesheets inlined in the page: @import url(...) or url(https://fonts...)
    found += [f"style {m}" for m in re.findall(r"url\(\s*['\"]?((?:https?:)?//[^)'\"]+)", html)]
    return found


def remote_urls_in_css(css: str) -> list[str]:
    """Remote ``@import``/``url()`` targets of a stylesheet (fonts, icons)."""
    return re.findall(r"url\(\s*['\"]?((?:https?:)?//[^)'\"]+)", css) + \
        re.findall(r"@import\s+['\"]((?:https?:)?//[^'\"]+)", css)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _chromium(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    browser = find_chromium()
    if browser is None:
        raise RuntimeError("Chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="fm-chromium-") as profile:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--no-first-run", "--disable-extensions", "--mute-audio",
               f"--user-data-dir={profile}", *OFFLINE_FLAGS, "--virtual-time-budget=10000",
               *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ, HOME=profile))


# A console line in Chromium's log: [pid:tid:time:INFO:CONSOLE(line)] "message", source: ...
CONSOLE_LINE = re.compile(r':CONSOLE(?:\(\d+\)|:\d+)\] "(?P<message>.*)", source: (?P<source>\S*)')
CONSOLE_ERROR = re.compile(r"Uncaught|\bError\b|Failed to load")


SCREENSHOT_WINDOW = "1280,2000"  # a page's screenshot (dump_dom with png)


def dump_dom(page: str | os.PathLike, timeout: float = 120, console: list | None = None,
             window: str | None = None, png: str | os.PathLike | None = None) -> str:
    """The page's DOM after its scripts ran (MathJax included), network cut off, in a
    window of ``window`` ("width,height") pixels if given. With a ``console`` list, the
    page's console errors (uncaught exceptions, errors, failed loads) are appended to it
    as "message (source)". With ``png``, the same Chromium run also screenshots the page
    there (in a window of ``window`` or :data:`SCREENSHOT_WINDOW`): one
    browser start per page instead of two."""
    shot = []
    if png is not None:
        png = Path(png).resolve()
        png.parent.mkdir(parents=True, exist_ok=True)
        window, shot = window or SCREENSHOT_WINDOW, [f"--screenshot={png}"]
    size = [f"--window-size={window}"] if window else []
    proc = _chromium([*size, *shot, "--enable-logging=stderr", "--v=0", "--dump-dom", Path(page).resolve().as_uri()],
                     timeout)
    if proc.returncode != 0 or "<html" not in proc.stdout.lower() or (png is not None and not png.is_file()):
        raise RuntimeError(f"chromium --dump-dom{' --screenshot' if shot else ''} failed ({proc.returncode}): "
                           f"{proc.stderr.strip()[-500:]}")
    if console is not None:
        for match in CONSOLE_LINE.finditer(proc.stderr):
            if CONSOLE_ERROR.search(match["message"]):
                console.append(f"{match['message']} ({match['source'].rsplit('/', 1)[-1]})")
    return proc.stdout


#: appended to a copy of a page by :func:`overflowing_tables`: once laid out, every table
#: wider than the page's text column is named (its first header cells) in an attribute
_MEASURE_TABLES = """<script>
window.addEventListener("load", () => setTimeout(() => {
  const column = document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
  const width = column.clientWidth, out = [];
  document.querySelectorAll("article table, main table").forEach((table) => {
    if (table.scrollWidth > width + 1) {
      const head = Array.from(table.querySelectorAll("th")).slice(0, 3).map((c) => c.textContent.trim());
      out.push(`${table.scrollWidth}px > ${width}px: ${head.join(" | ")}`);
    }
  });
  document.body.setAttribute("data-fm-overflow", JSON.stringify(out));
}, 300));
</script>"""


def overflowing_tables(page: str | os.PathLike, width: int = 1280, timeout: float = 120) -> list[str]:
    """The tables of a rendered page that are wider than its text column in a window
    ``width`` pixels wide (their hidden columns need a scroll bar): "<table width> >
    <column width>: <first headers>" each. Measured by Chromium on a copy of the page,
    written beside it (so its styles load) and removed afterwards."""
    return _measured_dom(Path(page), width, timeout)[1]


def _measured_dom(page: Path, width: int, timeout: float, console: list | None = None,
                  png: str | os.PathLike | None = None) -> tuple[str, list[str]]:
    """One Chromium run over a copy of the page with :data:`_MEASURE_TABLES` appended: the
    DOM after its scripts ran (console errors appended to ``console``, as
    :func:`dump_dom` does) and the tables wider than the text column; with ``png``, its
    screenshot too (the script only sets an attribute: the copy looks as the page does)."""
    import json
    probe = page.with_name(f".fm-measure-{page.name}")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _MEASURE_TABLES + "</body>"),
                     encoding="utf-8")
    try:
        dom = dump_dom(probe, timeout, console, window=f"{width},2000", png=png)
    finally:
        probe.unlink(missing_ok=True)
    match = re.search(r'data-fm-overflow="([^"]*)"', dom)
    if match is None:
        raise RuntimeError(f"chromium did not measure the tables of {page.name}")
    return dom, json.loads(unescape(match[1]))


def dominant_colour_fraction(png: str | os.PathLike) -> float:
    """The fraction of the image's pixels that have its most common colour."""
    from PIL import Image
    with Image.open(png) as image:
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=rgb.width * rgb.height)
        return max(count for count, _ in colours) / (rgb.width * rgb.height)


def missing_images(page: str | os.PathLike, html: str | None = None) -> list[str]:
    """The ``<img src>`` of a page whose local file does not exist."""
    page = Path(page)
    html = page.read_text(encoding="utf-8") if html is None else html
    missing = []
    for src in _parse(html).images:
        if REMOTE.match(src) or src.startswith("data:"):
            continue
        path = unquote(urlsplit(src).path)
        if path and not (page.parent / path).is_file():
            missing.append(src)
    return missing


def page_problems(page: str | os.PathLike, png: str | os.PathLike | None = None,
                  blank_fraction: float = 0.995, table_width: int | None = None) -> list[str]:
    """What is wrong with a rendered page, as a reader would see it: a blank screenshot
    (``blank_fraction`` of its pixels one colour), a Python traceback in its text, raw
    TeX left by MathJax, a broken image link, an asset fetched from the network, an
    error in the browser's console.
    With ``png``, the page is screenshotted there, in the Chromium run that reads its text. With
    ``table_width``, tables wider than the text column in a window that wide are problems
    too (:func:`overflowing_tables`), measured in the same Chromium run as the text."""
    page = Path(page)
    problems = []
    source = page.read_text(encoding="utf-8")
    problems += [f"remote asset: {a}" for a in remote_assets(source)]
    problems += [f"broken image: {src}" for src in missing_images(page, source)]
    if find_chromium() is None:
        text = " ".join(_parse(source).text)
    else:
        console: list[str] = []
        if table_width is None:
            dom = dump_dom(page, console=console, png=png)
        else:
            dom, wide = _measured_dom(page, table_width, 120, console, png=png)
            problems += [f"table wider than the text column at {table_width} px: {t}" for t in wide]
        text = " ".join(_parse(dom).text)
        problems += [f"console error: {line}" for line in console]
        for match in RAW_TEX.finditer(text):
            start = max(0, match.start() - 40)
            problems.append(f"raw TeX: ...{text[start:match.end() + 40]!r}...")
            break
        if png is not None:  # taken in the run that read the text
            fraction = dominant_colour_fraction(png)
            if fraction >= blank_fraction:
                problems.append(f"blank page: {fraction:.1%} of the screenshot is one colour")
    if TRACEBACK in text or TRACEBACK in source:
        problems.append("a Python traceback is shown")
    return problems

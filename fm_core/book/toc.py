"""The book's table of contents: the committed ``book/_toc.yml`` is a template.

The build copies it into the build tree with the pages that are not there removed (empty
parts dropped; a missing page's sub-pages promoted) and any notebook that it does not
list appended in a last part (:data:`EXTRA_PART_CAPTION`), so a notebook added to
``book/`` appears without editing the toc.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import yaml

from fm_core.errors import UserError

EXTRA_PART_CAPTION = "More pages"


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


def _read_template(book_dir) -> dict:
    return yaml.safe_load((Path(book_dir) / "_toc.yml").read_text(encoding="utf-8")) or {}


def write_toc(book_dir: Path, src: Path, notebooks: list[str]) -> dict:
    """Write ``src/_toc.yml`` from ``book_dir/_toc.yml`` for the pages in ``src``: the
    ``notebooks`` given (in order) and every markdown/rst page found there."""
    template = _read_template(book_dir)
    if not isinstance(template, dict) or "root" not in template:
        raise UserError(f"{book_dir / '_toc.yml'} has no 'root:' entry")
    others = [str(p.relative_to(src).with_suffix("")).replace("\\", "/")
              for ext in ("*.md", "*.rst") for p in src.rglob(ext)]
    toc = make_toc(template, notebooks, others)
    (src / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")
    return toc


def toc_parts(book_dir: Path) -> list[tuple[str, list[str]]]:
    """The parts of ``book_dir/_toc.yml``: (caption, the pages under it, sub-pages
    included), in order; [] for a toc without parts."""
    template = _read_template(book_dir)

    def pages(entries) -> list[str]:
        out = []
        for entry in entries or []:
            key = _entry_key(entry)
            out += ([key] if key else []) + pages(entry.get("sections")) + pages(entry.get("chapters"))
        return out

    if not isinstance(template, dict):  # write_toc says what is wrong with it, in one line
        return []
    return [(str(part.get("caption", "")), pages(part.get("chapters"))) for part in template.get("parts", [])]

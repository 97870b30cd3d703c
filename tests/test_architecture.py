"""The shape of the library: no import circles, no module grown past ~350 lines without
a stated reason, and no measured number typed by hand into README or book prose."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "fm_core"
MAX_LINES = 350


def _imports(path: Path) -> set[str]:
    """The fm_core modules that ``path`` imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fm_core."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("fm_core."))
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    return found & modules - {path.stem}


def import_graph() -> dict[str, set[str]]:
    return {p.stem: _imports(p) for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_fm_core_has_no_import_circle():
    graph = import_graph()
    assert graph["data"] >= {"dataset", "synthetic", "datafiles"}  # the parser sees imports
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_modules_stay_small_or_say_why(path):
    lines = len(path.read_text().splitlines())
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert lines <= MAX_LINES or "Size:" in doc, (
        f"{path.name} has {lines} lines; split it, or say why in its docstring ('Size: ...')")


# ------------------------------------------------------------- numbers typed by hand
PERCENT = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s?%")


def _prose_of_notebooks() -> list[tuple[str, str]]:
    out = []
    for nb in sorted((ROOT / "book").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        out += [(nb.name, "".join(c["source"])) for c in cells if c["cell_type"] == "markdown"]
    return out


def _paper_numbers() -> set[float]:
    numbers = set()

    def walk(v):
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            numbers.add(round(float(v), 2))

    walk(json.loads((PACKAGE / "paper_numbers.json").read_text()))
    return numbers


def test_book_prose_types_no_measured_percentage():
    """Percentages in the book's prose are the paper's (its data file) or definitions
    (split sizes, thresholds), never this build's measurements."""
    allowed = _paper_numbers() | {0.0, 50.0, 85.0, 15.0, 99.0, 100.0}
    for name, text in _prose_of_notebooks():
        for match in PERCENT.finditer(text):
            assert round(float(match.group(1)), 2) in allowed, f"{name}: typed percentage {match.group(0)!r}"


def test_readme_measured_numbers_come_from_the_results_file():
    """Every percentage in README is the paper's or sits in the generated block, which
    equals what ``fm_core.store.headline.readme_block`` makes from ``expected/quick.json``."""
    from fm_core.store import headline

    readme = (ROOT / "README.md").read_text()
    begin, end = headline.README_BEGIN, headline.README_END
    assert readme.count(begin) == 1 and readme.count(end) == 1
    before, rest = readme.split(begin)
    block, after = rest.split(end)
    assert block.strip() == headline.readme_block(headline.load_expected("quick")).strip(), \
        "README's results block is stale: run `python -m fm_core readme`"
    allowed = _paper_numbers()
    for text in (before, after):
        for match in PERCENT.finditer(text):
            assert round(float(match.group(1)), 2) in allowed, f"README: typed percentage {match.group(0)!r}"

"""The shape of the library: packages that import only downwards (import-linter's layers
contract in pyproject.toml) and no import circles, a package list that names every
package, no module grown past ~350 lines without a stated reason (none past 400), and no
measured number typed by hand into README or book prose."""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "fm_core"
MAX_LINES = 350


MAX_LINES_EVER = 400  # past this a module is split, whatever its docstring says
MODULES = sorted(PACKAGE.rglob("*.py"))
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")  # installed with the package (pyproject.toml)


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """import-linter's verdict on the contracts of ``root/pyproject.toml``, for the
    fm_core found under ``root`` (the copy there, not the installed one)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)


def test_packages_import_only_downwards():
    """The layers contract of pyproject.toml (cli > book > store > methods > science >
    masks > nets > data > fourier/profiles > utils > paths/errors), checked by import-linter."""
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_layers_contract_fails_when_a_lower_layer_imports_a_higher_one(tmp_path):
    """The check can fail: in a copy of the package, the models module imports the book."""
    shutil.copytree(PACKAGE, tmp_path / "fm_core", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    models = tmp_path / "fm_core" / "nets" / "models.py"
    models.write_text(models.read_text() + "\n\ndef _violation():\n    from fm_core.book import report  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "fm_core.nets.models -> fm_core.book.report" in result.stdout, result.stdout


def test_fm_core_has_no_import_circle():
    """Within a layer too (import-linter's layers allow any imports inside one package):
    no module reaches itself through the import graph (grimp's, which import-linter uses)."""
    import grimp

    graph = grimp.build_graph("fm_core")
    assert graph.direct_import_exists(importer="fm_core.data", imported="fm_core.data.synthetic")  # it sees imports
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            assert back is None, "import circle: " + " -> ".join((module,) + tuple(back))


def test_the_package_list_names_every_package_and_module():
    """fm_core's docstring is the package list (README points to it): its table names each
    sub-package once and nothing else, and its last line every top-level module."""
    import pkgutil

    import fm_core

    doc = fm_core.__doc__
    table = doc.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    listed = [line.split()[0] for line in table.splitlines()]
    found = {m.name: m.ispkg for m in pkgutil.iter_modules(fm_core.__path__)}
    assert sorted(listed) == sorted(name for name, is_package in found.items() if is_package)
    beside = re.findall(r"``(\w+)``", doc.split("beside them", 1)[1])
    assert sorted(beside) == sorted(name for name, is_package in found.items()
                                    if not is_package and name != "__main__")


def test_public_names_stay_where_users_find_them():
    from fm_core.data import load_dataset  # noqa: F401
    from fm_core.masks import DatasetMask, ImageMasks, LambdaPath, MaskResult  # noqa: F401
    from fm_core.methods import FrequencyMap, get_method

    assert callable(get_method("heatmap").attribute) and FrequencyMap


def test_one_name_per_thing_and_user_errors_are_value_errors():
    import fm_core.methods
    from fm_core.errors import UserError
    from fm_core.masks import FourierMask  # the layer
    from fm_core.methods import DatasetMaskMethod  # the peer-method face of a dataset mask

    assert not hasattr(fm_core.methods, "FourierMask") and DatasetMaskMethod is not FourierMask
    assert issubclass(UserError, ValueError)  # as scikit-learn's input errors are


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_modules_stay_small_or_say_why(path):
    lines = len(path.read_text().splitlines())
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    name = path.relative_to(PACKAGE).as_posix()
    assert lines <= MAX_LINES or "Size:" in doc, (
        f"{name} has {lines} lines; split it, or say why in its docstring ('Size: ...')")
    assert lines <= MAX_LINES_EVER, f"{name} has {lines} lines: split it"



def test_every_page_has_its_module_and_every_module_its_page():
    """``book/NN_<name>.ipynb`` <-> ``fm_core/pages/<name>.py`` (fm_core.pages' docstring);
    the modules the pages share (``SHARED``) are not pages and have no notebook."""
    from fm_core.pages import SHARED

    pages = {re.sub(r"^\d+_", "", nb.stem) for nb in (ROOT / "book").glob("*.ipynb")}
    modules = {p.stem for p in (PACKAGE / "pages").glob("*.py") if p.stem != "__init__"}
    assert len(pages) == len(list((ROOT / "book").glob("*.ipynb")))  # no two notebooks share a name
    assert pages - modules == set(), "a notebook without its module in fm_core/pages/"
    assert modules - pages == set(SHARED), "a module of fm_core/pages/ without its notebook (or not in SHARED)"
    assert not set(SHARED) & pages

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

    walk(json.loads((PACKAGE / "science" / "paper_numbers.json").read_text()))
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
    equals what ``fm_core.book.headline.readme_block`` makes from ``expected/quick.json``."""
    from fm_core.book import headline

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

"""Every name a notebook's code reads is bound in the notebook (imported, assigned or a
parameter) or is a builtin: a page that uses a module it never imports fails only when the
book is built (page 11 once read ``mask_tables`` without importing it), so this catches it
in the fast tier, from the notebooks' source alone (``symtable``, no execution)."""
from __future__ import annotations

import builtins
import symtable

import nbformat
import pytest

from fm_core.book.build import list_notebooks
from fm_core.paths import REPO_ROOT

BOOK = REPO_ROOT / "book"
# names IPython provides in every kernel
IPYTHON_NAMES = {"display", "get_ipython", "In", "Out"}


def unbound_names(source: str) -> set[str]:
    """Names read somewhere in ``source`` (one module: the notebook's code cells in order)
    that nothing in it binds and that are not builtins."""
    top = symtable.symtable(source, "<notebook>", "exec")
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    known = bound | set(dir(builtins)) | IPYTHON_NAMES
    read: set[str] = set()

    def walk(table, is_top):
        for s in table.get_symbols():
            if s.is_referenced() and (is_top or s.is_global()):
                read.add(s.get_name())
        for child in table.get_children():
            walk(child, False)

    walk(top, True)
    return read - known


def _code(path) -> str:
    cells = nbformat.read(path, 4).cells
    lines = [line for cell in cells if cell.cell_type == "code"
             for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("path", list_notebooks(BOOK), ids=lambda p: p.stem)
def test_every_name_a_page_reads_is_bound(path):
    assert not unbound_names(_code(path)), f"{path.name} reads names it never binds"


def test_the_check_finds_a_module_never_imported():
    assert unbound_names("from fm_core.pages import common\nrows = mask_tables.rows(common.x)\n") == {"mask_tables"}
    assert unbound_names("import math\nf = lambda v: math.sqrt(v) + w\n[q for q in range(3)]\n") == {"w"}

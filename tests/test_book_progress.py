"""Progress of the notebooks' long stages reaches the terminal of the book build, and
nothing of it reaches the pages (issue #10, item 2)."""
from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import nbformat

from fm_core.book.build import build_book
from fm_core.book.progress import ProgressTail
from fm_core.utils import progress_bar

REPO = Path(__file__).resolve().parent.parent
BOOK = REPO / "book"

STAGE = """\
import time
from fm_core.utils import progress_bar
for epoch in progress_bar(range(4), desc="tiny stage", unit="epoch"):
    time.sleep(0.3)
bar = progress_bar(total=6, desc="tiny masks", unit="img", leave=False)
for _ in range(3):
    time.sleep(0.2)
    bar.update(2)
bar.close()
print("stage done")"""


def test_progress_bar_writes_to_the_progress_file_only(tmp_path, monkeypatch, capfd):
    log = tmp_path / "progress.log"
    monkeypatch.setenv("FM_PROGRESS_FILE", str(log))
    monkeypatch.setenv("FM_PROGRESS_INTERVAL", "0")
    monkeypatch.setenv("TQDM_DISABLE", "1")  # as in the build: the file bar ignores it
    for _ in progress_bar(range(3), desc="train vanilla", unit="epoch"):
        pass
    out, err = capfd.readouterr()
    assert out == "" and err == "", "a progress bar printed to stdout/stderr"
    lines = log.read_text().splitlines()
    assert lines[0].startswith("train vanilla:   0%")
    assert lines[-1].startswith("train vanilla: 100%") and "3/3" in lines[-1]
    assert len(lines) == len(set(lines)), "the final state is written once"
    assert not [l for l in lines if "\r" in l]

    # progress=False still means no bar at all
    for _ in progress_bar(range(3), desc="silent", progress=False):
        pass
    assert "silent" not in log.read_text()


def test_progress_bar_without_the_file_is_unchanged(monkeypatch, capfd):
    monkeypatch.delenv("FM_PROGRESS_FILE", raising=False)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert progress_bar(range(2)).disable
    monkeypatch.delenv("TQDM_DISABLE")
    assert not progress_bar(range(2)).disable


def test_progress_tail_delivers_every_line(tmp_path):
    log = tmp_path / "progress.log"
    log.write_text("old line\n")
    got = []
    with ProgressTail(log, got.append, poll=0.05):
        with open(log, "a") as fh:
            fh.write("one\ntw")
            fh.flush()
            time.sleep(0.2)
            fh.write("o\nthree")  # the last line has no newline yet when the tail stops
    assert got == ["one", "two", "three"]


def test_build_prints_progress_and_keeps_it_out_of_the_page(tmp_path, monkeypatch, capsys):
    """A book of its own, not the smoke book: one page whose stages and output are known
    line for line, every progress update written (FM_PROGRESS_INTERVAL=0), and the
    terminal captured."""
    book = tmp_path / "book"
    book.mkdir()
    for entry in BOOK.iterdir():
        if entry.is_file() and entry.suffix != ".ipynb":
            shutil.copy2(entry, book / entry.name)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# Progress"),
                nbformat.v4.new_code_cell('profile = "quick"\ndata = None\narch = None\nseed = None',
                                          metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(STAGE)]
    nbformat.write(nb, book / "50_progress.ipynb")
    monkeypatch.setenv("FM_PROGRESS_INTERVAL", "0")

    index = build_book(profile="smoke", book_dir=book, progress=False)
    printed = capsys.readouterr().out

    # on the terminal: which notebook, what it computes, how far, and the time left
    stage = [l for l in printed.splitlines() if "50_progress | tiny stage:" in l]
    assert stage, printed
    assert re.search(r"tiny stage: +100%.*4/4 \[\d\d:\d\d<00:00", stage[-1]), stage[-1]
    assert any("50_progress | tiny masks:" in l and "6/6" in l for l in printed.splitlines())
    assert "stage done" not in printed  # the notebook's own output stays in the notebook

    # nothing of it in the executed notebook or the page
    executed = json.loads((book / "_build" / "src" / "50_progress.ipynb").read_text())
    texts = ["".join(o.get("text", "")) + json.dumps(o.get("data", {}))
             for c in executed["cells"] for o in c.get("outputs", [])]
    assert any("stage done" in t for t in texts)
    assert not [t for t in texts if "tiny" in t or "%|" in t or "it/s" in t], texts
    page = (index.parent / "50_progress.html").read_text()
    assert "tiny stage:" not in page and "100%" not in page  # (the code shows "tiny stage")
    # and the build keeps the log
    assert "tiny stage: 100%" in (book / "_build" / "progress.log").read_text()

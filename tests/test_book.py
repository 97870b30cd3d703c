"""The book build (fm_core.book.build), the page helpers (fm_core.book.report) and the notebooks'
conventions. The end-to-end build of the real book is marked ``slow``."""
from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from fm_core.book.build import list_notebooks, make_toc, build_book, read_build_report
from fm_core.errors import UserError
from fm_core.book.report import Page, paper_vs_build_table

REPO = Path(__file__).resolve().parent.parent
BOOK = REPO / "book"
#: the book's pages, in the toc's order: the paper's artefacts, the pages past the paper,
#: the summary
EXPECTED_PAGES = [
    "00_introduction", "17_conclusions", "01_dataset", "02_blue_shift", "03_networks", "04_dataset_masks",
    "05_single_image_masks", "06_adversarial_reversal", "07_mask_classifier",
    "08_ground_truth", "10_cue_question", "11_stability", "12_peer_methods", "13_explorer",
    "14_architectures", "15_amplitude_phase", "16_any_network", "09_reproduction",
]
#: the markdown pages listed in the toc beside the notebooks (build_report.md is a stub
#: that the build replaces)
EXTRA_PAGES = ["glossary", "build_report", "citation"]
#: pages that show a table of numbers (Table 1, Table 2, Table 3, the summary)
TABLE_PAGES = {"03_networks", "06_adversarial_reversal", "07_mask_classifier", "09_reproduction"}
PARAMETERS = {"profile", "data", "arch", "seed", "settings"}


# --------------------------------------------------------------------------- helpers
def _notebook(path: Path, title: str, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}"),
                nbformat.v4.new_code_cell(
                    'profile = "quick"\ndata = None\narch = None\nseed = None',
                    metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def tmp_book(tmp_path) -> Path:
    """A copy of the real book's sources (config, toc, pages, bib) without notebooks."""
    book = tmp_path / "book"
    book.mkdir()
    for entry in BOOK.iterdir():
        if entry.is_file() and entry.suffix != ".ipynb":
            shutil.copy2(entry, book / entry.name)
    return book


def _outputs(path: Path) -> list[dict]:
    nb = json.loads(path.read_text())
    return [o for c in nb["cells"] for o in c.get("outputs", [])]


# ------------------------------------------------------------------------ fast tests
def test_only_reuses_or_leaves_out_the_other_pages(only_book, tmp_path):
    first = only_book.first_report  # 10_first executed alone (conftest.py)
    assert first["notebooks"]["10_first.ipynb"]["status"] == "executed"
    assert first["notebooks"]["20_second.ipynb"]["status"] == "skipped"
    assert "10_first.html" in only_book.first_pages and "20_second.html" not in only_book.first_pages
    assert first["sphinx_warnings"] == []
    assert not (only_book.book / "_build").exists(), "output_dir must hold the whole build"

    report = read_build_report(only_book.out)  # then 20_second alone
    assert report["notebooks"]["10_first.ipynb"] == {
        "status": "reused", "profile": "smoke", "parameters": {"profile": "smoke"}}
    assert report["notebooks"]["20_second.ipynb"]["status"] == "executed"
    assert (only_book.html / "10_first.html").is_file() and (only_book.html / "20_second.html").is_file()
    assert report["sphinx_warnings"] == []

    with pytest.raises(UserError, match="no notebook name contains 'nothing'"):
        build_book(profile="smoke", only="nothing", book_dir=only_book.book, output_dir=tmp_path,
                   progress=False)


def test_failing_notebook_stops_the_build_with_one_clear_message(tmp_book):
    _notebook(tmp_book / "10_fine.ipynb", "Fine", "x = 1")
    _notebook(tmp_book / "20_broken.ipynb", "Broken", "y = 2",
              '# compute the answer\nraise ValueError("planted failure")\nprint("never")')
    _notebook(tmp_book / "30_after.ipynb", "After", "z = 3")

    with pytest.raises(UserError) as info:
        build_book(profile="smoke", book_dir=tmp_book, progress=False, jobs=1)
    message = str(info.value)
    kept = tmp_book / "_build" / "src" / "20_broken.ipynb"
    assert "\n" not in message
    assert "20_broken.ipynb" in message
    assert re.search(r"cell \[\d+\]", message)
    assert 'raise ValueError("planted failure")' in message  # first line of code
    assert "ValueError: planted failure" in message
    assert str(kept) in message
    errors = [o for o in _outputs(kept) if o["output_type"] == "error"]
    assert errors and errors[0]["evalue"] == "planted failure"
    assert not (tmp_book / "_build" / "src" / "30_after.ipynb").exists(), "the build must stop"
    report = read_build_report(tmp_book)
    assert report["status"] == "failed"
    assert report["notebooks"]["20_broken.ipynb"]["status"] == "failed"
    assert not (tmp_book / "_build" / "html" / "index.html").exists()


@pytest.mark.slow  # five kernels in worker processes, two builds
def test_side_by_side_pages_fail_cleanly_and_the_last_page_waits(tmp_book):
    """Two pages at a time: after a failure no page starts, the running one finishes, the
    error names the broken page; an ``after_others`` page runs only after the others.
    (Books of their own: a planted failure, pages that wait for each other.)"""
    _notebook(tmp_book / "10_broken.ipynb", "Broken", 'raise ValueError("planted failure")')
    # the slow page is still running when the build records the failure: it waits for that
    # record (notebooks run in the book folder; the report is its _build/build_report.json)
    wait_for_failure = ("import pathlib, time\ndeadline = time.time() + 120\n"
                        "report = pathlib.Path('_build') / 'build_report.json'\n"
                        "while not (report.exists() and '\"failed\"' in report.read_text()):\n"
                        "    assert time.time() < deadline, 'the build never recorded the failure'\n"
                        "    time.sleep(0.1)")
    _notebook(tmp_book / "20_slow.ipynb", "Slow", wait_for_failure)
    _notebook(tmp_book / "30_never.ipynb", "Never", "x = 3")
    with pytest.raises(UserError, match=r"10_broken\.ipynb .*ValueError: planted failure"):
        build_book(profile="smoke", book_dir=tmp_book, progress=False, jobs=2)
    report = read_build_report(tmp_book)
    assert report["status"] == "failed"
    assert report["notebooks"]["10_broken.ipynb"]["status"] == "failed"
    assert report["notebooks"]["20_slow.ipynb"]["status"] == "executed"  # finished, kept
    assert not (tmp_book / "_build" / "src" / "30_never.ipynb").exists()

    for name in ("10_broken", "20_slow", "30_never"):
        (tmp_book / f"{name}.ipynb").unlink()
    # a waits for b's file: only pages running side by side get past it (else a timeout)
    wait_for_b = ("import pathlib, time\ndeadline = time.time() + 120\n"
                  "while not pathlib.Path('b.txt').exists():\n"
                  "    assert time.time() < deadline, 'b never ran beside a'\n    time.sleep(0.1)\n"
                  "pathlib.Path('a.txt').write_text('a')")
    _notebook(tmp_book / "10_a.ipynb", "A", wait_for_b)
    _notebook(tmp_book / "20_b.ipynb", "B", "import pathlib\npathlib.Path('b.txt').write_text('b')")
    summary = _notebook(tmp_book / "30_summary.ipynb", "Summary",
                        "import pathlib\nassert pathlib.Path('a.txt').exists() and pathlib.Path('b.txt').exists()")
    nb = nbformat.read(summary, 4)
    nb.metadata["fm_book"] = {"after_others": True}
    nbformat.write(nb, summary)
    build_book(profile="smoke", book_dir=tmp_book, progress=False, jobs=2)
    report = read_build_report(tmp_book)
    assert report["jobs"] == 2 and report["threads_per_kernel"] >= 1
    assert all(r["status"] == "executed" for r in report["notebooks"].values())


def test_execution_order_reads_the_pages_metadata(tmp_path):
    from fm_core.book.execute import execution_order
    paths = [_notebook(tmp_path / f"{n}.ipynb", n) for n in ("00_a", "09_summary", "10_long", "11_b")]
    for path, flags in ((paths[1], {"after_others": True}), (paths[2], {"start_first": True})):
        nb = nbformat.read(path, 4)
        nb.metadata["fm_book"] = flags
        nbformat.write(nb, path)
    together, later = execution_order(paths)
    assert [p.stem for p in together] == ["10_long", "00_a", "11_b"]
    assert [p.stem for p in later] == ["09_summary"]
    # the real book: the cue page (long, needs little of the others) starts first, the
    # reproduction page runs last
    together, later = execution_order(sorted(BOOK.glob("[0-9]*.ipynb")))
    assert together[0].stem == "10_cue_question" and [p.stem for p in later] == ["09_reproduction", "17_conclusions"]


def test_a_page_does_not_start_beside_the_page_whose_artefacts_it_reads(tmp_path):
    """``after``: the page waits in the queue, not on the store's lock, while the pages it
    reads are pending or running; the next free page starts instead. In the real book
    the reversal, classifier and ground-truth pages read the single-image page's masks
    (beside it the reversal page waited 52 s of a build with its core idle)."""
    from fm_core.book.execute import page_flags
    from fm_core.book.run import next_page
    a, b, c, d = (_notebook(tmp_path / f"{n}.ipynb", n) for n in ("05_a", "06_b", "07_c", "08_d"))
    nb = nbformat.read(b, 4)
    nb.metadata["fm_book"] = {"after": ["05_a"]}
    nbformat.write(nb, b)
    assert next_page([b, c], running=[a]) == c  # b waits for a
    assert next_page([b], running=[a]) is None  # nothing free: wait for a running page
    assert next_page([b, c], running=[]) == b  # a is done
    assert next_page([a, b], running=[]) == a and next_page([b, a], running=[]) == a
    assert next_page([b], running=[d]) == b  # a is not in this build
    assert next_page([], running=[a]) is None
    readers = {p.stem for p in BOOK.glob("[0-9]*.ipynb") if "05_single_image_masks" in page_flags(p).get("after", [])}
    # 08 (the cue world) no longer reads page 05's masks: 05 runs on real images (issue 35)
    assert readers == {"06_adversarial_reversal", "07_mask_classifier"}


def test_sphinx_warnings_are_recorded(tmp_book):
    """A book of its own (a page with a planted warning), built without ``output_dir``:
    the website goes into the book folder's _build/."""
    nb = _notebook(tmp_book / "40_warns.ipynb", "Warns")
    cells = nbformat.read(nb, as_version=4)
    cells.cells.append(nbformat.v4.new_markdown_cell("See {doc}`nowhere`."))
    nbformat.write(cells, nb)
    with pytest.raises(UserError, match="Sphinx reported 1 warning"):
        build_book(profile="smoke", book_dir=tmp_book, progress=False, strict=True)
    warnings = read_build_report(tmp_book)["sphinx_warnings"]
    assert len(warnings) == 1 and "nowhere" in warnings[0]
    assert warnings[0].startswith(str(tmp_book / "40_warns.ipynb"))  # the source, not the copy
    assert (tmp_book / "_build" / "html" / "40_warns.html").is_file()  # rendered all the same


def test_data_parameter(tmp_path, monkeypatch):
    from fm_core.book.build import data_parameter
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my.npz").write_bytes(b"")
    assert data_parameter("my.npz") == str(tmp_path / "my.npz")
    assert data_parameter("synthetic") == "synthetic"
    assert data_parameter("imagenette") == "imagenette"


def test_bad_arguments_are_user_errors(tmp_book, tmp_path):
    with pytest.raises(UserError, match="jobs"):
        build_book(profile="smoke", book_dir=tmp_book, progress=False, jobs=0)
    with pytest.raises(UserError, match="unknown profile"):
        build_book(profile="huge", book_dir=tmp_book, progress=False)
    with pytest.raises(UserError, match="not a book folder"):
        build_book(book_dir=tmp_path / "nowhere", progress=False)


def test_make_toc_drops_missing_pages_and_appends_new_notebooks():
    template = {"format": "jb-book", "root": "index", "parts": [
        {"caption": "Paper",
         "chapters": [{"file": "00_a"}, {"file": "01_b"}, {"file": "notes.md"}]},
        {"caption": "Beyond", "chapters": [{"file": "08_c", "sections": [{"file": "08_d"}]}]},
    ]}
    toc = make_toc(template, ["01_b", "08_d", "50_new"], other_pages=["index", "notes"])
    assert toc["root"] == "index"
    assert toc["parts"] == [
        {"caption": "Paper", "chapters": [{"file": "01_b"}, {"file": "notes.md"}]},
        {"caption": "Beyond", "chapters": [{"file": "08_d"}]},  # promoted: 08_c is missing
        {"caption": "More pages", "chapters": [{"file": "50_new"}]},
    ]
    assert "parts" not in make_toc(template, [])
    flat = make_toc({"format": "jb-book", "root": "index", "chapters": [{"file": "00_a"}]},
                    ["00_a", "02_z"])
    assert flat["chapters"] == [{"file": "00_a"}, {"file": "02_z"}]


def test_toc_template_lists_every_page_in_order():
    import yaml
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    files = [c["file"] for p in toc["parts"] for c in p["chapters"]]
    assert [f for f in files if f not in EXTRA_PAGES] == EXPECTED_PAGES
    assert set(EXTRA_PAGES) <= set(files), "the glossary, build report and citation pages are listed"
    assert all((BOOK / f"{page}.md").is_file() for page in EXTRA_PAGES)
    assert toc["root"] == "index" and (BOOK / "index.md").is_file()
    config = yaml.safe_load((BOOK / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"


@pytest.mark.parametrize("path", list_notebooks(BOOK), ids=lambda p: p.stem)
def test_notebook_conventions(path):
    """Committed without outputs; a `parameters` cell defining profile, data, arch, seed
    with the default profile "quick"; a title."""
    nb = nbformat.read(path, as_version=4)
    assert re.fullmatch(r"\d\d_[a-z0-9_]+", path.stem), "name notebooks NN_name.ipynb"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not any(c.get("outputs") or c.get("execution_count") for c in code), \
        "commit notebooks without outputs (jupyter nbconvert --clear-output --inplace)"
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged `parameters`"
    values = {}
    for node in ast.parse(tagged[0].source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = ast.literal_eval(node.value)
    assert PARAMETERS <= set(values), f"parameters cell lacks {PARAMETERS - set(values)}"
    assert values["profile"] == "quick"
    assert all(values[k] is None for k in ("data", "arch", "seed")) and values["settings"] == {}
    assert "settings=settings" in "".join(c.source for c in code), "Page(..., settings=settings)"
    first = next(c for c in nb.cells if c.cell_type == "markdown")
    assert first.source.lstrip().startswith("# "), "the first markdown cell is the page title"


def test_page_resolves_profile_and_knobs(capsys):
    page = Page("T", "smoke", data="imagenette", seed=5, epochs=3, regime="vanilla", show=False)
    assert page.cfg.name == "smoke" and page.cfg.data == "imagenette"
    assert page.cfg.seed == 5 and page.cfg.epochs == 3
    assert page.knobs == {"regime": "vanilla"}
    html = page.header()._repr_html_()
    assert "smoke" in html and "imagenette" in html and "regime" in html
    assert "<table" not in html  # a page's tables are its results
    with pytest.raises(UserError):
        Page("T", "nope", show=False)


def test_page_settings_change_the_profile_and_show_in_the_header():
    page = Page("T", "smoke", settings={"dmask_lam": 0.5, "dmask_path_lams": [1, 2]}, show=False)
    assert page.cfg.dmask_lam == 0.5 and page.cfg.dmask_path_lams == (1, 2) and page.cfg.name == "smoke"
    assert "dmask_lam=0.5" in repr(page.header())
    for bad, message in (({"dmask_lam": "big"}, "dmask_lam must be float"),
                         ({"lam": 0.5}, "unknown profile setting"),
                         ({"dmask_invariance": "l2"}, "must be one of"),
                         ({"epochs": -1}, "negative"), ({"name": "x"}, "name"), ([1], "mapping")):
        with pytest.raises(UserError, match=message) as info:
            Page("T", "smoke", settings=bad, show=False)
        assert "\n" not in str(info.value)


def test_a_page_shows_the_settings_of_a_second_world_under_its_own_title(monkeypatch):
    from fm_core.book import report
    from fm_core.pages.amplitude_phase import phase_world
    shown = []
    monkeypatch.setattr(report, "_display", shown.append)
    page = Page("T", "smoke", show=False)
    page.show_settings("cue world")
    page.show_settings("cue world", cfg=phase_world(page.cfg), title="Settings of the phase-cue world")
    own, variant = (repr(block) for block in shown)
    assert own.startswith("Settings used on this page") and "phase" not in own
    assert variant.startswith("Settings of the phase-cue world")
    assert "H carried by phase alone" in variant and "the H cue only" in variant


def test_a_bad_setting_is_one_line_in_a_notebook(tmp_path):
    """papermill -y 'settings: {dmask_lam: big}': the page's error is one line, no traceback."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError
    nb = _notebook(tmp_path / "10_p.ipynb", "P", "from fm_core.book.report import Page\n"
                   "page = Page('P', profile, settings=settings)")
    with pytest.raises(PapermillExecutionError):
        pm.execute_notebook(str(nb), str(tmp_path / "out.ipynb"), kernel_name="python3", progress_bar=False,
                            parameters={"profile": "smoke", "settings": {"dmask_lam": "big"}})
    errors = [o for o in _outputs(tmp_path / "out.ipynb") if o["output_type"] == "error"]
    assert [e["traceback"] for e in errors] == [["UserError: setting dmask_lam must be float, not 'big'"]]


def test_profile_choices_agree_with_the_library():
    from fm_core.masks import dataset_masks
    from fm_core import profiles
    assert set(profiles.CHOICES["dmask_invariance"]) == set(dataset_masks.INVARIANCES)


def test_paper_vs_build_table():
    frame = paper_vs_build_table([("acc N", 89.56, 71.2345), ("size", None, 32)])
    assert list(frame.columns) == ["quantity", "paper (reported)", "this build"]
    assert frame["this build"].tolist() == [71.23, 32]
    assert frame["paper (reported)"].tolist() == [89.56, "not reported"]
    noted = paper_vs_build_table({"acc": (1.0, 2.0, "why")})
    assert noted["note"].tolist() == ["why"]


# ------------------------------------------------------------------------- end to end
def test_a_built_page_shows_its_figure_table_and_profile(smoke_book):
    """A page of the smoke book (the reproduction summary): its figure, its table of the
    paper's numbers beside the build's, its profile, a link from the landing page; the
    executed copy records its parameters and the source notebook stays without outputs."""
    out, index = smoke_book
    assert index == out / "_build" / "html" / "index.html" and index.is_file()
    page = (index.parent / "09_reproduction.html").read_text()
    assert re.search(r'<img[^>]+src="_images/[^"]+\.png"', page), "the figure is missing"
    assert "<table" in page and "paper (reported)" in page
    assert re.search(r"built with profile (&#x27;|&#39;|')smoke", page)
    assert "09_reproduction.html" in index.read_text()  # linked from the landing page

    executed = out / "_build" / "src" / "09_reproduction.ipynb"
    nb = json.loads(executed.read_text())
    assert nb["metadata"]["papermill"]["parameters"] == {"profile": "smoke"}
    assert not [o for o in _outputs(executed) if o["output_type"] == "error"]
    assert not any(c.get("outputs") for c in nbformat.read(BOOK / "09_reproduction.ipynb", 4).cells
                   if c.cell_type == "code"), "the source notebook must stay without outputs"

    report = read_build_report(out)
    assert report["status"] == "ok" and report["sphinx_warnings"] == []
    assert report["notebooks"]["09_reproduction.ipynb"]["status"] == "executed"
    assert report["notebooks"]["09_reproduction.ipynb"]["seconds"] > 0


def test_full_book_smoke(smoke_book):
    """Every notebook of the real book runs with the smoke profile and renders."""
    tmp_path, index = smoke_book
    notebooks = list_notebooks(BOOK)
    assert notebooks, "the book has no notebooks"
    report = read_build_report(tmp_path)
    html = index.parent
    for nb in notebooks:
        assert report["notebooks"][nb.name]["status"] == "executed"
        executed = tmp_path / "_build" / "src" / nb.name
        errors = [o for o in _outputs(executed) if o["output_type"] == "error"]
        assert not errors, f"{nb.name}: {errors[0]['ename']}: {errors[0]['evalue']}"
        # progress bars and warnings would be printed into the page
        stderr = ["".join(o["text"])[:120] for o in _outputs(executed)
                  if o["output_type"] == "stream" and o["name"] == "stderr"]
        assert not stderr, f"{nb.name} printed to stderr: {stderr[0]!r}"
        bars = ["".join(o["text"])[:120] for o in _outputs(executed)
                if o["output_type"] == "stream" and re.search(r"\d+%\|", "".join(o["text"]))]
        assert not bars, f"{nb.name} printed a progress bar: {bars[0]!r}"
        page = html / f"{nb.stem}.html"
        assert page.is_file(), f"{nb.stem} was not rendered"
        text = page.read_text()
        assert re.search(r'<img[^>]+src="_images/', text), f"{nb.stem} shows no figure"
        if nb.stem in TABLE_PAGES:
            assert "<table" in text, f"{nb.stem} shows no table"
        plain = re.sub(r"<[^>]+>", "", text)
        assert "Re-run this page" in plain and f"papermill book/{nb.name}" in plain
    assert report["sphinx_warnings"] == [], "\n".join(report["sphinx_warnings"])
    for extra in EXTRA_PAGES:
        assert (html / f"{extra}.html").is_file(), f"{extra} was not rendered"
    # the long stages reported their progress (to the terminal, through this log)
    assert re.search(r"train vanilla: +100%", (tmp_path / "_build" / "progress.log").read_text())


def test_full_book_smoke_pages_look_right(smoke_book, tmp_path):
    """Every built page, rendered headless offline and screenshotted: not blank, no
    Python traceback, no raw TeX, no broken image, nothing fetched remotely, no console
    error, no table wider than the text column at 1280 px."""
    from fm_core.book import check as book_check

    if book_check.find_chromium() is None:
        reason = ("Chromium is not installed (apt-get install chromium): the built pages "
                  "were not screenshotted")
        print(f"SKIPPED: {reason}")
        pytest.skip(reason)
    from concurrent.futures import ThreadPoolExecutor

    _, index = smoke_book
    pages = sorted(index.parent.glob("*.html"))
    # two browsers at a time: each is a process of its own, so both cores are kept busy
    with ThreadPoolExecutor(max_workers=2) as pool:
        found = pool.map(lambda page: book_check.page_problems(page, png=tmp_path / f"{page.stem}.png",
                                                               table_width=1280), pages)
        problems = {page.name: f for page, f in zip(pages, found) if f}
    assert len(pages) >= len(EXPECTED_PAGES) and not problems, problems


def test_pages_state_their_settings_from_the_profile():
    from fm_core.book.page_settings import describe
    quick = Page("T", "quick", show=False).cfg
    text = dict(describe(quick, "attack", "dataset masks", "training"))
    assert "eps 4/255" in text["PGD"] and "one PGD step of eps/8 from a random start" in text["PGD"]
    assert f"over the first {quick.adv_warmup_epochs} epochs" in text["PGD"]
    assert f"batches of {quick.dmask_batch_size}" in text["dataset masks"] and "dataset_mean" in text["dataset masks"]
    changed = dict(describe(quick.with_settings({"adv_train_steps": 3, "dmask_batch_size": 8}), "attack",
                            "dataset masks"))
    assert "PGD with 3 steps" in changed["PGD"] and "batches of 8" in changed["dataset masks"]
    with pytest.raises(ValueError, match="unknown settings topic"):
        describe(quick, "optimiser")
    pages = {p.stem: "".join(c.source for c in nbformat.read(p, 4).cells) for p in list_notebooks(BOOK)}
    trains = [n for n, src in pages.items() if "get_network" in src or "table1" in src]
    assert trains and all("show_settings(" in pages[n] for n in trains), \
        [n for n in trains if "show_settings(" not in pages[n]]


def test_the_stability_page_says_what_its_extra_seeds_change():
    from fm_core.pages.stability import seeds_prose
    quick = Page("T", "quick", show=False).cfg
    text = seeds_prose({"seeds": [31, 1031], "cheaper": {"n_train": 1500, "epochs": 5}}, quick)
    assert "n_train all -> 1500" in text and f"epochs {quick.epochs} -> 5" in text and "{" not in text
    assert "the seed's alone" in seeds_prose({"seeds": [31, 1031], "cheaper": {}}, quick)


def test_the_cue_page_computes_the_robust_h_controls_first(monkeypatch):
    """In a parallel build the reversal page asks for the robust-H networks soon after the
    cue page starts, and the networks page trains the paper's five meanwhile: the cue page
    computes the controls first, the robust-H world's leading, the paper's five last."""
    from fm_core.pages import cue_conditions, cue_question
    from fm_core.store import pipeline
    from fm_core.profiles import REGIMES
    quick = Page("T", "quick", show=False).cfg
    chosen = cue_conditions.conditions(quick)
    asked = []
    monkeypatch.setattr(cue_question, "network_row", lambda v, r, progress=True: asked.append((v, r)) or
                        {"L-bias": 0.5, "L-share": 0.5, "clean, %": 90.0})
    monkeypatch.setattr(pipeline, "save_result", lambda *a, **k: None)
    table = cue_question.cue_table(quick)
    robust = [(v, r) for n, v, r in chosen if "robust-H" in n]
    assert len(robust) == 2 and asked[:2] == robust
    assert asked[-len(REGIMES):] == [(quick, r) for r in REGIMES] and len(asked) == len(chosen)
    assert list(table["rows"]) == [n for n, _, _ in chosen]  # shown in the page's order


def test_the_introduction_lists_every_page():
    intro = "".join(c.source for c in nbformat.read(BOOK / "00_introduction.ipynb", 4).cells)
    missing = [nb.stem for nb in list_notebooks(BOOK) if nb.stem != "00_introduction" and f"`{nb.stem}`" not in intro]
    assert not missing, f"page 00's table of pages lacks {missing}"


# A few training steps of the smoke network; prints the page faults of the last ``n``.
_FAULTS_SCRIPT = """
import resource, sys, torch
torch.set_num_threads(1)
from fm_core.cli.bench import make_bench_model
model = make_bench_model("smoke").train()
for p in model.parameters():
    p.requires_grad_(True)
x, y = torch.rand(64, 1, 32, 32), torch.randint(0, 5, (64,))
def steps(n):
    for _ in range(n):
        torch.nn.functional.cross_entropy(model(x), y).backward()
steps(3)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
steps(20)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(__import__("platform").libc_ver()[0] != "glibc", reason="GLIBC_TUNABLES is glibc's")
@pytest.mark.slow  # two training processes
def test_kernels_get_a_malloc_that_keeps_freed_memory(monkeypatch):
    """The book's kernels run with MALLOC_TUNABLES, and glibc honours it: the same training
    steps fault in far fewer fresh pages (glibc ignores a misspelt tunable silently, so
    only its effect shows that it is read). A user's own setting wins; the build's
    environment is restored afterwards."""
    import os
    import subprocess
    import sys
    from fm_core.book.execute import MALLOC_TUNABLES, kernel_environment

    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    with kernel_environment():
        tuned_env = dict(os.environ)
    assert tuned_env["GLIBC_TUNABLES"] == MALLOC_TUNABLES and "GLIBC_TUNABLES" not in os.environ
    default_env = {k: v for k, v in tuned_env.items() if k != "GLIBC_TUNABLES"}

    def faults(env):
        out = subprocess.run([sys.executable, "-c", _FAULTS_SCRIPT], env=env, capture_output=True, text=True,
                             check=True, cwd=REPO)
        return int(out.stdout.split()[-1])

    default, tuned = faults(default_env), faults(tuned_env)
    assert tuned * 4 < default, (default, tuned)

    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=1")
    with kernel_environment():
        assert os.environ["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=1"
    assert os.environ["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=1"

"""The speed levers and their accounting: real early stopping, the store's stage log and
the build report's "where the time goes" table, and the step-budget curve of
single-image masks. (Speed itself is measured by ``fm bench``, never in a test.)"""
from __future__ import annotations

import json
import os

import numpy as np
import torch
from torch import nn

from fm_core.science import experiments
from fm_core import store
from fm_core.book.progress import read_stage_log
from fm_core.book.render import report_page
from fm_core.book.toc import toc_parts
from fm_core.masks import ImageMasks
from fm_core.nets.models import MaskedClassifier
from fm_core.paths import STAGE_LOG_ENV
from fm_core.profiles import get_profile
from fm_core.nets.training import should_stop_early, train_network
from fm_core.data.dataset import Dataset, from_arrays


def _stops(val_losses, first_candidate, cfg, val_accs=None, num_classes=5):
    accs = [0.9] * len(val_losses) if val_accs is None else val_accs
    return should_stop_early(val_losses, first_candidate, cfg, val_accs=accs, num_classes=num_classes)


def test_early_stopping_waits_patience_epochs_without_a_real_improvement():
    cfg = get_profile("smoke").replace(early_stop_patience=2, early_stop_delta=1e-3)
    assert _stops([1.0, 0.5, 0.4999, 0.4995], 0, cfg)  # two epochs of < 1e-3 gains
    assert not _stops([1.0, 0.5, 0.4999], 0, cfg)  # one: wait
    assert not _stops([1.0, 0.5, 0.45, 0.4], 0, cfg)  # still improving
    # creeping down by less than delta per epoch is no improvement, though each is a new best
    assert _stops([0.004, 0.0035, 0.0031, 0.0028], 0, cfg)
    assert not _stops([1.0, 0.5, 0.4999, 0.4995], 0, cfg.replace(early_stop_patience=0))  # off
    # warm-up epochs (the first two here) neither set the bar nor count
    assert not _stops([0.2, 0.1, 0.5, 0.4, 0.3], 2, cfg)
    assert _stops([0.2, 0.1, 0.5, 0.5, 0.5], 2, cfg)


def test_early_stopping_never_keeps_a_network_at_chance():
    # the phase-cue network of seed 2031: its best loss at epoch 0, at chance (5 classes)
    cfg = get_profile("smoke").replace(early_stop_patience=2)
    losses, accs = [1.622, 2.113, 2.499], [0.211, 0.337, 0.297]
    assert not _stops(losses, 0, cfg, accs, num_classes=5)
    assert _stops(losses, 0, cfg, [0.45, 0.337, 0.297], num_classes=5)  # the same, better than chance
    assert _stops(losses, 0, cfg, accs, num_classes=10)  # 21% is not chance with 10 classes


def _tiny_dataset(n=64, size=32, seed=0) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = (0.3 + 0.4 * y[:, None, None].float() + 0.05 * torch.randn(n, size, size, generator=g)).clamp(0, 1).numpy()
    y = y.numpy()
    return from_arrays("tiny", x[: n // 2], y[: n // 2], x[n // 2:], y[n // 2:], ["dark", "bright"])


def test_training_stops_early_and_says_how_many_epochs_it_trained():
    ds = _tiny_dataset()
    cfg = get_profile("smoke").replace(width=0.0625, epochs=30, batch_size=16,
                                       early_stop_patience=1, early_stop_delta=0.5)
    model = train_network(ds, "vanilla", cfg, progress=False, evaluate_pgd=False)
    metrics = model.meta["metrics"]
    # a 0.5 gain in validation loss is out of reach after the first epochs: it stops
    assert metrics["epochs_trained"] < cfg.epochs
    assert metrics["epochs_trained"] == len(metrics["history"]["val_loss"])
    assert "pgd_acc" not in metrics
    full = train_network(ds, "vanilla", cfg.replace(early_stop_patience=0, epochs=3), progress=False)
    assert full.meta["metrics"]["epochs_trained"] == 3 and "pgd_acc" in full.meta["metrics"]
    # early_stop_start: the first epochs neither set the bar nor count
    late = train_network(ds, "vanilla", cfg.replace(early_stop_start=4), progress=False, evaluate_pgd=False)
    assert metrics["epochs_trained"] < 6 == late.meta["metrics"]["epochs_trained"]


def test_the_settings_box_says_from_which_epoch_early_stopping_counts():
    from fm_core.book.page_settings import describe
    quick = get_profile("quick")
    (_, text), = describe(quick, "training")
    assert f"counted from epoch {quick.early_stop_start + 1}" in text
    (_, text), = describe(quick.replace(early_stop_start=0), "training")
    assert "counted from" not in text and "stopping once" in text


def test_waiting_for_another_process_is_its_own_stage(tmp_path, monkeypatch):
    """A page that finds another page computing its artefact waits; the wait is logged as
    "waiting for another page" (an idle core in the build report), and not as the own
    time of the computation that asked."""
    import subprocess
    import sys
    import time

    log = tmp_path / "stages.jsonl"
    monkeypatch.setenv(STAGE_LOG_ENV, str(log))
    target, started = tmp_path / "a" / "slow.json", tmp_path / "started"
    other = subprocess.Popen([sys.executable, "-c", (
        "import json, pathlib, time\n"
        "from fm_core import store\n"
        f"target, started = pathlib.Path({str(target)!r}), pathlib.Path({str(started)!r})\n"
        "def compute():\n"
        "    started.touch()\n"
        "    time.sleep(2.0)\n"
        "    return 7\n"
        "store.fetch(target, compute, lambda v, p: p.write_text(json.dumps(v)),"
        " lambda p: json.loads(p.read_text()))\n")], env={**os.environ, STAGE_LOG_ENV: ""})
    deadline = time.time() + 60
    while not started.exists() and time.time() < deadline and other.poll() is None:
        time.sleep(0.05)
    assert started.exists(), "the other process never started computing"

    def outer():
        value = store.fetch(target, lambda: 0, lambda v, p: p.write_text(json.dumps(v)),
                            lambda p: json.loads(p.read_text()))
        return value + 1

    assert store.fetch(tmp_path / "a" / "outer.json", outer, lambda v, p: p.write_text(json.dumps(v)),
                       lambda p: json.loads(p.read_text()), stage="outer stage") == 8  # its value, not ours
    assert other.wait(timeout=60) == 0
    stages, _ = read_stage_log(log)
    assert stages["waiting for another page"]["count"] == 1
    assert stages["waiting for another page"]["seconds"] >= store.WAIT_REPORTED
    assert stages["outer stage"]["seconds"] < 0.5 * stages["waiting for another page"]["seconds"]


def test_stage_log_counts_each_artefact_once_without_its_nested_ones(tmp_path, monkeypatch):
    import time

    log = tmp_path / "stages.jsonl"
    monkeypatch.setenv(STAGE_LOG_ENV, str(log))

    def save(value, path):
        path.write_text(json.dumps(value))

    def load(path):
        return json.loads(path.read_text())

    def inner():
        time.sleep(0.2)
        return 1

    def outer():
        value = store.fetch(tmp_path / "a" / "inner.json", inner, save, load, stage="inner stage")
        time.sleep(0.1)
        return value + 1

    assert store.fetch(tmp_path / "a" / "outer.json", outer, save, load, stage="outer stage") == 2
    stages, offset = read_stage_log(log)
    assert offset == log.stat().st_size
    assert stages["inner stage"]["count"] == 1 and stages["outer stage"]["count"] == 1
    assert stages["inner stage"]["seconds"] >= 0.2
    assert 0.1 <= stages["outer stage"]["seconds"] < 0.2  # its own time, not the inner's
    record = json.loads((tmp_path / "a" / "outer.record.json").read_text())
    assert record["compute_seconds"] >= 0.3  # the record keeps the whole time
    # fetched again: loaded, nothing logged
    store.fetch(tmp_path / "a" / "outer.json", outer, save, load, stage="outer stage")
    assert read_stage_log(log, offset) == ({}, offset)
    log.write_text(log.read_text() + '{"stage": "torn')  # a killed kernel's last line is skipped
    assert read_stage_log(log)[0]["inner stage"]["count"] == 1


def test_build_report_shows_where_the_time_goes():
    report = {"profile": "smoke", "notebooks": {
        "03_networks.ipynb": {"status": "executed", "seconds": 100.0,
                              "stages": {"training": {"seconds": 60.0, "count": 5}}},
        "05_single.ipynb": {"status": "executed", "seconds": 30.0,
                            "stages": {"single-image masks": {"seconds": 25.0, "count": 3}}},
        "06_other.ipynb": {"status": "reused"}}}
    page = report_page(report)
    assert "## Where the time goes" in page
    section = page.split("## Where the time goes")[1]
    rows = [line for line in section.splitlines() if line.startswith("| 03_networks")]
    assert rows and "training 1 min 00 s (5)" in rows[0] and "| 40.0 s |" in rows[0]  # 100 s - 60 s
    assert "| 06_other |" not in section
    assert "| training | 1 min 00 s | 5 |" in section and "| single-image masks | 25.0 s | 3 |" in section


def test_build_report_sums_the_time_per_part_of_the_book(tmp_path):
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: index\nparts:\n"
        "  - caption: Paper\n    chapters:\n      - file: 03_networks\n        sections:\n"
        "          - file: 05_single\n"
        "  - caption: Beyond\n    chapters:\n      - file: 06_other\n      - file: 07_more\n", encoding="utf-8")
    parts = toc_parts(tmp_path)
    assert parts == [("Paper", ["03_networks", "05_single"]), ("Beyond", ["06_other", "07_more"])]
    report = {"profile": "smoke", "jobs": 2, "notebooks": {
        "03_networks.ipynb": {"status": "executed", "seconds": 100.0},
        "05_single.ipynb": {"status": "executed", "seconds": 30.0},
        "06_other.ipynb": {"status": "reused"},
        "07_more.ipynb": {"status": "executed", "seconds": 50.0},
        "09_new.ipynb": {"status": "executed", "seconds": 10.0}}}
    section = report_page(report, parts).split("## Time per part")[1].split("##")[0]
    assert "| Paper | 2 | 2 min 10 s | 1 min 05 s |" in section  # 130 s over 2 kernels
    assert "| Beyond | 1 | 50.0 s | 25.0 s |" in section  # a reused page adds nothing
    assert "| other pages | 1 | 10.0 s | 5.0 s |" in section  # not in the toc
    assert "## Time per part" not in report_page(report)  # no toc parts: no table


class ReadsOneFrequency(nn.Module):
    """Class 1 when the image's (0, 2) Fourier amplitude is large."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))  # the learners read device and dtype from a parameter

    def forward(self, z):
        amplitude = torch.fft.fft2(z[:, 0]).abs()[:, 0, 2]
        return torch.stack([torch.zeros_like(amplitude), self.scale * (amplitude - 2.0)], dim=1)


def test_step_budget_curve_reports_steps_and_quality_per_budget():
    size = 8
    j = torch.arange(size, dtype=torch.float32)
    grating = torch.cos(2 * np.pi * 2 * j / size)[None, None, None, :].expand(4, 1, size, size)
    x = (0.5 + 0.3 * grating + 0.05 * torch.randn(4, 1, size, size, generator=torch.Generator().manual_seed(0)))
    model = MaskedClassifier(ReadsOneFrequency(), 0.0, 1.0, {"size": size})
    curve = experiments.step_budget_curve(model, x.clamp(0, 1), ImageMasks(max_steps=40, patience=5), [10, 40, 20])
    assert curve["budget"] == [10, 20, 40]
    assert all(s <= b for s, b in zip(curve["median steps"], curve["budget"]))
    assert curve["correlation with the largest budget's masks"][-1] == 1.0
    # more steps, sparser masks: the sparsity term keeps pulling
    assert curve["mean mask value"][0] > curve["mean mask value"][-1]
    text = experiments.step_budget_summary(curve, 20)
    assert "20 steps" in text and ("same masks" in text or "changes the masks" in text)


def test_a_page_imports_no_library_it_may_not_use():
    """Every book page starts a kernel and runs its import cell: torchattacks (scipy.stats
    among its imports) and scikit-learn cost about a second there, so fm_core imports them
    where they are used. Checked on every page's real import cell, in a fresh interpreter."""
    import subprocess
    import sys
    from pathlib import Path

    import nbformat

    book = Path(__file__).resolve().parents[1] / "book"
    lines = set()
    for page in sorted(book.glob("[0-9][0-9]_*.ipynb")):
        code = [c for c in nbformat.read(page, as_version=4).cells if c.cell_type == "code"]
        lines |= {line for line in code[1].source.splitlines() if line.startswith(("from ", "import "))}
    assert any("fm_core" in line for line in lines)
    probe = "\n".join(sorted(lines)) + ("\nimport sys\nprint(sorted(m for m in ('torchattacks', 'sklearn', "
                                         "'scipy.stats', 'umap') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout

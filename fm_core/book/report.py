"""What every book page shows about itself: provenance at the top, cost at the bottom.

A notebook starts with::

    page = Page("Networks and Table 1", profile, data=data, arch=arch, seed=seed, regime="vanilla")
    cfg = page.cfg          # the resolved fm_core.profiles.Profile

and ends with ``page.footer()``. Keyword arguments that name a Profile field override
the profile (``epochs=3``); any other keyword is a page knob, shown but not applied.
``paper_vs_build_table`` puts the paper's reported numbers beside this build's.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import html
import platform
import subprocess
import time
from typing import Iterable, Mapping

from fm_core.errors import UserError
from fm_core.paths import REPO_ROOT
from fm_core.profiles import Profile, get_profile

_PROFILE_FIELDS = {f.name for f in dataclasses.fields(Profile)}
# Which data a page runs on when its `data` parameter is None: "cues", the profile's own
# (the cue world of the small profiles), or "real", the profile's real images
# (fm_core.pages.real_images.real_images_cfg: the paper's pages); "both": a page that reads
# both (the conclusions), whose cfg is the cue world's and whose header names both
WORLDS = ("cues", "real", "both")
WORLD_NOTES = {"real": " (real images: the paper's pages run on them; PGD eps by the paper's rule: its "
                       "normalised eps x this data set's pixel std)",
               "cues": ""}


def _user_errors_in_one_line(shell, etype, value, tb, tb_offset=None):
    """In a notebook a UserError (a bad parameter or setting) shows as one line, as it
    does on the command line, not as a traceback through the library."""
    stb = [f"{etype.__name__}: {value}"]
    shell._showtraceback(etype, value, stb)  # what IPython itself calls to show an error
    return stb


def show_user_errors_in_one_line() -> None:
    """Make the running IPython kernel (if any) print a UserError as one line."""
    try:
        from IPython import get_ipython
    except ImportError:  # plain Python
        return
    shell = get_ipython()
    if shell is not None:
        shell.set_custom_exc((UserError,), _user_errors_in_one_line)


show_user_errors_in_one_line()


class _Block:
    """A display object with HTML (book, Jupyter), Markdown and plain-text forms.

    The HTML uses the theme's admonition classes and no <table>, so that a page's
    tables are its own results."""

    def __init__(self, title: str, items: list[tuple[str, str]], kind: str = "note"):
        self.title, self.items, self.kind = title, items, kind

    def _repr_html_(self) -> str:
        rows = "".join(f"<li><strong>{html.escape(k)}</strong>: {html.escape(v)}</li>"
                       for k, v in self.items)
        return (f'<div class="admonition {self.kind}">'
                f'<p class="admonition-title">{html.escape(self.title)}</p>'
                f'<ul class="simple">{rows}</ul></div>')

    def _repr_markdown_(self) -> str:
        lines = [f"> **{self.title}**", ">"]
        lines += [f"> - **{k}**: {v}" for k, v in self.items]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return "\n".join([self.title] + [f"  {k}: {v}" for k, v in self.items])


def _display(obj) -> None:
    try:
        from IPython.display import display
    except ImportError:  # plain Python (e.g. a test): print the text form
        print(repr(obj))
        return
    display(obj)


def fm_core_version() -> str:
    """The package version, plus the git commit (``+g<hash>``, ``.dirty``) when known."""
    version = None
    try:
        from importlib.metadata import PackageNotFoundError, version as _v
        try:
            version = _v("fm_core")
        except PackageNotFoundError:
            pass
    except ImportError:  # pragma: no cover
        pass
    if version is None:
        import fm_core
        version = getattr(fm_core, "__version__", None) or "unknown"
    try:
        sha = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5)
        if sha.returncode == 0 and sha.stdout.strip():
            dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain",
                                    "--untracked-files=no", "--", "fm_core"],
                                   capture_output=True, text=True, timeout=5)
            version += f"+g{sha.stdout.strip()}" + (".dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return version


def format_seconds(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _fmt(value) -> str:
    if value is None:
        return "all"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class Page:
    """Provenance of one book page; displays itself when created."""

    def __init__(self, title: str, profile: str | Profile = "quick", data: str | None = None,
                 arch: str | None = None, seed: int | None = None, *, settings: dict | None = None,
                 world: str = "cues", show: bool = True, **knobs):
        self.started = time.perf_counter()
        self.title = title
        overrides = {k: v for k, v in knobs.items() if k in _PROFILE_FIELDS}
        self.knobs = {k: v for k, v in knobs.items() if k not in _PROFILE_FIELDS}
        self.overrides = {k: v for k, v in overrides.items() if v is not None}
        # settings (the pages' `settings` parameter) may set a value to None on purpose
        if world not in WORLDS:
            raise UserError(f"world must be one of {', '.join(WORLDS)}, not {world!r}")
        # the cue world's configuration: what a page with world="real" still uses for the
        # sections that need planted truth (chosen where the answer is known)
        self.cues_cfg: Profile = get_profile(profile, data=data, arch=arch, seed=seed,
                                             **overrides).with_settings(settings)
        self.world = world if world in ("real", "both") and data is None else "cues" if data is None else "data"
        self.cfg: Profile = self.cues_cfg
        if self.world == "real":  # the user's data= wins; else the profile's real images
            from fm_core.pages.real_images import real_images_cfg  # only pages that ask
            self.cfg = real_images_cfg(self.cues_cfg)
        self.overrides.update(settings or {})
        if data is not None:
            self.overrides["data"] = data
        if arch is not None:
            self.overrides["arch"] = arch
        if seed is not None:
            self.overrides["seed"] = seed
        if show:
            _display(self.header())

    @property
    def spread(self) -> dict:
        """How far this page's headline numbers move over training seeds, as measured for
        its profile (``{"seeds": [...], "sd": {key: SD}}``, from the committed expected
        file, :func:`fm_core.book.headline.seed_spread_of`); empty when the page changes
        any setting (the spread was measured at the profile's own) or none was measured."""
        from .headline import seed_spread_of  # the pages and the store, only when a page asks
        if self.overrides:
            return {}
        spread = seed_spread_of(self.cfg.name)
        if self.cfg.data == self.cues_cfg.data or not spread:
            return spread
        # real images: their keys carry the data set's name (headline.headline_values)
        prefix = f"{self.cfg.data}."
        sd = {k[len(prefix):]: v for k, v in spread["sd"].items() if k.startswith(prefix)}
        return {"seeds": spread["seeds"], "sd": sd} if sd else {}

    def header(self) -> _Block:
        c = self.cfg
        head = "global-pool head" if c.pooled_head else "torchvision head"
        items = [
            ("profile", c.name + (" (changed: " + ", ".join(
                f"{k}={v!r}" for k, v in sorted(self.overrides.items())) + ")"
                if self.overrides else "")),
            ("data", f"{c.data}, {c.size}x{c.size} grayscale, train {_fmt(c.n_train)} / "
                     f"val {_fmt(c.n_val)} images" + WORLD_NOTES.get(self.world, "")),
            ("network", f"{c.arch}, width x{c.width:g}, {head}"),
            ("seeds", f"training {c.seed}, data {c.data_seed}"),
        ]
        if self.world == "both":  # the cue world above; the real images the pages also read
            from fm_core.pages.real_images import real_images_cfg
            r = real_images_cfg(c)
            items[1] = ("data", items[1][1] + " (the cue world)")
            items.insert(2, ("real images", f"{r.data}, {r.size}x{r.size} grayscale, train {_fmt(r.n_train)} / "
                                            f"val {_fmt(r.n_val)} images, {r.epochs} epochs"))
        if self.knobs:
            items.append(("knobs", ", ".join(f"{k}={v!r}" for k, v in self.knobs.items())))
        items.append(("computed", _dt.datetime.now().strftime("%Y-%m-%d %H:%M")))
        return _Block(f"{self.title}: built with profile '{c.name}'", items)

    def show_settings(self, *topics: str, cfg: Profile | None = None,
                      title: str = "Settings used on this page") -> None:
        """Display the settings this page used for ``topics`` (training, attack, dataset
        masks, image masks, classifier, cue world), in words generated from its profile
        (:mod:`fm_core.book.page_settings`); the cue world only where the data are synthetic.
        ``cfg``: another profile the page also uses (e.g. a variant world), under ``title``."""
        from .page_settings import describe
        cfg = self.cfg if cfg is None else cfg
        topics = tuple(t for t in topics if t != "cue world" or cfg.data == "synthetic")
        _display(_Block(title, describe(cfg, *topics), kind="seealso"))

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def footer(self) -> None:
        """Display how long the page took and the versions that computed it."""
        try:
            import torch
            torch_v = torch.__version__
            device = (f"CUDA ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available()
                      else "CPU")
        except Exception:  # pragma: no cover - torch is a dependency
            torch_v, device = "not available", "CPU"
        items = [
            ("time", f"{format_seconds(self.elapsed)} from the top of the page (profile "
                     f"'{self.cfg.name}'; includes computing what the artefact store lacked)"),
            ("versions", f"fm_core {fm_core_version()}, torch {torch_v}, "
                         f"Python {platform.python_version()}"),
            ("device", device),
        ]
        _display(_Block("This page was computed in " + format_seconds(self.elapsed), items,
                        kind="tip"))


PAPER_COLUMN = "paper (reported)"
BUILD_COLUMN = "this build"


def paper_vs_build_table(rows: Iterable | Mapping, digits: int | None = 2, styled: bool = False):
    """A DataFrame with columns ``quantity``, ``paper (reported)``, ``this build``.

    ``rows``: ``(quantity, paper, build)`` or ``(quantity, paper, build, note)`` tuples,
    dicts with those keys, or a mapping ``{quantity: (paper, build)}``. Floats of this
    build are rounded to ``digits``; a paper value of ``None`` shows as "not reported".
    A ``note`` column appears when any row has a note. Columns keep each value as given
    (an int stays an int). ``styled=True`` returns a pandas Styler without the index,
    for display.
    """
    import pandas as pd

    if isinstance(rows, Mapping):
        rows = [(k, *v) for k, v in rows.items()]
    records = []
    for row in rows:
        if isinstance(row, Mapping):
            row = (row["quantity"], row.get("paper"), row.get("build"), row.get("note"))
        row = tuple(row)
        if len(row) not in (3, 4):
            raise ValueError(f"a row is (quantity, paper, build[, note]), got {row!r}")
        quantity, paper, build = row[:3]
        note = row[3] if len(row) == 4 else None
        if digits is not None and isinstance(build, float):
            build = round(build, digits)
        records.append({"quantity": quantity,
                        PAPER_COLUMN: "not reported" if paper is None else paper,
                        BUILD_COLUMN: build, "note": note})
    columns = ["quantity", PAPER_COLUMN, BUILD_COLUMN]
    if any(r["note"] is not None for r in records):
        columns.append("note")
        for r in records:
            r["note"] = r["note"] or ""
    frame = pd.DataFrame({c: pd.Series([r[c] for r in records], dtype=object) for c in columns})
    return frame.style.hide(axis="index") if styled else frame

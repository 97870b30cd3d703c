"""Progress of the notebooks' long stages, relayed to the terminal of ``make book``.

A notebook executed by papermill must not print progress bars (they would be rendered
into its page), yet a build that trains networks for minutes should say what it is doing.
The two sides meet in a file:

- the build sets ``FM_PROGRESS_FILE=<build>/progress.log`` for its kernels (and keeps
  ``TQDM_DISABLE=1``, which silences every other tqdm bar);
- :func:`fm_core.utils.progress_bar` then returns a plain-text tqdm bar
  (:func:`file_progress_bar`) that appends one line per update, at most every
  ``FM_PROGRESS_INTERVAL`` seconds (default 5), to that file, never to stdout/stderr;
- the build follows the file in a thread (:class:`ProgressTail`) while papermill runs
  and prints each new line, prefixed with the notebook's name, to the terminal.

A line looks like ``train vanilla:  40%|####      | 4/10 [00:12<00:18,  3.00s/epoch]``:
what is computed, how far it is, time spent and the estimated time left.
"""
from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Callable

PROGRESS_FILE_ENV = "FM_PROGRESS_FILE"
PROGRESS_INTERVAL_ENV = "FM_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 5.0
_SPLIT = re.compile(r"[\r\n]")


class _LineFile:
    """A file-like object for tqdm: each status tqdm draws (``\\r`` + text + padding)
    becomes one line of the file; blank redraws (a bar clearing itself) are dropped."""

    def __init__(self, path: str | os.PathLike):
        self._fh = open(path, "a", encoding="utf-8", buffering=1)
        self._last = ""

    def write(self, text: str) -> None:
        for part in _SPLIT.split(text):
            part = part.rstrip()
            if part and part != self._last:  # tqdm redraws the final state on close
                self._fh.write(part + "\n")
                self._last = part

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def progress_interval() -> float:
    """Seconds between two lines of one bar (``FM_PROGRESS_INTERVAL``, default 5)."""
    try:
        return max(0.0, float(os.environ.get(PROGRESS_INTERVAL_ENV, DEFAULT_INTERVAL)))
    except ValueError:
        return DEFAULT_INTERVAL


def file_progress_bar(path: str | os.PathLike, iterable=None, **kwargs):
    """A text tqdm bar whose lines are appended to ``path``; it always leaves its final
    state (``leave``) and closes the file when it closes."""
    from tqdm.std import tqdm

    class FileBar(tqdm):
        # a new postfix or description shows with the next line, not as a line of its
        # own: at most one line per FM_PROGRESS_INTERVAL
        def set_postfix(self, ordered_dict=None, refresh=True, **kwargs):
            super().set_postfix(ordered_dict, refresh=False, **kwargs)

        def set_postfix_str(self, s="", refresh=True):
            super().set_postfix_str(s, refresh=False)

        def set_description(self, desc=None, refresh=True):
            super().set_description(desc, refresh=False)

        def display(self, msg=None, pos=None):
            self._shown_n = self.n
            return super().display(msg, pos)

        def close(self):
            if self.disable:
                return
            # the log's last line of a stage shows where it ended: drawn now unless the
            # last line drawn already showed this count
            self.leave = getattr(self, "_shown_n", None) != self.n
            try:
                super().close()
            finally:
                self.fp.close()

    kwargs.pop("file", None)
    kwargs.pop("position", None)  # one bar per line in the file: no terminal positions
    kwargs.setdefault("mininterval", progress_interval())
    kwargs.setdefault("ascii", True)
    kwargs["disable"] = False
    kwargs["dynamic_ncols"] = False
    return FileBar(iterable, file=_LineFile(path), **kwargs)


class ProgressTail:
    """Follow ``path`` in a thread and hand each new complete line to ``emit``.

    Use as a context manager around the notebook's execution; lines written before
    ``__enter__`` are skipped, and lines written up to ``__exit__`` are all delivered."""

    def __init__(self, path: str | os.PathLike, emit: Callable[[str], None],
                 poll: float = 0.5):
        self.path, self.emit, self.poll = Path(path), emit, poll
        self._stop = threading.Event()
        self._offset = 0
        self._partial = b""
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "ProgressTail":
        self._offset = self.path.stat().st_size if self.path.exists() else 0
        self._thread = threading.Thread(target=self._run, name="fm-progress-tail", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._read()
        if self._partial.strip():
            self.emit(self._partial.decode("utf-8", "replace").rstrip())
        self._partial = b""

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            self._read()

    def _read(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except OSError:
            return
        if not chunk:
            return
        self._offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        for line in lines:
            text = line.decode("utf-8", "replace").rstrip()
            if text:
                self.emit(text)


def read_stage_log(path: Path, offset: int = 0) -> tuple[dict[str, dict], int]:
    """Seconds and artefact count per stage in ``path`` from byte ``offset`` on, and the
    offset reached (the book reads each notebook's share of one log)."""
    stages: dict[str, dict] = {}
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError:
        return stages, offset
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            entry = json.loads(line)
            row = stages.setdefault(str(entry["stage"]), {"seconds": 0.0, "count": 0})
            row["seconds"] = round(row["seconds"] + float(entry["seconds"]), 2)
            row["count"] += 1
        except (ValueError, KeyError, TypeError):
            continue  # a torn last line of a killed kernel
    return stages, offset + len(data)

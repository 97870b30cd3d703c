"""Progress of the notebooks' long stages, relayed to the terminal of ``make book``: the
reading half (the writing half is :func:`fm_core.utils.progress_bar`, at the bottom of the
layers, so that no network's code key includes this module).

A notebook executed by papermill must not print progress bars (they would be rendered
into its page), yet a build that trains networks for minutes should say what it is doing.
The two sides meet in a file:

- the build sets ``FM_PROGRESS_FILE=<build>/progress.log`` for its kernels (and keeps
  ``TQDM_DISABLE=1``, which silences every other tqdm bar);
- :func:`fm_core.utils.progress_bar` then returns a plain-text tqdm bar
  (:func:`fm_core.utils.file_progress_bar`) that appends one line per update, at most every
  ``FM_PROGRESS_INTERVAL`` seconds (default 5), to that file, never to stdout/stderr;
- the build follows the file in a thread (:class:`ProgressTail`) while papermill runs
  and prints each new line, prefixed with the notebook's name, to the terminal.

A line looks like ``train vanilla:  40%|####      | 4/10 [00:12<00:18,  3.00s/epoch]``:
what is computed, how far it is, time spent and the estimated time left.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Callable


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

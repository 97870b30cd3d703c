"""The artefact store: fetch, compute if missing, save. Nothing else.

Artefacts live under ``runs/<profile>/`` (``$FM_RUNS_DIR/<profile>/``), named by a key
that hashes the settings they depend on *and the source code of the modules that
compute them* (:func:`code_hash`): edit a line of the mask learner and the next build
relearns the masks, with no version number to remember. Every write is atomic, and
beside each artefact a readable JSON record says what made it. The recipes that say
what to compute live in :mod:`fm_core.store.pipeline`; which modules a key hashes, in
:mod:`fm_core.store.code_keys`. What the book's pages compute from the artefacts lives in
:mod:`fm_core.pages`, not here.

Reliability: the record also holds the artefact's sha256 and size (written after the
artefact), and every load checks them: a truncated or altered file, a missing or
unreadable record, or a file that fails to load is reported in one line (a warning of
the ``fm_core.store`` logger, on stderr), deleted and computed again, never used. One
process computes an artefact while the others wait for it (an OS-level lock per
artefact, ``<artefact>.lock``, released by the kernel when its holder dies).
:func:`verify_store` checks a whole store (``fm runs --verify``).
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import time
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterable, TypeVar

from filelock import FileLock

from .code_keys import code_closure, code_hash, package_code_hash  # noqa: F401 (the store's names)
from fm_core.paths import STAGE_LOG_ENV, runs_root
from fm_core.utils import file_digest, save_json_atomic, stable_hash, write_error

T = TypeVar("T")
log = logging.getLogger("fm_core.store")
_MISSING = "missing"
# Where the time goes: when $FM_STAGE_LOG names a file, every artefact computed appends one JSON
# line {"stage", "artefact", "seconds"} to it (the book build sets it for its kernels and
# sums the lines per notebook in its report). "seconds" excludes the artefacts computed
# inside (a network trained while its mask is learned counts as training).
_nested_seconds: list[float] = []  # per computation in progress: time spent in nested ones


def runs_dir(profile_name: str) -> Path:
    return runs_root() / profile_name


def artefact_key(settings: dict, code: Iterable[ModuleType]) -> str:
    """The key of an artefact: its settings and the code that computes it."""
    return stable_hash({"settings": settings, "code": code_hash(code)})


def fetch(path: Path, compute: Callable[[], T], save: Callable[[T, Path], None],
          load: Callable[[Path], T], record: Callable[[T], dict] | None = None,
          stage: str | None = None) -> T:
    """``load(path)``; when the file is missing, ``compute()`` it first and ``save`` it,
    then write ``record(value)`` (what made it) with the artefact's sha256 and size beside
    it (:func:`record_path`).

    A stored file that fails its check (see :func:`check_artefact`) or fails to load is
    reported in one warning, deleted and computed again. Computing holds the artefact's
    lock: a second process asking for it meanwhile waits, then loads it. Once the
    artefact is saved, its checkpoint (:func:`partial_path`) is deleted."""
    path = Path(path)
    value, problem = _load_checked(path, load)
    if problem is None:
        return value
    asked = time.perf_counter()
    with _artefact_lock(path):
        value, problem = _load_checked(path, load)  # made by another process while we waited?
        if problem is None:
            _log_wait(time.perf_counter() - asked, path.name)
            return value
        if problem != _MISSING:
            discard(path, problem)
        value, seconds = _timed(compute, stage or path.parent.name, path.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        save(value, path)
        write_record(path, dict(record(value) if record is not None else {}, compute_seconds=round(seconds, 2)))
        partial_path(path).unlink(missing_ok=True)  # only once the artefact is saved
    value, problem = _load_checked(path, load)
    if problem is not None:
        raise RuntimeError(f"{path}: freshly computed, but {problem}")
    return value


# Seconds a page may wait for another's artefact before the build report counts it
WAIT_REPORTED = 0.5


def _log_wait(seconds: float, name: str) -> None:
    """Time spent waiting for another process to finish ``name`` goes into the stage log
    as stage "waiting for another page" (a build's idle core shows there), and is not
    counted as the enclosing computation's own time."""
    if seconds < WAIT_REPORTED:
        return
    if _nested_seconds:
        _nested_seconds[-1] += seconds
    _append_stage("waiting for another page", name, seconds)


def _append_stage(stage: str, name: str, seconds: float) -> None:
    log_file = os.environ.get(STAGE_LOG_ENV, "").strip()
    if log_file:
        try:
            with open(log_file, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"stage": stage, "artefact": name, "seconds": round(seconds, 3)}) + "\n")
        except OSError as exc:  # timing is a report, never a reason to fail a build
            log.warning("cannot append to the stage log %s: %s", log_file, exc)


def _timed(compute: Callable[[], T], stage: str, name: str) -> tuple[T, float]:
    """``compute()`` and its wall seconds; logs the seconds not spent in nested fetches."""
    _nested_seconds.append(0.0)
    start = time.perf_counter()
    try:
        value = compute()
    finally:
        seconds = time.perf_counter() - start
        own = seconds - _nested_seconds.pop()
        if _nested_seconds:
            _nested_seconds[-1] += seconds
    _append_stage(stage, name, own)
    return value, seconds


def record_path(path: Path) -> Path:
    return Path(path).with_suffix(".json") if Path(path).suffix != ".json" else Path(path).with_suffix(".record.json")


def partial_path(path: Path) -> Path:
    """The checkpoint of a computation in progress, beside its artefact:
    ``networks/vanilla-<key>.partial.pt``, ``masks/images-...-<key>.partial.npz``.
    :func:`fetch` deletes it once the artefact is saved."""
    path = Path(path)
    return path.with_suffix(".partial" + path.suffix)


def lock_path(path: Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".lock")


class _artefact_lock:
    """The inter-process lock of one artefact (``<path>.lock``, an OS-level lock: the
    kernel releases it when its holder dies, so a killed build never blocks the next).
    The lock file is removed once the artefact exists: whoever then acquires a lock
    finds the artefact and only loads it."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.lock = FileLock(str(lock_path(self.path)), is_singleton=False)

    def __enter__(self):
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.lock.acquire()
        except OSError as exc:
            raise write_error(lock_path(self.path), exc) from None
        return self

    def __exit__(self, *exc_info):
        try:
            if self.path.exists() and record_path(self.path).exists():
                lock_path(self.path).unlink(missing_ok=True)
        finally:
            self.lock.release()


def write_record(path: Path, what: dict) -> None:
    """``what`` and the artefact's sha256 and size, as its JSON record (after the artefact)."""
    sha256, size = file_digest(path)
    save_json_atomic(record_path(path), dict(what, sha256=sha256, size=size))


@functools.lru_cache(maxsize=256)
def _digest_cached(path: str, size: int, mtime_ns: int, ctime_ns: int, inode: int) -> tuple[str, int]:
    return file_digest(path)


def check_artefact(path: Path) -> str | None:
    """None when ``path`` matches its record; otherwise what is wrong (``"missing"`` when
    the artefact does not exist)."""
    path = Path(path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        return _MISSING
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    rec = record_path(path)
    try:
        stored = json.loads(rec.read_text())
    except FileNotFoundError:
        return f"has no record ({rec.name})"
    except (OSError, ValueError, UnicodeDecodeError):
        return f"its record {rec.name} is unreadable"
    if not isinstance(stored, dict) or not isinstance(stored.get("sha256"), str) \
            or not isinstance(stored.get("size"), int):
        return f"its record {rec.name} holds no checksum"
    if stat.st_size != stored["size"]:
        how = "truncated" if stat.st_size < stored["size"] else "longer than recorded"
        return f"{how}: {stat.st_size} bytes, the record says {stored['size']}"
    try:
        sha256, _ = _digest_cached(str(path), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if sha256 != stored["sha256"]:
        return "altered: its sha256 differs from the record's"
    return None


def _load_checked(path: Path, load: Callable[[Path], T]) -> tuple[T | None, str | None]:
    problem = check_artefact(path)
    if problem is not None:
        return None, problem
    try:
        return load(path), None
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to load means: do not use it
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return None, f"does not load ({first[:160]})"


def discard(path: Path, problem: str) -> None:
    """Warn in one line, then delete a damaged artefact and its record."""
    log.warning("fm_core store: %s: %s; deleted, computing it again", path, problem)
    for p in (Path(path), record_path(path)):
        try:
            p.unlink(missing_ok=True)
        except OSError as exc:
            raise write_error(p, exc) from None


# --------------------------------------------------------------------------- results
def _result_digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def results_dir(profile_name: str, data: str | None = None) -> Path:
    """``runs/<profile>/results``; with ``data`` (a data set other than the profile's own,
    as a folder-safe name) ``runs/<profile>/data/<data>/results``, so that the same table
    on two data sets (the cue world's and Fashion-MNIST's Table 1) are two files."""
    return runs_dir(profile_name) / ("results" if data is None else Path("data", data, "results"))


def save_result(profile_name: str, name: str, values: dict, made_by: dict, data: str | None = None) -> Path:
    """Store a computed table's numbers (JSON) with what made them and their sha256
    (a result is its own record: one atomic file), in :func:`results_dir`."""
    path = results_dir(profile_name, data) / f"{name}.json"
    payload = json.loads(json.dumps({"values": values, "made_by": made_by}, default=str))
    save_json_atomic(path, dict(payload, sha256=_result_digest(payload)))
    return path


def check_result(path: Path) -> tuple[dict | None, str | None]:
    """(payload, None) for an intact result file, (None, what is wrong) otherwise."""
    try:
        stored = json.loads(Path(path).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None, "unreadable (truncated or not JSON)"
    if not isinstance(stored, dict) or not {"values", "made_by", "sha256"} <= set(stored):
        return None, "not a result file (no values, made_by and sha256)"
    payload = {"values": stored["values"], "made_by": stored["made_by"]}
    if stored["sha256"] != _result_digest(payload):
        return None, "altered: its sha256 differs from its contents'"
    return payload, None


def load_results(profile_name: str, made_by: dict, data: str | None = None) -> dict[str, dict]:
    """The stored results in :func:`results_dir` made by exactly ``made_by`` (configuration
    and code); others (other settings sharing the folder, older code) are ignored, damaged
    ones deleted with a warning (whoever needs them computes them again)."""
    current = json.loads(json.dumps(made_by, default=str))
    results = {}
    for path in sorted(results_dir(profile_name, data).glob("*.json")):
        payload, problem = check_result(path)
        if problem is not None:
            log.warning("fm_core store: %s: %s; deleted, it will be computed again", path, problem)
            path.unlink(missing_ok=True)
            continue
        if payload["made_by"] == current:
            results[path.stem] = payload["values"]
    return results


# ------------------------------------------------------------------------ verification
_ARTEFACT_SUFFIXES = (".pt", ".npz")


def verify_store(root: Path) -> tuple[int, list[tuple[Path, str]]]:
    """Check every artefact under ``root`` against its record, every result against its
    checksum; report left-over temporary files and records without artefact.
    Returns (number of files checked, [(path, problem)])."""
    root = Path(root)
    checked, problems = 0, []
    if not root.is_dir():
        return 0, [(root, "no such store")]
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        folder = Path(dirpath)
        names = set(filenames)
        for name in sorted(filenames):
            path = folder / name
            if name.endswith(".tmp"):
                problems.append((path, "left-over temporary file of an interrupted write"))
            elif name.endswith(".lock") or ".partial." in name:
                continue  # a lock, or the checkpoint of a computation in progress
            elif folder.name == "results" and name.endswith(".json"):
                checked += 1
                _, problem = check_result(path)
                if problem is not None:
                    problems.append((path, problem))
            elif name.endswith(_ARTEFACT_SUFFIXES):
                checked += 1
                problem = check_artefact(path)
                if problem is not None:
                    problems.append((path, problem))
            elif name.endswith(".json"):
                stem = name[:-len(".record.json")] if name.endswith(".record.json") else name[:-len(".json")]
                owners = [stem + s for s in _ARTEFACT_SUFFIXES + (".json",)]
                if not any(o in names and record_path(folder / o).name == name for o in owners):
                    problems.append((path, "record without its artefact"))
    return checked, problems

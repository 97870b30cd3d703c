"""The whole book at other training seeds, each in a store of its own, and the spread
of the headline numbers over them (``fm book --seed``, ``fm spread``; the statistics are
:mod:`fm_core.book.seed_spread`'s)."""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

from fm_core.errors import UserError
from fm_core.paths import RUNS_ENV
from fm_core.profiles import get_profile
from . import headline
from .seed_spread import SPREAD_SEEDS, seed_store, spread_path
from fm_core.utils import save_json_atomic

from . import build


@contextmanager
def _store_at(root: Path):
    """Point the artefact store (this process and the kernels it starts) at ``root``."""
    before = os.environ.get(RUNS_ENV)
    os.environ[RUNS_ENV] = str(root)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(RUNS_ENV, None)
        else:
            os.environ[RUNS_ENV] = before


def build_at_seed(profile_name: str, seed: int, jobs: int | None = None) -> dict:
    """The headline numbers of a whole book built at ``seed``, in its own store (reused
    when that store already holds them for the current code)."""
    root = seed_store(profile_name, seed)
    with _store_at(root):
        cfg = get_profile(profile_name, seed=seed)
        build.build_book(profile=profile_name, seed=seed, output_dir=root / "book", jobs=jobs)
        return dict(json.loads(headline.write_headline(cfg).read_text())["values"])


def measure_spread(profile_name: str, seeds=None, jobs: int | None = None) -> Path:
    """Every headline number at each seed: the profile's own build (``fm book``, which
    must have run) and one build per extra seed. Writes and returns the spread file."""
    seeds = tuple(seeds or SPREAD_SEEDS.get(profile_name, ()))
    own = get_profile(profile_name).seed
    if len(seeds) < 2 or seeds[0] != own:
        raise UserError(f"seeds must start with the profile's own seed {own} and hold two or more")
    first = headline.headline_path(profile_name)
    if not first.is_file():
        raise UserError(f"no headline file at {first}; build the book first (fm book --profile {profile_name})")
    per_seed = [json.loads(first.read_text())["values"]]
    per_seed += [build_at_seed(profile_name, s, jobs) for s in seeds[1:]]
    keys = [k for k in per_seed[0] if all(k in values for values in per_seed)]
    path = spread_path(profile_name)
    save_json_atomic(path, {"profile": profile_name, "seeds": list(seeds),
                            "values": {k: [values[k] for values in per_seed] for k in keys}})
    return path



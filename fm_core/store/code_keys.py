"""Which code an artefact depends on, for its key (:func:`fm_core.store.artefact_key`):
the source files of the modules that compute it and of every module of the package that
they import, directly or not, found from the import statements themselves, so that no
hand-kept list can miss one; and a hash of the whole package for stored results.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterable

from fm_core.utils import stable_hash


@functools.lru_cache(maxsize=None)
def _source_digest(path: str) -> str:
    """Read once per process: the code that runs is the code that was imported, even if
    the file is edited while a long build goes on."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@functools.lru_cache(maxsize=None)
def _package_imports(path: str, package: str) -> frozenset[str]:
    """The modules of ``package`` that the source file ``path`` imports anywhere in it
    (inside functions too: that code runs as well), as dotted names."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    here = Path(path).resolve()
    root = Path(sys.modules[package].__file__).resolve().parent
    parts = list(here.relative_to(root).with_suffix("").parts)
    current = [package] + (parts[:-1] if parts[-1] != "__init__" else parts[:-1])
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == package}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = current[:len(current) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").split(".")[0] == package:
                target = node.module
            else:
                continue
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names}  # `from . import x`: x may be a module

    def is_module(name: str) -> bool:  # a file of the package, not a name inside one
        rel = Path(*name.split(".")[1:])
        return (root / rel).with_suffix(".py").is_file() or (root / rel / "__init__.py").is_file()

    return frozenset(name for name in found if name and is_module(name))


def code_closure(modules: Iterable[ModuleType]) -> list[ModuleType]:
    """``modules`` and every module of their package that they import, directly or not:
    the code that an artefact's computation may run."""
    seen: dict[str, ModuleType] = {}
    todo = list(modules)
    while todo:
        module = todo.pop()
        if module.__name__ in seen:
            continue
        seen[module.__name__] = module
        package = module.__name__.split(".")[0]
        for name in _package_imports(str(module.__file__), package):
            if name not in seen:
                todo.append(importlib.import_module(name))
    return sorted(seen.values(), key=lambda m: m.__name__)


def code_hash(modules: Iterable[ModuleType]) -> str:
    """A hash of the source files of ``modules`` and of every module of the package that
    they import, directly or not (:func:`code_closure`; order-independent), so that no
    list of an artefact's modules kept by hand can miss one."""
    digests = [(m.__name__, _source_digest(str(Path(m.__file__)))) for m in code_closure(modules)]
    return stable_hash(digests, length=16)


def package_code_hash() -> str:
    """A hash of every source file of the ``fm_core`` package, its sub-packages included."""
    package = Path(sys.modules[__name__.split(".")[0]].__file__).resolve().parent  # fm_core/, not store/
    digests = []
    for path in sorted(package.rglob("*.py")) + sorted(package.rglob("*.json")):  # sub-packages too
        digests.append((path.relative_to(package).as_posix(), _source_digest(str(path))))
    return stable_hash(digests, length=16)

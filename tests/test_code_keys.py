"""What an artefact's code key covers (fm_core.store.code_keys): the modules of its
computation's import closure and nothing else, so that editing any other module
retrains nothing. Checked on the book's progress relay, which every network's key
included while fm_core.utils imported it (issue 37)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fm_core import store
from fm_core.store import pipeline

PACKAGE = Path(__file__).resolve().parent.parent / "fm_core"
PROGRESS = "fm_core.book.progress"
RECIPES = ("NETWORK_CODE", "SPLIT_CODE", "DATASET_MASK_CODE", "IMAGE_MASK_CODE")

# Run in a copy of the package: a network's code key before and after appending a comment
# to the progress module, then to the training module (which the key must follow).
EDIT_AND_KEY = """
import json, sys
from pathlib import Path
import fm_core
from fm_core.store import code_keys, pipeline

def network_key():
    code_keys._source_digest.cache_clear()  # read the edited files again
    return code_keys.code_hash(pipeline.NETWORK_CODE)

package = Path(fm_core.__file__).parent
keys = {"package": str(package), "before": network_key()}
for name, module in (("progress edited", "book/progress.py"), ("training edited", "nets/training.py")):
    path = package / module
    path.write_text(path.read_text() + "\\n# an edit that changes nothing but the file\\n")
    keys[name] = network_key()
print(json.dumps(keys))
"""


@pytest.mark.parametrize("recipe", RECIPES)
def test_no_recipe_reaches_the_book(recipe):
    """The book (its progress relay included) is above every artefact's code."""
    names = {m.__name__ for m in store.code_closure(getattr(pipeline, recipe))}
    assert PROGRESS not in names
    assert not [n for n in names if n.startswith("fm_core.book")], names


def test_editing_the_progress_module_keeps_a_networks_key(tmp_path):
    shutil.copytree(PACKAGE, tmp_path / "fm_core", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", EDIT_AND_KEY], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    keys = json.loads(proc.stdout.splitlines()[-1])
    assert keys["package"] == str(tmp_path / "fm_core")  # the copy was edited, not this checkout
    assert keys["before"] == store.code_hash(pipeline.NETWORK_CODE)  # the copy keys as this checkout does
    assert keys["progress edited"] == keys["before"], "editing the progress module moved a network's key"
    assert keys["training edited"] != keys["progress edited"]  # the key does follow an edit in its closure

"""fm_core: the Fourier masks companion library (Karantzas et al. 2022).

The packages, each a job, higher ones importing lower ones only (the layers contract in
``pyproject.toml``, checked by import-linter)::

    cli       the command line (``python -m fm_core``, ``fm``)
    book      building the website: execution, rendering, page reports, tables, figures, headline
    pages     what each page of the book computes and judges, one module per notebook
    store     the artefact store and the recipes (``pipeline``)
    methods   peer attribution methods and their faithfulness
    science   pure experiment and analysis functions behind the tables and figures
    masks     the mask learners (``DatasetMask``, ``ImageMasks``, ``MaskResult``)
    nets      networks: models, training, attacks, evaluation, distributed
    data      data sets: loaders, the synthetic cue world, Imagenette, checks of user files

and beside them ``fourier`` (the mask layer), ``profiles``, ``utils``, ``paths``, ``errors``.
"""
from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder

__version__ = "0.1.0"

# Modules that lived at the top of fm_core before it was cut into packages (issue 18), and
# where they went: an old import fails with one line naming the new place instead of a
# bare "No module named ..." (two names for one module would also split its state).
MOVED = {
    "analysis": "science.analysis", "attacks": "nets.attacks", "bench": "cli.bench",
    "bench_processes": "cli.bench_processes", "book_check": "book.check",
    "book_execute": "book.execute", "book_progress": "book.progress", "book_render": "book.render",
    "book_run": "book.run", "book_sphinx": "book.sphinx", "book_toc": "book.toc",
    "code_keys": "store.code_keys", "cue_analysis": "science.cue_analysis",
    "cue_calibration": "data.cue_calibration", "cue_readouts": "store.cue_readouts",
    "cue_results": "store.cue_results", "datafiles": "data.files", "dataset": "data.dataset",
    "dataset_mask_learner": "masks.dataset_mask_learner", "dataset_masks": "masks.dataset_masks",
    "distributed": "nets.distributed", "evaluation": "nets.evaluation",
    "experiments": "science.experiments", "explorer": "book.explorer",
    "faithfulness": "methods.faithfulness", "gap_notes": "book.gap_notes",
    "gpu_check": "cli.gpu_check", "headline": "store.headline",
    "image_mask_learner": "masks.image_mask_learner", "image_masks": "masks.image_masks",
    "imagenette_download": "data.imagenette_download", "mask_choice": "store.mask_choice",
    "mask_classifier": "science.mask_classifier",
    "mask_learning_plots": "book.figures.mask_learning", "mask_objective": "masks.objective",
    "mask_result": "masks.result", "method_plots": "book.figures.methods",
    "method_results": "store.method_results", "models": "nets.models",
    "page_settings": "book.page_settings", "paper": "science.paper", "pipeline": "store.pipeline",
    "plots": "book.figures", "report": "book.report", "results": "store.results",
    "reversal": "science.reversal", "synthetic": "data.synthetic", "tables": "book.tables",
    "training": "nets.training", "validate": "data.validate",
}


class _MovedModuleFinder(MetaPathFinder):
    """Answers an import of a moved module with the line that says where it went."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.partition(".")
        if package == __name__ and name in MOVED:
            # name=None: `from fm_core import pipeline` re-raises this message as it is
            raise ModuleNotFoundError(f"{fullname} moved to fm_core.{MOVED[name]}: import it from there")
        return None


if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _MovedModuleFinder())  # before any finder that might still find an old file


def __getattr__(name: str):
    if name in MOVED:  # `import fm_core; fm_core.pipeline`
        raise AttributeError(f"fm_core.{name} moved to fm_core.{MOVED[name]}: import it from there")
    raise AttributeError(f"module 'fm_core' has no attribute {name!r}")

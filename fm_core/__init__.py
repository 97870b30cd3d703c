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
__version__ = "0.1.0"

"""Page 00, introduction and method: nothing computed or judged of its own. Its one figure
filters a score-half image through the vanilla network's dataset mask, straight from
:mod:`fm_core.store.pipeline` and :func:`fm_core.fourier.filter_images`.
"""

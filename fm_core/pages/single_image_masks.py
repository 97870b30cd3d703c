"""Page 05, single-image masks (Figure 5): nothing stored or judged of its own. Its
examples, statistics and step-budget curve come from :mod:`fm_core.store.pipeline` and
:mod:`fm_core.science.experiments`; its convergence line is
:func:`fm_core.pages.common.convergence_note`.
"""

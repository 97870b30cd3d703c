"""Page 02, blue shift (Figure 1): nothing computed or judged of its own. Its spectra of
activation functions come straight from :mod:`fm_core.science.analysis`.
"""

"""Page 01, the data set: nothing computed or judged of its own. It shows the data set
and the cue world's planted frequencies and probes (:mod:`fm_core.store.pipeline`), the
linear probes (:func:`fm_core.science.cue_analysis.linear_probes`) and the calibration
runs (:mod:`fm_core.data.cue_calibration`).
"""

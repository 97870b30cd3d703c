"""The science behind the tables and figures: pure functions, networks, masks and images
in, numbers out; nothing here reads or writes the artefact store (:mod:`fm_core.store`).

- :mod:`~fm_core.science.experiments`: one function per table and figure (``table1``,
  ``figure3``, ``table2``, ``table3``, ...);
- :mod:`~fm_core.science.analysis`: spectra, bands and ground-truth scores;
- :mod:`~fm_core.science.reversal`: the adversarial reversal experiment;
- :mod:`~fm_core.science.mask_classifier`: can masks be told apart by class;
- :mod:`~fm_core.science.cue_analysis`: the cue world's questions, by behaviour and by masks;
- :mod:`~fm_core.science.paper`: the numbers the paper reported (cited, never computed).

Nothing is imported here: each module loads only what it needs, and scipy.stats and
scikit-learn are imported inside the functions that use them: together about a second of
import time, which every book page's kernel would otherwise pay whether it uses them or not.
"""

"""Peer methods on the same networks, and how to judge them.

One attribution interface for four frequency maps (:mod:`~fm_core.methods.peers`,
modelled on Captum's ``attribute()``): ``get_method(name, **settings).attribute(model,
x, y)`` returns a :class:`FrequencyMap` over the frequency pairs {k, -k}
(:mod:`~fm_core.methods.pairs`). :mod:`~fm_core.methods.faithfulness` judges a map by
truth, deletion/insertion curves and cost; :mod:`~fm_core.methods.reliability` says how
stable a map averaged over images is.
"""
from __future__ import annotations

from ..fourier import symmetric_part
from .pairs import frequency_pairs, mirrored, pair_indicators, pair_values
from .peers import (MAP_FORMAT, MASK_PATH, MASK_RANDOMIZE, METHOD_TITLES, METHODS, DatasetMaskMethod,
                    FourierHeatMap, FrequencyAblation, FrequencyMap, GradientSpectrum, PassCounter, basis_images,
                    get_method, heat_map_signs)
from .reliability import split_half_reliability

__all__ = ["MAP_FORMAT", "MASK_PATH", "MASK_RANDOMIZE", "METHOD_TITLES", "METHODS", "DatasetMaskMethod",
           "FourierHeatMap", "FrequencyAblation", "FrequencyMap", "GradientSpectrum", "PassCounter", "basis_images",
           "frequency_pairs",
           "get_method", "heat_map_signs", "mirrored", "pair_indicators", "pair_values", "split_half_reliability",
           "symmetric_part"]

"""Page 16, Fourier masks for your own network: nothing computed or judged of its own.
The page trains a small network written on the page and masks it through the public face
(:class:`fm_core.masks.DatasetMask` with ``set_normalization_used``, any network through
:mod:`fm_core.nets.classifier`); its cross-check masks the store's vanilla network in our
wrapper and as a plain module (:func:`fm_core.store.pipeline.get_network`).
"""

"""fm_core: the Fourier masks companion library (Karantzas et al. 2022)."""

__version__ = "0.1.0"

"""Page 13, the explorer: nothing computed or judged of its own. Its views and the live
widget are :mod:`fm_core.book.explorer`'s, over the conditions of
:mod:`fm_core.pages.cue_conditions`.
"""

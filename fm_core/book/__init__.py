"""Building the website: the notebooks executed by papermill, rendered by Jupyter Book,
and what their pages show.

- the build: :mod:`~fm_core.book.build` (``build_book``), :mod:`~fm_core.book.run`,
  :mod:`~fm_core.book.execute`, :mod:`~fm_core.book.progress`, :mod:`~fm_core.book.render`,
  :mod:`~fm_core.book.toc`, :mod:`~fm_core.book.sphinx`, :mod:`~fm_core.book.check`;
- what a page shows: :mod:`~fm_core.book.report` (``Page``), :mod:`~fm_core.book.page_settings`,
  :mod:`~fm_core.book.tables`, :mod:`~fm_core.book.gap_notes`, :mod:`~fm_core.book.reversal_notes`,
  :mod:`~fm_core.book.explorer`, :mod:`~fm_core.book.beyond_notes`;
- the book's outputs beside the pages: :mod:`~fm_core.book.headline` (the headline numbers,
  ``expected/`` and README's results block), :mod:`~fm_core.book.seed_spread` (how far they
  move with the seed), :mod:`~fm_core.book.seeds` (the builds at other seeds);
- figures: :mod:`~fm_core.book.figures` (by topic: the paper's, the book's own pages,
  the cue world, mask learning, the peer methods, and the style they share).
"""

"""What each page of the book computes and judges: one module per notebook, so that
"where does page N's number come from?" is answered by the folder tree.

``book/NN_<name>.ipynb`` -> ``fm_core.pages.<name>`` (the page number dropped: a module
name cannot start with a digit), e.g. ``book/10_cue_question.ipynb`` ->
:mod:`fm_core.pages.cue_question`. A page module fetches its inputs from
:mod:`fm_core.store.pipeline`, computes with :mod:`fm_core.science` and
:mod:`fm_core.methods`, stores its numbers (read back by the reproduction page, ``fm
book``'s summary and the headline file) and judges them; the words are the book's
(:mod:`fm_core.book`). A page that computes nothing of its own has a module that says
where its figures come from.

Shared by several pages (:data:`SHARED`), not pages themselves:

- :mod:`~fm_core.pages.common`: the paper's networks and dataset masks through the store,
  what "converged" means (``judge_mask``, ``mask_status``), the masks' convergence line and
  the seed margin of a verdict;
- :mod:`~fm_core.pages.cue_conditions`: the cue world's conditions and one network's row
  (pages 04, 10, 11, 14; the book's headline and explorer);
- :mod:`~fm_core.pages.mask_tables`: every table that shows a dataset mask, each mask with
  its status (converged, at budget, or costing more than the book's line of held-out
  accuracy) from what the page's rows carry (pages 04, 10, 11, 14, 15);
- :mod:`~fm_core.pages.real_images`: the paper's claim where no cue is planted (any data
  set): behaviour on filtered images against the masks' low share over three seeds,
  robustness checked by APGD, and the eps that breaks the vanilla network;
- :mod:`~fm_core.pages.robust_low`: the paper's direction there, seed by seed, each gap
  counted only beyond its sampling line (pages 04 and 17);
- :mod:`~fm_core.pages.setting_rules`: page 04's truth-free rules for the masks' settings
  (objective, learning rate, schedule), each with its tie margin and tie-break, and their
  words;
- :mod:`~fm_core.pages.claims`: the numbers the pages claim, gathered from their stored
  results, and the pairs of pages that report one quantity at one setting differently.

Nothing is imported here: a page loads only what it uses.
"""

SHARED = ("claims", "common", "cue_conditions", "mask_tables", "real_images", "robust_low", "setting_rules")

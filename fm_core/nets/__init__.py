"""Networks: build, train, attack and run them for numbers.

- :mod:`~fm_core.nets.models`: VGG11-bn and ResNet18 for one-channel images
  (``build_model``, ``MaskedClassifier``, ``freeze``, ``save_model``, ``load_model``);
- :mod:`~fm_core.nets.training`: the paper's five regimes (``train_network``);
- :mod:`~fm_core.nets.attacks`: PGD through torchattacks (``pgd_attack``, ``make_pgd``);
  :mod:`~fm_core.nets.apgd`: APGD, to check a robust network's PGD accuracy (``apgd_attack``);
- :mod:`~fm_core.nets.evaluation`: predictions, accuracies and losses, optionally through
  a mask (``predict``, ``accuracy``, ``loss_and_accuracy``);
- :mod:`~fm_core.nets.distributed`: more than one process (``Ranks``, ``DataParallel``);
- :mod:`~fm_core.nets.classifier`: any network as the learners see it (``as_classifier``,
  ``checked_network``, ``set_normalization_used``); :mod:`~fm_core.nets.exported`: a
  network exported with ``torch.export`` (``load_exported``), for the command line;
- :mod:`~fm_core.nets.inputs`: the checks of images, labels and settings (``constraints``).

Nothing is imported here: ``import fm_core.nets.models`` loads only what it needs.
"""

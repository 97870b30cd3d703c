"""Networks: build, train, attack and run them for numbers.

- :mod:`~fm_core.nets.models`: VGG11-bn and ResNet18 for one-channel images
  (``build_model``, ``MaskedClassifier``, ``freeze``, ``save_model``, ``load_model``);
- :mod:`~fm_core.nets.training`: the paper's five regimes (``train_network``);
- :mod:`~fm_core.nets.attacks`: PGD through torchattacks (``pgd_attack``, ``make_pgd``);
- :mod:`~fm_core.nets.evaluation`: predictions, accuracies and losses, optionally through
  a mask (``predict``, ``accuracy``, ``loss_and_accuracy``);
- :mod:`~fm_core.nets.distributed`: more than one process (``Ranks``, ``DataParallel``).

Nothing is imported here: ``import fm_core.nets.models`` loads only what it needs.
"""

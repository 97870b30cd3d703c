"""The numbers the paper reported, cited, never computed here.

Source: Karantzas et al. (2022), Frontiers in Artificial Intelligence 5:890016,
doi:10.3389/frai.2022.890016 (CC BY 4.0), VGG11 on grayscale Imagenette-5 at 128x128;
transcribed in ``shared/paper/FACTS.md``. Where the authors' public notebooks print a
different value, it is given beside the paper's as ``*_NOTEBOOK``.
"""

CITATION = ("Karantzas et al. (2022), Understanding Robustness and Generalization of "
            "Artificial Neural Networks Through Fourier Masks, Front. Artif. Intell. 5:890016")

# Table 1: validation accuracy (%), standard / with the network's dataset mask.
TABLE1 = {
    "vanilla": (89.56, 89.20),
    "adversarial": (79.62, 78.97),
    "scale": (86.62, 86.72),
    "translate": (85.86, 85.35),
    "rotate": (68.47, 68.17),
}

# Table 2: accuracy (%) against the vanilla network's clean predictions.
TABLE2 = {"x": 100.0, "x_A": 0.0, "M(x)": 100.0, "M(x_A)": 58.83, "Mc(x)": 54.4}
TABLE2_NOTEBOOK = {"M(x_A)": 58.69, "Mc(x)": 55.52}

# Table 3: linear classifier on single-image masks (85% train / 15% test), accuracy (%).
TABLE3 = {"true_labels": {"train": 93.22, "test": 83.87},
          "shuffled_labels": {"train": 19.50, "test": 16.42}}
TABLE3_NOTEBOOK = {"true_labels": {"train": 97.60, "test": 82.24},
                   "shuffled_labels": {"test": 20.56}}

# Images selected for the single-image experiments by the authors' code (VGG11).
SELECTED_IMAGES = 1421

"""The book's figures: each function takes arrays or results and returns a Figure.

- :mod:`.paper`: the paper's Figures 1 to 8;
- :mod:`.pages`: the data set, training histories, ground truth, paper against build;
- :mod:`.cues`: the cue world;
- :mod:`.mask_learning`: how dataset masks are learned (learning rate, lambda path);
- :mod:`.methods`: the peer methods' maps and curves;
- :mod:`.parts`: amplitude and phase masks;
- :mod:`.real`: the paper's claim on real images (filtered images, band ablation, mask against behaviour);
- :mod:`.style`: what they share (sizes, colour maps, image and mask panels).

Every ``plot_*`` function is importable from here: ``figures.plot_umap(...)``.
"""
from __future__ import annotations

from .paper import (plot_activation_spectra, plot_band_partitions_and_energies, plot_band_preference,
                    plot_dataset_masks, plot_image_mask_grid, plot_mask_layer_schematic,
                    plot_reversal_examples, plot_umap)
from .pages import (plot_dataset_overview, plot_ground_truth, plot_paper_vs_build, plot_power_spectrum,
                    plot_samples, plot_training_history)
from .cues import plot_bias_vs_share, plot_cue_truths, plot_probe_samples, plot_step_budget_curve
from .mask_learning import plot_lambda_path, plot_lr_sweep
from .methods import plot_frequency_curves, plot_method_maps
from .parts import plot_part_masks, plot_part_removal
from .real import plot_band_ablation, plot_filtered_accuracy, plot_mask_vs_behaviour, plot_robust_low_by_seed

__all__ = ["plot_activation_spectra", "plot_band_ablation", "plot_filtered_accuracy", "plot_mask_vs_behaviour", "plot_band_partitions_and_energies", "plot_band_preference",
           "plot_bias_vs_share", "plot_cue_truths", "plot_dataset_masks", "plot_dataset_overview",
           "plot_frequency_curves", "plot_ground_truth", "plot_image_mask_grid", "plot_lambda_path",
           "plot_lr_sweep", "plot_mask_layer_schematic", "plot_method_maps", "plot_paper_vs_build",
           "plot_part_masks", "plot_part_removal",
           "plot_power_spectrum", "plot_probe_samples", "plot_reversal_examples", "plot_robust_low_by_seed", "plot_samples",
           "plot_step_budget_curve", "plot_training_history", "plot_umap"]

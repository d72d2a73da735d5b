"""Synthetic counter windows with known readings: rolling drums (`counters`), 7-segment LCDs
(`lcd`), field augmentations (`augment`). Scenes (whole photos) live in `model.synth.scenes`."""

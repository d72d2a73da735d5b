"""Folding batch normalisations into convolutions keeps the networks' outputs (model.fold)."""

from pathlib import Path

import numpy as np
import pytest


def _with_moved_statistics(model, seed: int):
    """Give every batch normalisation statistics and an affine part far from the identity, as
    training leaves them, so a fold that dropped or misplaced one would show."""
    from keras import layers

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            n = layer.get_weights()[0].shape[0]
            layer.set_weights([rng.uniform(0.5, 2.0, n), rng.normal(0, 0.5, n), rng.normal(0, 0.5, n),
                               rng.uniform(0.2, 3.0, n)])
    return model


def test_a_folded_reader_reads_as_the_trained_one():
    from model.fold import fold_batch_norms
    from model.network import build_reader

    trained = _with_moved_statistics(build_reader(16, 32, widths=(4, 8, 8), rnn_units=4), seed=1)
    folded = fold_batch_norms(trained, build_reader(16, 32, widths=(4, 8, 8), rnn_units=4, folded=True))
    x = np.random.default_rng(2).random((5, 16, 32, 1), dtype=np.float32)
    assert not any("batch_normalization" in layer.name for layer in folded.layers)
    np.testing.assert_allclose(folded(x, training=False), trained(x, training=False), atol=1e-5)


def test_a_folded_locator_finds_as_the_trained_one():
    from model.fold import fold_batch_norms
    from model.locator_net import build_locator

    trained = _with_moved_statistics(build_locator(32, width=8), seed=3)
    folded = fold_batch_norms(trained, build_locator(32, width=8, folded=True))
    x = np.random.default_rng(4).random((3, 32, 32, 1), dtype=np.float32)
    np.testing.assert_allclose(folded(x, training=False), trained(x, training=False), atol=1e-4)


def test_networks_that_do_not_pair_up_are_refused():
    from model.fold import fold_batch_norms
    from model.network import build_reader

    trained = build_reader(16, 32, widths=(4, 8, 8), rnn_units=4)
    with pytest.raises(ValueError, match="layer for layer"):
        fold_batch_norms(trained, build_reader(16, 32, widths=(4, 8, 8), rnn_units=4))  # not built folded


@pytest.mark.slow
def test_the_shipped_models_fold_again_from_their_training_state_weights(tmp_path):
    # The shipped SavedModels are the training-state weights folded: refolding a copy of the
    # folder from them changes no output beyond float rounding, and weights that are not theirs
    # are refused before anything is written.
    import shutil

    from model.fold import MAX_DIFFERENCE, refold
    from model.locator_net import build_locator

    root = Path(__file__).resolve().parents[2]
    state = root / "model" / "training_state"
    shutil.copytree(root / "model" / "shipped", tmp_path / "shipped")
    differences = refold(tmp_path / "shipped", state / "reader-2.6-mean.weights.h5",
                         state / "locator-real-digits-s4500.weights.h5")
    assert max(max(d.values()) for d in differences.values()) <= MAX_DIFFERENCE
    untrained = tmp_path / "untrained.weights.h5"
    build_locator().save_weights(str(untrained))
    before = (tmp_path / "shipped" / "reader" / "saved_model.pb").read_bytes()
    with pytest.raises(ValueError, match="does not give what"):
        refold(tmp_path / "shipped", state / "reader-2.6-mean.weights.h5", untrained)
    assert (tmp_path / "shipped" / "reader" / "saved_model.pb").read_bytes() == before

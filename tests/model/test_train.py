"""Reader training: the weight average (--ema), resuming a run with it, and a run leaving nothing
behind in its caller."""

import json
import multiprocessing
import signal

import numpy as np
import pytest

pytestmark = pytest.mark.model


def _tiny_model():
    from model.network import build_reader

    return build_reader(16, 32, widths=(4, 8, 8), rnn_units=4)


def _batch(seed=0):
    from model.train import encode_labels

    rng = np.random.default_rng(seed)
    images = rng.random((4, 16, 32, 1), dtype=np.float32)
    dense, lengths = encode_labels(["12", "345", "6", "78"])
    return images, dense, lengths


def test_each_step_moves_the_average_by_the_decay():
    import tensorflow as tf

    from model.train import make_train_step

    model = _tiny_model()
    average = [tf.Variable(v, trainable=False) for v in model.trainable_variables]
    before = [v.numpy() for v in average]
    step = make_train_step(model, tf.keras.optimizers.Adam(1e-2), average, 0.9)
    step(*_batch())
    after_weights = [v.numpy() for v in model.trainable_variables]
    assert any(not np.allclose(w, b) for w, b in zip(after_weights, before))  # the step trained
    for mean, old, weight in zip(average, before, after_weights):
        np.testing.assert_allclose(mean.numpy(), 0.9 * old + 0.1 * weight, rtol=1e-5, atol=1e-7)


def test_averaged_weights_are_inside_the_context_and_the_trained_ones_after():
    import tensorflow as tf

    from model.train import averaged_weights

    model = _tiny_model()
    trained = [v.numpy() for v in model.trainable_variables]
    average = [tf.Variable(v + 1.0, trainable=False) for v in trained]
    with averaged_weights(model, average):
        for weight, kept in zip(model.trainable_variables, trained):
            np.testing.assert_allclose(weight.numpy(), kept + 1.0)
    for weight, kept in zip(model.trainable_variables, trained):
        np.testing.assert_allclose(weight.numpy(), kept)
    with averaged_weights(model, None):  # no average: the model is left alone
        np.testing.assert_allclose(model.trainable_variables[0].numpy(), trained[0])


@pytest.mark.slow
def test_a_run_with_the_average_saves_it_as_best_and_resumes_it(tmp_path):
    import tensorflow as tf

    from model import train

    run_dir = tmp_path / "run"
    argv = ["--run-dir", str(run_dir), "--mix", "drums=1", "--batch-size", "8", "--eval-every", "2",
            "--log-every", "2", "--ema", "0.5"]
    handler = signal.getsignal(signal.SIGTERM)
    train.main([*argv, "--steps", "4"])
    # nothing is left behind: the caller's SIGTERM handler (which forked children inherit) and
    # no batch producer process still running
    assert signal.getsignal(signal.SIGTERM) is handler
    assert multiprocessing.active_children() == []
    assert json.loads((run_dir / "best.json").read_text())["step"] in (2, 4)
    ckpt = tf.train.latest_checkpoint(run_dir / "ckpt")
    names = [name for name, _ in tf.train.list_variables(ckpt)]
    assert any(name.startswith("average/") for name in names)  # the average is checkpointed
    train.main([*argv, "--steps", "6"])
    log = (run_dir / "train.log").read_text()
    assert "resumed from" in log and "step 6 validation" in log
    # exported from the last checkpoint, the weights are the average that validation scored
    from model.export import load_run_model

    exported, _ = load_run_model(run_dir, "latest")
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(run_dir / "ckpt"))
    for index, weight in enumerate(exported.trainable_variables):
        np.testing.assert_allclose(weight.numpy(), reader.get_tensor(f"average/{index}/.ATTRIBUTES/VARIABLE_VALUE"))


def test_a_run_trains_and_validates_on_located_crops(tmp_path):
    from model import train

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        images = rng.integers(0, 256, (6, 32, 128), dtype=np.uint8)
        np.savez_compressed(tmp_path / f"{split}.npz", images=images, labels=np.array(["1234", "56789"] * 3))
    run_dir = tmp_path / "run"
    train.main(["--run-dir", str(run_dir), "--mix", "located=1", "--located-crops", str(tmp_path),
                "--batch-size", "4", "--steps", "2", "--eval-every", "2", "--log-every", "1"])
    log = (run_dir / "train.log").read_text()
    assert "step 2 validation exact-match {'located'" in log

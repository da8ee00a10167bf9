"""Shared network check: a train step with finite gradients, then `get_config` and `.keras`
round trips that reproduce the eval outputs and the DropBlock keep-probabilities."""

import keras
import numpy as np
import tensorflow as tf

from nets import dropblock_layers


def _np(x):
    return keras.ops.convert_to_numpy(x)


def check_train_step_and_round_trips(model, x, y, num_classes, tmp_path):
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    assert tuple(logits.shape) == (len(y), num_classes)
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None for g in grads)
    assert all(bool(tf.reduce_all(tf.math.is_finite(g))) for g in grads)

    expected = _np(model(x, training=False))
    assert np.all(np.isfinite(expected))
    rebuilt = keras.Model.from_config(model.get_config())
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(expected, _np(rebuilt(x, training=False)), rtol=1e-5, atol=1e-5)

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(expected, _np(loaded(x, training=False)))
    for a, b in zip(dropblock_layers(model), dropblock_layers(loaded)):
        assert float(a.keep_prob.numpy()) == float(b.keep_prob.numpy())

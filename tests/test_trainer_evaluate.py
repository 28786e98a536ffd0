"""trainer.evaluate without TensorFlow: what the Keras latency probe feeds the model."""

from __future__ import annotations

import numpy as np

from edge_app.contract import INPUT_SHAPE
from trainer.evaluate import keras_latency_ms


def test_keras_latency_feeds_one_float_image_as_a_batch():
    seen = []

    def model(x, training):
        seen.append((x.shape, x.dtype, training))
        return np.zeros((1, 10), np.float32)

    assert keras_latency_ms(model, repeats=3) >= 0.0
    assert seen == [((1, *INPUT_SHAPE), np.float32, False)] * 4  # warm-up + 3 timed calls

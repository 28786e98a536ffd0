"""Crossed 7s added to the training images (trainer.styles): what the twin looks like, and
that a share of 0 or an old run's config adds none. No TensorFlow."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from trainer.config import TrainConfig
from trainer.errors import ConfigError
from trainer.styles import INK, cross_seven, with_crossed_sevens


def _seven() -> np.ndarray:
    """An uncrossed 7 as MNIST writes it: a top bar and a slanted stem, white on black."""
    image = np.zeros((28, 28), np.uint8)
    cv2.line(image, (7, 6), (20, 6), 255, 2)
    cv2.line(image, (20, 6), (12, 23), 255, 2)
    return image


def _runs_of_ink(row: np.ndarray) -> int:
    on = row >= INK
    return int(on[0]) + int(np.count_nonzero(on[1:] & ~on[:-1]))


def test_a_crossed_seven_gains_a_bar_across_its_stem():
    seven = _seven()
    crossed = cross_seven(seven, np.random.default_rng(0))
    assert crossed is not None and crossed.shape == seven.shape and crossed.dtype == np.uint8
    added = (crossed >= INK) & (seven < INK)
    rows = np.flatnonzero(added.any(axis=1))
    # The bar lies in the middle of the 7's height, wider than the stem, on both sides of it.
    assert rows.min() >= 10 and rows.max() <= 18
    bar_row = rows[np.argmax(added[rows].sum(axis=1))]
    stem = np.flatnonzero(seven[bar_row] >= INK)
    bar = np.flatnonzero(crossed[bar_row] >= INK)
    assert bar.min() < stem.min() - 1 and bar.max() > stem.max() + 1
    assert _runs_of_ink(crossed[bar_row]) == 1
    # Nothing of the original 7 is lost.
    assert np.all(crossed >= seven)


def test_a_seven_with_no_ink_at_the_bar_is_left_alone():
    assert cross_seven(np.zeros((28, 28), np.uint8), np.random.default_rng(0)) is None


def test_only_the_chosen_share_of_sevens_gets_a_twin():
    x = np.stack([_seven()] * 10 + [np.zeros((28, 28), np.uint8)] * 5)
    y = np.array([7] * 10 + [1] * 5, np.uint8)
    same_x, same_y = with_crossed_sevens(x, y, 0.0, seed=1)
    assert same_x is x and same_y is y
    more_x, more_y = with_crossed_sevens(x, y, 0.3, seed=1)
    assert len(more_x) == 15 + 3 and more_y.dtype == y.dtype and more_x.dtype == x.dtype
    assert np.all(more_y[15:] == 7)
    np.testing.assert_array_equal(more_x[:15], x)  # the originals stay, in order
    again_x, _ = with_crossed_sevens(x, y, 0.3, seed=1)
    np.testing.assert_array_equal(again_x, more_x)  # a seed gives the same twins


def test_the_share_is_checked_and_old_runs_crossed_none():
    with pytest.raises(ConfigError, match="between 0 and 1"):
        TrainConfig(crossed_sevens=1.5)
    saved = TrainConfig().to_json()
    del saved["crossed_sevens"]  # a run.json written before 7s were crossed
    assert TrainConfig.from_json(saved).crossed_sevens == 0.0

"""The image views the guide also runs on, and how their partitions join the guide's."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

import skmfc.views
from skmfc.guide import GuidePartitions, guide_partitions, with_view_partitions
from skmfc.views import (colour_invariant_mask, shift_invariant_view,
                         translation_invariant_magnitude)


def painted(stroke, foreground, background):
    """Images of shape (n, H, W, 3): ``stroke`` (n, H, W) in [0, 1] blended from a
    background colour to a foreground colour, per image."""
    return (background[:, None, None, :]
            + stroke[..., None] * (foreground - background)[:, None, None, :])


def test_the_mask_gives_the_stroke_back_whatever_its_two_colours():
    rng = np.random.default_rng(0)
    stroke = np.zeros((6, 8, 8))
    stroke[:, 2:5, 3] = 1.0
    stroke[:, 4, 2:6] = 0.5  # anti-aliased part of the shape
    foreground, background = rng.uniform(size=(6, 3)), rng.uniform(size=(6, 3))
    mask = colour_invariant_mask(painted(stroke, foreground, background))
    np.testing.assert_allclose(mask, np.broadcast_to(stroke[:1], stroke.shape), atol=1e-12)


def test_the_mask_of_an_image_of_one_colour_is_zero():
    image = np.full((1, 5, 4, 3), 0.3)
    mask = colour_invariant_mask(image)
    assert mask.shape == (1, 5, 4)
    assert not mask.any()


def test_the_fourier_magnitude_does_not_change_with_a_circular_shift():
    maps = np.random.default_rng(1).uniform(size=(3, 7, 9))
    shifted = np.roll(maps, shift=(2, -3), axis=(1, 2))
    np.testing.assert_allclose(translation_invariant_magnitude(maps),
                               translation_invariant_magnitude(shifted), atol=1e-9)
    # It keeps the shape itself: a different map gives a different magnitude.
    assert not np.allclose(translation_invariant_magnitude(maps[:1]),
                           translation_invariant_magnitude(maps[1:2]))


def test_the_view_is_the_same_computed_in_chunks(monkeypatch):
    images = np.random.default_rng(2).uniform(size=(10, 6, 6, 3)).astype(np.float32)
    whole = shift_invariant_view(images)
    monkeypatch.setattr(skmfc.views, "VIEW_CHUNK", 3)
    np.testing.assert_array_equal(shift_invariant_view(images), whole)
    assert whole.shape == (10, 36)
    np.testing.assert_allclose(
        whole, translation_invariant_magnitude(colour_invariant_mask(images)))


def test_the_view_needs_images():
    with pytest.raises(ValueError, match=r"\(n_samples, height, width, channels\)"):
        shift_invariant_view(np.zeros((4, 16)))


def partitions_of(*columns, clarity):
    labels = np.stack(columns, axis=1)
    return GuidePartitions(labels=labels, clarity=np.asarray(clarity, dtype=float),
                           redundant=np.zeros(labels.shape[1], dtype=bool))


def test_a_view_adds_only_clear_partitions_new_to_the_pixels():
    rng = np.random.default_rng(0)
    colour, eyes, mouth = (rng.integers(3, size=2000) for _ in range(3))
    noise = rng.integers(3, size=2000)
    pixels = partitions_of(colour, noise, clarity=[0.9, 0.2])
    # The view repeats the colour, finds the eyes, has the mouth unclear, and holds the
    # colour again, coarsened (shared information: the same factor).
    view = partitions_of(colour, eyes, mouth, (colour == 0).astype(int),
                         clarity=[0.95, 0.8, 0.3, 0.7])
    joined = with_view_partitions(pixels, view, random_state=0)
    # The pixels' own partitions come first and unchanged, whatever the view's clarity.
    np.testing.assert_array_equal(joined.labels[:, :2], pixels.labels)
    np.testing.assert_array_equal(joined.labels[:, 2], eyes)
    assert joined.labels.shape[1] == 3
    assert joined.clear().tolist() == [True, False, True]


def test_a_view_partition_depending_on_a_pixel_partition_is_not_added():
    # Independent of the colour by shared information, but emptying a cell that two
    # independent factors would fill (a colour group split between the two).
    rng = np.random.default_rng(1)
    colour, half = rng.integers(3, size=2000), rng.integers(2, size=2000)
    group_against_rest = (colour == 0).astype(int)
    split = np.select([colour == 1, half == 0], [1, 0], np.where(colour == 0, 1, 2))
    pixels = partitions_of(group_against_rest, clarity=[0.9])
    joined = with_view_partitions(pixels, partitions_of(split, clarity=[0.9]),
                                  random_state=0)
    assert joined.labels.shape[1] == 1


@pytest.mark.slow
def test_the_view_gives_the_guide_the_shifted_factors_of_faces():
    # Cartoon faces: the colour is linear in the pixels, but eyes and mouth are drawn
    # on a face shifted by up to two pixels, so no linear subspace of the pixels holds
    # them (the pixels' guide anchors the colour alone, test_guide.py); the Fourier
    # magnitude of the colour-invariant mask makes both clear partitions.
    from skmfc.datasets import make_faces
    faces = make_faces(1000, random_state=0)
    pixels = guide_partitions(faces.data, [3, 3, 3], random_state=0)
    view = guide_partitions(shift_invariant_view(faces.images), [3, 3, 3], random_state=0)
    joined = with_view_partitions(pixels, view, random_state=0)
    clear = joined.labels[:, joined.clear()]
    assert clear.shape[1] == 3
    for factor in range(3):
        assert max(adjusted_rand_score(faces.target[:, factor], column)
                   for column in clear.T) > 0.95


def test_the_estimator_runs_the_view_only_for_images_and_the_default_guide(monkeypatch):
    # The default guide computes the view of every training image, in input units (not
    # standardised per pixel); flat rows and "nonredundant-raw" never compute it.
    import skmfc.estimator
    from tests.conftest import tiny_estimator
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(120, 6, 6, 1)) * 0.1
    calls = []
    real_view = skmfc.estimator.shift_invariant_view

    def counted_view(rows):
        calls.append(rows)
        return real_view(rows)

    monkeypatch.setattr(skmfc.estimator, "shift_invariant_view", counted_view)
    tiny_estimator(architecture="mlp", max_iter=1).fit(images.reshape(120, -1))
    tiny_estimator(architecture="mlp", max_iter=1, guide="nonredundant-raw").fit(images)
    assert calls == []
    fitted = tiny_estimator(architecture="mlp", max_iter=1).fit(images)
    seen = np.concatenate(calls)
    assert seen.shape == (120, 6, 6, 1)
    # Every training row, as the user gave it.
    np.testing.assert_allclose(np.sort(seen.ravel()), np.sort(images.ravel()), atol=1e-6)
    assert fitted.image_shape_ == (6, 6, 1)
    assert fitted.labels_.shape == (120, 2)

"""Views of images under which a hidden factor becomes a linear partition, for the guide.

The guide (:mod:`skmfc.guide`) finds the factors that are linear in the pixels: a colour,
a position, a pose drawn in place. Two kinds of factor are not: a *shape drawn in a
colour that is itself a factor* (a pixel of a coloured digit is ``background + stroke *
(foreground - background)``, so the stroke hides behind the colours' sign), and a
*shape drawn at a varying position* (a shifted face's eyes differ from themselves more
than from other eyes). :func:`shift_invariant_view` takes both away: the colour-
invariant mask gives the stroke back whatever its two colours, and the magnitude of its
2-D Fourier transform does not change when the image is shifted (circularly). On the
project's tuning set, the guide run on this view finds faces' eyes and mouth as clear
partitions (ARI 1.00 in both guide seeds) that the pixels' guide misses
(benchmarks/FACETS_LOG.md, sessions 13 and 14). The view forgets where a shape is, and
what colour it has, so it is only ever used *beside* the pixels.
"""

import numpy as np

#: Images converted at a time (bounds the float64 copies to a chunk).
VIEW_CHUNK = 4096


def colour_invariant_mask(images):
    """Where each image differs from its own background, whatever the two colours.

    Per image, every pixel's Euclidean distance in colour from the image's median colour
    (the background, where it covers most pixels), divided by the image's largest such
    distance. A shape drawn in one colour on another comes back as its stroke in
    [0, 1], the same for every pair of colours.

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width, channels)
        Images in their own units.

    Returns
    -------
    ndarray of shape (n_samples, height, width)
        Values in [0, 1]; an image of one colour gives all zeros.
    """
    images = np.asarray(images, dtype=np.float64)
    n_samples, height, width, channels = images.shape
    pixels = images.reshape(n_samples, height * width, channels)
    distance = np.sqrt(((pixels - np.median(pixels, axis=1, keepdims=True)) ** 2).sum(-1))
    largest = distance.max(axis=1, keepdims=True)
    mask = np.divide(distance, largest, out=np.zeros_like(distance), where=largest > 0)
    return mask.reshape(n_samples, height, width)


def translation_invariant_magnitude(maps):
    """The magnitude of each map's 2-D discrete Fourier transform, flattened.

    A circular shift of a map changes only the phase of its transform, so the magnitude
    is the same for a shape wherever it is drawn (exactly for circular shifts, nearly
    for a shape shifted inside a blank border).

    Parameters
    ----------
    maps : ndarray of shape (n_samples, height, width)
        One map (such as a mask) per sample.

    Returns
    -------
    ndarray of shape (n_samples, height * width)
        The magnitude of every frequency of each map.
    """
    maps = np.asarray(maps, dtype=np.float64)
    return np.abs(np.fft.fft2(maps)).reshape(len(maps), -1)


def shift_invariant_view(images):
    """The Fourier magnitude of the colour-invariant mask of every image.

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width, channels)
        Images in their own units (not standardised per pixel: the mask compares an
        image's pixels with each other).

    Returns
    -------
    ndarray of shape (n_samples, height * width)
        One row per image, computed :data:`VIEW_CHUNK` images at a time.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must have shape (n_samples, height, width, channels), got "
                         f"shape {images.shape}")
    height, width = images.shape[1:3]
    view = np.empty((len(images), height * width))
    for start in range(0, len(images), VIEW_CHUNK):
        chunk = images[start:start + VIEW_CHUNK]
        view[start:start + len(chunk)] = translation_invariant_magnitude(
            colour_invariant_mask(chunk))
    return view

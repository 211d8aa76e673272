"""Convolutional ladder encoder and decoder (VLAE style) for image inputs.

Same interface and facet order as :mod:`skmfc.nn.ladder`: facet 0 branches off the
encoder lowest (closest to x) and joins the decoder last; facet J-1 sits deepest.

Encoder, per level ``j`` (channels ``c_j = hidden_sizes[j]``)::

    backbone:  conv 4x4 stride 2 (or 3x3 stride 1, see below) -> BN -> ELU
               conv 3x3 stride 1 -> BN -> ELU                       => map of level j
    rung j:    1+ convs (4x4 stride 2 while the map is larger than ``rung_size``,
               else one 3x3 stride 1) -> BN -> ELU -> flatten -> Linear mean / log-variance

Decoder (mirror)::

    top:       z_{J-1} -> rung -> alpha_{J-1} * map -> conv 3x3 -> BN -> ELU
    level j:   transposed conv up to the shape of level j -> BN -> ELU
               concat(backbone, alpha_j * rung_j(z_j)) -> conv 3x3 -> BN -> ELU
    rung j:    Linear(d_j -> c_j * h * w) -> ELU -> transposed convs up to level j's shape
    output:    transposed conv up to (H, W) with max(c_0 // 2, C) channels -> BN -> ELU
               -> conv 3x3 to C channels
               (pre-activation: logits or means)

Any image size works. Each spatial dimension is halved independently (``floor(n / 2)``)
at each level while the result stays at least ``min_size``; otherwise that dimension
keeps its size (the kernel becomes 3 with stride 1 along it). The encoder records every
shape and the decoder's transposed convolutions use ``output_padding`` to reproduce
them exactly, so the decoder output is always ``(n, C, H, W)``.
"""

import math

import torch
from torch import nn

from skmfc.nn.ladder import GaussianHeads

#: Memory format of the convolution weights and feature maps: channels-last (NHWC) lets
#: oneDNN use its faster convolution kernels on the CPU, 1.2-1.4x a training step of the
#: ladder on 20x20 images (``benchmarks/conv_speed.py``). The values are the same up to
#: float rounding (the kernels sum in another order).
CHANNELS_LAST = torch.channels_last


def _halve(shape, min_size):
    """Strides and output shape of one downsampling step, dimension by dimension."""
    strides = tuple(2 if size // 2 >= min_size else 1 for size in shape)
    return strides, tuple(size // stride for size, stride in zip(shape, strides))


def _shrink(shape, target, min_size):
    """Strides and output shape of one rung step: halve only dimensions above ``target``."""
    strides = tuple(2 if size > target and size // 2 >= min_size else 1 for size in shape)
    return strides, tuple(size // stride for size, stride in zip(shape, strides))


def _kernel(strides):
    return tuple(4 if stride == 2 else 3 for stride in strides)


def _conv(in_channels, out_channels, strides=(1, 1)):
    """Conv -> BN -> ELU; 4-wide kernel, padding 1 along halved dimensions (``n -> n // 2``),
    3-wide kernel along kept ones (``n -> n``)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, _kernel(strides), strides, padding=1),
        nn.BatchNorm2d(out_channels), nn.ELU())


def _conv_transpose(in_channels, out_channels, strides, in_shape, out_shape, norm=True):
    """Transposed conv mapping ``in_shape`` exactly onto ``out_shape`` (undoes :func:`_conv`)."""
    # (in - 1) * s - 2 + k equals 2 * in for s = 2 (k = 4) and in for s = 1 (k = 3); an odd
    # original size needs one extra row/column (output_padding, always < stride).
    output_padding = tuple(out - in_ * stride
                           for in_, out, stride in zip(in_shape, out_shape, strides))
    layers = [nn.ConvTranspose2d(in_channels, out_channels, _kernel(strides), strides,
                                 padding=1, output_padding=output_padding)]
    if norm:
        layers += [nn.BatchNorm2d(out_channels), nn.ELU()]
    return nn.Sequential(*layers)


def _check(input_shape, hidden_sizes, latent_dims):
    input_shape = tuple(int(size) for size in input_shape)
    if len(input_shape) == 2:
        input_shape = (1, *input_shape)
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ValueError(f"input_shape must be (C, H, W), got {input_shape}")
    if len(hidden_sizes) != len(latent_dims) or not hidden_sizes:
        raise ValueError("hidden_sizes and latent_dims need one entry per facet")
    return input_shape, tuple(int(c) for c in hidden_sizes), tuple(int(d) for d in latent_dims)


class LadderGeometry:
    """Spatial plan shared by the encoder and the decoder.

    Attributes
    ----------
    input_shape : (C, H, W)
    level_shapes : list of (h, w)
        Spatial shape of the feature map of each level, lowest facet first.
    level_strides : list of (sh, sw)
        Strides from the previous level (the input for level 0) to each level.
    rung_shapes : list of list of (h, w)
        Shapes along each rung, starting at its level's shape (at least two entries).
    rung_strides : list of list of (sh, sw)
    """

    def __init__(self, input_shape, n_levels, min_size=2, rung_size=4):
        self.input_shape = tuple(input_shape)
        shape = self.input_shape[1:]
        self.level_shapes, self.level_strides = [], []
        self.rung_shapes, self.rung_strides = [], []
        for _ in range(n_levels):
            strides, shape = _halve(shape, min_size)
            self.level_strides.append(strides)
            self.level_shapes.append(shape)
            rung_shape, shapes, rung_strides = shape, [shape], []
            while True:
                strides, rung_shape = _shrink(rung_shape, rung_size, min_size)
                rung_strides.append(strides)
                shapes.append(rung_shape)
                if strides == (1, 1) or max(rung_shape) <= rung_size:
                    break
            self.rung_shapes.append(shapes)
            self.rung_strides.append(rung_strides)


class ConvLadderEncoder(nn.Module):
    """Convolutional ladder encoder ``x -> [(mean_j, log_var_j) for j in 0..J-1]``.

    Parameters
    ----------
    input_shape : (C, H, W)
        Shape of one image, channels first (``(H, W)`` means one channel).
    hidden_sizes : sequence of int
        Channels of the feature map of each facet's level, lowest facet first.
    latent_dims : sequence of int
        Latent dimension of each facet, lowest facet first.
    min_size : int
        A spatial dimension is only halved while the result is at least this large.
    rung_size : int
        Rungs downsample their level's map until each dimension is at most this large
        (or cannot be halved) before flattening into the Gaussian heads.
    """

    def __init__(self, input_shape, hidden_sizes, latent_dims, min_size=2, rung_size=4):
        super().__init__()
        input_shape, hidden_sizes, latent_dims = _check(input_shape, hidden_sizes, latent_dims)
        self.input_shape = input_shape
        self.geometry = geometry = LadderGeometry(input_shape, len(hidden_sizes), min_size,
                                                  rung_size)
        channels = [input_shape[0], *hidden_sizes]
        self.blocks = nn.ModuleList(
            nn.Sequential(_conv(channels[j], channels[j + 1], geometry.level_strides[j]),
                          _conv(channels[j + 1], channels[j + 1]))
            for j in range(len(hidden_sizes)))
        self.rungs = nn.ModuleList(
            nn.Sequential(*(_conv(width, width, strides) for strides in geometry.rung_strides[j]),
                          nn.Flatten())
            for j, width in enumerate(hidden_sizes))
        self.heads = nn.ModuleList(
            GaussianHeads(width * math.prod(geometry.rung_shapes[j][-1]), latent_dim)
            for j, (width, latent_dim) in enumerate(zip(hidden_sizes, latent_dims)))
        self.to(memory_format=CHANNELS_LAST)

    def forward(self, x):
        """Posterior parameters of every facet.

        Parameters
        ----------
        x : Tensor of shape (n, C, H, W) (or (n, C * H * W), reshaped)
        """
        features = x.reshape(x.shape[0], *self.input_shape).contiguous(
            memory_format=CHANNELS_LAST)
        posteriors = []
        for block, rung, heads in zip(self.blocks, self.rungs, self.heads):
            features = block(features)
            posteriors.append(heads(rung(features)))
        return posteriors


class _DecoderRung(nn.Module):
    """``z_j -> `` feature map of level ``j`` (mirror of an encoder rung)."""

    def __init__(self, latent_dim, width, shapes, strides):
        super().__init__()
        self.start = (width, *shapes[-1])
        self.linear = nn.Sequential(nn.Linear(latent_dim, math.prod(self.start)), nn.ELU())
        self.up = nn.Sequential(*(
            _conv_transpose(width, width, strides[i], shapes[i + 1], shapes[i])
            for i in reversed(range(len(strides)))))

    def forward(self, z):
        return self.up(self.linear(z).reshape(z.shape[0], *self.start))


class ConvLadderDecoder(nn.Module):
    """Convolutional ladder decoder ``[z_0, ..., z_{J-1}] -> (n, C, H, W)`` output.

    ``z_{J-1}`` starts the backbone (its rung output scaled by ``alpha_{J-1}``); facet
    ``j < J-1`` joins at level ``j``: its rung output, scaled by its fade-in weight
    ``alpha_j``, is concatenated with the backbone along channels and merged by a conv.
    A facet whose weight is 0 has no influence on the output. The output is
    pre-activation (logits for Bernoulli, means for Gaussian).

    Parameters
    ----------
    input_shape, hidden_sizes, latent_dims, min_size, rung_size
        As for :class:`ConvLadderEncoder` (pass the same values).
    """

    def __init__(self, input_shape, hidden_sizes, latent_dims, min_size=2, rung_size=4):
        super().__init__()
        input_shape, hidden_sizes, latent_dims = _check(input_shape, hidden_sizes, latent_dims)
        self.input_shape = input_shape
        self.geometry = geometry = LadderGeometry(input_shape, len(hidden_sizes), min_size,
                                                  rung_size)
        n_levels = len(hidden_sizes)
        top = n_levels - 1
        self.rungs = nn.ModuleList(
            _DecoderRung(latent_dims[j], hidden_sizes[j], geometry.rung_shapes[j],
                         geometry.rung_strides[j])
            for j in range(n_levels))
        # merge[j] fuses level j (the top only has its rung; the others concatenate).
        self.merge = nn.ModuleList(
            _conv(hidden_sizes[j] * (1 if j == top else 2), hidden_sizes[j])
            for j in range(n_levels))
        # upward[j] carries the backbone from level j + 1 up to level j.
        self.upward = nn.ModuleList(
            _conv_transpose(hidden_sizes[j + 1], hidden_sizes[j], geometry.level_strides[j + 1],
                            geometry.level_shapes[j + 1], geometry.level_shapes[j])
            for j in range(n_levels - 1))
        # Full resolution is the costliest stage: keep it narrow (half of c_0 channels).
        out_width = max(hidden_sizes[0] // 2, input_shape[0])
        self.output = nn.Sequential(
            _conv_transpose(hidden_sizes[0], out_width, geometry.level_strides[0],
                            geometry.level_shapes[0], input_shape[1:]),
            nn.Conv2d(out_width, input_shape[0], 3, padding=1))
        self.to(memory_format=CHANNELS_LAST)

    def forward(self, latents, facet_weights):
        """Decode.

        Parameters
        ----------
        latents : list of Tensor
            ``z_j`` of shape (n, d_j), lowest facet first.
        facet_weights : Tensor of shape (J,)
            Fade-in weight ``alpha_j`` multiplying each facet's rung output.

        Returns
        -------
        Tensor of shape (n, C, H, W)
        """
        top = len(latents) - 1
        features = self.merge[top](facet_weights[top] * self.rungs[top](latents[top]))
        for level in range(top - 1, -1, -1):
            rung = facet_weights[level] * self.rungs[level](latents[level])
            features = self.merge[level](torch.cat([self.upward[level](features), rung], dim=1))
        return self.output(features)

"""Fully connected ladder encoder and decoder (VLAE style) for flat inputs.

Facet 0 branches off the encoder lowest (closest to x) and joins the decoder last;
facet J-1 sits deepest. The encoder backbone has one block per facet; each block is
followed by the Gaussian heads of q(z_j | x). The decoder mirrors it: z_{J-1} enters
at the top, each lower facet joins through its own *rung* at the matching depth.
"""

import torch
from torch import nn
from torch.nn import functional as F


def _dense(in_features, out_features):
    # In place: the product's output is not needed for its own backward, and on the CPU
    # a fresh activation buffer per layer costs page faults.
    return nn.Sequential(nn.Linear(in_features, out_features), nn.ReLU(inplace=True))


def _scaled_dense(dense, inputs, scale):
    """``scale * dense(inputs)`` for a Linear+ReLU block and ``scale >= 0``.

    Computed as ``relu(inputs @ (scale W)^T + scale b)``, which equals it because ReLU is
    positively homogeneous: the scale multiplies the small weight matrix instead of the
    (batch x width) activation, forward and backward.
    """
    linear = dense[0]
    return F.relu(F.linear(inputs, linear.weight * scale, linear.bias * scale), inplace=True)


class GaussianHeads(nn.Module):
    """Mean and log-variance of a diagonal Gaussian from a feature vector."""

    def __init__(self, in_features, latent_dim):
        super().__init__()
        self.mean = nn.Linear(in_features, latent_dim)
        self.log_variance = nn.Linear(in_features, latent_dim)

    def forward(self, features):
        # One product for both heads: the backward then writes the (batch x width)
        # input gradient once instead of twice and adding.
        weight = torch.cat([self.mean.weight, self.log_variance.weight])
        bias = torch.cat([self.mean.bias, self.log_variance.bias])
        if features.dtype in (torch.bfloat16, torch.float16):
            # Under reduced-precision autocast the posterior's parameters stay float32:
            # the KL terms and the cluster posteriors are built from them, and this
            # product is a small share of the step's arithmetic.
            with torch.autocast(features.device.type, enabled=False):
                both = F.linear(features.float(), weight, bias)
        else:
            both = F.linear(features, weight, bias)
        return both.split(self.mean.out_features, dim=-1)


class MLPLadderEncoder(nn.Module):
    """Ladder encoder ``x -> [(mean_j, log_var_j) for j in 0..J-1]``.

    Parameters
    ----------
    n_features : int
        Input dimension.
    hidden_sizes : sequence of int
        Width of the backbone block of each facet, lowest facet first.
    latent_dims : sequence of int
        Latent dimension of each facet, lowest facet first.
    """

    def __init__(self, n_features, hidden_sizes, latent_dims):
        super().__init__()
        widths = [n_features, *hidden_sizes]
        self.blocks = nn.ModuleList(
            _dense(widths[level], widths[level + 1]) for level in range(len(hidden_sizes)))
        self.heads = nn.ModuleList(GaussianHeads(width, latent_dim)
                                   for width, latent_dim in zip(hidden_sizes, latent_dims))

    def forward(self, x):
        posteriors = []
        features = x
        for block, heads in zip(self.blocks, self.heads):
            features = block(features)
            posteriors.append(heads(features))
        return posteriors


class MLPLadderDecoder(nn.Module):
    """Ladder decoder ``[z_0, ..., z_{J-1}] -> output`` (logits or means).

    ``z_{J-1}`` starts the backbone; facet ``j < J-1`` joins at depth ``j`` by adding its
    rung's output, scaled by the facet's fade-in weight ``alpha_j >= 0``, to the backbone.

    Parameters
    ----------
    n_features : int
        Output dimension.
    hidden_sizes : sequence of int
        Width at the depth of each facet, lowest facet first (mirrors the encoder).
    latent_dims : sequence of int
        Latent dimension of each facet, lowest facet first.
    """

    def __init__(self, n_features, hidden_sizes, latent_dims):
        super().__init__()
        n_facets = len(hidden_sizes)
        self.rungs = nn.ModuleList(
            _dense(latent_dim, width) for latent_dim, width in zip(latent_dims, hidden_sizes))
        # upward[j] carries the backbone from depth j + 1 down to depth j.
        self.upward = nn.ModuleList(
            _dense(hidden_sizes[level + 1], hidden_sizes[level]) for level in range(n_facets - 1))
        self.output = nn.Sequential(
            _dense(hidden_sizes[0], hidden_sizes[0]), nn.Linear(hidden_sizes[0], n_features))

    def forward(self, latents, facet_weights):
        """Decode.

        Parameters
        ----------
        latents : list of Tensor
            ``z_j`` of shape (n, d_j), lowest facet first.
        facet_weights : Tensor of shape (J,)
            Fade-in weight ``alpha_j`` multiplying each facet's rung output.
        """
        top = len(latents) - 1
        features = _scaled_dense(self.rungs[top], latents[top], facet_weights[top])
        for level in range(top - 1, -1, -1):
            features = self.upward[level](features) + _scaled_dense(
                self.rungs[level], latents[level], facet_weights[level])
        return self.output(features)

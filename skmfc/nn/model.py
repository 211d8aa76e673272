"""The MFCVAE module: ladder encoder/decoder, one mixture prior per facet, the ELBO."""

import math

import torch
from torch import nn
from torch.nn import functional as F

from skmfc.nn.conv import ConvLadderDecoder, ConvLadderEncoder
from skmfc.nn.ladder import MLPLadderDecoder, MLPLadderEncoder
from skmfc.nn.prior import MixturePrior

_LOG_2PI = math.log(2.0 * math.pi)
# Keeps exp(log_variance) finite and positive in float32 without bounding useful values.
_LOG_VARIANCE_RANGE = (-14.0, 10.0)


class MFCVAE(nn.Module):
    """Multi-Facet Clustering VAE (Falck et al., NeurIPS 2021) as a pure torch module.

    The module holds no training logic; :func:`skmfc.training.train` drives it.
    Build it from a plain dict with :meth:`from_config` so that it can be rebuilt
    from saved weights.

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one input example: ``(n_features,)`` for the MLP ladder,
        ``(channels, height, width)`` for the convolutional one.
    hidden_sizes : tuple of int
        Ladder width (MLP units or conv channels) at each facet's depth, lowest first.
    latent_dims : tuple of int
        Latent dimension ``d_j`` of each facet.
    n_clusters : tuple of int
        Number of clusters ``K_j`` of each facet.
    covariance_type : {"diag", "full"}
        Covariance of the prior components.
    learn_weights : bool
        Whether the mixing weights are trained.
    likelihood : {"bernoulli", "gaussian"}
        Observation model.
    likelihood_std : float
        Standard deviation of the Gaussian likelihood (ignored for Bernoulli).
    categorical_posterior : {"closed_form", "one_sample"}
        ``q(c_j | x)`` as the exact maximiser (expectation inside the softmax) or the
        authors' one-sample estimate ``p(c_j | z_j)``.
    min_variance : float
        Variance floor of the prior components.
    architecture : {"mlp", "conv"}
        Fully connected ladder for flat inputs, convolutional ladder for images.
    """

    def __init__(self, input_shape, hidden_sizes, latent_dims, n_clusters,
                 covariance_type="diag", learn_weights=True, likelihood="bernoulli",
                 likelihood_std=1.0, categorical_posterior="closed_form", min_variance=1e-4,
                 architecture="mlp"):
        super().__init__()
        self.config = dict(
            input_shape=tuple(input_shape), hidden_sizes=tuple(hidden_sizes),
            latent_dims=tuple(latent_dims), n_clusters=tuple(n_clusters),
            covariance_type=covariance_type, learn_weights=bool(learn_weights),
            likelihood=likelihood, likelihood_std=float(likelihood_std),
            categorical_posterior=categorical_posterior, min_variance=float(min_variance),
            architecture=architecture)
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"unknown likelihood {likelihood!r}")
        if categorical_posterior not in ("closed_form", "one_sample"):
            raise ValueError(f"unknown categorical_posterior {categorical_posterior!r}")
        self.likelihood_std = self.config["likelihood_std"]
        if not (math.isfinite(self.likelihood_std) and self.likelihood_std > 0):
            # A model file may hold any value.
            raise ValueError(f"likelihood_std must be a positive finite number, got "
                             f"{likelihood_std!r}")
        self.n_facets = len(latent_dims)
        self.likelihood = likelihood
        self.categorical_posterior = categorical_posterior
        self.encoder, self.decoder = _build_ladder(
            architecture, tuple(input_shape), tuple(hidden_sizes), tuple(latent_dims))
        self.priors = nn.ModuleList(
            MixturePrior(k, d, covariance_type, learn_weights, min_variance)
            for k, d in zip(n_clusters, latent_dims))

    @classmethod
    def from_config(cls, config):
        """Build a module from the dict stored in ``module.config``."""
        return cls(**config)

    def linear_flops_per_sample(self):
        """Floating-point operations of the fully connected layers' matrix products in
        one training step, per sample (:func:`linear_flops_per_sample`)."""
        return linear_flops_per_sample(self)

    # ------------------------------------------------------------------ inference
    def encode(self, x):
        """Posterior ``q(z_j | x)`` of every facet.

        Returns
        -------
        list of (mean, log_variance)
            One pair of tensors of shape (n, d_j) per facet, lowest facet first.
        """
        return [(mean, log_variance.clamp(*_LOG_VARIANCE_RANGE))
                for mean, log_variance in self.encoder(x)]

    def cluster_log_posterior(self, facet, mean, log_variance, z=None):
        """``log q(c_j | x)`` of one facet, shape (n, K_j).

        The closed form is ``log_softmax(log pi + E_q[log N(z; mu_k, Sigma_k)])``;
        the one-sample form uses ``log N(z; mu_k, Sigma_k)`` at ``z`` (the posterior
        mean when ``z`` is None).
        """
        return F.log_softmax(self.cluster_scores(facet, mean, log_variance, z), dim=-1)

    def cluster_scores(self, facet, mean, log_variance, z=None):
        """Unnormalised ``log q(c_j | x)``: ``log pi_jk`` plus the expected (or sampled)
        log density of every component, shape (n, K_j)."""
        prior = self.priors[facet]
        if self.categorical_posterior == "closed_form":
            expected = prior.expected_log_density(mean, log_variance.exp())
        else:
            expected = prior.expected_log_density(mean if z is None else z)
        return prior.log_weights() + expected

    # ------------------------------------------------------------------ generation
    def decode(self, latents, facet_weights=None):
        """Decoder output before the likelihood's link (logits for Bernoulli)."""
        if facet_weights is None:
            facet_weights = latents[0].new_ones(self.n_facets)
        return self.decoder(latents, facet_weights)

    def mean_from_output(self, output):
        """Mean of ``p(x | z)`` from the decoder output."""
        return torch.sigmoid(output) if self.likelihood == "bernoulli" else output

    def log_likelihood(self, x, output):
        """``log p(x | z)`` summed over features, shape (n,)."""
        if self.likelihood == "bernoulli":
            per_feature = -F.binary_cross_entropy_with_logits(output, x, reduction="none")
        else:
            std = self.likelihood_std
            per_feature = -0.5 * (((x - output) / std) ** 2 + _LOG_2PI + 2.0 * math.log(std))
        return per_feature.flatten(1).sum(-1)

    # ------------------------------------------------------------------ objective
    def facet_kl(self, facet, mean, log_variance, z):
        """Per-sample KL terms of one facet, shape (n,).

        Closed form: ``-H[q(z_j|x)] - logsumexp_k(log pi_k + E_q log N(z_j; mu_k, Sigma_k))``,
        which equals ``E_q(c) KL(q(z)||p(z|c)) + KL(q(c)||p(c))`` at the optimal ``q(c)``.
        One sample: ``log q(z_j|x) - log p_MoG(z_j)`` at the sampled ``z_j``.
        """
        return self._facet_kl_and_scores(facet, mean, log_variance, z)[0]

    def _facet_kl_and_scores(self, facet, mean, log_variance, z):
        """:meth:`facet_kl` and the cluster scores (unnormalised ``log q(c_j | x)``, at
        ``z`` for the one-sample form) it was computed from."""
        prior = self.priors[facet]
        if self.categorical_posterior == "closed_form":
            entropy = 0.5 * (log_variance + 1.0 + _LOG_2PI).sum(-1)
            scores = prior.log_weights() + prior.expected_log_density(mean, log_variance.exp())
            return -entropy - torch.logsumexp(scores, dim=-1), scores
        log_q = -0.5 * (((z - mean) ** 2) * torch.exp(-log_variance) + log_variance
                        + _LOG_2PI).sum(-1)
        scores = prior.log_weights() + prior.expected_log_density(z)
        return log_q - torch.logsumexp(scores, dim=-1), scores

    def elbo_terms(self, x, facet_weights=None, generator=None, noise=None):
        """Reconstruction log-likelihood (n,) and per-facet KL terms (n, J) at one sample of z.

        ``z_j = mean_j + std_j * noise_j``: ``noise`` is a list of standard normal tensors
        of shape (n, d_j), one per facet, or a callable that makes each from its facet's
        posterior mean (``noise(mean)``); drawn (from ``generator``) when None.
        """
        reconstruction, kl, _ = self._elbo_terms_and_scores(x, facet_weights, generator, noise)
        return reconstruction, kl

    def _elbo_terms_and_scores(self, x, facet_weights=None, generator=None, noise=None):
        posteriors = self.encode(x)
        if noise is None:
            noise = [_standard_normal_like(mean, generator) for mean, _ in posteriors]
        elif callable(noise):
            noise = [noise(mean) for mean, _ in posteriors]
        latents = [mean + torch.exp(0.5 * log_variance) * facet_noise
                   for (mean, log_variance), facet_noise in zip(posteriors, noise)]
        output = self.decode(latents, facet_weights)
        reconstruction = self.log_likelihood(x, output)
        kl_and_scores = [self._facet_kl_and_scores(j, mean, log_variance, latents[j])
                         for j, (mean, log_variance) in enumerate(posteriors)]
        kl = torch.stack([facet_kl for facet_kl, _ in kl_and_scores], dim=-1)
        return reconstruction, kl, [scores for _, scores in kl_and_scores]

    def loss(self, x, facet_weights, kl_weights, free_nats, guide_targets=None,
             guide_weights=None):
        """Training objective and the ELBO it stands for, both batch means.

        Parameters
        ----------
        x : Tensor
            A batch of inputs.
        facet_weights, kl_weights : Tensor of shape (J,)
            Progressive-training weights ``alpha_j`` (decoder input) and ``gamma_j`` (KL).
        free_nats : Tensor of shape (J,)
            Per-facet floor on the batch-mean KL (a minimum information constraint):
            below it the KL is not penalised, so a facet cannot collapse to the prior.
        guide_targets : LongTensor of shape (n, J), optional
            A guide cluster of every example in every facet (see :mod:`skmfc.guide`).
        guide_weights : Tensor of shape (J,), optional
            Weight of each facet's cross-entropy between ``q(c_j | x)`` and its guide
            cluster, added to the loss (0 for a facet without a guide).

        Returns
        -------
        loss : Tensor
            Scalar to minimise.
        elbo : Tensor
            Scalar weighted ELBO (without the floor), for monitoring.
        cluster_mass : list of Tensor
            Per facet, ``sum_x q(c_j = k | x)`` over the batch, shape (K_j,), detached:
            how much of the batch each cluster holds (at the sampled ``z`` for the
            one-sample posterior).
        """
        reconstruction, kl, scores = self._elbo_terms_and_scores(x, facet_weights)
        mean_reconstruction = reconstruction.mean()
        mean_kl = kl.mean(0)
        loss = -mean_reconstruction + (kl_weights * torch.maximum(mean_kl, free_nats)).sum()
        if guide_targets is not None:
            cross_entropy = torch.stack([F.cross_entropy(facet_scores, guide_targets[:, facet])
                                         for facet, facet_scores in enumerate(scores)])
            loss = loss + (guide_weights * cross_entropy).sum()
        elbo = mean_reconstruction - (kl_weights * mean_kl).sum()
        cluster_mass = [torch.softmax(facet_scores.detach(), dim=-1).sum(0)
                        for facet_scores in scores]
        return loss, elbo.detach(), cluster_mass


def linear_flops_per_sample(module):
    """Floating-point operations of a ladder module's fully connected matrix products in
    one training step, per sample.

    ``2 * in * out`` forward and ``4 * in * out`` backward (the input's and the weight's
    gradients) for every ``nn.Linear``, and ``2 * in * out`` backward for the first layer
    of an MLP ladder encoder, whose input needs no gradient. Convolutions are not
    counted. Works on a module built on the ``meta`` device.

    Parameters
    ----------
    module : nn.Module
        A module whose ``encoder`` is a ladder encoder (:class:`MFCVAE`, or any model
        built on :class:`~skmfc.nn.ladder.MLPLadderEncoder`).

    Returns
    -------
    int
        FLOPs per sample.
    """
    encoder = module.encoder
    first = encoder.blocks[0][0] if isinstance(encoder, MLPLadderEncoder) else None
    total = 0
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            products = layer.in_features * layer.out_features
            total += (4 if layer is first else 6) * products
    return total


def _standard_normal_like(tensor, generator=None):
    if generator is None:
        return torch.randn_like(tensor)
    return torch.randn(tensor.shape, generator=generator, device=tensor.device,
                       dtype=tensor.dtype)


def _build_ladder(architecture, input_shape, hidden_sizes, latent_dims):
    if architecture == "mlp":
        n_features = math.prod(input_shape)
        return (MLPLadderEncoder(n_features, hidden_sizes, latent_dims),
                MLPLadderDecoder(n_features, hidden_sizes, latent_dims))
    if architecture == "conv":
        return (ConvLadderEncoder(input_shape, hidden_sizes, latent_dims),
                ConvLadderDecoder(input_shape, hidden_sizes, latent_dims))
    raise ValueError(f"unknown architecture {architecture!r}")

"""Mixture-of-Gaussians prior p(c) p(z | c) of one facet."""

import math

import torch
from torch import nn
from torch.nn import functional as F

_LOG_2PI = math.log(2.0 * math.pi)


def _inverse_softplus(value):
    """Inverse of ``softplus`` for a positive tensor, stable for large values."""
    return value + torch.log(-torch.expm1(-value))


class MixturePrior(nn.Module):
    """Mixture of Gaussians over one facet's latent space.

    ``p(c = k) = pi_k`` and ``p(z | c = k) = N(mu_k, Sigma_k)`` with a diagonal or
    full covariance per component. Variances are kept above ``min_variance``.

    Parameters
    ----------
    n_clusters : int
        Number of mixture components ``K``.
    latent_dim : int
        Dimension ``d`` of the facet's latent variable.
    covariance_type : {"diag", "full"}
        Diagonal covariance, or a full covariance through its Cholesky factor whose
        diagonal is kept positive by a softplus.
    learn_weights : bool
        Whether the mixing weights ``pi`` are trained; otherwise they stay uniform.
    min_variance : float
        Floor added to every variance (diagonal of the Cholesky factor squared) so
        that no component can collapse onto a point.
    """

    def __init__(self, n_clusters, latent_dim, covariance_type="diag", learn_weights=True,
                 min_variance=1e-4):
        super().__init__()
        if covariance_type not in ("diag", "full"):
            raise ValueError(f"covariance_type must be 'diag' or 'full', got {covariance_type!r}")
        self.n_clusters = n_clusters
        self.latent_dim = latent_dim
        self.covariance_type = covariance_type
        self.min_variance = min_variance
        self.means = nn.Parameter(torch.randn(n_clusters, latent_dim))
        weight_logits = torch.zeros(n_clusters)
        if learn_weights:
            self.weight_logits = nn.Parameter(weight_logits)
        else:
            self.register_buffer("weight_logits", weight_logits)
        if covariance_type == "diag":
            self.raw_variances = nn.Parameter(torch.zeros(n_clusters, latent_dim))
        else:
            self.raw_cholesky = nn.Parameter(torch.zeros(n_clusters, latent_dim, latent_dim))
        self.set_components(self.means.detach(), torch.ones(n_clusters, latent_dim))

    @torch.no_grad()
    def set_components(self, means, variances, weights=None):
        """Overwrite the components with given means and diagonal variances.

        Parameters
        ----------
        means : Tensor of shape (K, d)
        variances : Tensor of shape (K, d)
            Diagonal variances (a full covariance starts diagonal).
        weights : Tensor of shape (K,), optional
            Mixing weights; uniform when omitted.
        """
        self.means.copy_(means)
        raw = _inverse_softplus((variances - self.min_variance).clamp_min(1e-6))
        if self.covariance_type == "diag":
            self.raw_variances.copy_(raw)
        else:
            raw_std = _inverse_softplus(
                (variances.sqrt() - math.sqrt(self.min_variance)).clamp_min(1e-6))
            self.raw_cholesky.zero_()
            self.raw_cholesky.diagonal(dim1=-2, dim2=-1).copy_(raw_std)
        if weights is None:
            self.weight_logits.zero_()
        else:
            self.weight_logits.copy_(torch.log(weights.clamp_min(1e-12)))

    def log_weights(self):
        """Log mixing weights ``log pi``, shape (K,)."""
        return F.log_softmax(self.weight_logits, dim=-1)

    def variances(self):
        """Diagonal variances, shape (K, d) (the diagonal of Sigma for full covariance)."""
        if self.covariance_type == "diag":
            return F.softplus(self.raw_variances) + self.min_variance
        cholesky = self.cholesky()
        return (cholesky ** 2).sum(-1)

    def cholesky(self):
        """Lower Cholesky factors ``L_k`` with ``Sigma_k = L_k L_k^T``, shape (K, d, d)."""
        if self.covariance_type == "diag":
            return torch.diag_embed(self.variances().sqrt())
        strictly_lower = torch.tril(self.raw_cholesky, diagonal=-1)
        diagonal = F.softplus(self.raw_cholesky.diagonal(dim1=-2, dim2=-1)) + math.sqrt(
            self.min_variance)
        return strictly_lower + torch.diag_embed(diagonal)

    def expected_log_density(self, mean, variance=None):
        """``E_{N(z; mean, diag variance)}[log N(z; mu_k, Sigma_k)]`` for every component.

        With ``variance=None`` this is the log density at ``z = mean``.

        Parameters
        ----------
        mean : Tensor of shape (n, d)
        variance : Tensor of shape (n, d), optional

        Returns
        -------
        Tensor of shape (n, K)
        """
        difference = mean.unsqueeze(1) - self.means  # (n, K, d)
        if self.covariance_type == "diag":
            component_variances = self.variances()
            log_det = torch.log(component_variances).sum(-1)
            quadratic = (difference ** 2 / component_variances).sum(-1)
            if variance is not None:
                quadratic = quadratic + variance @ (1.0 / component_variances).T
        else:
            cholesky = self.cholesky()
            eye = torch.eye(self.latent_dim, dtype=mean.dtype, device=mean.device)
            inverse_cholesky = torch.linalg.solve_triangular(cholesky, eye, upper=False)
            whitened = torch.einsum("kij,nkj->nki", inverse_cholesky, difference)
            quadratic = (whitened ** 2).sum(-1)
            log_det = 2.0 * torch.log(cholesky.diagonal(dim1=-2, dim2=-1)).sum(-1)
            if variance is not None:
                precision_diagonal = (inverse_cholesky ** 2).sum(-2)  # (K, d)
                quadratic = quadratic + variance @ precision_diagonal.T
        return -0.5 * (self.latent_dim * _LOG_2PI + log_det + quadratic)

    def sample(self, clusters, temperature=1.0, generator=None):
        """Draw ``z ~ N(mu_c, temperature^2 Sigma_c)`` for the given cluster indices.

        Parameters
        ----------
        clusters : LongTensor of shape (n,)
        temperature : float
            Scales the standard deviation (not the variance).
        generator : torch.Generator, optional

        Returns
        -------
        Tensor of shape (n, d)
        """
        noise = torch.randn(len(clusters), self.latent_dim, generator=generator,
                            device=self.means.device, dtype=self.means.dtype)
        cholesky = self.cholesky()[clusters]
        return self.means[clusters] + temperature * torch.einsum("nij,nj->ni", cholesky, noise)

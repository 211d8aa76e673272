"""A training loop written the way the paper's reference code trains MFCVAE, for speed
comparisons only.

It is an independent re-creation of the reference implementation's *costs*, not of its
code: the same network as skmfc (so both do the same matrix work), fed by a
``torch.utils.data.DataLoader`` that indexes a device-resident data set one example at a
time and collates every batch, the five-term loss built from ``torch.distributions``
objects (a Bernoulli likelihood on sigmoid probabilities, Normal posteriors and mixture
components, softmax responsibilities, one-sample estimates of each expectation), the
progressive-training coefficients computed in Python and copied to the device every
batch, and the batch loss read back (``.item()``) every batch for logging.
"""

import math

import numpy as np
import torch
import torch.distributions as D
from torch import nn

from skmfc.nn.ladder import MLPLadderDecoder, MLPLadderEncoder


class DeviceDataset(torch.utils.data.Dataset):
    """Images kept on the device, served one index at a time (as the reference code's
    "fast" data sets do)."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]


class AuthorsStyleMFCVAE(nn.Module):
    """The MNIST ladder with the reference code's parametrisation of the priors:
    means and softplus(beta=10) variances stored as (d, K), mixing weights as a free
    vector passed through a softmax."""

    def __init__(self, n_features, hidden_sizes, latent_dims, n_clusters):
        super().__init__()
        self.encoder = MLPLadderEncoder(n_features, hidden_sizes, latent_dims)
        self.decoder = MLPLadderDecoder(n_features, hidden_sizes, latent_dims)
        self.pi_logits = nn.ParameterList(nn.Parameter(torch.ones(k) / k) for k in n_clusters)
        self.means = nn.ParameterList(nn.Parameter(torch.randn(d, k))
                                      for d, k in zip(latent_dims, n_clusters))
        self.raw_variances = nn.ParameterList(nn.Parameter(torch.ones(d, k))
                                              for d, k in zip(latent_dims, n_clusters))
        self.n_facets = len(latent_dims)

    def forward(self, x, alphas):
        posteriors = [D.Independent(D.Normal(mean, torch.sqrt(torch.exp(log_variance))), 1)
                      for mean, log_variance in self.encoder(x)]
        samples = [posterior.rsample() for posterior in posteriors]
        probabilities = torch.sigmoid(self.decoder(samples, alphas))
        return probabilities, posteriors, samples

    def loss(self, x, probabilities, posteriors, samples, gammas):
        """Negative ELBO from five separately estimated terms."""
        likelihood = D.Independent(
            D.Bernoulli(probs=torch.clamp(probabilities, 1e-10, 1 - 1e-10)), 1)
        log_p_x = likelihood.log_prob(x)
        kl_z, kl_c = [], []
        for j in range(self.n_facets):
            variances = nn.functional.softplus(self.raw_variances[j], beta=10)
            components = D.Independent(
                D.Normal(self.means[j].permute(1, 0), torch.sqrt(variances.permute(1, 0))), 1)
            log_p_z_c = components.log_prob(samples[j].unsqueeze(-2))
            log_p_c = torch.log_softmax(self.pi_logits[j], dim=-1)
            q_c = torch.softmax(log_p_z_c + log_p_c, dim=1)
            expected_log_p_z = (q_c * log_p_z_c).sum(1)
            expected_log_p_c = (q_c * torch.log(torch.softmax(self.pi_logits[j], 0))).sum(1)
            log_q_z = posteriors[j].log_prob(samples[j])
            expected_log_q_c = (q_c * torch.log(torch.clamp(q_c, min=1e-6))).sum(1)
            kl_z.append((log_q_z - expected_log_p_z).mean())
            kl_c.append((expected_log_q_c - expected_log_p_c).mean())
        kl_z, kl_c = torch.stack(kl_z), torch.stack(kl_c)
        return -(log_p_x.mean() - (gammas * kl_z).sum() - (gammas * kl_c).sum())


def progressive_coefficients(epoch, batch, epochs_per_step, batches_per_epoch,
                             fade_in_batches):
    """Decoder fade-in and KL weights of every facet, as Python lists, deepest facet
    switched on first."""
    n_facets = len(epochs_per_step)
    starts = np.cumsum([0, *epochs_per_step])
    step = int(np.searchsorted(starts[1:], epoch, side="right"))
    since_start = batch + batches_per_epoch * (epoch - starts[step])
    fade = 1.0 if step == 0 else min(since_start / fade_in_batches, 1.0)
    weights = [0.0] * n_facets
    for facet in range(n_facets - step, n_facets):
        weights[facet] = 1.0
    weights[n_facets - 1 - step] = fade
    return weights, list(weights)


def train_authors_style(model, images, labels, *, epochs_per_step, batch_size, learning_rate,
                        fade_in_batches, on_epoch_end=None):
    """Train ``model`` the reference code's way; returns the mean loss of each epoch."""
    device = images.device
    # The reference code ran on PyTorch 1.7, whose distributions did not validate their
    # arguments; grey-level pixels are not in the Bernoulli's {0, 1} support either.
    D.Distribution.set_default_validate_args(False)
    loader = torch.utils.data.DataLoader(DeviceDataset(images, labels), batch_size=batch_size,
                                         shuffle=True, num_workers=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    losses = []
    model.train()
    for epoch in range(sum(epochs_per_step)):
        total = 0.0
        for batch, (x, _) in enumerate(loader):
            x = x.to(device).view(x.size(0), -1).float()
            alphas, gammas = progressive_coefficients(epoch, batch, epochs_per_step,
                                                      len(loader), fade_in_batches)
            alphas = torch.tensor(alphas).to(device)
            gammas = torch.tensor(gammas).to(device)
            probabilities, posteriors, samples = model(x, alphas)
            loss = model.loss(x, probabilities, posteriors, samples, gammas)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        losses.append(total / len(loader))
        if on_epoch_end is not None:
            on_epoch_end(epoch, losses[-1])
    if not all(math.isfinite(value) for value in losses):
        raise FloatingPointError("the authors-style loop diverged")
    return losses

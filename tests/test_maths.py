"""The maths of the model: the prior's densities and the categorical posterior."""

import numpy as np
import pytest
import torch
from torch.distributions import Independent, MultivariateNormal, Normal, kl_divergence

from skmfc.nn import MFCVAE, MixturePrior


def random_prior(covariance_type, n_clusters=4, latent_dim=3, seed=0):
    torch.manual_seed(seed)
    prior = MixturePrior(n_clusters, latent_dim, covariance_type).double()
    with torch.no_grad():
        prior.means.normal_(0.0, 2.0)
        prior.weight_logits.normal_()
        if covariance_type == "diag":
            prior.raw_variances.normal_()
        else:
            prior.raw_cholesky.normal_(0.0, 0.7)
    return prior


def posterior_batch(n=64, latent_dim=3, seed=1):
    generator = torch.Generator().manual_seed(seed)
    mean = 2.0 * torch.randn(n, latent_dim, generator=generator, dtype=torch.float64)
    log_variance = torch.randn(n, latent_dim, generator=generator, dtype=torch.float64) - 1.0
    return mean, log_variance


def component_distribution(prior):
    return MultivariateNormal(prior.means, scale_tril=prior.cholesky())


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_log_density_matches_torch_distributions(covariance_type):
    prior = random_prior(covariance_type)
    z, _ = posterior_batch()
    expected = component_distribution(prior).log_prob(z.unsqueeze(1))
    torch.testing.assert_close(prior.expected_log_density(z), expected)


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_expected_log_density_matches_monte_carlo(covariance_type):
    prior = random_prior(covariance_type)
    mean, log_variance = posterior_batch(n=5)
    generator = torch.Generator().manual_seed(2)
    n_draws = 200_000
    noise = torch.randn(n_draws, *mean.shape, generator=generator, dtype=torch.float64)
    z = mean + (0.5 * log_variance).exp() * noise  # (draws, n, d)
    draws = component_distribution(prior).log_prob(z.unsqueeze(2))
    monte_carlo = draws.mean(0)
    standard_error = draws.std(0) / np.sqrt(n_draws)
    closed_form = prior.expected_log_density(mean, log_variance.exp()).detach()
    assert torch.all((closed_form - monte_carlo).abs() < 5 * standard_error + 1e-9)


def elbo_cluster_terms(prior, mean, log_variance, q):
    """ELBO terms that depend on q(c | x), written with torch.distributions:
    -E_q(c) KL(q(z|x) || p(z|c)) - KL(q(c|x) || p(c))."""
    posterior = Independent(Normal(mean.unsqueeze(1), (0.5 * log_variance).exp().unsqueeze(1)), 1)
    if prior.covariance_type == "diag":
        components = Independent(Normal(prior.means, prior.variances().sqrt()), 1)
    else:
        components = component_distribution(prior)
        posterior = MultivariateNormal(mean.unsqueeze(1), scale_tril=torch.diag_embed(
            (0.5 * log_variance).exp()).unsqueeze(1))
    kl_z = kl_divergence(posterior, components)  # (n, K)
    kl_c = (q * (q.clamp_min(1e-300).log() - prior.log_weights())).sum(-1)
    return -(q * kl_z).sum(-1) - kl_c


def module_with_prior(prior):
    module = MFCVAE((4,), (8,), (prior.latent_dim,), (prior.n_clusters,),
                    covariance_type=prior.covariance_type).double()
    module.priors[0].load_state_dict(prior.state_dict())
    return module


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_closed_form_posterior_maximises_the_elbo(covariance_type):
    prior = random_prior(covariance_type)
    module = module_with_prior(prior)
    mean, log_variance = posterior_batch()
    q_star = module.cluster_log_posterior(0, mean, log_variance).exp()
    best = elbo_cluster_terms(prior, mean, log_variance, q_star)
    # facet_kl is exactly minus these terms at the optimum.
    torch.testing.assert_close(module.facet_kl(0, mean, log_variance, None), -best)
    generator = torch.Generator().manual_seed(3)
    for concentration in (0.1, 1.0, 10.0):
        for _ in range(50):
            gamma = torch.distributions.Gamma(concentration, 1.0)
            draws = gamma.sample((len(mean), prior.n_clusters)).double() + 1e-12
            q_random = draws / draws.sum(-1, keepdim=True)
            random_value = elbo_cluster_terms(prior, mean, log_variance, q_random)
            assert torch.all(random_value <= best + 1e-9)
    # Nudging q* in any direction lowers the ELBO: it is a maximum, not just a bound.
    nudged = (q_star + 0.05 * torch.rand(q_star.shape, generator=generator, dtype=torch.float64))
    nudged = nudged / nudged.sum(-1, keepdim=True)
    assert torch.all(elbo_cluster_terms(prior, mean, log_variance, nudged) < best)


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_closed_form_and_one_sample_agree_as_variance_shrinks(covariance_type):
    prior = random_prior(covariance_type)
    closed = module_with_prior(prior)
    one_sample = module_with_prior(prior)
    one_sample.categorical_posterior = "one_sample"
    mean, _ = posterior_batch()
    generator = torch.Generator().manual_seed(4)
    gaps = []
    for log_variance_value in (0.0, -6.0, -12.0, -18.0, -24.0):
        log_variance = torch.full_like(mean, log_variance_value)
        z = mean + (0.5 * log_variance).exp() * torch.randn(
            mean.shape, generator=generator, dtype=torch.float64)
        exact = closed.cluster_log_posterior(0, mean, log_variance).exp()
        sampled = one_sample.cluster_log_posterior(0, mean, log_variance, z).exp()
        gaps.append(float((exact - sampled).abs().max().detach()))
    assert gaps[-1] < 1e-4
    assert gaps[-1] < gaps[0]
    assert np.all(np.diff(gaps[1:]) <= 0)


def test_one_sample_objective_is_log_q_minus_log_mixture():
    prior = random_prior("diag")
    module = module_with_prior(prior)
    module.categorical_posterior = "one_sample"
    mean, log_variance = posterior_batch()
    z = mean + (0.5 * log_variance).exp() * torch.randn_like(mean)
    log_q = Independent(Normal(mean, (0.5 * log_variance).exp()), 1).log_prob(z)
    mixture = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=prior.log_weights()),
        Independent(Normal(prior.means, prior.variances().sqrt()), 1))
    torch.testing.assert_close(module.facet_kl(0, mean, log_variance, z),
                               log_q - mixture.log_prob(z))


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_prior_samples_have_the_component_moments(covariance_type):
    prior = random_prior(covariance_type, n_clusters=2)
    generator = torch.Generator().manual_seed(5)
    clusters = torch.ones(100_000, dtype=torch.long)
    with torch.no_grad():
        z = prior.sample(clusters, temperature=0.5, generator=generator)
        covariance = torch.cov(z.T)
        expected = 0.25 * prior.cholesky()[1] @ prior.cholesky()[1].T
    torch.testing.assert_close(z.mean(0), prior.means[1].detach(), atol=0.02, rtol=0)
    torch.testing.assert_close(covariance, expected, atol=0.03, rtol=0.03)


def test_set_components_round_trips_variances():
    for covariance_type in ("diag", "full"):
        prior = MixturePrior(3, 2, covariance_type).double()
        variances = torch.tensor([[0.5, 2.0], [0.01, 0.3], [1.0, 1.0]], dtype=torch.float64)
        prior.set_components(torch.zeros(3, 2, dtype=torch.float64), variances)
        torch.testing.assert_close(prior.variances().detach(), variances)
        torch.testing.assert_close(prior.log_weights().exp().detach(),
                                   torch.full((3,), 1 / 3, dtype=torch.float64))


def test_decoder_scales_rungs_through_their_weights_exactly():
    # alpha * relu(W z + b) is computed as relu((alpha W) z + alpha b): the values and
    # the gradients must be those of scaling the activation.
    from skmfc.nn.ladder import _scaled_dense
    torch.manual_seed(0)
    dense = torch.nn.Sequential(torch.nn.Linear(3, 7), torch.nn.ReLU())
    z = torch.randn(5, 3, requires_grad=True)
    for alpha in (0.0, 0.3, 1.0):
        scale = torch.tensor(alpha)
        expected = scale * dense(z)
        gradients = torch.autograd.grad(expected.square().sum(), [z, *dense.parameters()])
        folded = _scaled_dense(dense, z, scale)
        folded_gradients = torch.autograd.grad(folded.square().sum(), [z, *dense.parameters()])
        torch.testing.assert_close(folded, expected)
        for got, want in zip(folded_gradients, gradients):
            torch.testing.assert_close(got, want)

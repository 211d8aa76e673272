"""Inference with a trained :class:`~skmfc.nn.MFCVAE` over data of any length: encoding,
cluster posteriors and ELBOs in chunks of rows, and generation.

Shared by the estimator (prediction, scores, samples), training (prior fits, re-seeding,
validation) and cluster merging. Every function runs the module in evaluation mode
without gradients and puts its mode back. ``X`` is anything sliced by rows into tensors:
a tensor on the module's device or in host memory (each chunk is moved to the module's
device), or a lazy view that prepares each chunk when sliced.
"""

import torch

# Inference runs in chunks of this many rows to bound memory.
INFERENCE_BATCH_SIZE = 4096


def _device_of(module):
    return next(module.parameters()).device


class _EvalMode:
    """Evaluation mode, without gradients, for the duration of a ``with`` block; the
    module's mode is put back afterwards."""

    def __init__(self, module):
        self.module = module

    def __enter__(self):
        self.was_training = self.module.training
        self.no_grad = torch.no_grad()
        self.no_grad.__enter__()
        self.module.eval()
        return self.module

    def __exit__(self, *exc_info):
        self.module.train(self.was_training)
        return self.no_grad.__exit__(*exc_info)


def row_chunks(X, device, batch_size=INFERENCE_BATCH_SIZE):
    """Yield ``(start, stop, chunk)`` for consecutive chunks of ``batch_size`` rows of
    ``X``, each chunk on ``device``.

    Parameters
    ----------
    X : Tensor or row-sliceable
        The rows.
    device : torch.device
        Where the chunks go.
    batch_size : int, default=INFERENCE_BATCH_SIZE
        Rows per chunk.

    Yields
    ------
    start, stop : int
        The chunk's rows, ``X[start:stop]``.
    chunk : Tensor
        Those rows on ``device``.
    """
    for start in range(0, len(X), batch_size):
        stop = start + batch_size
        yield start, stop, X[start:stop].to(device, non_blocking=True)


def encode_posteriors(module, X, batch_size=INFERENCE_BATCH_SIZE):
    """Posterior means and log-variances of every facet for the whole of ``X``.

    Parameters
    ----------
    module : MFCVAE
        The model.
    X : Tensor or row-sliceable
        Model input, on the module's device or in host memory.
    batch_size : int, default=INFERENCE_BATCH_SIZE
        Rows encoded at once.

    Returns
    -------
    list of (Tensor, Tensor)
        ``(mean, log_variance)`` of shape (len(X), d_j) per facet, lowest facet first, on
        the module's device.
    """
    with _EvalMode(module):
        chunks = [module.encode(chunk)
                  for _, _, chunk in row_chunks(X, _device_of(module), batch_size)]
    return [tuple(torch.cat([chunk[facet][part] for chunk in chunks]) for part in (0, 1))
            for facet in range(module.n_facets)]


def encode_means(module, X, batch_size=INFERENCE_BATCH_SIZE):
    """The means of :func:`encode_posteriors`: a list of (len(X), d_j) tensors."""
    return [mean for mean, _ in encode_posteriors(module, X, batch_size)]


def cluster_log_proba(module, X, batch_size=INFERENCE_BATCH_SIZE):
    """``log q(c_j | x)`` of every facet for the whole of ``X`` (taken as by
    :func:`encode_posteriors`): a list of (len(X), K_j) tensors on the module's device."""
    chunks = []
    with _EvalMode(module):
        for _, _, chunk in row_chunks(X, _device_of(module), batch_size):
            chunks.append([module.cluster_log_posterior(facet, mean, log_variance)
                           for facet, (mean, log_variance) in enumerate(module.encode(chunk))])
    return [torch.cat([chunk[facet] for chunk in chunks]) for facet in range(module.n_facets)]


def cluster_scores(module, facet, means, log_variances, batch_size=INFERENCE_BATCH_SIZE):
    """Log-probabilities and log-evidence of one facet's clusters at given posteriors.

    Scored in chunks: the (n, K, d) intermediate of the whole data can be large.

    Parameters
    ----------
    module : MFCVAE
        The model.
    facet : int
        The facet.
    means, log_variances : Tensor of shape (n, d_j)
        Posteriors of that facet (:func:`encode_posteriors`).
    batch_size : int, default=INFERENCE_BATCH_SIZE
        Rows scored at once.

    Returns
    -------
    log_proba : Tensor of shape (n, K_j)
        ``log q(c_j | x)``.
    log_evidence : Tensor of shape (n,)
        ``logsumexp`` of the unnormalised scores: how well the mixture explains each row.
    """
    log_proba, log_evidence = [], []
    with torch.no_grad():
        for start in range(0, len(means), batch_size):
            chunk = slice(start, start + batch_size)
            scores = module.cluster_scores(facet, means[chunk], log_variances[chunk])
            log_proba.append(torch.log_softmax(scores, dim=-1))
            log_evidence.append(torch.logsumexp(scores, dim=-1))
    return torch.cat(log_proba), torch.cat(log_evidence)


def elbo_samples(module, X, noise):
    """ELBO of every row of ``X`` at the posterior sample given by ``noise``.

    Parameters
    ----------
    module : MFCVAE
        The model that scores.
    X : Tensor or row-sliceable
        Rows to score, on the module's device or in host memory.
    noise : list of Tensor of shape (len(X), d_j)
        Standard normal draws per facet: ``z_j = mean_j + std_j * noise_j``.

    Returns
    -------
    Tensor of shape (len(X),)
        In float64, on the module's device.
    """
    return torch.cat([elbo.double() for elbo in _chunk_elbos(module, X, noise=noise)])


def mean_elbo(module, X, seed):
    """Mean ELBO per row of ``X``, every facet switched on, at one posterior sample drawn
    with a generator seeded by ``seed``: a deterministic function of the weights.

    The KL terms are those of :meth:`~skmfc.nn.MFCVAE.elbo_terms` (exact for the
    closed-form posterior).

    Parameters
    ----------
    module : MFCVAE
        The model.
    X : Tensor or row-sliceable
        Rows to average over, on the module's device or in host memory.
    seed : int
        Seeds the posterior sample.

    Returns
    -------
    float
        Mean ELBO per row, in the units of the module's input.
    """
    generator = torch.Generator(device=_device_of(module)).manual_seed(seed)
    total = torch.zeros((), dtype=torch.float64, device=_device_of(module))
    for elbo in _chunk_elbos(module, X, generator=generator):
        total += elbo.sum().double()
    return float(total) / len(X)


def _chunk_elbos(module, X, generator=None, noise=None):
    """Yield the ELBO of every row of each chunk of ``X``, with the posterior noise drawn
    from ``generator`` or sliced from ``noise``."""
    with _EvalMode(module):
        for start, stop, chunk in row_chunks(X, _device_of(module)):
            chunk_noise = None if noise is None else [block[start:stop].to(chunk)
                                                      for block in noise]
            reconstruction, kl = module.elbo_terms(chunk, generator=generator,
                                                   noise=chunk_noise)
            yield reconstruction - kl.sum(-1)


def sample(module, n_samples, generator, facet=None, cluster=None, temperature=1.0):
    """Generate from the model, optionally with one facet's cluster fixed.

    Every facet draws ``c_j ~ Cat(pi_j)`` and ``z_j ~ N(mu_c, temperature^2 Sigma_c)``;
    with ``facet`` and ``cluster`` given, that facet's cluster is ``cluster`` instead.

    Parameters
    ----------
    module : MFCVAE
        The model.
    n_samples : int
        Number of samples.
    generator : torch.Generator
        On the module's device: the source of every draw.
    facet : int, optional
        Facet whose cluster is fixed.
    cluster : int, optional
        Its cluster.
    temperature : float, default=1.0
        Scales the prior standard deviations.

    Returns
    -------
    mean : Tensor
        Mean of ``p(x | z)`` of every sample, in the module's input shape and units.
    clusters : Tensor of shape (n_samples, J)
        The cluster each sample was drawn from, per facet.
    """
    device = _device_of(module)
    latents, clusters = [], []
    with _EvalMode(module):
        for j, prior in enumerate(module.priors):
            if j == facet:
                drawn = torch.full((n_samples,), int(cluster), device=device)
            else:
                drawn = torch.multinomial(prior.log_weights().exp(), n_samples,
                                          replacement=True, generator=generator)
            latents.append(prior.sample(drawn, temperature, generator))
            clusters.append(drawn)
        mean = decode_mean(module, latents)
    return mean, torch.stack(clusters, dim=1)


def decode_mean(module, latents):
    """Mean of ``p(x | z)`` at the latents of every facet.

    Parameters
    ----------
    module : MFCVAE
        The model.
    latents : list of Tensor of shape (n, d_j)
        One per facet, lowest first; moved to the module's device and dtype.

    Returns
    -------
    Tensor
        In the module's input shape and units.
    """
    parameter = next(module.parameters())
    with _EvalMode(module):
        output = module.decode([z.to(parameter.device, parameter.dtype) for z in latents])
        return module.mean_from_output(output)

"""Behaviour of the convolutional ladder encoder/decoder (skmfc.nn.conv)."""

import pytest
import torch

from skmfc.nn.conv import ConvLadderDecoder, ConvLadderEncoder

SIZES = [(8, 8), (9, 9), (16, 16), (20, 12), (27, 27), (28, 28), (32, 32), (64, 64), (12, 40)]
FACETS = [1, 2, 3, 4]


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """These tiny convolutions gain nothing from intra-op threads, and on a busy CPU the
    thread pool's contention makes them many times slower; restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _ladder(input_shape, n_facets, width=4, seed=0):
    torch.manual_seed(seed)
    hidden = tuple(width * 2 ** j for j in range(n_facets))
    latent = tuple(2 + j for j in range(n_facets))
    return (ConvLadderEncoder(input_shape, hidden, latent),
            ConvLadderDecoder(input_shape, hidden, latent), latent)


def _n_parameters(*modules):
    return sum(p.numel() for module in modules for p in module.parameters())


@pytest.mark.parametrize("n_facets", FACETS)
@pytest.mark.parametrize("size", SIZES)
def test_shapes_over_sizes_channels_and_facets(size, n_facets):
    for channels in (1, 3, 4):
        input_shape = (channels, *size)
        encoder, decoder, latent = _ladder(input_shape, n_facets)
        x = torch.randn(2, *input_shape)
        for train in (True, False):
            encoder.train(train)
            decoder.train(train)
            posteriors = encoder(x)
            assert len(posteriors) == n_facets
            for (mean, log_variance), dim in zip(posteriors, latent):
                assert mean.shape == (2, dim) and log_variance.shape == (2, dim)
            output = decoder([mean for mean, _ in posteriors], torch.ones(n_facets))
            assert output.shape == (2, *input_shape)
            assert torch.isfinite(output).all()


@pytest.mark.parametrize("input_shape, hidden", [
    ((3, 32, 32), (32, 64)), ((1, 28, 28), (32, 64)), ((3, 32, 32), (64, 128, 256)),
    ((1, 8, 8), (64, 128, 256)), ((3, 64, 64), (32, 64))])
def test_realistic_configurations(input_shape, hidden):
    latent = (5,) * len(hidden)
    encoder = ConvLadderEncoder(input_shape, hidden, latent)
    decoder = ConvLadderDecoder(input_shape, hidden, latent)
    x = torch.randn(3, *input_shape)
    posteriors = encoder(x)
    assert [mean.shape for mean, _ in posteriors] == [(3, 5)] * len(hidden)
    assert decoder([m for m, _ in posteriors], torch.ones(len(hidden))).shape == x.shape


def test_small_image_stops_downsampling_instead_of_failing():
    encoder = ConvLadderEncoder((1, 8, 8), (4, 4, 4, 4), (2, 2, 2, 2))
    assert encoder.geometry.level_shapes == [(4, 4), (2, 2), (2, 2), (2, 2)]
    odd = ConvLadderEncoder((1, 27, 13), (4, 4), (2, 2))
    assert odd.geometry.level_shapes == [(13, 6), (6, 3)]


def test_flat_input_is_reshaped():
    encoder, _, _ = _ladder((3, 9, 9), 2)
    encoder.eval()
    x = torch.randn(2, 3, 9, 9)
    for (m1, v1), (m2, v2) in zip(encoder(x), encoder(x.flatten(1))):
        assert torch.equal(m1, m2) and torch.equal(v1, v2)


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError):
        ConvLadderEncoder((1, 8, 8), (4, 8), (2,))
    with pytest.raises(ValueError):
        ConvLadderDecoder((1, 2, 8, 8), (4,), (2,))


def _randomise_batch_norm(module, generator):
    """Non-trivial running statistics, so that eval mode is not the identity on BN."""
    for layer in module.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.running_mean.normal_(generator=generator)
            layer.running_var.uniform_(0.5, 2.0, generator=generator)


@pytest.mark.parametrize("n_facets", [1, 2, 3, 4])
def test_every_facet_is_wired_and_zero_weight_facet_is_ignored(n_facets):
    _, decoder, latent = _ladder((3, 20, 12), n_facets)
    generator = torch.Generator().manual_seed(1)
    _randomise_batch_norm(decoder, generator)
    decoder.eval()
    latents = [torch.randn(4, d, generator=generator) for d in latent]
    with torch.no_grad():
        for facet in range(n_facets):
            changed = list(latents)
            changed[facet] = latents[facet] + 1.0
            ones = torch.ones(n_facets)
            assert not torch.allclose(decoder(latents, ones), decoder(changed, ones))
            weights = torch.ones(n_facets)
            weights[facet] = 0.0
            assert torch.equal(decoder(latents, weights), decoder(changed, weights))
            # A partially faded-in facet still matters.
            weights[facet] = 0.3
            assert not torch.allclose(decoder(latents, weights), decoder(changed, weights))


def test_zero_weight_facet_is_ignored_in_train_mode_too():
    _, decoder, latent = _ladder((1, 16, 16), 3)
    latents = [torch.randn(4, d) for d in latent]
    changed = [latents[0] * 5, latents[1], latents[2]]
    weights = torch.tensor([0.0, 1.0, 1.0])
    with torch.no_grad():
        assert torch.equal(decoder(latents, weights), decoder(changed, weights))


@pytest.mark.parametrize("input_shape, n_facets", [((3, 32, 32), 2), ((1, 9, 9), 4),
                                                    ((4, 20, 12), 3), ((1, 8, 8), 1)])
def test_gradients_reach_every_parameter(input_shape, n_facets):
    encoder, decoder, _ = _ladder(input_shape, n_facets)
    encoder.train()
    decoder.train()
    x = torch.randn(4, *input_shape)
    posteriors = encoder(x)
    output = decoder([m + torch.exp(0.5 * v) * torch.randn_like(m) for m, v in posteriors],
                     torch.ones(n_facets))
    kl = sum((m ** 2 + v.exp() - v).sum() for m, v in posteriors)
    loss = ((output - x) ** 2).sum() + kl
    loss.backward()
    for module in (encoder, decoder):
        for name, parameter in module.named_parameters():
            assert parameter.grad is not None, name
            assert torch.isfinite(parameter.grad).all(), name
            assert parameter.grad.abs().sum() > 0, name


def test_eval_mode_is_deterministic():
    encoder, decoder, _ = _ladder((3, 27, 27), 3)
    x = torch.randn(5, 3, 27, 27)
    encoder(x)  # one train-mode pass updates the running statistics
    encoder.eval()
    decoder.eval()
    with torch.no_grad():
        first = encoder(x)
        second = encoder(x)
        for (m1, v1), (m2, v2) in zip(first, second):
            assert torch.equal(m1, m2) and torch.equal(v1, v2)
        latents = [m for m, _ in first]
        weights = torch.tensor([1.0, 0.5, 1.0])
        assert torch.equal(decoder(latents, weights), decoder(latents, weights))
        # Eval mode uses running statistics: one example decodes as it does in a batch.
        assert torch.allclose(decoder([z[:1] for z in latents], weights),
                              decoder(latents, weights)[:1], atol=1e-5)


def test_parameter_budget_of_the_default_image_model():
    encoder = ConvLadderEncoder((3, 32, 32), (32, 64), (10, 10))
    decoder = ConvLadderDecoder((3, 32, 32), (32, 64), (10, 10))
    assert _n_parameters(encoder, decoder) < 1_000_000


def test_autoencoding_smoke_reduces_loss():
    generator = torch.Generator().manual_seed(0)
    # Random 8x8 images with structure (a few random patterns mixed at random) plus noise.
    patterns = torch.randn(4, 1, 8, 8, generator=generator)
    coefficients = torch.randn(64, 4, 1, 1, 1, generator=generator)
    x = (coefficients * patterns).sum(1) + 0.1 * torch.randn(64, 1, 8, 8, generator=generator)
    torch.manual_seed(0)
    encoder = ConvLadderEncoder((1, 8, 8), (8, 16), (4, 4))
    decoder = ConvLadderDecoder((1, 8, 8), (8, 16), (4, 4))
    parameters = [*encoder.parameters(), *decoder.parameters()]
    optimiser = torch.optim.Adam(parameters, lr=3e-3)
    weights = torch.ones(2)

    def mse():
        return ((decoder([m for m, _ in encoder(x)], weights) - x) ** 2).mean()

    losses = []
    for _ in range(100):
        optimiser.zero_grad()
        loss = mse()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    encoder.eval()
    decoder.eval()
    with torch.no_grad():
        assert mse().item() < 0.5 * losses[0]


def test_weights_and_feature_maps_are_channels_last_and_give_the_same_values():
    torch.manual_seed(0)
    encoder = ConvLadderEncoder((3, 12, 12), (8, 16), (2, 2))
    decoder = ConvLadderDecoder((3, 12, 12), (8, 16), (2, 2))
    convolutions = [m for m in [*encoder.modules(), *decoder.modules()]
                    if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert convolutions and all(m.weight.is_contiguous(memory_format=torch.channels_last)
                                for m in convolutions)
    x = torch.rand(5, 3, 12, 12)
    encoder.eval(), decoder.eval()
    with torch.no_grad():
        posteriors = encoder(x)
        output = decoder([mean for mean, _ in posteriors], torch.ones(2))
        # The same network in the default layout computes the same values.
        encoder.to(memory_format=torch.contiguous_format)
        decoder.to(memory_format=torch.contiguous_format)
        plain_posteriors = [encoder.heads[j](encoder.rungs[j](features)) for j, features in
                            enumerate(_backbone(encoder, x))]
        plain_output = decoder([mean for mean, _ in plain_posteriors], torch.ones(2))
    for (mean, log_variance), (plain_mean, plain_log_variance) in zip(posteriors,
                                                                      plain_posteriors):
        torch.testing.assert_close(mean, plain_mean, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(log_variance, plain_log_variance, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(output, plain_output, rtol=1e-4, atol=1e-5)


def _backbone(encoder, x):
    """The encoder's feature map at every level, in the layout of the weights."""
    features, maps = x, []
    for block in encoder.blocks:
        features = block(features)
        maps.append(features)
    return maps

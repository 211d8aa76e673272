"""The scikit-learn face of MFCVAE: parameters, validation, numpy in and numpy out."""

import dataclasses
import math
import uuid
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from tqdm.auto import tqdm

from skmfc._device import (cuda_devices, fits_on_device, for_inference, resolve_device,
                           resolve_precision, uses_cuda_graphs)
from skmfc._noise import row_noise
from skmfc.data import CheckedRows, RunningMoments, as_source, is_dask_array
from skmfc.distributed import (check_same_data, fit_strategy, merged_once, once_on_host,
                               rank_device, writes_files)
from skmfc.guide import (GUIDE_STRENGTH, guide_partitions, guide_partitions_of_rows,
                         with_view_partitions)
from skmfc.merging import AUTO_MAX_CLUSTERS, merge_module_clusters
from skmfc.nn import MFCVAE
from skmfc.nn.inference import (INFERENCE_BATCH_SIZE, cluster_log_proba, decode_mean,
                                elbo_samples, encode_posteriors)
from skmfc.nn.inference import sample as sample_module
from skmfc.persistence import _module_state, _rebuild_module, load_estimator, save_estimator
from skmfc.selection import restart_agreement, select_restart
from skmfc.training import (AdvisedOutOfMemoryError, EngineConfig, FaultConfig, GuideConfig,
                            OptimisationConfig, PriorConfig, ScheduleConfig, split_epochs,
                            train)
from skmfc.views import shift_invariant_view

_MAX_SEED = np.iinfo(np.int32).max
# Data whose largest magnitude lies outside this range are standardised with a
# rescaling first, so that squares neither overflow nor underflow.
_SAFE_MAGNITUDE = (1e-100, 1e100)


class MFCVAEClustering(ClusterMixin, TransformerMixin, BaseEstimator):
    """Multi-Facet Clustering Variational Autoencoder (MFCVAE).

    Learns ``n_facets`` clusterings of the same data at once, one per *facet*, each
    with its own mixture-of-Gaussians prior over its own latent variable in a ladder
    VAE (Falck et al., NeurIPS 2021). Facet ``n_facets - 1`` sits deepest in the
    ladder and tends to capture the most abstract property, facet 0 the most local.

    Parameters
    ----------
    n_facets : int, default=2
        Number of facets ``J``, each a clustering of its own.
    n_clusters : int, tuple of int or "auto", default=10
        Clusters per facet: an int for every facet or a tuple with one entry per facet
        (lowest facet first), kept exactly by an unguided facet; a facet guided by a
        clear linear partition (``guide``) gets that partition's number of groups, at
        most this many. ``"auto"`` trains every facet with an upper
        bound of 10 clusters (``skmfc.merging.AUTO_MAX_CLUSTERS``) and then merges the
        clusters of a facet that lie in clearly separate clumps of its latent space
        (ten clusters in three clear clumps become three; without clear clumps nothing
        is merged); ``n_clusters_`` says how many each facet kept. See
        :mod:`skmfc.merging` and ``docs/choosing.md``.
    latent_dim : int or tuple of int, default=5
        Dimension of each facet's continuous latent variable.
    hidden_sizes : "auto", int or tuple of int, default="auto"
        Width of the ladder at each facet's depth, lowest facet first: units of the
        fully connected ladder, channels of the convolutional one. ``"auto"`` is 256
        units per level, or 32 channels doubling with depth (at most 256). The authors'
        MNIST network is ``hidden_sizes=(500, 2000)`` with ``n_facets=2``.
    architecture : {"auto", "mlp", "conv"}, default="auto"
        Fully connected ladder, or convolutional ladder for images (any size from 8x8
        up, grey or colour). ``"auto"`` picks the convolutional one for image input.
    image_shape : tuple of int, optional
        ``(height, width)`` or ``(height, width, channels)`` of the images when X holds
        them flattened channel-last, so the estimator can sit in a Pipeline. Image
        arrays of shape (n, H, W), (n, H, W, C) or (n, C, H, W) (C in 1, 3, 4) are
        recognised without it.
    covariance_type : {"diag", "full"}, default="diag"
        Covariance of each prior component.
    learn_weights : bool, default=False
        Learn the mixing weights of the priors; otherwise keep them uniform (as the
        authors do for 3DShapes and SVHN). Learnt weights let a dominant cluster
        starve the others on small data; the authors learn them for MNIST.
    likelihood : {"auto", "bernoulli", "gaussian"}, default="auto"
        Observation model. ``"auto"`` picks Bernoulli (grey levels allowed) when all
        training values lie in [0, 1], Gaussian otherwise. For the Gaussian likelihood
        the data are centred per feature and scaled internally; every output is given
        back in input units.
    likelihood_std : "auto" or float, default="auto"
        Standard deviation of the Gaussian likelihood in input units (the authors use
        0.3 for SVHN and 0.6 for 3DShapes on [0, 1] pixels). ``"auto"`` is half the
        root-mean-square standard deviation of the training features.
    categorical_posterior : {"closed_form", "one_sample"}, default="closed_form"
        ``q(c_j | x)`` as the exact ELBO maximiser (the expectation over ``q(z_j | x)``
        inside the softmax) or the authors' one-sample estimate.
    progressive : bool or "auto", default="auto"
        Train facets one by one, deepest first, each new one faded in linearly (the
        authors' schedule), or all together from the start (False). ``"auto"`` trains
        all together when the guide anchors at least one facet, and progressively when
        it anchors none (no clear partition, ``guide=None``): with the guide, training
        together found more factors on the project's facet suite, and without it, the
        schedule is what keeps facets apart (on MNIST, K=25, 50 epochs, digit ARI 0.44
        progressive against 0.27 together; ``benchmarks/FACETS_LOG.md``, session 3).
        Progressive training needs ``max_iter >= n_facets``; "auto" trains together when
        there are fewer epochs.
    guide : {"nonredundant", "nonredundant-raw"} or None, default="nonredundant"
        Start facets from linear partitions of the data where those are clear
        (:mod:`skmfc.guide`): non-redundant k-means finds one partition per facet, each
        in its own subspace of a PCA projection; a partition whose silhouette in its
        subspace is at least 0.5, and whose adjusted mutual information with a clearer
        one is below 0.2, pulls one facet's clusters towards it (the highest facets,
        clearest partition first, so unguided facets sit nearest the data) with a
        cross-entropy that fades to nothing by the last epoch, and that facet gets as
        many clusters as the partition has groups (see ``n_clusters_``). Facets
        without a clear partition, and models with one facet, train unguided. When X
        holds images (passed as images, or with ``image_shape``), "nonredundant" also
        runs the guide on a shift- and colour-invariant view of them
        (:func:`skmfc.views.shift_invariant_view`) and adds its clear partitions that
        are new to the pixels' (:func:`skmfc.guide.with_view_partitions`): shapes drawn
        at varying positions or in varying colours, which no linear subspace of the
        pixels holds. "nonredundant-raw" runs the guide on the rows alone (the guide
        of skmfc before the view). ``None`` trains every facet unguided with exactly
        ``n_clusters`` clusters. Costs seconds per fit, on the CPU whatever the device
        (40 Nr-Kmeans starts on at most 5000 rows: 9 s for 1797 rows of 192 features
        and 3 facets, 27 s for 60,000 rows of 784 and 25 clusters, on 2 vCPUs; for
        images the view's guide comes on top: about 20 s more per fit on 2,000 faces of
        20x20x3).
    fade_in_fraction : float, default=0.5
        Fraction of a progressive step over which the new facet's decoder input and
        KL weight ramp from 0 to 1.
    kl_warmup_fraction : float, default=0.0
        Fraction of all epochs over which the weight of every facet's KL term rises
        linearly from 0 to 1, so that the network first learns to reconstruct (as an
        autoencoder) and the mixtures are refitted on a structured latent space. 0 trains
        with the full KL from the first batch.
    prior_refit_fraction : float, default=0.5
        Each facet's prior starts as broad unit-variance components placed by a
        Gaussian mixture on the untrained encoder's means, and is fitted again by a
        Gaussian mixture to the encoder's posterior means this far into the facet's
        first progressive step, once the encoder has learnt a representation. 0 keeps
        the authors' scheme: one fit at the start with component variances 0.01.
    free_bits : float, default=1.0
        Minimum information constraint: each facet's batch-mean KL is not penalised
        below ``free_bits * latent_dim`` nats, so no facet collapses onto its prior.
        0 gives the plain ELBO.
    min_cluster_share : float, default=0.1
        After every epoch, a cluster whose posterior mass is below
        ``min_cluster_share / K`` of the data is dead and is re-seeded at the worst
        explained points, so every cluster stays in use. 0 switches this off.
    max_iter : int, default=200
        Training epochs in all, shared equally among the progressive steps (with
        ``warm_start``, epochs added to the previous fit). Progressive training needs
        at least one epoch per facet: ``max_iter >= n_facets``.
    n_init : int, default=1
        Number of models trained from different random initialisations, as in
        :class:`sklearn.mixture.GaussianMixture`; ``init_selection`` says which one is
        kept. Restart ``i`` is seeded from ``random_state``; restart 0 is the model
        ``n_init=1`` trains. A restart whose training diverges
        (``FloatingPointError``) is skipped with a ``RuntimeWarning``; ``fit`` raises only
        when all of them do. Ignored when ``warm_start`` continues a fitted model, which
        is trained once.
    init_selection : {"agreement", "elbo"}, default="agreement"
        Which of the ``n_init`` restarts is kept. ``"agreement"``: the one whose
        partitions agree most with the other restarts' partitions, scored by
        :func:`skmfc.selection.restart_agreement` on the training labels (the mean,
        over the other restarts, of each facet's best adjusted Rand index with their
        facets, taken both ways, so the order of the facets does not matter). A
        restart that found the real groupings of the data shares them with the others
        that found them; failures differ from each other. Ties (always the case with
        ``n_init=2``) go to the higher ELBO, then to the lower index. Every finished
        restart's weights are kept in host memory until all have run: ``n_init`` copies
        of the network. ``"elbo"``: the restart with the highest ELBO on the training
        data (:meth:`score` of X), holding only the best model so far in memory. The
        ELBO measures the fit of the density, which in benchmarks did not track how
        well the facets recover known groupings.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (chosen by ``random_state``) and
        stop when their ELBO has not improved by at least ``tol`` for ``n_iter_no_change``
        epochs in a row; the estimator keeps the weights of the best epoch. Only epochs
        of the last progressive step count, once every facet has faded in and the
        priors have been refitted: earlier steps always run all their epochs. The ELBO
        is computed in evaluation mode with one posterior sample per row drawn with a
        fixed seed, in the units of :meth:`score` (whose samples are keyed by the rows
        themselves, so the two differ by sampling noise).
    validation_fraction : float, default=0.1
        Share of the data held out for early stopping (rounded up to whole samples).
    n_iter_no_change : int, default=10
        Epochs without improvement after which early stopping ends training, and
        after which training counts as converged (``converged_``).
    tol : float, default=1e-4
        Smallest improvement of the ELBO that counts, in nats per sample (absolute, so
        it does not depend on the units of X): of the validation ELBO with
        ``early_stopping=True``, of the training ELBO otherwise, where it only decides
        ``converged_``. The training ELBO is a mean over minibatches and varies from
        epoch to epoch by more than the default: with a small ``tol`` and no early
        stopping, expect a ``ConvergenceWarning``.
    warm_start : bool, default=False
        When the estimator is already fitted, ``fit`` continues training its network
        for ``max_iter`` more epochs, every facet switched on and the priors kept,
        instead of starting afresh; ``elbo_curve_`` grows. X must have the features of
        the first fit, and the parameters that shape the network (``n_facets``,
        ``n_clusters``, ``latent_dim``, ``hidden_sizes``, ...) must not have changed.
        The standardisation and likelihood of the first fit are kept, and ``n_init`` is
        ignored.
    batch_size : int, default=128
        Minibatch size (capped at the number of samples).
    learning_rate : float, default=1e-3
        Adam step size.
    device : str or torch.device, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU. On CUDA every training step
        is captured once as a CUDA graph and replayed. Apple's MPS is never picked by
        ``"auto"``: skmfc is not tested on it; ``device="mps"`` asks for it explicitly.
    precision : {"auto", "float32", "tf32", "bfloat16"}, default="auto"
        Arithmetic of training. ``"float32"`` computes everything in float32, with
        TF32 switched off. ``"tf32"`` runs the matrix products and convolutions on
        TF32 tensor cores (inputs rounded to 10 mantissa bits, float32 accumulation;
        the rest in float32): much faster on Ampere and later GPUs; on the CPU it is
        ``"float32"``. ``"bfloat16"`` runs the forward pass under bfloat16 autocast, on
        CUDA and on the CPU (matrix products in bfloat16; the posterior's parameters, the
        loss, the weights and the optimizer in float32): on an AVX512-BF16 CPU it trained
        the paper's MNIST network 1.8x as fast as float32 to the same ELBO and digit
        facet (6 seeds), and it is slower than float32 for small networks
        (``benchmarks/RESULTS.md``, "bfloat16 on the CPU, third look"). ``"auto"`` is
        ``"bfloat16"`` on a CPU with bfloat16 units (AVX512-BF16 or AMX) when a training
        step's fully connected products take at least 2 GFLOP (the paper's MNIST
        network: 9; the default network on 784 features: 0.4), and ``"float32"``,
        torch's own default, otherwise (on GPUs too); ``precision_`` says which
        arithmetic a fit used. Prediction is always in float32 or better.
    strategy : {"auto", "single", "ddp"}, default="auto"
        How ``fit`` trains when the script runs in several processes, e.g. launched
        by ``torchrun``. ``"ddp"`` trains one model data-parallel over the processes
        of a :mod:`torch.distributed` group (torch's default group, which skmfc
        initialises from the launcher's environment when the script has not, and
        destroys after ``fit``): every process must call ``fit`` with the same X,
        trains on its slice of every batch of ``batch_size`` rows (the batch is shared,
        not multiplied), and ends with the same fitted estimator; ``device="auto"``
        or ``"cuda"`` then means each process's own GPU (``LOCAL_RANK``). ``"single"``
        trains a whole model in every process. ``"auto"`` is ``"ddp"`` when the
        default group is initialised with several processes or the launcher's
        ``WORLD_SIZE`` is above 1, and ``"single"`` otherwise. See
        ``docs/scaling.md``, "Several GPUs and nodes".
    random_state : int, RandomState instance or None, default=None
        Seeds weights, minibatch order, sampling and the prior initialisation. Torch's
        and numpy's global random states are left untouched.
    verbose : int, default=0
        ``>= 1`` shows a progress bar with the ELBO (one per restart, named after it,
        when ``n_init > 1``).

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples, n_facets), or (n_samples,) when n_facets=1
        Cluster of every training sample in every facet, from a final pass in
        evaluation mode, so ``fit_predict(X)`` equals ``fit(X).predict(X)``. A
        one-facet model gives 1-D labels like every scikit-learn clusterer, so that
        ``sklearn.metrics`` scores take them; with several facets, score facet ``j``
        with ``labels_[:, j]`` or ``predict(X, facet=j)``. -1
        everywhere when Ctrl-C interrupted that pass (see Notes).
    n_clusters_ : tuple of int
        Clusters per facet (after merging, with ``n_clusters="auto"``).
    weights_ : list of ndarray of shape (n_clusters_[j],)
        Mixing weights of every facet's prior, one array per facet (facets may differ
        in size, hence a list).
    means_ : list of ndarray of shape (n_clusters_[j], latent_dims_[j])
        Cluster means of every facet's prior, in the units of :meth:`transform`.
    covariances_ : list of ndarray
        Cluster covariances of every facet's prior, laid out as in
        :class:`sklearn.mixture.GaussianMixture`: (n_clusters_[j], latent_dims_[j])
        for ``covariance_type="diag"``, (n_clusters_[j], latent_dims_[j],
        latent_dims_[j]) for ``"full"``.
    latent_dims_ : tuple of int
        Latent dimension per facet.
    likelihood_ : str
        The likelihood used.
    likelihood_std_ : float or None
        Gaussian standard deviation in input units (None for Bernoulli).
    elbo_curve_ : list of float
        Mean training ELBO of every epoch (weighted by the progressive schedule),
        including the epochs of earlier fits with ``warm_start``.
    n_iter_ : int
        Epochs run, ``len(elbo_curve_)``; fewer than ``max_iter`` when training stopped
        early or was interrupted.
    converged_ : bool
        Whether the ELBO stopped improving: it improved by no more than ``tol`` over the
        last ``n_iter_no_change`` epochs, counted once every facet is switched on and
        the priors are refitted (the validation ELBO with ``early_stopping``, the
        training ELBO otherwise). False when training was interrupted. When False, ``fit``
        says so with a ``ConvergenceWarning``, as ``GaussianMixture`` does.
    validation_scores_ : list of float or None
        With ``early_stopping``, the validation ELBO (in the units of :meth:`score`)
        after each epoch of the last call to ``fit``; None otherwise.
    best_validation_score_ : float or None
        With ``early_stopping``, the validation ELBO of the weights kept; None otherwise.
    init_elbos_ : ndarray of shape (n_init,)
        Mean ELBO per sample of the training data (all of X, validation part included,
        in the units of :meth:`score`) of the model each restart trained; nan for a restart
        that failed or did not run (Ctrl-C). Of shape (1,) after a ``warm_start``
        continuation.
    init_scores_ : ndarray of shape (n_init,)
        The ``init_selection`` criterion of each restart: its agreement with the other
        restarts, or its ELBO (then equal to ``init_elbos_``). nan for a restart that
        failed or did not run, and with ``"agreement"`` for every restart when fewer
        than two finished (so always with ``n_init=1``). Of shape (1,) after a
        ``warm_start`` continuation.
    best_init_ : int
        Index of the restart kept: the first with the highest ``init_scores_``, a tie
        going to the higher ``init_elbos_`` (see ``init_selection``). ``score(X)`` on the
        training data equals ``init_elbos_[best_init_]``. The other fitted attributes
        (``labels_``, ``elbo_curve_``, ``n_iter_``, ``converged_``,
        ``validation_scores_``, ...) describe that restart.
    clusters_used_ : tuple of int
        Number of distinct clusters each facet assigns the training data to (0 when
        ``labels_`` were not computed).
    mean_confidence_ : tuple of float
        Mean over training samples of ``max_k q(c_j = k | x)``; near ``1 / K_j`` means the
        facet carries no cluster information (nan when ``labels_`` were not computed).
    device_ : torch.device
        Device the model lives on.
    precision_ : {"float32", "tf32", "bfloat16"}
        ``precision`` as training applied it (``"auto"`` resolved; ``"tf32"``
        computes in float32 on the CPU).
    module_ : skmfc.nn.MFCVAE
        The trained torch module.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    sklearn.mixture.GaussianMixture : One clustering with a Gaussian mixture.
    sklearn.cluster.KMeans : One clustering by k-means.

    Notes
    -----
    Training survives faults. When the loss or the weights become non-finite, the
    epoch is rolled back to the last good state and run again with half the learning
    rate (a ``RuntimeWarning`` says so), at most three times in a row before a
    ``FloatingPointError`` says what to change. When CUDA runs out of memory the epoch
    runs again with half the batch size. Ctrl-C (``KeyboardInterrupt``) during ``fit``
    ends training with a ``ConvergenceWarning`` and leaves a usable model with the
    state of the last completed epoch (or the best validated one); before the first
    epoch completes the interrupt is raised. Once there is a model, Ctrl-C during the
    passes over the data after training skips them instead: the ELBO for
    ``init_elbos_`` (then nan), the merging of ``n_clusters="auto"`` (then every facet
    keeps its upper bound), or the final pass for ``labels_`` (then -1; ``predict(X)``
    gives them); the warning says which. With ``n_init > 1`` Ctrl-C also skips the
    restarts still to come, and the estimator keeps the best of the models trained so far
    by ``init_selection``, chosen among those alone (the interrupted one included, once
    it has completed an epoch); the interrupt is raised
    only when no restart has a model yet. Whenever ``fit`` raises, the estimator is
    left exactly as it was. The fitted state of a refit is built aside and replaces
    the old one at once, when ``fit`` returns.

    :meth:`save` writes a file that :meth:`load` reads back without running any code
    (see :mod:`skmfc.persistence`); pickle and joblib work too, and a model trained
    on a GPU unpickles on a machine without one (on the CPU, with a warning).

    Input must be dense, finite numbers: sparse matrices are refused (densify them
    with ``X.toarray()`` if they fit in memory), and so are NaN and infinity.

    References
    ----------
    F. Falck, H. Zhang, M. Willetts, G. Nicholson, C. Yau, C. Holmes. Multi-Facet
    Clustering Variational Autoencoders. NeurIPS 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from skmfc import MFCVAEClustering
    >>> rng = np.random.RandomState(0)
    >>> X = rng.rand(60, 6)
    >>> est = MFCVAEClustering(n_facets=2, n_clusters=3, hidden_sizes=16, max_iter=4,
    ...                        device="cpu", random_state=0)
    >>> est.fit_predict(X).shape
    (60, 2)
    >>> est.predict_proba(X, facet=1).shape
    (60, 3)
    >>> X_new, labels = est.sample(5, facet=0, cluster=2, random_state=0)
    >>> X_new.shape, labels[:, 0].tolist()
    ((5, 6), [2, 2, 2, 2, 2])
    """

    _parameter_constraints = {
        "n_facets": [Interval(Integral, 1, None, closed="left")],
        "n_clusters": [Interval(Integral, 1, None, closed="left"), tuple,
                       StrOptions({"auto"})],
        "latent_dim": [Interval(Integral, 1, None, closed="left"), tuple],
        "hidden_sizes": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left"),
                         tuple],
        "architecture": [StrOptions({"auto", "mlp", "conv"})],
        "image_shape": [None, tuple],
        "covariance_type": [StrOptions({"diag", "full"})],
        "learn_weights": ["boolean"],
        "likelihood": [StrOptions({"auto", "bernoulli", "gaussian"})],
        "likelihood_std": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "categorical_posterior": [StrOptions({"closed_form", "one_sample"})],
        "progressive": ["boolean", StrOptions({"auto"})],
        "guide": [None, StrOptions({"nonredundant", "nonredundant-raw"})],
        "fade_in_fraction": [Interval(Real, 0, 1, closed="both")],
        "kl_warmup_fraction": [Interval(Real, 0, 1, closed="left")],
        "prior_refit_fraction": [Interval(Real, 0, 1, closed="left")],
        "free_bits": [Interval(Real, 0, None, closed="left")],
        "min_cluster_share": [Interval(Real, 0, 1, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_selection": [StrOptions({"agreement", "elbo"})],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "warm_start": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "device": [str, torch.device],
        "precision": [StrOptions({"auto", "float32", "tf32", "bfloat16"})],
        "strategy": [StrOptions({"auto", "single", "ddp"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, n_facets=2, n_clusters=10, latent_dim=5, hidden_sizes="auto", *,
                 architecture="auto", image_shape=None,
                 covariance_type="diag", learn_weights=False, likelihood="auto",
                 likelihood_std="auto", categorical_posterior="closed_form", progressive="auto",
                 guide="nonredundant", fade_in_fraction=0.5, kl_warmup_fraction=0.0,
                 prior_refit_fraction=0.5, free_bits=1.0,
                 min_cluster_share=0.1, max_iter=200, n_init=1, init_selection="agreement",
                 early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, tol=1e-4, warm_start=False,
                 batch_size=128, learning_rate=1e-3, device="auto", precision="auto",
                 strategy="auto", random_state=None, verbose=0):
        self.n_facets = n_facets
        self.n_clusters = n_clusters
        self.latent_dim = latent_dim
        self.hidden_sizes = hidden_sizes
        self.architecture = architecture
        self.image_shape = image_shape
        self.covariance_type = covariance_type
        self.learn_weights = learn_weights
        self.likelihood = likelihood
        self.likelihood_std = likelihood_std
        self.categorical_posterior = categorical_posterior
        self.progressive = progressive
        self.guide = guide
        self.fade_in_fraction = fade_in_fraction
        self.kl_warmup_fraction = kl_warmup_fraction
        self.prior_refit_fraction = prior_refit_fraction
        self.free_bits = free_bits
        self.min_cluster_share = min_cluster_share
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_selection = init_selection
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.warm_start = warm_start
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.device = device
        self.precision = precision
        self.strategy = strategy
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the model on X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        MFCVAEClustering
            The fitted estimator.
        """
        # The new state is built on a twin that shares nothing fit replaces, and swapped
        # in at once: a predict, pickle or save running meanwhile sees the old state or
        # the new one, never a mix, and a failed fit leaves the estimator as it was.
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)
        with fit_strategy(self.strategy, self.device) as data_parallel:
            twin._fit(X, data_parallel)
        self.__dict__ = twin.__dict__
        return self

    def _fit(self, X, data_parallel=None):
        warm = bool(self.warm_start) and hasattr(self, "module_")
        X, layout = self._check_fit_input(X, warm)
        rng = check_random_state(self.random_state)
        if data_parallel is not None:
            check_same_data(data_parallel, X)
            rng = data_parallel.broadcast_object(rng)  # rank 0's seeds everywhere
        seed = int(rng.randint(_MAX_SEED))
        X_fit, X_validation = self._hold_out(X, seed, layout.n_clusters)
        device = (resolve_device(self.device) if data_parallel is None
                  else rank_device(self.device))
        if warm:
            layout, config = self._continued_network(X, layout)
        else:
            config = self._new_network(X, layout)
        # Restart 0 trains with the seed a single fit has always used. Every restart is
        # scored with one seed, as score() scores, so their ELBOs differ by the weights alone.
        n_restarts = 1 if warm else self.n_init
        seeds = [seed] + [int(rng.randint(_MAX_SEED)) for _ in range(n_restarts - 1)]
        score_seed = self._seed if warm else seed
        if self._progressive(guided=False, warm=warm):
            split_epochs(self.max_iter, self.n_facets)  # says so now if max_iter is too few
        options = self._train_options(layout, config, len(X_fit), device, warm)
        try:
            X_train = self._training_input(X_fit, device)
            X_held_out = None if X_validation is None else self._training_input(X_validation,
                                                                                device)

            def train_restart(index, restart_seed):
                description = "MFCVAE" if n_restarts == 1 else f"MFCVAE restart {index}"
                return self._train_once(config, warm, X_train, X_held_out, device,
                                        restart_seed, description, options, data_parallel)

            (best_init, module, history, init_elbos, init_scores,
             interrupted_at) = self._best_restart(seeds, train_restart, X, score_seed)
        except AdvisedOutOfMemoryError:
            raise
        except torch.cuda.OutOfMemoryError as error:
            raise torch.cuda.OutOfMemoryError(
                f"{device} ran out of memory while training on {len(X)} samples "
                f"({str(error).splitlines()[0] if str(error) else 'out of memory'}): use a "
                "smaller batch_size, smaller hidden_sizes, or device='cpu'") from error
        self._record_training(X, warm, seed, module, device, layout, options, history,
                              best_init, init_elbos, init_scores)
        # A final pass in evaluation mode: fit_predict(X) == fit(X).predict(X).
        labels, log_proba = _unless_interrupted(
            history, "the final pass for labels_", lambda: self._assignments(X),
            (np.full((len(X), self.n_facets), -1), None))
        self._record_labels(labels, log_proba)
        if interrupted_at is not None or history.skipped_passes:
            self._warn_interrupted(history, interrupted_at, n_restarts)
        elif not self.converged_:
            watched = "validation" if self.early_stopping else "training"
            warnings.warn(
                f"MFCVAE did not converge: the {watched} ELBO still improved by more than "
                f"tol={self.tol} within the last n_iter_no_change={self.n_iter_no_change} "
                f"epochs (counted once every facet is switched on) when max_iter="
                f"{self.max_iter} epochs ran out; increase max_iter, or tol",
                ConvergenceWarning, stacklevel=4)

    def _check_fit_input(self, X, warm):
        """Validated training X (a numpy array, or :class:`~skmfc.data.CheckedRows` for
        data read in pieces) and the layout of the network the parameters ask for."""
        source = as_source(X)
        if source is None:
            X, array_image_shape = _image_rows(X)
            X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2,
                              reset=not warm)
        else:
            X, array_image_shape = self._checked_source(source, min_samples=2,
                                                        reset=not warm)
        image_shape = self._check_image_shape(array_image_shape, X.shape[1])
        architecture = self.architecture
        if architecture == "auto":
            architecture = "mlp" if image_shape is None else "conv"
        if architecture == "conv" and image_shape is None:
            raise ValueError("architecture='conv' needs images: pass X of shape (n, H, W, C) "
                             "or (n, C, H, W), or flat X with image_shape=(H, W, C)")
        if isinstance(self.n_clusters, str):  # "auto"
            # An upper bound, never more than the samples left to train on.
            n_clusters = (min(AUTO_MAX_CLUSTERS,
                              max(1, X.shape[0] - self._n_validation(X.shape[0]))),) \
                * self.n_facets
        else:
            n_clusters = self._per_facet("n_clusters", self.n_clusters)
        latent_dims = self._per_facet("latent_dim", self.latent_dim)
        if self.hidden_sizes == "auto":
            levels = range(self.n_facets)
            hidden_sizes = ((256,) * self.n_facets if architecture == "mlp"
                            else tuple(min(32 * 2 ** level, 256) for level in levels))
        else:
            hidden_sizes = self._per_facet("hidden_sizes", self.hidden_sizes)
        return X, _Layout(architecture, image_shape, n_clusters, latent_dims, hidden_sizes)

    def _checked_source(self, source, min_samples, reset, on_read=None):
        """A :class:`~skmfc.data.RowSource` as :class:`~skmfc.data.CheckedRows`, and the
        (height, width, channels) of its images (None for flat rows).

        The first rows go through ``validate_data`` as a numpy array would, so the number
        of features, their type and the fewest samples are checked (and
        ``n_features_in_`` set) by scikit-learn's rules; the values of the other rows are
        checked as they are read.
        """
        if len(source.row_shape) > 3:
            raise ValueError(f"Found array with dim {len(source.row_shape) + 1} (a "
                             f"{source.kind} of shape {source.shape}): give flat rows or "
                             "images of shape (n, H, W), (n, H, W, C) or (n, C, H, W)")
        head, image_shape = _image_rows(source.read(slice(0, min_samples)))
        head = validate_data(self, head, dtype=[np.float64, np.float32],
                             ensure_min_samples=min_samples, reset=reset)
        return (CheckedRows(source, lambda block: _image_rows(block)[0], head.shape[1],
                            on_read), image_shape)

    def _n_validation(self, n_samples):
        """Rows held out for early stopping."""
        return math.ceil(self.validation_fraction * n_samples) if self.early_stopping else 0

    def _hold_out(self, X, seed, n_clusters):
        """The rows to train on and, with early stopping, the rows held out (chosen by
        ``seed``; None without)."""
        n_samples = len(X)
        n_validation = self._n_validation(n_samples)
        X_fit, X_validation = X, None
        if self.early_stopping:
            n_fit = n_samples - n_validation
            if n_validation < 1 or n_fit < max(2, *n_clusters):
                raise ValueError(
                    f"early_stopping=True holds out validation_fraction="
                    f"{self.validation_fraction} of the data: {n_validation} of {n_samples} "
                    f"samples, which leaves {n_fit} to train on, fewer than the largest "
                    f"number of clusters ({max(n_clusters)}) or 2; use more data, a smaller "
                    "validation_fraction, or early_stopping=False")
            order = np.random.RandomState(seed).permutation(n_samples)
            X_fit = X[np.sort(order[n_validation:])]
            X_validation = X[np.sort(order[:n_validation])]
        if max(n_clusters) > len(X_fit):
            raise ValueError(
                f"n_samples={len(X_fit)} must be >= the number of clusters of every facet, "
                f"got n_clusters={n_clusters}")
        return X_fit, X_validation

    def _continued_network(self, X, layout):
        """For a warm start: the layout with the fitted facets' clusters, checked against
        the fitted network, and that network's configuration."""
        fitted_clusters = tuple(self.module_.config["n_clusters"])
        # Merging ("auto") and guides leave facets with fewer clusters than asked for.
        if isinstance(self.n_clusters, str) or all(
                fitted <= asked for fitted, asked in zip(fitted_clusters, layout.n_clusters)):
            layout = dataclasses.replace(layout, n_clusters=fitted_clusters)
        self._check_warm_start(layout.architecture, layout.image_shape, layout.hidden_sizes,
                               layout.latent_dims, layout.n_clusters)
        if self.likelihood_ == "bernoulli" and (X.min() < 0.0 or X.max() > 1.0):
            raise ValueError("warm_start=True continues a model with the Bernoulli "
                             "likelihood, which needs every value of X in [0, 1]")
        return layout, self.module_.config

    def _new_network(self, X, layout):
        """The configuration of a new network for X; sets the likelihood and the
        standardisation of the inputs (``architecture_``, ``input_scale_``, ...) that
        :meth:`_to_model_input` reads."""
        likelihood, offset, scale, likelihood_std = self._likelihood_and_scale(X)
        self.architecture_ = layout.architecture
        self.image_shape_ = layout.image_shape
        self.input_offset_ = offset
        self.input_scale_ = scale
        self.likelihood_ = likelihood
        self.likelihood_std_ = likelihood_std
        image_shape = layout.image_shape
        return dict(
            input_shape=((X.shape[1],) if layout.architecture == "mlp"
                         else (image_shape[2], image_shape[0], image_shape[1])),
            hidden_sizes=layout.hidden_sizes, latent_dims=layout.latent_dims,
            n_clusters=layout.n_clusters, covariance_type=self.covariance_type,
            learn_weights=self.learn_weights, likelihood=likelihood,
            likelihood_std=1.0 if likelihood_std is None else likelihood_std / scale,
            categorical_posterior=self.categorical_posterior,
            architecture=layout.architecture)

    def _train_options(self, layout, config, n_train, device, warm):
        """The configuration of :func:`skmfc.training.train` shared by every restart."""
        batch_size = min(self.batch_size, n_train)
        with torch.device("meta"):  # only the layer shapes, nothing allocated
            flops_per_step = MFCVAE.from_config(config).linear_flops_per_sample() * batch_size
        return _TrainOptions(
            optimisation=OptimisationConfig(
                batch_size=batch_size, learning_rate=self.learning_rate,
                free_nats=tuple(self.free_bits * d for d in layout.latent_dims)),
            # A warm start goes on from a trained module: its priors are not fitted again.
            priors=PriorConfig(
                initialise=not warm,
                initial_variance=1.0 if self.prior_refit_fraction > 0 else 0.01,
                refit_fraction=self.prior_refit_fraction,
                min_cluster_share=self.min_cluster_share),
            faults=FaultConfig(n_iter_no_change=self.n_iter_no_change, tol=self.tol),
            engine=EngineConfig(precision=resolve_precision(self.precision, device,
                                                            flops_per_step),
                                cuda_graphs=uses_cuda_graphs(device)))

    def _record_training(self, X, warm, seed, module, device, layout, options, history,
                         best_init, init_elbos, init_scores):
        """Set the fitted attributes that training and the restarts decide."""
        self.module_ = module
        self.device_ = device
        self.precision_ = options.engine.precision
        self.n_clusters_ = tuple(module.config["n_clusters"])
        self.latent_dims_ = layout.latent_dims
        self.init_elbos_ = init_elbos
        self.init_scores_ = init_scores
        self.best_init_ = best_init
        previous_epochs = list(self.elbo_curve_) if warm else []
        self.elbo_curve_ = previous_epochs + history.elbo
        self.n_iter_ = len(self.elbo_curve_)
        if not warm:
            self.progressive_steps_ = [history.step_of_epoch.index(step)
                                       for step in sorted(set(history.step_of_epoch))]
            self._seed = seed
        # Validation ELBOs in input units, as score() gives them.
        to_input_units = X.shape[1] * np.log(self.input_scale_)
        self.validation_scores_ = ([float(v - to_input_units) for v in history.validation]
                                   if self.early_stopping else None)
        self.best_validation_score_ = (float(history.best_validation - to_input_units)
                                       if history.best_validation is not None else None)
        self.converged_ = not history.interrupted and history.converged

    def _record_labels(self, labels, log_proba):
        """Set ``labels_`` and what they tell of the facets, from the final pass (labels
        of shape (n, n_facets), -1 and no ``log_proba`` when Ctrl-C cut it short)."""
        self.labels_ = _one_facet_flat(labels)
        self.clusters_used_ = tuple(len(np.unique(column[column >= 0]))
                                    for column in labels.T)
        self.mean_confidence_ = (
            (math.nan,) * self.n_facets if log_proba is None
            else tuple(float(np.exp(lp.max(1)).mean()) for lp in log_proba))

    def _train_once(self, config, warm, X_train, X_validation, device, seed, description,
                    options, data_parallel=None):
        """Train one module from ``seed`` (or continue the fitted one when ``warm``).

        Parameters
        ----------
        config : dict
            :meth:`MFCVAE.from_config` configuration of the network.
        warm : bool
            Start from the weights of ``module_``.
        X_train : Tensor
            Standardised training data, on ``device`` or (too large for it) in host memory.
        X_validation : Tensor or None
            Standardised held-out data, likewise, for early stopping.
        device : torch.device
            Training device.
        seed : int
            Seeds the weights, the batch order and the prior fits.
        description : str
            Label of the progress bar.
        options : _TrainOptions
            The configuration of :func:`skmfc.training.train` shared by the restarts.
        data_parallel : DataParallel, optional
            Train data-parallel (:mod:`skmfc.distributed`): the guide and the merging
            of clusters are computed on rank 0 and broadcast, and only rank 0 shows
            progress.

        Returns
        -------
        module : MFCVAE
            The trained module, ready for inference.
        history : TrainingHistory
        """
        guide = None
        if self.guide is not None and not warm and len(config["n_clusters"]) > 1:
            view_of_rows = self._guide_view()
            if data_parallel is None:
                config, guide = _guide_facets(config, X_train, seed, view_of_rows)
            else:
                config, guide = once_on_host(
                    data_parallel,
                    lambda: _guide_facets(config, X_train, seed, view_of_rows), device)
        progressive = self._progressive(guided=guide is not None, warm=warm)
        schedule = ScheduleConfig(
            epochs_per_step=tuple(split_epochs(self.max_iter, self.n_facets, progressive)),
            fade_in_fraction=self.fade_in_fraction, progressive=progressive,
            kl_warmup_fraction=0.0 if warm else self.kl_warmup_fraction)
        with torch.random.fork_rng(devices=cuda_devices(device)):
            torch.manual_seed(seed)
            module = MFCVAE.from_config(config)
            if warm:
                module.load_state_dict(self.module_.state_dict())
            module = module.to(device=device, dtype=torch.float32)
            with tqdm(total=self.max_iter, desc=description, unit="epoch",
                      disable=not self.verbose or (data_parallel is not None
                                                   and data_parallel.rank != 0)) as progress:
                def show_progress(epoch, elbo):
                    progress.set_postfix(elbo=f"{elbo:.4g}", refresh=False)
                    progress.update(1)

                history = train(module, X_train, schedule=schedule,
                                optimisation=options.optimisation, seed=seed,
                                priors=options.priors, faults=options.faults,
                                engine=options.engine, guide=guide,
                                X_validation=X_validation, on_epoch_end=show_progress,
                                data_parallel=data_parallel)
            if self.n_clusters == "auto":
                def merge():
                    return merge_module_clusters(module, X_train, random_state=seed)
                module = _unless_interrupted(
                    history, "the merging of clusters",
                    merge if data_parallel is None
                    else lambda: merged_once(data_parallel, merge, device), module)
        return for_inference(module), history

    def _progressive(self, guided, warm):
        """Whether one training run is progressive: never for a warm start (which goes
        on from a trained module), else ``progressive``, with "auto" resolved by whether
        the guide anchors a facet."""
        if warm:
            return False
        if isinstance(self.progressive, str):  # "auto"
            return not guided and self.max_iter >= self.n_facets
        return bool(self.progressive)

    def _best_restart(self, seeds, train_restart, X, score_seed):
        """Train one model per seed and keep the one ``init_selection`` prefers.

        With ``"elbo"`` the restart with the highest ELBO on X is kept, and only the best
        module so far and the one in training are held in memory. With ``"agreement"``
        (and several seeds) every finished restart's labels of X (the final pass of
        ``fit``) and its weights, copied to host memory, are kept until all have run,
        so the device holds one network at a time and the host ``len(seeds)`` copies;
        the restart whose partitions agree most with the others' is kept
        (:func:`skmfc.selection.restart_agreement`; ties go to the higher ELBO) and its
        module rebuilt from the copy. A restart that raises ``FloatingPointError`` is
        skipped with a ``RuntimeWarning``; Ctrl-C ends the restarts once one has a
        model, and the choice is made among the finished ones.

        Parameters
        ----------
        seeds : list of int
            One seed per restart.
        train_restart : callable
            ``train_restart(index, seed)`` returns a trained module and its history.
        X : ndarray of shape (n_samples, n_features)
            The validated training data, on which restarts are compared.
        score_seed : int
            Seed of the ELBO's posterior sample, the same for every restart.

        Returns
        -------
        best_init : int
            Index of the restart kept.
        module : MFCVAE
            Its module.
        history : TrainingHistory
            Its training history.
        init_elbos : ndarray of shape (len(seeds),)
            ELBO of every restart in input units; nan where it failed or did not run.
        init_scores : ndarray of shape (len(seeds),)
            The selection criterion of every restart (``init_elbos`` with ``"elbo"``);
            nan where it failed or did not run, or had no other restart to agree with.
        interrupted_at : int or None
            Index of the restart Ctrl-C ended, if it did.

        Raises
        ------
        FloatingPointError
            When every restart failed.
        KeyboardInterrupt
            When Ctrl-C came before any restart had a model.
        """
        by_agreement = self.init_selection == "agreement" and len(seeds) > 1
        init_elbos = np.full(len(seeds), np.nan)
        finished = {}  # by_agreement: index -> (host copy of the module, history, labels)
        best, best_elbo, failures, interrupted_at = None, -math.inf, [], None
        for index, seed in enumerate(seeds):
            try:
                module, history = train_restart(index, seed)
                init_elbos[index] = _unless_interrupted(
                    history, "the ELBO of X for init_elbos_",
                    lambda: self._mean_elbo(module, X, score_seed), math.nan)
                if by_agreement:
                    labels = _unless_interrupted(
                        history, "the labels of X for init_selection",
                        lambda: self._restart_labels(module, X), None)
                    host_copy = _module_state(module)
            except FloatingPointError as error:
                # The traceback holds train()'s frames and so the failed module: keep it
                # only for the last restart, whose error may be raised.
                failures.append((index, error if index + 1 == len(seeds)
                                 else error.with_traceback(None)))
                continue
            except KeyboardInterrupt:
                if best is None and not finished:
                    raise
                interrupted_at = index
                break
            if by_agreement:
                finished[index] = (host_copy, history, labels)
                del host_copy, labels
            # A nan ELBO ranks lowest, and ties keep the earlier restart.
            elif best is None or init_elbos[index] > best_elbo:
                best = (index, module, history)
                best_elbo = init_elbos[index] if not math.isnan(init_elbos[index]) else -math.inf
            # Drop the reference, so that a losing module is freed before the next trains.
            del module
            if history.interrupted or history.skipped_passes:
                interrupted_at = index
                break
        if best is None and not finished:
            index, error = failures[-1]
            if len(failures) == 1:
                raise error
            raise FloatingPointError(
                f"all {len(failures)} restarts (n_init={len(seeds)}) failed; the last, "
                f"restart {index}: {error}") from error
        if by_agreement:
            init_scores = restart_agreement([finished[index][2] if index in finished else None
                                             for index in range(len(seeds))])
            indices = sorted(finished)
            chosen = indices[select_restart(init_scores[indices], init_elbos[indices])]
            host_copy, history, _ = finished.pop(chosen)
            finished.clear()
            best = (chosen, _from_host_copy(host_copy), history)
        elif self.init_selection == "elbo":
            init_scores = init_elbos.copy()
        else:  # agreement with a single restart: there is nothing to agree with
            init_scores = np.full(len(seeds), np.nan)
        for index, error in failures:
            warnings.warn(
                f"restart {index} of n_init={len(seeds)} failed and was skipped "
                f"({type(error).__name__}: {error}); the estimator keeps restart {best[0]}",
                RuntimeWarning, stacklevel=5)
        return (*best, init_elbos, init_scores, interrupted_at)

    def _restart_labels(self, module, X):
        """Labels of validated X under ``module`` (as ``labels_`` is computed), or None
        when its cluster probabilities are not finite."""
        try:
            return self._assignments(X, module)[0]
        except ValueError:
            return None

    def _warn_interrupted(self, history, interrupted_at, n_restarts):
        """ConvergenceWarning saying which model ``fit`` kept after Ctrl-C, and which
        passes after training it cut short; ``interrupted_at`` is None when Ctrl-C came
        only in the final pass for ``labels_``."""
        restart = f" of restart {self.best_init_}" if n_restarts > 1 else ""
        if history.interrupted:  # the restart kept is the one Ctrl-C ended
            kept = (f"the weights of epoch {history.best_epoch} (best validation ELBO)"
                    if history.best_epoch is not None else
                    f"the state after epoch {len(history.elbo)}")
            message = (f"training was interrupted in epoch {len(history.elbo) + 1} of "
                       f"{self.max_iter}{restart}")
        elif interrupted_at in (None, self.best_init_):
            kept = "the trained model"
            message = f"training ended{restart}"
        else:
            kept = f"restart {self.best_init_}, the best of those that finished"
            message = f"training was interrupted in restart {interrupted_at}"
        if history.skipped_passes:
            message += f", then Ctrl-C cut short {' and '.join(history.skipped_passes)}"
        not_run = 0 if interrupted_at is None else n_restarts - 1 - interrupted_at
        if not_run:
            message += (f" (restart {n_restarts - 1} did not run)" if not_run == 1 else
                        f" (restarts {interrupted_at + 1} to {n_restarts - 1} did not run)")
        message += f"; the estimator keeps {kept}, n_iter_={self.n_iter_}"
        if "the final pass for labels_" in history.skipped_passes:
            message += "; labels_ were not computed and are -1: call predict(X) for them"
        warnings.warn(message, ConvergenceWarning, stacklevel=5)

    def _likelihood_and_scale(self, X):
        """Likelihood, per-feature offset, scalar scale and likelihood std for X."""
        likelihood = self.likelihood
        if likelihood == "auto":
            likelihood = "bernoulli" if X.min() >= 0.0 and X.max() <= 1.0 else "gaussian"
        if likelihood == "bernoulli":
            if X.min() < 0.0 or X.max() > 1.0:
                raise ValueError("likelihood='bernoulli' needs every value of X in [0, 1]; "
                                 "scale X (e.g. MinMaxScaler) or use likelihood='gaussian'")
            return likelihood, np.zeros(X.shape[1]), 1.0, None
        offset, scale = _robust_centre_and_scale(X)
        likelihood_std = (0.5 * scale if self.likelihood_std == "auto"
                          else float(self.likelihood_std))
        return likelihood, offset, scale, likelihood_std

    def _check_warm_start(self, architecture, image_shape, hidden_sizes, latent_dims,
                          n_clusters):
        """Refuse to continue a network whose shape the parameters no longer describe."""
        config = self.module_.config
        changed = [name for name, now, before in [
            ("n_facets", self.n_facets, len(config["latent_dims"])),
            ("architecture", architecture, self.architecture_),
            ("image_shape", image_shape, self.image_shape_),
            ("hidden_sizes", hidden_sizes, config["hidden_sizes"]),
            ("latent_dim", latent_dims, config["latent_dims"]),
            ("n_clusters", n_clusters, config["n_clusters"]),
            ("covariance_type", self.covariance_type, config["covariance_type"]),
            ("learn_weights", bool(self.learn_weights), config["learn_weights"]),
            ("categorical_posterior", self.categorical_posterior,
             config["categorical_posterior"]),
        ] if now != before]
        if self.likelihood not in ("auto", self.likelihood_):
            changed.append("likelihood")
        if self.likelihood_std != "auto" and float(self.likelihood_std) != self.likelihood_std_:
            changed.append("likelihood_std")
        if changed:
            raise ValueError(
                f"warm_start=True continues the fitted network, but {', '.join(changed)} "
                "changed since it was fitted; set warm_start=False to train a new one")

    def _check_image_shape(self, array_image_shape, n_features):
        """The (H, W, C) images are made of, from the array itself or ``image_shape``."""
        image_shape = self.image_shape
        if image_shape is not None:
            if not (len(image_shape) in (2, 3) and all(
                    isinstance(v, Integral) and v >= 1 for v in image_shape)):
                raise ValueError("image_shape must be (height, width) or (height, width, "
                                 f"channels) of positive ints, got {image_shape!r}")
            image_shape = tuple(int(v) for v in image_shape) + (1,) * (3 - len(image_shape))
            if array_image_shape is not None and array_image_shape != image_shape:
                raise ValueError(f"image_shape={self.image_shape!r} does not match the images "
                                 f"of shape {array_image_shape} (height, width, channels)")
            if np.prod(image_shape) != n_features:
                raise ValueError(f"image_shape={self.image_shape!r} holds "
                                 f"{np.prod(image_shape)} values but X has {n_features} "
                                 "features")
            return image_shape
        return array_image_shape

    def _per_facet(self, name, value):
        """An int (every facet) or a tuple (one per facet) as a validated tuple."""
        if isinstance(value, tuple):
            if len(value) != self.n_facets:
                raise ValueError(f"{name} has {len(value)} entries but n_facets={self.n_facets}; "
                                 "give an int or one value per facet")
            if not all(isinstance(v, Integral) and not isinstance(v, bool) and v >= 1
                       for v in value):
                raise ValueError(f"{name} must hold positive integers, got {value!r}")
            return tuple(int(v) for v in value)
        return (int(value),) * self.n_facets

    # ------------------------------------------------------------------ inference
    def _to_model_input(self, X, dtype, device):
        """Validated numpy X -> standardised tensor in the module's input shape."""
        with np.errstate(over="ignore", invalid="ignore"):
            X = (np.asarray(X, dtype=np.float64) - self.input_offset_) / self.input_scale_
        if not np.isfinite(X).all():
            raise ValueError("X holds values too large to standardise: they overflow float64 "
                             "once centred; rescale X")
        if self.architecture_ == "conv":
            X = X.reshape(len(X), *self.image_shape_).transpose(0, 3, 1, 2)
        return torch.as_tensor(X, dtype=dtype, device=device)

    def _training_input(self, X, device):
        """:meth:`_to_model_input` in float32 on ``device``, or in host memory when it would
        not fit there (:func:`skmfc._device.fits_on_device`; training then streams it to
        the GPU in chunks); for data read in pieces, a row reader that reads and
        standardises the rows training asks for (:mod:`skmfc.training.streaming`)."""
        if isinstance(X, CheckedRows):  # read in pieces while training
            return _ModelRows(self, X, torch.float32)
        X = self._to_model_input(X, torch.float32, "cpu")
        return X.to(device) if fits_on_device(X.nelement() * X.element_size(), device) else X

    def _from_model_units(self, values):
        """Values in the module's units and shape (a tensor) -> input units, flat rows of
        float64, undoing :meth:`_to_model_input`."""
        values = values.double().cpu().numpy()
        if self.architecture_ == "conv":
            values = values.transpose(0, 2, 3, 1)
        with np.errstate(over="ignore", invalid="ignore"):
            return values.reshape(len(values), -1) * self.input_scale_ + self.input_offset_

    def _from_model_mean(self, mean):
        """Mean of p(x | z) in the module's units and shape -> input units, as numpy,
        checked to be finite."""
        mean = self._from_model_units(mean)
        _check_finite_output([mean], "the decoded data",
                             "the latent values lie far outside the range of the model")
        return mean

    def _guide_view(self):
        """The view the guide also runs on (a function of standardised training rows), or
        None: the shift-invariant view of images when the rows are images (passed as
        images or with ``image_shape``) and ``guide="nonredundant"``."""
        if self.guide == "nonredundant" and self.image_shape_ is not None:
            return self._shift_invariant_view_of
        return None

    def _shift_invariant_view_of(self, rows):
        """:func:`skmfc.views.shift_invariant_view` of standardised training rows (a
        tensor in the module's input shape), computed in input units."""
        return shift_invariant_view(
            self._from_model_units(rows).reshape(len(rows), *self.image_shape_))

    def _validate_input(self, X):
        check_is_fitted(self)
        source = as_source(X)
        if source is not None:
            X, array_image_shape = self._checked_source(
                source, min_samples=1, reset=False, on_read=self._warn_outside_unit_range)
            self._check_fitted_image_shape(array_image_shape)
            return X
        X, array_image_shape = _image_rows(X)
        self._check_fitted_image_shape(array_image_shape)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        self._warn_outside_unit_range(X, stacklevel=4)
        return X

    def _check_fitted_image_shape(self, array_image_shape):
        if array_image_shape is not None and array_image_shape != self.image_shape_:
            raise ValueError(f"X holds images of shape {array_image_shape} (height, width, "
                             f"channels) but the model was fitted on "
                             f"{self.image_shape_ or f'{self.n_features_in_} flat features'}")

    def _warn_outside_unit_range(self, X, stacklevel=5):
        """Warn when a model with the Bernoulli likelihood is given values outside [0, 1]
        (for data read in pieces, checked block by block as they are read)."""
        if self.likelihood_ == "bernoulli" and X.size and (X.min() < 0.0 or X.max() > 1.0):
            warnings.warn("X holds values outside [0, 1], but the model was fitted with the "
                          "Bernoulli likelihood on values in [0, 1]: scale X as the training "
                          "data were scaled (e.g. pixels divided by 255)", UserWarning,
                          stacklevel=stacklevel)

    def _posterior(self, X):
        """Posterior means and log-variances of every facet, as lists of numpy arrays."""
        with torch.inference_mode():
            posteriors = encode_posteriors(self.module_,
                                           _ModelRows(self, X, _module_dtype(self.module_)))
        means, log_variances = ([_to_numpy(posterior[part]) for posterior in posteriors]
                                for part in (0, 1))
        for facet_means in means:
            _check_finite_output([facet_means], "the latent means")
        return means, log_variances

    def _cluster_log_proba(self, X, module=None):
        """``log q(c_j | x)`` of every facet under ``module`` (default ``module_``), a
        list of (n, K_j) numpy arrays."""
        module = self.module_ if module is None else module
        with torch.inference_mode():
            log_proba = [_to_numpy(facet_log_proba) for facet_log_proba
                         in cluster_log_proba(module,
                                              _ModelRows(self, X, _module_dtype(module)))]
        for facet_log_proba in log_proba:
            _check_finite_output([facet_log_proba], "the cluster probabilities")
        return log_proba

    def _assignments(self, X, module=None):
        """The final evaluation-mode pass of ``fit`` over validated X under ``module``
        (default ``module_``): labels of shape (n, n_facets) and the list of every
        facet's ``log q(c_j | x)``."""
        log_proba = self._cluster_log_proba(X, module)
        return np.stack([lp.argmax(1) for lp in log_proba], axis=1), log_proba

    def _check_facet(self, facet):
        if facet is None:
            return None
        if not _is_int(facet) or not (0 <= facet < self.n_facets):
            raise ValueError(f"facet must be an int in [0, {self.n_facets - 1}], got {facet!r}")
        return int(facet)

    def fit_predict(self, X, y=None, facet=None):
        """Train the model on X and return the cluster of every sample, per facet.

        The labels are those of a final pass in evaluation mode (``labels_``), so they
        equal ``fit(X).predict(X)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency by convention.
        facet : int, optional
            Return the labels of this facet only. Checked before training starts.

        Returns
        -------
        ndarray of shape (n_samples, n_facets), or (n_samples,)
            One column per facet; 1-D, like every scikit-learn clusterer's, when
            ``n_facets=1`` or ``facet`` is given.
        """
        if facet is not None:
            self._validate_params()
            facet = self._check_facet(facet)
        self.fit(X)
        return self.labels_ if facet is None else self._labels_by_facet()[:, facet]

    def predict(self, X, facet=None):
        """Most probable cluster of every sample, per facet.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples to assign: an array, a dask array, or data read in pieces (see
            :meth:`fit`).
        facet : int, optional
            Return the labels of this facet only.

        Returns
        -------
        ndarray of shape (n_samples, n_facets), or (n_samples,)
            One column per facet; 1-D when ``n_facets=1`` or ``facet`` is given. A dask
            array for a dask array (computed block by block when asked for).
        """
        facet = self._check_facet(facet)
        if is_dask_array(X):
            width = None if facet is not None or self.n_facets == 1 else self.n_facets
            return self._map_row_blocks("predict", X, width, np.int64, facet=facet)
        labels, _ = self._assignments(self._validate_input(X))
        return _one_facet_flat(labels) if facet is None else labels[:, facet]

    def _map_row_blocks(self, method, X, width, dtype, **kwargs):
        """``method`` applied lazily to every block of rows of the dask array ``X``, as
        dask-ml's ``ParallelPostFit`` does: the features are rechunked into one block,
        each block of rows goes through ``method`` as a numpy array, and nothing is
        computed until the result is. The number of features is checked now, the values
        of each block when it is computed. The blocks are computed with the model as it
        is now, even if the estimator is fitted again before.

        Parameters
        ----------
        method : str
            ``"predict"``, ``"predict_proba"``, ``"transform"`` or ``"score_samples"``.
        X : dask.array.Array
        width : int or None
            Columns of the result, None for a 1-D result.
        dtype : numpy dtype
            Type of the result.
        **kwargs
            Passed on to ``method``.

        Returns
        -------
        dask.array.Array of shape (n_samples, width) or (n_samples,)
        """
        check_is_fitted(self)
        if X.ndim < 2 or any(math.isnan(size) for size in X.shape):
            raise ValueError(f"Expected 2D array with rows of known number, got a dask array "
                             f"of shape {X.shape}")
        # One empty row goes through the checks of a numpy X, so the features of a dask
        # array are refused now, and in the same words.
        empty_row, array_image_shape = _image_rows(np.zeros((1, *X.shape[1:]),
                                                            dtype=_dtype_of(X)))
        self._check_fitted_image_shape(array_image_shape)
        validate_data(self, empty_row, dtype=[np.float64, np.float32], reset=False)
        # A frozen view of the fitted state: fit replaces the estimator's __dict__ whole.
        fitted = object.__new__(type(self))
        fitted.__dict__ = dict(self.__dict__)
        X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})
        name = f"mfcvae-{method}-{uuid.uuid4().hex}"
        if width is None:
            return X.map_blocks(getattr(fitted, method), drop_axis=list(range(1, X.ndim)),
                                dtype=dtype, meta=np.empty((0,), dtype=dtype), name=name,
                                **kwargs)
        return X.map_blocks(getattr(fitted, method), drop_axis=list(range(2, X.ndim)),
                            chunks=(X.chunks[0], (width,)), dtype=dtype,
                            meta=np.empty((0, 0), dtype=dtype), name=name, **kwargs)

    def _labels_by_facet(self):
        """``labels_`` as (n_samples, n_facets), also for a single facet (a view)."""
        return self.labels_.reshape(len(self.labels_), -1)

    def predict_proba(self, X, facet=None):
        """Posterior cluster probabilities ``q(c_j | x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with the features seen in :meth:`fit`: an array, a dask array, or data
            read in pieces (see :meth:`fit`).
        facet : int, optional
            Return the probabilities of this facet only.

        Returns
        -------
        ndarray of shape (n_samples, n_clusters_total) or (n_samples, n_clusters_facet)
            ``n_clusters_total`` is ``sum(n_clusters_)``, ``n_clusters_facet`` is
            ``n_clusters_[facet]``. Without ``facet`` the facets' blocks stand side by
            side, lowest facet first; each block sums to 1 per row. A dask array for a
            dask array.
        """
        facet = self._check_facet(facet)
        if is_dask_array(X):
            width = sum(self.n_clusters_) if facet is None else self.n_clusters_[facet]
            return self._map_row_blocks("predict_proba", X, width, np.float64, facet=facet)
        log_proba = self._cluster_log_proba(self._validate_input(X))
        if facet is not None:
            return np.exp(log_proba[facet])
        return np.exp(np.concatenate(log_proba, axis=1))

    def transform(self, X):
        """Posterior means of every facet's latent variable, side by side.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with the features seen in :meth:`fit`: an array, a dask array, or data
            read in pieces (see :meth:`fit`).

        Returns
        -------
        ndarray of shape (n_samples, n_latent)
            ``n_latent`` is ``sum(latent_dims_)``; facet 0's columns first. Columns
            named by :meth:`get_feature_names_out` (``facet0_z0``, ...). A dask array
            for a dask array.
        """
        if is_dask_array(X):
            return self._map_row_blocks("transform", X, sum(self.latent_dims_), np.float64)
        means, _ = self._posterior(self._validate_input(X))
        return np.concatenate(means, axis=1)

    def inverse_transform(self, X):
        """Decode latent means back to input space (the mean of ``p(x | z)``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_latent)
            Latent values as returned by :meth:`transform` (``n_latent`` is
            ``sum(latent_dims_)``).

        Returns
        -------
        ndarray of shape (n_samples, n_features)
            The decoded data, in input units, with the features seen in :meth:`fit`.
        """
        check_is_fitted(self)
        n_latent = sum(self.latent_dims_)
        Z = check_array(X, dtype=np.float64, ensure_2d=False, input_name="X")
        if Z.ndim != 2 or Z.shape[1] != n_latent:
            raise ValueError(f"inverse_transform expects an array of shape (n_samples, "
                             f"{n_latent}), got shape {Z.shape}")
        return self._decode([torch.tensor(part) for part in
                             np.split(Z, np.cumsum(self.latent_dims_)[:-1], axis=1)])

    def _decode(self, latents):
        with torch.inference_mode():
            return self._from_model_mean(decode_mean(self.module_, latents))

    def sample(self, n_samples=1, facet=None, cluster=None, temperature=1.0, random_state=None):
        """Generate data from the model, optionally from one cluster of one facet.

        Every facet draws ``c_j ~ Cat(pi_j)`` and ``z_j ~ N(mu_c, temperature^2 Sigma_c)``;
        with ``facet`` and ``cluster`` given, that facet's cluster is fixed instead.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate.
        facet : int, optional
            Facet whose cluster is fixed.
        cluster : int, optional
            Cluster of ``facet`` to generate from.
        temperature : float, default=1.0
            Scales the prior standard deviations (the authors use 0.3 for images).
        random_state : int, RandomState instance or None, default=None
            Seeds the draws; the same seed gives the same samples.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Means of ``p(x | z)`` in input units.
        labels : ndarray of shape (n_samples, n_facets), or (n_samples,)
            The cluster each sample was drawn from in every facet (1-D when
            ``n_facets=1``, as ``labels_``).
        """
        check_is_fitted(self)
        if not _is_int(n_samples) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive int, got {n_samples!r}")
        if not (isinstance(temperature, Real) and not isinstance(temperature, bool)
                and 0 <= temperature < math.inf):
            raise ValueError(f"temperature must be a non-negative float, got {temperature!r}")
        facet = self._check_facet(facet)
        if (facet is None) != (cluster is None):
            raise ValueError("give both facet and cluster, or neither")
        if facet is not None and not (_is_int(cluster)
                                      and 0 <= cluster < self.n_clusters_[facet]):
            raise ValueError(f"cluster must be an int in [0, {self.n_clusters_[facet] - 1}] "
                             f"for facet {facet}, got {cluster!r}")
        seed = int(check_random_state(random_state).randint(_MAX_SEED))
        generator = torch.Generator(device=self.device_).manual_seed(seed)
        with torch.inference_mode():
            mean, clusters = sample_module(self.module_, n_samples, generator, facet, cluster,
                                           temperature)
            return self._from_model_mean(mean), _one_facet_flat(clusters.cpu().numpy())

    def score(self, X, y=None):
        """Mean evidence lower bound (ELBO) per sample, in nats; higher is better.

        The KL terms are exact; the reconstruction term uses one posterior sample drawn
        with a fixed seed, so repeated calls agree. Values are in input units, so they
        are comparable between models fitted on the same data. Equal to
        ``score_samples(X).mean()``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples to score.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        float
            Mean ELBO per sample.
        """
        X = self._validate_input(X)  # first: an unfitted estimator raises NotFittedError
        elbo = self._mean_elbo(self.module_, X, self._seed)
        if not math.isfinite(elbo):
            raise ValueError(f"the ELBO of X is {elbo}: X holds values far outside the "
                             "range of the training data")
        return elbo

    def score_samples(self, X):
        """Evidence lower bound (ELBO) of every sample, in nats; higher is better.

        A lower bound on ``log p(x)``, computed as :meth:`score` computes it (one
        posterior sample per row, drawn with a fixed seed), so ``score(X)`` is its mean.
        Low values mark samples the model explains badly, which makes it an outlier
        score as ``GaussianMixture.score_samples`` is.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples to score: an array, a dask array, or data read in pieces (see
            :meth:`fit`).

        Returns
        -------
        ndarray of shape (n_samples,)
            ELBO of every sample, in input units. A dask array for a dask array.
        """
        if is_dask_array(X):
            return self._map_row_blocks("score_samples", X, None, np.float64)
        elbo = self._elbo_samples(self.module_, self._validate_input(X), self._seed)
        _check_finite_output([elbo], "the ELBO values")
        return elbo

    def _elbo_samples(self, module, X, seed):
        """ELBO of every row of validated X under ``module``, in input units.

        Each row's posterior sample is keyed by ``seed`` and the row's standardised
        values rounded to float32 (:func:`skmfc._noise.row_noise`): a row scores the
        same in any batch, and data shifted and scaled as a whole get the same samples.
        """
        if isinstance(X, CheckedRows):  # block by block, as elbo_samples chunks in memory
            return np.concatenate(
                [self._elbo_samples(module, block, seed)
                 for _, block in X.blocks(INFERENCE_BATCH_SIZE)] or [np.zeros(0)])
        parameter = next(module.parameters())
        # Standardised on the host; elbo_samples moves it to the device in chunks.
        X_model = self._to_model_input(X, parameter.dtype, "cpu")
        noise = [torch.from_numpy(block) for block in row_noise(
            X_model.reshape(len(X), -1).float().numpy(), module.config["latent_dims"], seed)]
        with torch.inference_mode():
            elbo = elbo_samples(module, X_model, noise)
        # Change of variables from the standardised data back to input units.
        return elbo.cpu().numpy() - X.shape[1] * np.log(self.input_scale_)

    def _mean_elbo(self, module, X, seed):
        """Mean ELBO per sample of validated X under ``module``, in input units."""
        return float(np.mean(self._elbo_samples(module, X, seed)))

    def get_feature_names_out(self, input_features=None):
        """Name the :meth:`transform` columns: ``facet{j}_z{i}``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against the names seen in :meth:`fit`.

        Returns
        -------
        ndarray of str objects
            One name per column of :meth:`transform`, facet 0's first.
        """
        check_is_fitted(self)
        from sklearn.utils.validation import _check_feature_names_in

        _check_feature_names_in(self, input_features, generate_names=False)
        return np.asarray([f"facet{j}_z{i}" for j, d in enumerate(self.latent_dims_)
                           for i in range(d)], dtype=object)

    # ------------------------------------------------------------------ the fitted mixture
    # Properties read from module_, so they follow it through save, load, pickle and
    # warm_start and need no copy of their own.
    @property
    def weights_(self):
        """Mixing weights ``pi_j`` of every facet's prior.

        list of ndarray of shape (n_clusters_[j],), one per facet: ``weights_[j][k]`` is
        the prior probability of cluster ``k`` of facet ``j`` (uniform unless
        ``learn_weights=True``).
        """
        return [np.exp(_to_numpy(prior.log_weights())) for prior in self._priors()]

    @property
    def means_(self):
        """Mean of every cluster of every facet, in that facet's latent space.

        list of ndarray of shape (n_clusters_[j], latent_dims_[j]), one per facet, in
        the units of that facet's columns of :meth:`transform`.
        """
        return [_to_numpy(prior.means) for prior in self._priors()]

    @property
    def covariances_(self):
        """Covariance of every cluster of every facet, laid out as ``covariance_type``.

        list of ndarray, one per facet, as in :class:`sklearn.mixture.GaussianMixture`:
        shape (n_clusters_[j], latent_dims_[j]) of variances for ``"diag"``,
        (n_clusters_[j], latent_dims_[j], latent_dims_[j]) for ``"full"``.
        """
        covariances = []
        for prior in self._priors():
            if prior.covariance_type == "diag":
                covariances.append(_to_numpy(prior.variances()))
            else:
                cholesky = _to_numpy(prior.cholesky())
                covariances.append(cholesky @ cholesky.transpose(0, 2, 1))
        return covariances

    def _priors(self):
        check_is_fitted(self)
        return self.module_.priors

    def summary(self):
        """A readable description of the fitted model.

        Returns
        -------
        str
            One line per facet (clusters, clusters used, latent dimension, mean
            posterior confidence, largest mixing weight) and the training: epochs,
            convergence, device, likelihood, ELBO, restarts. ``print(est.summary())``
            shows it.
        """
        check_is_fitted(self)
        rows = [["facet", "clusters", "used", "latent dim", "confidence", "chance",
                 "largest weight"]]
        for j, weights in enumerate(self.weights_):
            rows.append([str(j), str(self.n_clusters_[j]), str(self.clusters_used_[j]),
                         str(self.latent_dims_[j]), f"{self.mean_confidence_[j]:.3f}",
                         f"{1 / self.n_clusters_[j]:.3f}", f"{weights.max():.3f}"])
        widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
        lines = [f"MFCVAEClustering: {len(self.n_clusters_)} facet(s), {self.n_features_in_} "
                 f"features, {self.architecture_} ladder, {self.likelihood_} likelihood"]
        lines += ["  " + "  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in rows]
        lines.append(f"training: {self.n_iter_} epochs (max_iter={self.max_iter}), "
                     f"converged_={self.converged_}, device {self.device_}")
        lines.append(f"ELBO of the training data: {self.init_elbos_[self.best_init_]:.4g} "
                     "nats per sample (score(X) gives it for any X)")
        if self.best_validation_score_ is not None:
            lines.append(f"best validation ELBO: {self.best_validation_score_:.4g}")
        if len(self.init_elbos_) > 1:
            lines.append(f"restarts: kept {self.best_init_} of {len(self.init_elbos_)} "
                         f"(init_selection={self.init_selection!r})")
        return "\n".join(lines)

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Save the estimator, fitted or not, to one file that loads without running code.

        The file holds the network's weights, the parameters and every fitted attribute,
        the skmfc version and a checksum; see :mod:`skmfc.persistence` for the layout.
        An existing file at ``path`` is replaced only once the new one is complete, and
        keeps its mode; a new file gets the mode the umask gives new files; a symbolic
        link at ``path`` is followed. A ``random_state`` given as a
        ``numpy.random.RandomState`` is stored by its state, as pickle would store it.

        In a data-parallel script (``strategy`` "ddp", or "auto" with several processes)
        only rank 0 writes; the other processes return at once without writing, so every
        process may call ``save`` with the same path. A process that reads the file
        must wait until rank 0 has written it (e.g. ``torch.distributed.barrier()``).

        Parameters
        ----------
        path : str, bytes, path-like or binary file object
            Where to write; the extension ``.skmfc`` is customary.

        See Also
        --------
        load : Read the file back.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> from skmfc import MFCVAEClustering
        >>> X = np.random.RandomState(0).rand(40, 4)
        >>> est = MFCVAEClustering(n_clusters=2, hidden_sizes=8, max_iter=2, device="cpu",
        ...                        random_state=0).fit(X)
        >>> path = os.path.join(tempfile.mkdtemp(), "model.skmfc")
        >>> est.save(path)
        >>> restored = MFCVAEClustering.load(path)
        >>> bool((restored.predict(X) == est.predict(X)).all())
        True
        """
        if writes_files(self.strategy):
            save_estimator(self, path)

    @classmethod
    def load(cls, path):
        """Load an estimator written by :meth:`save`.

        Reading uses ``torch.load(weights_only=True)``, which builds only tensors and
        plain values, so a file runs no code whoever wrote it; every size the file
        declares is checked against the file before anything is allocated, and the
        fitted attributes against the network. The checksum detects damage, not who
        wrote the file: load models from sources you know (``docs/persistence.md``). A
        model saved on a GPU is loaded on the CPU, with a ``RuntimeWarning``, where that
        GPU is absent.

        Parameters
        ----------
        path : str, bytes, path-like or binary file object
            The file written by :meth:`save`.

        Returns
        -------
        MFCVAEClustering
            The estimator as it was saved, fitted or not.

        Raises
        ------
        skmfc.persistence.ModelFileError
            (a ``ValueError``) when the file is not a model file, was damaged, edited or
            truncated (its checksum does not match), is inconsistent with itself, or was
            written by a newer skmfc file format. The message names the file and the
            problem.
        """
        return load_estimator(cls, path)

    def __getstate__(self):
        state = dict(super().__getstate__())  # object.__getstate__ returns __dict__ itself
        if "module_" in state:
            module = state.pop("module_")
            (state["_module_config"], state["_module_state"], state["_module_dtype"],
             _) = _module_state(module)
            state["device_"] = str(self.device_)
        return state

    def __setstate__(self, state):
        state = {"strategy": "auto", **state}  # pickled before the parameter existed
        if "_module_config" in state:
            state = dict(state)
            state["module_"], state["device_"] = _rebuild_module(
                state.pop("_module_config"), state.pop("_module_state"),
                state.pop("_module_dtype"), state["device_"], stacklevel=3)
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _guide_facets(config, X_train, seed, view_of_rows=None):
    """Guide partitions of the training data (:func:`skmfc.guide.guide_partitions`) for
    the facets: the network configuration with each guided facet's clusters cut to its
    partition's groups, and the guide (a :class:`~skmfc.training.GuideConfig`; None when
    no partition is clear enough to anchor a facet).

    Clear partitions are handed out clearest first, each to the facet with the fewest
    clusters that can hold its groups (the highest such facet on a tie), so that with
    one ``n_clusters`` for all they go to the highest facets, and with a tuple to the
    facets the user sized for them. The facets left unguided then sit lowest in the
    ladder, nearest the data: they must find what no linear subspace shows, and there
    they did better (coloured digits, digit ARI 0.56 against 0.37 over 5 seeds;
    benchmarks/FACETS_LOG.md, session 5), while a linear partition is kept as well
    by a deep facet.

    With ``view_of_rows`` (a function of a tensor of training rows giving their view as
    numpy rows), the guide also runs on that view, and its clear partitions that are
    new to the rows' own (:func:`skmfc.guide.with_view_partitions`) are handed out
    after them.
    """
    n_clusters = list(config["n_clusters"])
    if isinstance(X_train, _ModelRows):  # read in pieces: fitted on a random subset
        partitions = guide_partitions_of_rows(
            lambda rows: X_train[rows].numpy(), len(X_train), n_clusters, random_state=seed)
    else:
        partitions = guide_partitions(X_train.cpu().numpy(), n_clusters, random_state=seed)
    if view_of_rows is not None:
        view_partitions = guide_partitions_of_rows(
            lambda rows: view_of_rows(X_train[torch.as_tensor(rows)]), len(X_train),
            n_clusters, random_state=seed)
        partitions = with_view_partitions(partitions, view_partitions, random_state=seed)
    labels = np.zeros((len(X_train), len(n_clusters)), dtype=np.int64)
    strength = np.zeros(len(n_clusters))
    for partition in np.flatnonzero(partitions.clear()):
        groups = int(partitions.n_groups[partition])
        free = [facet for facet in range(len(n_clusters))
                if strength[facet] == 0 and n_clusters[facet] >= groups]
        if not free:
            continue
        facet = min(free, key=lambda facet: (n_clusters[facet], -facet))
        n_clusters[facet], strength[facet] = groups, GUIDE_STRENGTH
        labels[:, facet] = partitions.labels[:, partition]
    if not strength.any():
        return config, None
    return (dict(config, n_clusters=tuple(n_clusters)),
            GuideConfig(labels=torch.as_tensor(labels, device=X_train.device),
                        strength=strength))


@dataclasses.dataclass(frozen=True)
class _Layout:
    """The shape of the network, as the parameters and the training data decide it."""

    architecture: str
    image_shape: tuple
    n_clusters: tuple
    latent_dims: tuple
    hidden_sizes: tuple


@dataclasses.dataclass(frozen=True)
class _TrainOptions:
    """The configuration of :func:`skmfc.training.train` that the estimator's parameters
    set, the same for every restart (the schedule and the guide may differ between
    restarts: the guide decides whether a restart is progressive)."""

    optimisation: OptimisationConfig
    priors: PriorConfig
    faults: FaultConfig
    engine: EngineConfig


class _ModelRows:
    """Validated X (a numpy array, or :class:`~skmfc.data.CheckedRows` read in pieces) as
    the input of a module, standardised (on the host, in ``dtype``) only for the rows
    read: what :mod:`skmfc.nn.inference` reads in chunks, and the row reader training
    streams (:mod:`skmfc.training.streaming`), without a standardised copy of all of X.
    """

    device = torch.device("cpu")

    def __init__(self, estimator, X, dtype):
        self.estimator, self.X, self.dtype = estimator, X, dtype
        self.chunk_rows = getattr(X, "chunk_rows", None)
        if estimator.architecture_ == "conv":
            height, width, channels = estimator.image_shape_
            self.shape = (len(X), channels, height, width)
        else:
            self.shape = (len(X), X.shape[1])

    def __len__(self):
        return len(self.X)

    def element_size(self):
        """Bytes per value of the rows given."""
        return torch.empty((), dtype=self.dtype).element_size()

    def __getitem__(self, rows):
        if torch.is_tensor(rows):
            rows = rows.cpu().numpy()
        values = self.X.read(rows) if isinstance(self.X, CheckedRows) else self.X[rows]
        return self.estimator._to_model_input(values, self.dtype, "cpu")


def _module_dtype(module):
    """The dtype of a module's weights, which its input must have."""
    return next(module.parameters()).dtype


def _dtype_of(X):
    """The numpy dtype of a dask array, refused with a clear error unless numeric."""
    dtype = np.dtype(X.dtype)
    if dtype.kind not in "biufc":
        raise ValueError(f"could not convert the dask array's values of type {dtype} to "
                         "float: X must hold numbers")
    return dtype


def _one_facet_flat(labels):
    """(n, J) labels in the shape users get: 1-D (n,) when there is a single facet."""
    return labels[:, 0] if labels.shape[1] == 1 else labels


def _to_numpy(tensor):
    """A tensor of the module as a float64 numpy array on the host."""
    return tensor.detach().cpu().double().numpy()


def _is_int(value):
    """Whether ``value`` is an integer and not a bool."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def _image_rows(X):
    """Image arrays as flat channel-last rows, with their (height, width, channels).

    (n, H, W) is grey; (n, H, W, C) and (n, C, H, W) are told apart by which axis has
    1, 3 or 4 entries (channel-last wins a tie). Anything that is not 3-D or 4-D is
    returned unchanged with ``None``.
    """
    ndim = getattr(X, "ndim", None)
    if ndim is None:
        try:
            ndim = np.ndim(X)
        except Exception:  # ragged nested lists: leave the error to validate_data
            return X, None
    if ndim not in (3, 4):
        return X, None
    images = np.asarray(X)
    if ndim == 3:
        images = images[..., np.newaxis]
    elif images.shape[-1] not in (1, 3, 4):
        if images.shape[1] not in (1, 3, 4):
            raise ValueError(f"cannot tell the channel axis of images of shape {images.shape}: "
                             "give (n, H, W, C) or (n, C, H, W) with 1, 3 or 4 channels")
        images = images.transpose(0, 2, 3, 1)
    return images.reshape(len(images), -1), tuple(int(v) for v in images.shape[1:])


def _robust_centre_and_scale(X):
    """Per-feature mean and one scale (root mean feature variance) of X, in float64.

    Data with very large or very small magnitudes are divided by their largest absolute
    value first, so that neither the squares nor the sums overflow or underflow; a scale
    of 0 (constant data) becomes 1. For :class:`~skmfc.data.CheckedRows` the moments are
    gathered block by block (:class:`~skmfc.data.RunningMoments`): exactly numpy's for
    data of one block, equal up to rounding for more.
    """
    if isinstance(X, CheckedRows):
        moments = X.moments()
        peak = max(abs(float(moments.min)), abs(float(moments.max)))
    else:
        peak = float(np.max(np.abs(X))) if X.size else 0.0
    if peak == 0.0 or _SAFE_MAGNITUDE[0] < peak < _SAFE_MAGNITUDE[1]:
        if isinstance(X, CheckedRows):
            offset, scale = moments.mean, float(np.sqrt(moments.var.mean()))
        else:
            offset = X.mean(axis=0, dtype=np.float64)
            scale = float(np.sqrt(X.var(axis=0, dtype=np.float64).mean()))
    elif isinstance(X, CheckedRows):
        unit = RunningMoments()
        for _, block in X.blocks():
            unit.add(np.asarray(block, dtype=np.float64) / peak)
        offset = unit.mean * peak
        scale = float(np.sqrt(unit.var.mean())) * peak
    else:
        unit = np.asarray(X, dtype=np.float64) / peak
        offset = unit.mean(axis=0) * peak
        scale = float(np.sqrt(unit.var(axis=0).mean())) * peak
    if not (math.isfinite(scale) and np.isfinite(offset).all()):
        raise ValueError(f"X cannot be standardised in float64 (largest magnitude {peak:.3g}); "
                         "rescale X")
    return offset, (scale if scale > 0.0 else 1.0)


def _check_finite_output(chunks, what, hint=None):
    """Raise a ValueError naming the rows for which the model gave inf or nan."""
    bad = np.concatenate([~np.isfinite(chunk).reshape(len(chunk), -1).all(axis=1)
                          for chunk in chunks])
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(
            f"{what} are not finite for {len(rows)} of {len(bad)} rows (first: "
            f"{rows[:5].tolist()}): "
            f"{hint or 'X holds values far outside the range of the training data'}")


def _unless_interrupted(history, what, compute, default):
    """``compute()``, or ``default`` when Ctrl-C interrupts it: once training has a model,
    Ctrl-C cuts a pass after training short (noted in ``history.skipped_passes``)
    instead of discarding the model."""
    try:
        return compute()
    except KeyboardInterrupt:
        history.skipped_passes.append(what)
        return default


def _from_host_copy(host_copy):
    """The module that :func:`skmfc.persistence._module_state` copied to host memory,
    ready for inference on its device; torch's global random state is left untouched by
    the new module's initialisation."""
    config, state, dtype, device = host_copy
    with torch.random.fork_rng(devices=[]):
        module, _ = _rebuild_module(config, state, dtype, device)
    return module

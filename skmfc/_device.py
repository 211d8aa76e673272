"""Device and precision policy: the one place that decides where and in what arithmetic
skmfc computes.

The estimator resolves its ``device`` and ``precision`` parameters here, training sets
its TF32 switches and autocast here, and persistence asks here whether a saved device
exists and how a module is readied for inference. Nothing here imports from the rest of
skmfc, so every layer can import it.
"""

import torch

# Arithmetic of the training steps (see MFCVAEClustering's ``precision``).
PRECISIONS = ("float32", "tf32", "bfloat16")
#: Matrix-product FLOPs of one training step from which ``precision="auto"`` trains in
#: bfloat16 on a CPU with bfloat16 units: on a 2-vCPU AMD EPYC with AVX512-BF16, steps
#: of 2 GFLOP or more ran 1.5-2.1x as fast in bfloat16, steps under 0.7 GFLOP at
#: 0.68-1.02x float32's speed (benchmarks/RESULTS.md, "bfloat16 on the CPU, second
#: look"). The default network on the facet suite's data does 0.3-0.7 GFLOP, the paper's
#: MNIST one 9.
AUTO_BFLOAT16_FLOPS = 2e9
# Training data larger than this fraction of a GPU's free memory stay in host memory.
DEVICE_DATA_FRACTION = 0.5


def resolve_device(device):
    """The torch.device that ``device`` asks for, failing clearly if it is absent.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"`` (CUDA when available, else the CPU), or anything ``torch.device``
        takes.

    Returns
    -------
    torch.device
        The device asked for.

    Raises
    ------
    ValueError
        When ``device`` names no device, or one that is not available here.
    """
    if isinstance(device, str) and device == "auto":
        # MPS only when asked for by name: skmfc is not tested on it.
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N', 'mps' or a "
                         f"torch.device, got {device!r}") from error
    if not device_available(resolved):
        raise ValueError(f"device {device!r} was asked for but is not available here; "
                         "use device='auto' or 'cpu'")
    return resolved


def device_available(device):
    """Whether the torch.device ``device`` exists on this machine.

    Parameters
    ----------
    device : torch.device
        The device.

    Returns
    -------
    bool
        True for the CPU, and for a CUDA or MPS device that torch can use here.
    """
    if device.type == "cpu":
        return True
    if device.type == "cuda":
        return torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        return mps is not None and mps.is_available()
    return False


def cuda_devices(device):
    """The CUDA device indices whose random state :func:`torch.random.fork_rng` must
    save for work on ``device`` (none off CUDA)."""
    return [device.index or 0] if device.type == "cuda" else []


def device_of(module):
    """The device of a module's parameters."""
    return next(module.parameters()).device


def resolve_precision(precision, device=None, flops_per_step=0):
    """The training arithmetic that ``precision`` asks for.

    ``"auto"`` is ``"bfloat16"`` on a CPU with bfloat16 units (:func:`cpu_has_bfloat16`)
    when a training step's matrix products take at least :data:`AUTO_BFLOAT16_FLOPS`,
    and float32, torch's own default, otherwise.

    Parameters
    ----------
    precision : {"auto", "float32", "tf32", "bfloat16"}
        What the user asked for.
    device : torch.device, optional
        The device training runs on; without it ``"auto"`` is float32.
    flops_per_step : float, default=0
        Floating-point operations of one training step's matrix products
        (:meth:`skmfc.nn.MFCVAE.linear_flops_per_sample` times the batch size).

    Returns
    -------
    str
        One of :data:`PRECISIONS`.
    """
    if precision == "auto":
        large_cpu_step = (device is not None and device.type == "cpu"
                          and flops_per_step >= AUTO_BFLOAT16_FLOPS)
        return "bfloat16" if large_cpu_step and cpu_has_bfloat16() else "float32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


def cpu_has_bfloat16():
    """Whether this CPU multiplies bfloat16 matrices in hardware (AVX512-BF16 or AMX)."""
    checks = (getattr(torch.cpu, "_is_avx512_bf16_supported", None),
              getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(check is not None and check() for check in checks)


def set_tensor_float32(matmul, cudnn):
    """Set torch's switches allowing TF32 tensor cores for CUDA matrix products and for
    convolutions; returns the switches as they were, for putting them back."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn
    return saved


def uses_tensor_float32(precision, device):
    """Whether training in ``precision`` on ``device`` switches TF32 on (only ``"tf32"``
    on CUDA; elsewhere TF32 does not exist and ``"tf32"`` is float32)."""
    return precision == "tf32" and device.type == "cuda"


def autocast(device, precision):
    """The autocast context of a training step: bfloat16 for ``"bfloat16"``, a disabled
    one (plain float32) otherwise."""
    return torch.autocast(device.type, dtype=torch.bfloat16,
                          enabled=precision == "bfloat16", cache_enabled=False)


def uses_cuda_graphs(device):
    """Whether training on ``device`` captures its steps as CUDA graphs (on CUDA)."""
    return device.type == "cuda"


def fits_on_device(n_bytes, device):
    """Whether training data of ``n_bytes`` should live on ``device``: always off CUDA,
    and on a GPU when they take at most ``DEVICE_DATA_FRACTION`` of its free memory
    (larger data stream to it from host memory)."""
    if device.type != "cuda":
        return True
    free_bytes, _ = torch.cuda.mem_get_info(device)
    return n_bytes <= DEVICE_DATA_FRACTION * free_bytes


def for_inference(module):
    """Eval mode; float64 on the CPU, where it costs little and makes predictions
    independent of how rows are batched (float32 sums differ in the last bits)."""
    module.eval()
    if device_of(module).type == "cpu":
        module.double()
    return module

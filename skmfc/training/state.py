"""The optimiser and the state training rolls back to: Adam, its learning rate, and
snapshots of the weights and optimizer moments with their finiteness."""

import torch

from skmfc._device import device_of


def _adam(module, learning_rate, capturable=False):
    """Adam with the fused implementation (one kernel for all parameters) where torch
    has it for the module's device, the multi-tensor one elsewhere. ``capturable``
    keeps the step count and the learning rate on the device, for CUDA graphs."""
    if capturable:
        return torch.optim.Adam(module.parameters(), fused=True, capturable=True,
                                lr=torch.tensor(float(learning_rate), device=device_of(module)))
    try:
        return torch.optim.Adam(module.parameters(), lr=learning_rate, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(module.parameters(), lr=learning_rate)


def _set_learning_rate(optimizer, learning_rate):
    for group in optimizer.param_groups:
        if torch.is_tensor(group["lr"]):
            group["lr"].fill_(learning_rate)
        else:
            group["lr"] = learning_rate


def _snapshot(module, optimizer):
    """Copies of the module's weights and of the optimizer's per-parameter state."""
    return ({key: value.detach().clone() for key, value in module.state_dict().items()},
            [{key: value.clone() if torch.is_tensor(value) else value
              for key, value in optimizer.state[parameter].items()}
             for parameter in _parameters(optimizer)])


def _restore(module, optimizer, snapshot):
    """Copy a :func:`_snapshot` back *into* the existing tensors.

    In place, because a captured CUDA graph keeps reading the tensors it was captured
    with. An optimizer state that did not exist at the snapshot is zeroed, which for
    Adam (zero moments, step 0) is the same as no state.
    """
    module_state, optimizer_state = snapshot
    module.load_state_dict(module_state)
    with torch.no_grad():
        for parameter, saved in zip(_parameters(optimizer), optimizer_state):
            for key, value in optimizer.state[parameter].items():
                if not torch.is_tensor(value):
                    optimizer.state[parameter][key] = saved.get(key, value)
                elif key in saved:
                    value.copy_(saved[key])
                else:
                    value.zero_()
    optimizer.zero_grad(set_to_none=True)


def _parameters_finite(module):
    """Whether every weight is finite, as a 0-d bool tensor on the module's device (no
    synchronisation)."""
    return _all_finite(module.parameters())


def _snapshot_finite(snapshot):
    """Whether every floating-point value of a :func:`_snapshot` (weights, buffers and
    optimizer state) is finite: only such a snapshot is worth rolling back to."""
    module_state, optimizer_state = snapshot
    tensors = [*module_state.values(),
               *(value for state in optimizer_state for value in state.values()
                 if torch.is_tensor(value))]
    return bool(_all_finite(tensor for tensor in tensors if tensor.is_floating_point()))


def _all_finite(tensors):
    """Whether every value of ``tensors`` is finite, as a 0-d bool tensor. Summing each
    tensor first takes one pass and no temporary; a nan or inf anywhere makes the sum
    non-finite (finite values could only overflow it beyond 3e38 in float32, which no
    usable network has)."""
    sums = [tensor.detach().sum().float() for tensor in tensors]
    if not sums:
        return torch.ones((), dtype=torch.bool)
    return torch.isfinite(torch.stack([total.to(sums[0].device) for total in sums]).sum())


def _parameters(optimizer):
    return [parameter for group in optimizer.param_groups for parameter in group["params"]]

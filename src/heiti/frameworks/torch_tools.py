"""PyTorch helpers: rebuilding a module from an artifact, counting parameters and MACs."""

from __future__ import annotations

import pickle
import random

import numpy as np
import torch

from heiti import registry
from heiti.core.artifact import Artifact
from heiti.errors import InputError


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def load_module(model: Artifact) -> torch.nn.Module:
    """Rebuild the network named in the sidecar and load its weights (no pickled code)."""
    details = model.provenance.details
    try:
        cls = registry.get("model", details["architecture"]["type"])
        builder = cls(details["architecture"]["parameters"])
        module = builder.build(tuple(details["input_shape"]), int(details["num_classes"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"sidecar of '{model.path}' lacks a valid architecture field ({exc})",
                         hint=f"remove '{model.path.name}' and its sidecar, or retrain with "
                              "'heiti train --force'") from None
    try:
        state = torch.load(model.path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # never pass on torch's advice to load it unrestricted: that runs the file's code
        raise InputError(f"'{model.path}' holds more than tensors (pickled objects, which could "
                         "run code when loaded): heiti refuses to load it",
                         hint="use weights saved by heiti (a state_dict of tensors), or retrain "
                              "with 'heiti train --force'") from None
    except (RuntimeError, OSError, ValueError, EOFError) as exc:
        raise InputError(f"cannot load weights from '{model.path}': {exc}") from None
    try:
        module.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise InputError(f"cannot load weights from '{model.path}': {exc}") from None
    return module.eval()


def parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def mac_count(module: torch.nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of Conv2d and Linear layers for one sample."""
    total = 0

    def conv_hook(layer: torch.nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        per_output = (layer.in_channels // layer.groups) * layer.kernel_size[0] * layer.kernel_size[1]
        total += output[0].numel() * per_output

    def linear_hook(layer: torch.nn.Linear, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        total += output[0].numel() * layer.in_features

    hooks = []
    for layer in module.modules():
        if isinstance(layer, torch.nn.Conv2d):
            hooks.append(layer.register_forward_hook(conv_hook))
        elif isinstance(layer, torch.nn.Linear):
            hooks.append(layer.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            module.eval()(torch.zeros((1, *input_shape)))
    finally:
        for hook in hooks:
            hook.remove()
    return total

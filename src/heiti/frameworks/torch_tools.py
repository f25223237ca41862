"""PyTorch helpers: rebuilding a module from an artifact, counting parameters and MACs."""

from __future__ import annotations

import pickle
import random

import numpy as np
import torch

from heiti import registry
from heiti.core.artifact import Artifact
from heiti.errors import InputError, MissingExtraError


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
    if details.get("pruning_history"):
        try:
            replay_pruning(module, tuple(details["input_shape"]), details["pruning_history"])
        except (AttributeError, IndexError, KeyError, RuntimeError, TypeError, ValueError) as exc:
            raise InputError(f"the pruning history in the sidecar of '{model.path}' does not fit "
                             f"its architecture ({type(exc).__name__}: {str(exc)[:200]})",
                             hint="rerun the chain from the unpruned model ('heiti optimize --force')"
                             ) from None
    try:
        module.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise InputError(f"cannot load weights from '{model.path}': {exc}") from None
    return module.eval()


def replay_pruning(module: torch.nn.Module, input_shape: tuple[int, ...], history: list) -> None:
    """Shrink a freshly built network as the prune optimizer did, step by step, so that its
    pruned weights fit (torch-pruning's own way of loading a pruned model)."""
    try:
        import torch_pruning as tp
    except ImportError:
        raise MissingExtraError("prune", "prune", "torch_pruning") from None
    graph = tp.DependencyGraph().build_dependency(module.eval(), torch.zeros((1, *input_shape)))
    graph.load_pruning_history([(name, bool(out), list(index)) for name, out, index in history])


def parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def mac_count(module: torch.nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of convolution (1-D to 3-D, transposed too) and Linear layers
    for one sample."""
    total = 0

    def conv_hook(layer: torch.nn.modules.conv._ConvNd, inputs, output: torch.Tensor) -> None:
        nonlocal total
        kernel = int(np.prod(layer.kernel_size))
        if layer.transposed:  # every input value meets out_channels / groups kernels
            total += inputs[0][0].numel() * (layer.out_channels // layer.groups) * kernel
        else:
            total += output[0].numel() * (layer.in_channels // layer.groups) * kernel

    def linear_hook(layer: torch.nn.Linear, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        total += output[0].numel() * layer.in_features

    hooks = []
    for layer in module.modules():
        if isinstance(layer, torch.nn.modules.conv._ConvNd):
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


class SharedValues(torch.nn.Module):
    """A weight whose entries are trainable centroids picked by fixed indices (a
    parametrization): the gradient of every weight in a cluster moves its one centroid."""

    def __init__(self, centroids: np.ndarray, index: np.ndarray, shape: tuple[int, ...]):
        super().__init__()
        self.centroids = torch.nn.Parameter(torch.from_numpy(centroids))
        self.register_buffer("index", torch.from_numpy(index).reshape(shape))

    def forward(self, _original: torch.Tensor) -> torch.Tensor:
        return self.centroids[self.index]

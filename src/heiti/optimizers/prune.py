"""Structured channel pruning of PyTorch models with torch-pruning's dependency graph."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from heiti.core.artifact import Artifact
from heiti.core.steps import StepContext
from heiti.errors import InputError
from heiti.optimizers.torch_to_torch import FineTuneParams, TorchToTorch, modules_by_name


class PruneParams(FineTuneParams):
    keep: float = Field(0.5, gt=0, lt=1, description="share of the model's MACs (or parameters, "
                        "see 'measure') the pruned model keeps")
    measure: Literal["macs", "parameters"] = Field("macs", description="what 'keep' counts")
    importance: Literal["magnitude", "taylor"] = Field(
        "magnitude", description="which channels go first: magnitude (L2 norm of each channel's "
        "weights across the layers it couples) or taylor (|weight x gradient| of the task's loss "
        "on training batches)")
    steps: int = Field(3, ge=1, le=20, description="prune in this many steps, fine-tuning after each")
    global_ranking: bool = Field(False, description="rank channels across layers (layers shrink "
                                 "unevenly) instead of the same share in every layer")
    max_layer_fraction: float = Field(0.8, gt=0, lt=1, description="no layer loses more than "
                                      "this share of its channels")
    layers: dict[str, float] = Field({}, description="fixed share of channels to remove per "
                                     "module name (e.g. {'0': 0.25}); the rest meet 'keep'")
    ignore: list[str] = Field([], description="module names never pruned (the layers that make "
                              "the model's outputs are kept whole anyway)")
    round_to: int | None = Field(None, ge=1, description="keep channel counts multiples of this "
                                 "(SIMD widths)")
    taylor_batches: int = Field(8, ge=1, description="training batches whose gradients rank "
                                "channels (taylor)")


class Prune(TorchToTorch):
    """Removes whole filters and everything that depends on them (the next layer's inputs,
    batch norm, residual adds, depthwise groups) until the model keeps 'keep' of its MACs or
    parameters, in steps with fine-tuning on the task's own loss: the exported model is
    smaller and faster on every runtime. MACs and parameters before and after are recorded."""

    name = "prune"
    Params = PruneParams
    requires = ("torch", "torch_pruning")
    extra = "prune"

    def optimize(self, model: Artifact, output: Path, ctx: StepContext) -> Artifact:
        import torch

        from heiti.frameworks.torch_tools import load_module
        from heiti.frameworks.torch_training import fine_tune

        started = time.perf_counter()
        p = self.params
        module = load_module(model)
        shape = tuple(model.provenance.details["input_shape"])
        names = [spec.name for spec in model.io.outputs]
        example = torch.zeros((1, *shape))
        before = _counts(module, shape)
        goal = before[p.measure] * p.keep
        protected = _protected_layers(module, example, p.ignore)
        self._compute_gradients(module, ctx, names)
        ratio = self._ratio_for(module, example, protected, shape, goal)
        pruner = self._pruner(module, example, protected, ratio, p.steps)
        history: list[dict[str, Any]] = []
        for step in range(1, p.steps + 1):
            self._compute_gradients(module, ctx, names)
            pruner.step()
            module.zero_grad(set_to_none=True)
            result = fine_tune(module, ctx, p, names)
            counts = _counts(module, shape)
            history.append({"step": step, **counts,
                            "val_score": None if result is None else result.best_val_score})
            ctx.log(f"prune: step {step}/{p.steps}: {counts['macs']:,} MACs, "
                    f"{counts['parameters']:,} parameters"
                    + ("" if result is None or result.best_val_score is None
                       else f", validation score {result.best_val_score:.4f}"))
        after = _counts(module, shape)
        earlier = model.provenance.details.get("pruning_history", [])
        steps = [[name, bool(out), [int(i) for i in index]]
                 for name, out, index in pruner.pruning_history()]
        return self.save(module.eval(), output, model, started, {
            "pruning_history": earlier + steps, "channel_ratio": round(ratio, 4),
            "macs_before": before["macs"], "macs_after": after["macs"],
            "parameters_before": before["parameters"], "parameters_after": after["parameters"],
            "kept": round(after[p.measure] / before[p.measure], 4), "steps": history})

    def _compute_gradients(self, module: Any, ctx: StepContext, names: list[str]) -> None:
        """Taylor importance reads each weight's gradient of the task's loss."""
        if self.params.importance != "taylor":
            return
        import numpy as np
        import torch

        from heiti.frameworks.torch_training import named

        data, task = ctx.dataset.split("train"), ctx.dataset.task
        order = np.random.default_rng(ctx.seed).permutation(len(data))
        module.eval().zero_grad(set_to_none=True)
        size = self.params.batch_size
        for b in range(min(self.params.taylor_batches, -(-len(data) // size))):
            index = order[b * size : (b + 1) * size]
            inputs = {k: torch.from_numpy(v[index]) for k, v in data.inputs.items()}
            outputs = named(module(*inputs.values()), names)
            task.loss(inputs, outputs, task.select(data.truth, index)).backward()

    def _pruner(self, module: Any, example: Any, protected: list[Any], ratio: float, steps: int) -> Any:
        import torch_pruning as tp

        p = self.params
        by_name = modules_by_name(module, p.layers, self.name)
        importance = (tp.importance.TaylorImportance() if p.importance == "taylor"
                      else tp.importance.MagnitudeImportance(p=2))
        return tp.pruner.BasePruner(
            module, example, importance=importance, pruning_ratio=ratio, iterative_steps=steps,
            pruning_ratio_dict={by_name[n]: share for n, share in p.layers.items()},
            max_pruning_ratio=p.max_layer_fraction, global_pruning=p.global_ranking,
            ignored_layers=protected, round_to=p.round_to)

    def _ratio_for(self, module: Any, example: Any, protected: list[Any], shape: tuple[int, ...],
                   goal: float) -> float:
        """The smallest channel share whose one-shot pruning meets the goal, by bisection
        on copies (MACs fall monotonically as the share grows)."""
        p = self.params

        def reached(ratio: float) -> float:
            trial = copy.deepcopy(module)
            for mine, theirs in zip(trial.parameters(), module.parameters(), strict=True):
                mine.grad = None if theirs.grad is None else theirs.grad.clone()
            kept = {id(m): n for n, m in module.named_modules()}
            by_name = dict(trial.named_modules())
            self._pruner(trial, example, [by_name[kept[id(m)]] for m in protected], ratio, 1).step()
            return _counts(trial, shape)[p.measure]

        low, high = 0.0, p.max_layer_fraction
        if reached(high) > goal:
            raise InputError(f"prune: removing {p.max_layer_fraction:.0%} of every layer's channels "
                             f"still leaves more than {p.keep:.0%} of the model's {p.measure}",
                             hint="raise 'max_layer_fraction' or 'keep', or prune fewer 'ignore' layers")
        for _ in range(12):
            middle = (low + high) / 2
            low, high = (middle, high) if reached(middle) > goal else (low, middle)
        return high


def _counts(module: Any, shape: tuple[int, ...]) -> dict[str, int]:
    from heiti.frameworks.torch_tools import mac_count, parameter_count

    return {"macs": mac_count(module, shape), "parameters": parameter_count(module)}


def _protected_layers(module: Any, example: Any, ignore: list[str]) -> list[Any]:
    """Layers whose output channels are the model's outputs (a classifier's logits, a
    reconstruction), the last layer with weights, and the ones the user named."""
    import torch

    by_name = modules_by_name(module, ignore, "prune")
    weighted = [m for m in module.modules()
                if isinstance(m, torch.nn.Linear | torch.nn.modules.conv._ConvNd)]
    made: dict[int, tuple[Any, Any]] = {}  # data pointer -> (layer, its output kept alive)

    def remember(layer: Any, _inputs: Any, output: Any) -> None:
        made[output.data_ptr()] = (layer, output)

    hooks = [m.register_forward_hook(remember) for m in weighted]
    try:
        with torch.no_grad():
            outputs = module.eval()(example)
    finally:
        for hook in hooks:
            hook.remove()
    outputs = outputs if isinstance(outputs, tuple | list) else (outputs,)
    protected = [made[o.data_ptr()][0] for o in outputs if o.data_ptr() in made]
    protected += [weighted[-1]] if weighted else []
    protected += [by_name[n] for n in ignore]
    return list({id(m): m for m in protected}.values())

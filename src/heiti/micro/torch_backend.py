"""Window primitives of the golden model in PyTorch, exact: integer tensors are
convolved in float64, whose 53-bit mantissa holds every int8 x int8 sum the
semantics allow (|acc| < 2^31), then converted back to int64."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


class TorchBackend:
    @staticmethod
    def asarray(array: Any) -> torch.Tensor:
        if isinstance(array, torch.Tensor):
            return array.long()
        return torch.from_numpy(np.asarray(array, dtype=np.int64))

    @staticmethod
    def conv_sums(x: torch.Tensor, weight: torch.Tensor, stride: int, pad: int, groups: int,
                  dilation: int = 1) -> torch.Tensor:
        out = F.conv2d(x.double(), weight.double(), stride=stride, padding=pad, dilation=dilation,
                       groups=groups)
        return out.round().long()

    @staticmethod
    def max_pool(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
        return F.max_pool2d(x.double(), kernel, stride).long()

    @staticmethod
    def sum_pool(x: torch.Tensor, kh: int, kw: int, stride: int) -> torch.Tensor:
        return F.avg_pool2d(x.double(), (kh, kw), stride, divisor_override=1).round().long()

"""A small anchor-free single-shot detector: centre heatmaps and box edges per cell."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from pydantic import Field

from heiti.core.component import Params
from heiti.models.torch_model import TorchModel


class CenterDetectorParams(Params):
    stem: list[int] = Field([16, 32], min_length=1, description="output channels of the stride-2 "
                            "convolutions that shrink the image (one per halving)")
    width: int = Field(32, ge=4, description="channels of the body and of each head")
    dilations: list[int] = Field([1, 2, 4, 1], min_length=1, description="dilation of each 3x3 "
                                 "body convolution: widens the view without shrinking the map")
    score_threshold: float = Field(0.05, ge=0, lt=1, description="post-processing: lowest score kept")
    iou_threshold: float = Field(0.6, gt=0, le=1, description="post-processing: class-wise NMS "
                                 "overlap above which the lower-scored box is dropped")
    max_detections: int = Field(100, ge=1, description="post-processing: boxes kept per image")


class CenterDetector(TorchModel):
    """CenterNet/FCOS-style detector: a strided conv stem, dilated 3x3 conv body, and two
    heads per output cell: ``heatmap`` (a sigmoid score per class that an object's centre
    lies in the cell) and ``ltrb`` (ReLU distances from the cell centre to the box edges,
    in cells). The graph ends at these raw head outputs; decoding and class-wise NMS are
    the ``center_boxes`` post-processing, run after inference outside the timed region."""

    name = "center-detector"
    Params = CenterDetectorParams
    output_names: ClassVar[tuple[str, ...]] = ("heatmap", "ltrb")

    def build(self, input_shape: tuple[int, ...], num_classes: int) -> Any:
        import torch
        from torch import nn

        def conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation,
                              bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        layers: list[nn.Module] = []
        channels = input_shape[0]
        for out in self.params.stem:
            layers += conv(channels, out, stride=2)
            channels = out
        for dilation in self.params.dilations:
            layers += conv(channels, self.params.width, dilation=dilation)
            channels = self.params.width
        width = self.params.width

        class Detector(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.body = nn.Sequential(*layers)
                self.heat = nn.Sequential(*conv(width, width), nn.Conv2d(width, num_classes, 1))
                self.box = nn.Sequential(*conv(width, width), nn.Conv2d(width, 4, 1))
                # start from a low centre probability (focal-loss prior) and mid-sized boxes
                nn.init.constant_(self.heat[-1].bias, -math.log((1 - 0.1) / 0.1))
                nn.init.constant_(self.box[-1].bias, 1.0)

            def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                features = self.body(x)
                return torch.sigmoid(self.heat(features)), torch.relu(self.box(features))

        return Detector()

    def postprocess(self) -> dict[str, Any]:
        p = self.params
        return {"type": "center_boxes", "parameters": {
            "score_threshold": p.score_threshold, "iou_threshold": p.iou_threshold,
            "max_detections": p.max_detections}}

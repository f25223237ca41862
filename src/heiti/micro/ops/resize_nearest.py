"""resize_nearest: TFLite's RESIZE_NEAREST_NEIGHBOR. Which input row and column each output
row and column copies depends only on the sizes and the ``align_corners`` and
``half_pixel_centers`` options; the importer computes them as TFLM does (in float32) and the
operator carries them as index arrays, so the device only copies."""

from __future__ import annotations

import numpy as np

from heiti.micro.ops import Unit, integer_op, register


def nearest(out_size: int, in_size: int, align_corners: bool, half_pixel_centers: bool) -> np.ndarray:
    """TFLM's GetNearestNeighbor for every output position (int32)."""
    f32 = np.float32
    scale = (f32(in_size - 1) / f32(out_size - 1) if align_corners and out_size > 1
             else f32(in_size) / f32(out_size))
    position = (np.arange(out_size, dtype=f32) + f32(0.5 if half_pixel_centers else 0.0)) * scale
    index = np.floor(position)
    if align_corners:  # TfLiteRound: half away from zero (positions are not negative)
        index += position - index >= f32(0.5)
    index = np.minimum(index, in_size - 1)
    return np.maximum(index, 0).astype(np.int32) if half_pixel_centers else index.astype(np.int32)


@register
class ResizeNearest(Unit):
    kind = "resize_nearest"
    arrays = ("rows", "cols")  # the input row (column) of each output row (column)
    c_files = ("resize_nearest.c",)

    def infer_shape(self, shapes, attrs, arrays):
        return shapes[0][0], len(arrays["rows"]), len(arrays["cols"])

    def float_run(self, op, inputs, graph):
        return inputs[0][:, :, op.arrays["rows"]][:, :, :, op.arrays["cols"]]

    def run(self, op, inputs, backend, scheme):
        rows, cols = (backend.asarray(op.arrays[k]) for k in ("rows", "cols"))
        return inputs[0][:, :, rows][:, :, :, cols]

    def quantize(self, op, graph, scales, scheme):
        return integer_op(op, arrays=op.arrays)  # the index tables stay

    def quantize_tflite(self, op, graph, params, scheme):
        return integer_op(op, arrays=op.arrays)

    def train_forward(self, op, inputs, graph, weight=None, bias=None):
        return self.float_run(op, inputs, graph)

    def emit_c(self, e):
        c, h, w = e.graph.tensors[e.op.inputs[0]].shape
        _, oh, ow = e.graph.tensors[e.op.output].shape
        return e.arrays(), (f"hm_resize_nearest({e.src}, {e.out}, {c}, {h * w}, {w}, {oh}, {ow}, "
                            f"{e.name}_rows, {e.name}_cols);")

"""The inference loop: batching, warm-up exclusion, repeated timed passes."""

import numpy as np

from heiti.core.steps import Runtime
from heiti.pipeline.inference import run_inference
from heiti.pipeline.measurements import performance_section


class CountingRuntime(Runtime):
    """A pure-Python runtime (doubles its input) that counts its calls: the loop is under test here."""

    name = "counting"

    def __init__(self):
        self.calls = 0

    def infer(self, prepared):
        self.calls += 1
        return prepared

    def outputs(self, raw):
        return {"double": raw["x"] * 2}


class TwoByTwoRuntime(Runtime):
    """Two named inputs, two named outputs: every tensor must reach the loop's result."""

    name = "two-by-two"

    def infer(self, prepared):
        return {"sum": prepared["a"] + prepared["b"], "product": prepared["a"] * prepared["b"]}

    def outputs(self, raw):
        return raw


def test_single_pass_times_each_batch_once_and_excludes_warmup():
    runtime = CountingRuntime()
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    loop = run_inference(runtime, {"x": x}, batch_size=3, warmup=5, show_progress=False)
    assert runtime.calls == 5 + 4                       # warm-up + ceil(10 / 3) batches
    assert loop.passes == 1 and len(loop.latencies_ns) == 4
    np.testing.assert_array_equal(loop.outputs["double"], x * 2)
    assert np.all(np.diff(loop.offsets_s) >= 0)


def test_every_named_input_is_batched_and_every_output_kept():
    a = np.arange(7, dtype=np.float32).reshape(7, 1)
    b = np.arange(7, 14, dtype=np.int64).reshape(7, 1)
    loop = run_inference(TwoByTwoRuntime(), {"a": a, "b": b}, batch_size=2, warmup=1,
                         show_progress=False)
    assert set(loop.outputs) == {"sum", "product"}
    np.testing.assert_array_equal(loop.outputs["sum"], a + b)
    np.testing.assert_array_equal(loop.outputs["product"], a * b)


def test_min_duration_repeats_whole_passes_and_keeps_first_pass_outputs():
    runtime = CountingRuntime()
    x = np.arange(4, dtype=np.float32).reshape(4, 1)
    loop = run_inference(runtime, {"x": x}, batch_size=1, warmup=0, show_progress=False,
                         min_duration_s=0.05)
    assert loop.passes > 1
    assert len(loop.latencies_ns) == 4 * loop.passes == runtime.calls
    assert loop.wall_s >= 0.05
    np.testing.assert_array_equal(loop.outputs["double"], x * 2)  # quality sees each sample once
    section = performance_section(loop, warmup=0)
    assert section.samples == 4 and section.passes == loop.passes
    assert section.batches == 4 * loop.passes
    expected = 4 * loop.passes / (loop.latencies_ns.sum() / 1e9)
    assert abs(section.throughput_sps - expected) < 1e-6 * expected


class PipelinedRuntime(CountingRuntime):
    """Records the order of early hand-overs and calls, as a remote link would see them."""

    name = "pipelined"
    pipelined = True

    def __init__(self):
        super().__init__()
        self.wire: list[tuple[str, float]] = []

    def send_ahead(self, prepared):
        self.wire.append(("ahead", float(prepared["x"][0, 0])))

    def infer(self, prepared):
        self.wire.append(("infer", float(prepared["x"][0, 0])))
        return super().infer(prepared)


def test_a_pipelined_runtime_gets_each_input_one_call_early_and_in_order():
    runtime = PipelinedRuntime()
    x = np.arange(4, dtype=np.float32).reshape(4, 1)
    loop = run_inference(runtime, {"x": x}, batch_size=1, warmup=0, show_progress=False)
    np.testing.assert_array_equal(loop.outputs["double"], x * 2)
    assert runtime.wire == [("ahead", 0), ("ahead", 1), ("infer", 0), ("ahead", 2), ("infer", 1),
                            ("ahead", 3), ("infer", 2), ("infer", 3)]

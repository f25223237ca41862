"""heiti micro: deployment-exact int8 models for microcontrollers (docs/micro.md).

graph.py       the integer graph and its file format (micro-int8)
golden.py      the exact integer semantics: NumPy interpreter, backend-neutral operators
torch_backend.py  the same window sums in PyTorch, for QAT's evaluation mode
floatgraph.py  the graph with float weights, built by from_torch.py and onnx_import.py
quantize.py    float graph + ranges -> integer graph (power-of-two or per-channel)
qat.py         quantization-aware training
planner.py     static arena planning; codegen.py C99 generation; build.py compiling
c/             the C99 kernel library
"""

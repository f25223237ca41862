"""CLI commands, one module each; ``heiti.cli`` registers every module found here.

ORDER only sorts the help listing; modules not named in it come last.
"""

ORDER = {"run": 0, "steps": 1, "report": 2, "catalog": 3, "server": 4, "matrix": 5, "onnx_grid": 6,
         "flow": 7, "workflow": 8, "automl": 9,
         "benchmark": 10, "package": 11}

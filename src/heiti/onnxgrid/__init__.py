"""The ONNX conversion support grid: models exported from each framework to ONNX and
imported back, both checked numerically against ONNX Runtime.

A framework is one module here with a ``GridFramework`` subclass; ``frameworks()`` finds them.
"""

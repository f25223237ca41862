"""Interfaces and shared types. Nothing here imports torch, onnx or any other framework."""

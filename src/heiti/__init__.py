"""heiti: deploy neural networks on edge devices and measure how they run there."""

__version__ = "0.1.0"

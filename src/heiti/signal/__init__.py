"""Signal features computed from windows of sensor samples (spectra)."""

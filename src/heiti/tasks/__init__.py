"""Built-in tasks, one file each: classification, detection, anomaly detection."""

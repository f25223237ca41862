"""Flow transforms, one file each: preprocessing before the model, postprocessing after it."""

"""Layer 2, files: reading data files, validating matrices, run folders and their locks."""

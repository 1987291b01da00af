"""The machinery under the API: devices, scaling, training, metrics and model files. Imports torch."""

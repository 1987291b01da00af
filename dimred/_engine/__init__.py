"""Layer 3b, the machinery under the API: devices, scaling, training, evaluation, checkpoints and model files.

Imports torch; never imports the plugin host (plugins arrive here as instances)."""

"""Layer 1, the vocabulary every other layer shares: plugin contracts and hooks, options, settings, errors.

Imports nothing else of dimred. Only ``networks`` and ``measures`` import torch, and only when used.
"""

"""Layer 1, the vocabulary every other layer shares: plugin contracts and hooks, options, settings, errors.

Imports nothing else of dimred. Of its modules ``networks``, ``measures`` and ``graphs`` import torch, and only
when used.
"""

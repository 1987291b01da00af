"""dimred's built-in plugins.

Installed as ``dimred.plugins``; each module is registered through the ``dimred`` entry-point group exactly as a
third-party plugin would be, so deleting one module and its entry point leaves the rest working.
"""

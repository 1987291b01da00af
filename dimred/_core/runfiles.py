"""The files dimred keeps in a run folder for itself while a run is unfinished: not results to hand on."""

FAILED_MARKER = "FAILED.txt"  # says why the run did not finish, and how to continue it
CHECKPOINT_NAME = "checkpoint.safetensors"  # the engine's checkpoint file: dropped when a failed run is replaced
UNFINISHED_RUN_FILES = frozenset({FAILED_MARKER, CHECKPOINT_NAME})

"""The files dimred keeps in a run folder: its results, and those it keeps for itself while a run is unfinished."""

MODEL_FILE = "model.safetensors"  # the trained model: weights, scaler, and what rebuilds it
CONFIG_FILE = "config.json"  # the settings a run was made with, which --config and --resume read back
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
HELD_OUT_FILE = "held_out_rows.csv"  # the rows the holdout.* figures cover
FAILED_MARKER = "FAILED.txt"  # says why the run did not finish, and how to continue it
CHECKPOINT_NAME = "checkpoint.safetensors"  # the engine's checkpoint file: dropped when a failed run is replaced
CHECKPOINT_FORMAT = "dimred-checkpoint"  # its safetensors metadata's "format", which tells it from a user's file
MANIFEST_NAME = ".dimred-files.json"  # the files the run wrote, which --overwrite removes
LOCK_NAME = ".dimred.lock"
EVALUATIONS_FOLDER = "evaluations"  # RUN/evaluations/DATASET-TIME: dimred evaluate's folders for the run's model
UNFINISHED_RUN_FILES = frozenset({FAILED_MARKER, CHECKPOINT_NAME})
RUN_RESULTS = (CONFIG_FILE, MODEL_FILE, HISTORY_FILE, METRICS_FILE, HELD_OUT_FILE)  # a run's own results
# what no reporter's artifact may replace
DIMREDS_OWN_FILES = frozenset({*RUN_RESULTS, MANIFEST_NAME, LOCK_NAME, *UNFINISHED_RUN_FILES})
COMPARISON_MARKDOWN, COMPARISON_CSV, COMPARISON_JSON = "comparison.md", "comparison.csv", "comparison.json"
COMPARISON_TABLE_FILES = (COMPARISON_MARKDOWN, COMPARISON_CSV, COMPARISON_JSON)
COMPARISON_FIGURE_FILES = ("embeddings.png", "rnx.png")
COMPARISON_CONFIGS_FILE = "configs.json"  # each run's settings, as its config.json would record them
COMPARISON_RESULTS = (
    *COMPARISON_TABLE_FILES,
    COMPARISON_CONFIGS_FILE,
    *COMPARISON_FIGURE_FILES,
)  # a comparison's own results
MODELS_FOLDER = "models"  # compare --save: each model's seed-0 fit as models/MODEL.safetensors
# what no reporter's artifact may replace in a comparison's folder
COMPARISONS_OWN_FILES = frozenset({*COMPARISON_RESULTS, MANIFEST_NAME, LOCK_NAME, FAILED_MARKER})

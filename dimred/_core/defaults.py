"""Default training settings, shared by the CLI and the library so both behave the same.

Chosen with the time-to-quality benchmark: with the reference tutorial's network on its swiss roll, Adam at a
peak learning rate of 0.05 under a one-cycle schedule, minibatches of 750 and 1500 steps reach the tutorial's
quality (eval-mode RMSE <= 0.066, trustworthiness >= 0.985) in about 3.5 s of training on two CPU cores, where
the tutorial's full-batch loop at lr 1e-3 needs 5000 epochs (45 s). 1500 steps met both on all of seeds 0-9;
1200 missed the trustworthiness on 2 of them. The step count does not grow with the data: at 10^6 points
1500 steps are about one epoch.
"""

STEPS = 1500
BATCH_SIZE = 750
LR = 0.05
SCHEDULE = "onecycle"
DTYPE = "float32"
PRECISION = "auto"
OPTIMIZER = "auto"
SCALER = "minmax"
DEVICE = "auto"
SEED = 0
ONNX_OPSET = 17  # the ONNX opset dimred export writes unless told otherwise

# The allowed values, listed here so the CLI can offer them without importing torch.
SCHEDULES = ("onecycle", "constant")
DTYPES = ("float32", "float64")
PRECISIONS = ("auto", "float32", "bf16")
OPTIMIZERS = ("auto", "adam", "muon")
SCALERS = ("minmax", "standard", "none")
DEVICES = ("auto", "cpu", "cuda", "mps")
EXACT_KNN_ROWS = 10_000  # kNN graphs exact up to here: as fast as faiss at 5 000 rows, 4-5x slower at 20 000
MUON_MIN_SIDE = 16  # optimizer muon steps the weight matrices with both sides at least this; Adam the rest
SYMMETRISATIONS = ("union", "mean")  # how a fuzzy kNN graph's memberships become one weight per pair

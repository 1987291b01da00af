"""Loaded before the tests' own conftest files, so before torch is imported.

The README's test command runs the suite in parallel processes (pytest-xdist's ``-n``). Each then computes on one
thread: torch (OpenMP), numpy's BLAS and umap-learn's numba otherwise start one thread per core in every process,
whose spin-waits take the cores from each other (docs/performance.md, "On shared cores").
"""

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    for variable in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    # numpy's BLAS may have started already (a pytest plugin of anndata's zarr imports numpy): limited now
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)

"""Layer 4, the library API: runs, evaluation, comparison, the Reducer, file encoding; one pipeline under all."""

"""Writes the codes of the training data to codes.csv in the run directory."""

from __future__ import annotations

import numpy as np

from dimred.plugin import Reporter, RunRecord, hookimpl


class CodesCsv(Reporter):
    name = "codes-csv"
    description = "codes.csv: one row of codes per training sample, with its colour value if the data has one"

    def report(self, run: RunRecord) -> None:
        if run.directory is None:
            return
        columns = [run.codes] + ([] if run.data.color is None else [np.asarray(run.data.color)[:, None]])
        header = [f"code_{index}" for index in range(run.codes.shape[1])] + ([] if len(columns) == 1 else ["color"])
        with run.artifact("codes.csv") as path:
            np.savetxt(path, np.hstack(columns), delimiter=",", header=",".join(header), comments="", fmt="%.7g")
        run.echo(f"codes written to {run.directory / 'codes.csv'}")


@hookimpl
def register_reporters(register):
    register(CodesCsv)

"""Writes the codes of the training data to codes.csv in the run directory."""

from __future__ import annotations

import numpy as np

from dimred.plugin import Reporter, RunRecord, hookimpl


class CodesCsv(Reporter):
    name = "codes-csv"
    description = (
        "codes.csv: one row of codes per training sample, by its row number in the data set (rows held out are not "
        "among them), with its colour value if the data has one"
    )

    def files(self) -> tuple[str, ...]:  # a user's codes.csv in the folder refuses the run before it starts
        return ("codes.csv",)

    def report(self, run: RunRecord) -> None:
        if run.directory is None:
            return
        numbers = np.arange(len(run.codes)) if run.data.row_numbers is None else run.data.row_numbers
        colours = [] if run.data.color is None else [np.asarray(run.data.color, dtype=np.float64)[:, None]]
        table = np.hstack([numbers[:, None].astype(np.float64), run.codes, *colours])
        header = ["row", *(f"code_{index}" for index in range(run.codes.shape[1])), *(["color"] if colours else [])]
        digits = "%.9g" if run.codes.dtype == np.float32 else "%.17g"  # what reads back as the same number
        formats = ["%d", *[digits] * (table.shape[1] - 1)]
        with run.artifact("codes.csv") as path:
            np.savetxt(path, table, delimiter=",", header=",".join(header), comments="", fmt=formats)
        run.echo(f"codes written to {run.directory / 'codes.csv'}")


@hookimpl
def register_reporters(register):
    register(CodesCsv)

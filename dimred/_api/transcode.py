"""``dimred encode`` and ``dimred decode`` as library calls: files in, files out, in batches."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dimred._api.arguments import check_callables, check_flags
from dimred._api.config import (
    read_as_the_run_said,
    trained_anndata_option,
    trained_header,
    trained_ignored_columns,
    trained_set_aside_columns,
)
from dimred._api.reducer import Reducer, as_fitted_reducer, computes_in
from dimred._core import defaults
from dimred._core.atomic import atomic_path, remove_stale_temporaries
from dimred._core.errors import UsageError, first_line, path_argument, resolved
from dimred._io.anndata_files import cells_by_genes, read_h5ad
from dimred._io.csvlayout import header_given, header_naming
from dimred._io.datafiles import (
    READABLE,
    TEXT,
    WRITABLE,
    MatrixWriter,
    check_input,
    check_output,
    column_count,
    count_rows,
    header_of,
    read_batches,
    read_row_names,
)
from dimred._io.signals import signals_held
from dimred._io.validation import DataError, check_matrix, columns_by_name

BATCH_ROWS = 1 << 16
# an .h5ad file's cells are encoded this many values at a time (128 MiB in float64): 671 cells of 25 000 genes
BATCH_VALUES = 1 << 24
OBSM_KEY = "X_dimred"  # where the codes of an .h5ad file's cells go

RowProgress = Callable[[int, int], None]


def _feature_columns(source: Path, model: Reducer) -> list[int] | None:
    """The columns of ``source`` that hold the features the model was trained on. Of a CSV file with a header,
    picked by name in the model's order (as ``dimred evaluate`` and an AnnData file's genes are): the file may
    hold them in any order, among other columns (labels, say), which are skipped; a file laid out as the training
    file was (its columns once those training set aside are left out) is taken by position, repeated names and
    all. Otherwise, where the file has exactly as many columns more than the model's features as training set
    aside by position (labels, colours), all but those. None: all columns, in their order."""
    # header names or 0-based indices of the columns training set aside or left out
    specs = set(trained_set_aside_columns(model).values()) | set(trained_ignored_columns(model))
    header = header_of(source)
    trained = getattr(model, "feature_names_in_", None)
    if header is not None and trained is not None:
        rest = [column for column, name in enumerate(header) if str(name) not in specs and str(column) not in specs]
        if [str(header[column]) for column in rest] == [str(name) for name in trained]:
            return rest
        return columns_by_name(header, trained, str(source))
    set_aside = {int(spec) for spec in specs if spec.isdecimal()}
    if not set_aside:
        return None
    width = column_count(source)
    if width != model.n_features_in_ + len(set_aside) or max(set_aside) >= width:
        return None
    return [column for column in range(width) if column not in set_aside]


def _code_columns(source: Path, model: Reducer) -> list[int] | None:
    """The columns of a CSV file of codes whose header names them as ``encode`` writes them (code_0, code_1...)
    or as the estimator names its outputs (``get_feature_names_out``: reducer0, reducer1..., what a pandas
    ``set_output`` frame saved with ``to_csv`` holds), in that order wherever they stand (columns reordered in a
    spreadsheet, others beside them). None: the file names none of them, and its columns are the codes in their
    order."""
    header = header_of(source)
    if header is None:
        return None
    written = {str(name) for name in header}
    schemes = (_column_names(model, decoding=False), tuple(str(name) for name in model.get_feature_names_out()))
    names = next((scheme for scheme in schemes if set(scheme) & written), None)
    if names is None:
        return None
    numbered = re.escape(names[0].rstrip("0123456789")) + r"\d+"
    beyond = [name for name in map(str, header) if re.fullmatch(numbered, name) and name not in names]
    if beyond:
        raise DataError(f"{source} holds {beyond[0]}, but the model gives {len(names)} codes ({names[0]} to "
                        f"{names[-1]}): codes of another model?")  # fmt: skip
    return columns_by_name(header, names, str(source), "codes", "gives")


def _column_names(model: Reducer, decoding: bool) -> tuple[str, ...]:
    """The header of a CSV output: code_0, code_1, ... for codes; for reconstructions the model's column names,
    else x0, x1, ... (scikit-learn's names for unnamed features)."""
    if not decoding:
        return tuple(f"code_{index}" for index in range(model.n_components_))
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return tuple(f"x{index}" for index in range(model.n_features_in_))
    return tuple(str(name) for name in names)


def _check_files(source: str | Path, destination: str | Path, *, decoding: bool, overwrite: bool) -> tuple[Path, Path]:
    """The input and output files, checked before any work: the input readable and of a type dimred reads, the
    output of a type it writes (an .h5ad input's codes go into an .h5ad copy), never the input."""
    source = path_argument(source, "source (SOURCE)", "the input file's path")
    destination = path_argument(destination, "destination (-o/--output)", "the output file's path")
    anndata = source.suffix.lower() == ".h5ad"
    if decoding and anndata:
        raise UsageError(
            f"decode reads codes from {', '.join(READABLE)} files, not {source}; save an .h5ad file's "
            f"codes first, e.g. numpy.save('codes.npy', anndata.read_h5ad(path).obsm['{OBSM_KEY}'])"
        )
    if anndata and destination.suffix.lower() != ".h5ad":
        raise UsageError(f"codes of an .h5ad file go into a copy of it: name an .h5ad output, not {destination}")
    source = check_input(source, (".h5ad",) if anndata else READABLE)
    if resolved(destination) == resolved(source):  # before the check that would suggest --overwrite
        raise UsageError(f"the output file must not be the input file {source}; name another")
    destination = check_output(destination, overwrite, (".h5ad",) if anndata else WRITABLE)
    remove_stale_temporaries(destination)  # what an encode of it killed with SIGKILL left behind
    return source, destination


def _transcode(
    reducer: Reducer | str | Path,
    source: str | Path,
    destination: str | Path,
    *,
    decoding: bool,
    overwrite: bool,
    batch_rows: int,
    progress: RowProgress | None,
    device: str,
    layer: str | None = None,
    key: str | None = None,
    header: bool | None = None,
) -> int:
    check_flags(overwrite=overwrite)
    check_callables(progress=progress)
    if header is not None and not isinstance(header, bool | np.bool_):
        raise UsageError(f"header must be True, False or None (guessed), got {header!r}")
    if header is not None and isinstance(source, str | Path) and Path(source).suffix.lower() not in TEXT:
        raise UsageError(
            f"a header row (header, --header, --no-header) is for {', '.join(TEXT)} files; {source} holds arrays"
        )
    model = as_fitted_reducer(reducer, device)
    carried = trained_header(model) if header is None and not decoding else None
    names = None if decoding else getattr(model, "feature_names_in_", None)
    with (
        header_naming(names),
        header_given(header if carried is None else carried),
        read_as_the_run_said(carried, source, "--header or --no-header reads it otherwise"),
    ):
        return _transcoded(model, source, destination, decoding, overwrite, batch_rows, progress, layer, key)


def _transcoded(model: Reducer, source: str | Path, destination: str | Path, decoding: bool, overwrite: bool,
                batch_rows: int, progress: RowProgress | None, layer: str | None, key: str | None) -> int:  # fmt: skip
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise UsageError(f"batch_rows must be a whole number of rows from 1, got {batch_rows!r}")
    source, destination = _check_files(source, destination, decoding=decoding, overwrite=overwrite)
    if source.suffix.lower() == ".h5ad":
        option = "--layer" if layer is not None else "the model's training layer"
        layer = trained_anndata_option(model, "layer") if layer is None else layer
        return _encode_anndata(model, source, destination, layer, option, key, batch_rows, progress, overwrite)
    if layer is not None or key is not None:  # an empty one too (an unset shell variable)
        what = "a layer is picked from" if layer is not None else "an obsm key is for"
        raise UsageError(f"{what} .h5ad files only, not {source}")
    columns = _code_columns(source, model) if decoding else _feature_columns(source, model)
    expected = model.n_components_ if decoding else model.n_features_in_
    what = "codes" if decoding else "features"
    header = header_of(source)
    # before any cell is parsed: a text column would say less
    if columns is None and header is not None and len(header) != expected:
        raise DataError(f"{source} has {len(header)} columns, but the model expects {expected} {what}")
    total = count_rows(source)
    if total == 0:
        raise DataError(f"{source} has no data rows")
    out_width = model.n_features_in_ if decoding else model.n_components_
    written = _written_dtype(model)
    labels = None if columns is None else [column if header is None else header[column] for column in columns]
    named = read_row_names(source, batch_rows)  # pandas' index, R's row names: they name the results' rows too
    writer = MatrixWriter(destination, total, out_width, _column_names(model, decoding), dtype=written,
                          replace=overwrite, name_columns=0 if named is None else named[0])  # fmt: skip
    names = None if named is None else named[1]
    done = 0
    with writer.open():
        for batch in read_batches(source, batch_rows, columns):
            rows = check_matrix(batch, str(source), min_rows=1, first_row=done, computed_in=computes_in(model),
                                column_names=labels)  # fmt: skip
            if rows.shape[1] != expected:
                raise DataError(f"{source} has {rows.shape[1]} columns, but the model expects {expected} {what}")
            rows = rows.astype(np.promote_types(rows.dtype, written), copy=False)  # results come in the input's dtype
            writer.write(model.decode_rows(rows, done) if decoding else model.encode_rows(rows, done),
                         None if names is None else next(names))  # fmt: skip
            done += len(rows)
            if progress is not None:
                progress(done, total)
    return done


def _trained_genes(model: Reducer, genes: list[str], source: Path) -> slice | list[int]:
    """The columns of an AnnData file that hold the genes the model was trained on, found by name (cells keep their
    genes in any order, or among others)."""
    trained = getattr(model, "feature_names_in_", None)
    if trained is None or [str(name) for name in trained] == genes:
        return slice(None)
    return columns_by_name(genes, trained, str(source), "genes")


def _written_dtype(model: Reducer) -> type:
    """What results are written as: the dtype the model computes in (results beyond float32 are refused before
    they are written)."""
    return np.dtype(computes_in(model)).type


def _encode_anndata(model: Reducer, source: Path, destination: Path, layer: str, option: str, key: str | None,
                    batch_rows: int, progress: RowProgress | None, overwrite: bool) -> int:  # fmt: skip
    """A copy of the AnnData file with the codes of its ``X`` (or ``layer``, named ``option`` in messages) in
    ``obsm[key]`` (None: X_dimred, which codes the file already holds there keep: they are replaced, with a
    warning, where ``key`` names them), written whole or not. Its cells are encoded at most ``batch_rows`` and
    BATCH_VALUES values at a time: a sparse matrix of a million cells is never dense whole, nor a batch of wide
    rows larger than a few hundred MB."""
    if key is not None and (not key or "/" in key):
        raise UsageError(f"bad obsm key {key!r}: give a name without '/', e.g. X_dimred_ne")
    adata = read_h5ad(source)
    if key is None and OBSM_KEY in adata.obsm:
        raise UsageError(f"{source} already holds obsm['{OBSM_KEY}']; name another key for these codes with --key, "
                         f"or replace those in the copy with --key {OBSM_KEY}")  # fmt: skip
    matrix = cells_by_genes(adata, layer, source, option, "--layer NAME")
    if getattr(matrix, "format", None) == "csc":  # each slice of cells would pass over all of its values
        matrix = matrix.tocsr()
    where = "X" if matrix is adata.X else f"layer '{layer}'"
    genes = _trained_genes(model, list(adata.var_names), source)
    width = len(range(matrix.shape[1])[genes]) if isinstance(genes, slice) else len(genes)
    if width != model.n_features_in_:
        raise DataError(f"{where} of {source} has {width} genes (columns), but the model expects "
                        f"{model.n_features_in_}")  # fmt: skip
    codes = []
    rows_at_once = max(1, min(batch_rows, BATCH_VALUES // max(width, 1)))
    names = np.asarray(adata.var_names)[genes]  # a bad value's gene by name: the columns are in the model's order
    for start in range(0, max(adata.n_obs, 1), rows_at_once):  # no cells: one empty batch, refused by name
        block = matrix[start : start + rows_at_once][:, genes]
        block = np.asarray(block.toarray() if hasattr(block, "toarray") else block, dtype=np.float64)
        rows = check_matrix(block, f"{where} of {source}", min_rows=1, first_row=start, computed_in=computes_in(model),
                            column_names=names)  # fmt: skip
        codes.append(model.encode_rows(rows, start))
        if progress is not None:
            progress(start + len(rows), adata.n_obs)
    if key in adata.obsm:
        warnings.warn(f"the copy's obsm['{key}'] ({_shape_text(adata.obsm[key])}) is replaced by these codes "
                      f"({adata.n_obs} x {model.n_components_}); {source} keeps it", stacklevel=2)  # fmt: skip
    adata.obsm[key or OBSM_KEY] = np.concatenate(codes).astype(_written_dtype(model), copy=False)
    with atomic_path(destination, replace=overwrite) as temporary, signals_held():  # interrupted after: no file
        try:
            adata.write_h5ad(temporary)
        except (ValueError, TypeError, KeyError) as error:  # what AnnData read, it may refuse to write (a var '_index')
            said = first_line(error).rstrip(".")
            raise DataError(f"AnnData cannot write {source} back out, with the codes, as {destination}: {said}; "
                            "change that in the file and encode again") from None  # fmt: skip
    return adata.n_obs


def _shape_text(values: object) -> str:
    """'300 x 10' for an obsm entry's shape."""
    return " x ".join(str(side) for side in getattr(values, "shape", ()))


def encode_file(
    model: Reducer | str | Path,
    source: str | Path,
    destination: str | Path,
    *,
    overwrite: bool = False,
    batch_rows: int = BATCH_ROWS,
    progress: RowProgress | None = None,
    device: str = defaults.DEVICE,
    layer: str | None = None,
    key: str | None = None,
    header: bool | None = None,
) -> int:
    """Write the codes of every row of ``source`` to ``destination`` (.csv with a code_0,code_1,... header, after
    the rows' names where a CSV input has them, or .npy); returns the row count. A CSV input's trained columns
    are found by name where both it and the model name them; otherwise columns the run set aside by index
    (labels, colours) are left out where the input has them. An .h5ad file's codes go into ``obsm[key]`` of a
    copy of it (None: X_dimred, where the file holds no codes there already; codes under the key named are
    replaced); ``layer`` picks the layer encoded (None: the layer the run directory ``model`` was trained on,
    else X). ``header``: a CSV input's first row names its columns (True) or is data (False); None: as the run
    said of its training file (``dataset.header``), else guessed. ``device`` is where a model given as a path
    computes."""
    return _transcode(model, source, destination, decoding=False, overwrite=overwrite, batch_rows=batch_rows,
                      progress=progress, device=device, layer=layer, key=key, header=header)  # fmt: skip


def decode_file(
    model: Reducer | str | Path,
    source: str | Path,
    destination: str | Path,
    *,
    overwrite: bool = False,
    batch_rows: int = BATCH_ROWS,
    progress: RowProgress | None = None,
    device: str = defaults.DEVICE,
    header: bool | None = None,
) -> int:
    """Write the reconstructions of every code in ``source`` to ``destination`` (.csv with the model's column
    names as its header, x0,x1,... where it has none, after the rows' names where a CSV input has them, or .npy);
    returns the row count. ``header``: a CSV input's first row names its columns (True) or is data (False); None:
    guessed. ``device`` is where a model given as a path computes."""
    return _transcode(model, source, destination, decoding=True, overwrite=overwrite, batch_rows=batch_rows,
                      progress=progress, device=device, header=header)  # fmt: skip

"""What a class label is: the check every data set's labels pass, and the rules the file readers share for telling
labels from measured values and from missing ones."""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable
from typing import Any

import numpy as np

# how files mark a missing value, in lower case (pandas reads these as NaN; its astype(str) writes "<na>" for NA)
MISSING_LABELS = ("", "na", "n/a", "#n/a", "<na>", "nan", "-nan", "+nan", "null", "none")
MAX_NUMBERED_CLASSES = 100  # distinct whole numbers a column of numbers may hold and still be read as classes
FEW_CLASSES = 20  # this many distinct whole numbers are classes however few the rows (a small batch to score)


def class_sort_key(label: str) -> tuple:
    """Where a class goes in a legend: classes named by numbers first, by value ("2" before "10"), then the others
    as text (a name that reads as NaN, "-nan", too: NaN has no place among numbers), in natural order: numbers in
    a name by value ("cluster_2" before "cluster_10"), letters in either case together."""
    try:
        value = float(label)
    except ValueError:
        value = math.nan
    if not math.isnan(value):
        return (0, value, label)  # "1" before "1.0": numbers equal in value in one order wherever they are listed
    parts = re.split(r"(\d+)", label)  # text at even places, digits at odd ones: like compares with like
    # a run of digits by its value, compared as text of its length (no int of thousands of digits)
    return (1, [(len(part.lstrip("0")), part.lstrip("0")) if place % 2 else part.casefold()
                for place, part in enumerate(parts)], label)  # fmt: skip


def missing_label_rows(text: np.ndarray, marks: Iterable[str] = MISSING_LABELS) -> np.ndarray:
    """The rows of labels read as text that mark a missing value, not a class: ``marks`` in any case, around
    spaces (by default ``MISSING_LABELS``: empty, NA, NaN, null and the other ways CSV files and pandas write a
    gap)."""
    return np.flatnonzero(np.isin(np.char.lower(np.char.strip(np.asarray(text, dtype=str))), list(marks)))


def looks_like_class_numbers(values: np.ndarray) -> bool:
    """Whether a column of numbers holds class numbers: whole numbers, at most MAX_NUMBERED_CLASSES distinct and,
    beyond FEW_CLASSES of them, no more than one per two rows. Measured values (counts, a regression target) are
    whole numbers too, but many, or mostly distinct; a few classes in a small file are classes."""
    values = np.asarray(values)
    if values.dtype.kind == "b":
        return True
    if values.dtype.kind not in "iuf" or not np.isfinite(values).all() or (values != np.round(values)).any():
        return False
    distinct = len(np.unique(values))
    return distinct <= MAX_NUMBERED_CLASSES and (distinct <= FEW_CLASSES or distinct <= len(values) / 2)


def as_class_numbers(values: np.ndarray) -> np.ndarray:
    """Whole numbers stored as floats, as int64 where it holds every one exactly (a legend then shows 3, not 3.0);
    other values (a fraction among them, NaN) as they are."""
    if values.dtype.kind != "f":
        return values
    wide = values.astype(np.float64)  # compared in float64: 2**53 overflows float16
    exact = bool((np.isfinite(wide) & (wide == np.round(wide)) & (np.abs(wide) < 2**53)).all())
    return values.astype(np.int64) if exact else values


def check_labels(labels: np.ndarray) -> None:
    """Refuse labels that are not one class per row: whole numbers or names, none missing, not a mix of both."""
    if labels.ndim != 1:
        raise ValueError(f"labels must be one value per row, got shape {labels.shape}")
    if labels.dtype.kind not in "biufUSO":
        raise ValueError(f"labels are classes, whole numbers or names; got values of type {labels.dtype}")
    if labels.dtype.kind == "O":
        _check_objects(labels)
    elif labels.dtype.kind == "f":
        _check_whole_numbers(labels)


def mixes_names_and_numbers(labels: Iterable[Any]) -> bool:
    return len({isinstance(label, str) for label in labels}) > 1


def _check_objects(labels: np.ndarray) -> None:
    """Labels of a pandas column or a plugin's list: each a name or a number, none missing."""
    for row, label in enumerate(labels):
        if label is None or (isinstance(label, float) and math.isnan(label)):  # pandas marks a gap with NaN
            raise ValueError(f"labels must not be missing (row {row}, counting from 0)")
        if not isinstance(label, str | numbers.Real | np.bool_):
            raise ValueError(f"labels are classes, whole numbers or names; row {row} (counting from 0) is {label!r} "
                             f"({type(label).__name__})")  # fmt: skip
    if mixes_names_and_numbers(labels):
        row = [isinstance(label, str) for label in labels].index(not isinstance(labels[0], str))
        raise ValueError(f"labels mix names and numbers (row 0 is {labels[0]!r}, row {row} {labels[row]!r}, "
                         "counting from 0); give all as names or all as numbers")  # fmt: skip
    if len(labels) and not isinstance(labels[0], str):
        _check_whole_numbers(np.array(labels, dtype=np.float64))


def _check_whole_numbers(labels: np.ndarray) -> None:
    if not np.isfinite(labels).all():
        row = int(np.flatnonzero(~np.isfinite(labels))[0])
        raise ValueError(f"labels must not be NaN or infinite (row {row} is {labels[row]}, counting from 0)")
    if (labels != np.round(labels)).any():
        row = int(np.flatnonzero(labels != np.round(labels))[0])
        raise ValueError(f"labels are classes, whole numbers or names; row {row} (counting from 0) is {labels[row]} "
                         "(give measured values as color)")  # fmt: skip

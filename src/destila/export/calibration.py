"""The windows that calibrate static int8 scales: Spanish training-fold questions, never the eval fold.

Static int8 measures each activation's range once, here, and keeps it: the exported model then scales every
question the same way, whatever else shares its batch (dynamic int8 measures the range of each batch).
"""

from __future__ import annotations

import numpy as np

from destila.errors import DataError
from destila.export.options import CALIBRATION_DATA, ExportOptions


def calibration_dataset(options: ExportOptions):
    """`options.calibration_data`, or the first of CALIBRATION_DATA that loads; returns (spec, dataset)."""
    from destila.data import load_dataset

    specs = [options.calibration_data] if options.calibration_data else list(CALIBRATION_DATA)
    for spec in specs:
        try:
            dataset = load_dataset(spec, data_dir=options.data_dir).head(options.calibration_questions)
        except DataError:
            if spec == specs[-1]:
                raise
            continue
        if not dataset.examples:
            raise DataError(f"calibration data {spec!r} holds no questions")
        return spec, dataset
    raise AssertionError("unreachable: the last spec raises")


def calibration_windows(tokenizer, options: ExportOptions, input_names: list[str]) -> tuple[str, list[dict]]:
    """(spec, one model input per question): the first window of each calibration question, unpadded, with the
    inputs named in `input_names` (token types are zeros when the tokenizer gives none)."""
    from destila.infer.features import encode_windows

    spec, dataset = calibration_dataset(options)
    questions = [ex.question for ex in dataset.examples]
    windows = encode_windows(questions, [ex.context for ex in dataset.examples], tokenizer)
    firsts = np.searchsorted(windows.example_index, np.arange(len(questions)))
    inputs = []
    for k in firsts:
        ids = np.asarray(windows.input_ids[k], dtype=np.int64)[None, :]
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in input_names:
            types = windows.token_type_ids
            feed["token_type_ids"] = (
                np.zeros_like(ids) if types is None else np.asarray(types[k], dtype=np.int64)[None, :]
            )
        inputs.append(feed)
    return spec, inputs

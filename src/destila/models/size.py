"""A model folder's size without loading it: the bytes of its weight files and its parameter count (trained,
ONNX or OpenVINO folders alike; read by bench and by the served model's summary)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from destila import files

WEIGHT_SUFFIXES = (".safetensors", ".onnx", ".onnx.data", ".bin")


def model_files_bytes(folder: str | os.PathLike) -> int:
    """Bytes of the weight files (safetensors / ONNX) of a model folder: what a deployment ships."""
    path = Path(folder)
    return int(
        sum(f.stat().st_size for f in path.iterdir() if f.is_file() and f.name.endswith(WEIGHT_SUFFIXES))
    )


def folder_parameters(folder: str | os.PathLike) -> int | None:
    """Parameters of a model folder without loading it: export.json of an exported folder, else the ONNX graph's
    or the safetensors headers."""
    path = Path(folder)
    info = path / files.EXPORT_INFO
    if ((path / files.ONNX).exists() or (path / files.OPENVINO).exists()) and info.exists():
        return int(json.loads(info.read_text(encoding="utf-8"))["parameters"])
    if (path / files.ONNX).exists():
        import onnx

        graph = onnx.load(str(path / files.ONNX), load_external_data=False).graph
        return int(sum(int(np.prod(t.dims)) for t in graph.initializer if len(t.dims) > 0))
    weights = sorted(path.glob("*.safetensors"))
    if not weights:
        return None
    from safetensors import safe_open

    total = 0
    for f in weights:
        with safe_open(str(f), framework="np") as handle:
            for key in handle.keys():  # noqa: SIM118 (safe_open is no dict)
                total += int(np.prod(handle.get_slice(key).get_shape()))
    return total

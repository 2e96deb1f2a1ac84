"""destila.distill: the distillation components — model outputs, layer maps, loss terms, losses and projections.

The names below are imported on first use, so that `destila.distill.loss_config` (and with it every recipe) loads
without torch.
"""

import importlib

_EXPORTS = {
    "DistillationLoss": "destila.distill.losses",
    "LayerMap": "destila.distill.layer_map",
    "LossConfig": "destila.distill.loss_config",
    "QAOutputs": "destila.distill.outputs",
    "TERMS": "destila.distill.terms",
    "capture_attention": "destila.distill.capture",
    "run_qa_model": "destila.distill.outputs",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)

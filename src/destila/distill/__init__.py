"""destila.distill: the distillation components — model outputs, layer maps, losses and projections."""

from destila.distill.capture import capture_attention, pin_capture_attention
from destila.distill.layer_map import LayerMap
from destila.distill.losses import DistillationLoss, LossConfig
from destila.distill.outputs import QAOutputs, run_qa_model

__all__ = [
    "DistillationLoss",
    "LayerMap",
    "LossConfig",
    "QAOutputs",
    "capture_attention",
    "pin_capture_attention",
    "run_qa_model",
]

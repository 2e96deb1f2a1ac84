"""Reading SQuAD-style data (no tokenisation): files, named datasets, folds, validation."""

from destila.data.registry import REGISTRY, load_dataset, read_file
from destila.data.types import Answer, QADataset, QAExample

__all__ = ["REGISTRY", "Answer", "QADataset", "QAExample", "load_dataset", "read_file"]

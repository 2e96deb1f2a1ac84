"""Reading SQuAD-style data (no tokenisation): files, named datasets, folds, validation."""

from destila.data.types import Answer, QADataset, QAExample

__all__ = ["Answer", "QADataset", "QAExample"]

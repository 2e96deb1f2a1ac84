"""destila: small, fast Spanish extractive question answering by knowledge distillation."""

__version__ = "0.1.0"

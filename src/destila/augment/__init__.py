"""Augmentation for distillation: teacher-labelled copies of the training questions.

TinyBERT showed that task distillation on a small labelled set needs many more inputs than it holds; the copies
made here are those inputs. A copy has no gold answer: in training it adds the terms that read the teacher (whose
logits are cached once per window) and no cross-entropy (`destila.train.batches.build_train_features`).

- `config.py`: `AugmentConfig`, the `augment:` section of a recipe and the options of `destila augment`;
- `words.py`: word replacement by nearest neighbours under a model's input embeddings (a cached table);
- `context.py`: sentence drops, reorders and distractor sentences around the answer's sentence;
- `guard.py`: the rule that keeps eval-fold text out;
- `copies.py`: `augment_dataset(dataset, config, model) -> AugmentResult` (`.dataset()`, `.write(path)`).
"""

from destila.augment.config import AUGMENTERS, AugmentConfig
from destila.augment.copies import AugmentedCopy, AugmentResult, augment_dataset
from destila.augment.guard import check_not_eval, check_spec

__all__ = ["AUGMENTERS", "AugmentConfig", "AugmentResult", "AugmentedCopy", "augment_dataset", "check_not_eval",
           "check_spec"]

"""`AugmentConfig`: how `destila augment` and a recipe's `augment:` section make teacher-labelled copies.
Imports no torch, so that recipes parse without it."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields

from destila.errors import ConfigError

AUGMENTERS = ("context", "words")  # the default order: a distractor sentence gets its words replaced too


@dataclass
class AugmentConfig:
    """Copies of each training question, labelled by the teacher only (never by gold spans)."""

    copies: int = 4
    """Augmented copies per question (TinyBERT made about 20); copies equal to the question or an earlier copy are
    dropped."""
    augmenters: list = dataclasses.field(default_factory=lambda: list(AUGMENTERS))
    """What each copy applies, in order: "context" (drop, reorder or add a sentence around the answer's) and
    "words" (replace words by embedding neighbours)."""
    p: float = 0.4
    """Chance that a word is replaced ("words"), and that a sentence other than the answer's is dropped
    ("context")."""
    seed: int = 42
    """Seed of every random choice: the same seed, data and model give the same copies."""
    model: str | None = None
    """Model whose input embeddings give the word neighbours (None in a recipe: its teacher)."""
    vocabulary: int = 30000
    """The most frequent Spanish words (wordfreq) that can be replaced and can replace."""
    neighbours: int = 10
    """A word is replaced by one of its this many nearest words (cosine of mean piece embeddings)."""
    min_length: int = 3
    """Words shorter than this (most articles and prepositions) are never replaced."""
    question_p: float = 0.0
    """Chance that a word of the question is replaced. 0 (the default) keeps questions as asked: an edited question
    ("¿Qué equipo...?" -> "¿Cómo equipo...?") asks something else, and the teacher's answer to it teaches noise."""
    names: bool = False
    """Also replace capitalised words of the context (names, places: "California" -> "Mercadotecnia"); off by
    default, since changing a name changes the facts a question asks about."""

    def __post_init__(self) -> None:
        if isinstance(self.augmenters, str):
            self.augmenters = [a.strip() for a in self.augmenters.split(",") if a.strip()]
        if not isinstance(self.augmenters, list) or not self.augmenters:
            raise ConfigError(f"augment.augmenters: expected a non-empty list, got {self.augmenters!r}")
        unknown = [a for a in self.augmenters if a not in AUGMENTERS]
        if unknown or len(set(self.augmenters)) != len(self.augmenters):
            raise ConfigError(f"augment.augmenters: expected distinct names of {AUGMENTERS}, got {self.augmenters!r}")
        for name, low in (("copies", 1), ("vocabulary", 2), ("neighbours", 1), ("min_length", 1), ("seed", 0)):
            setattr(self, name, _integer(name, getattr(self, name), low))
        if isinstance(self.p, bool) or not isinstance(self.p, (int, float)) or not 0 < self.p <= 1:
            raise ConfigError(f"augment.p: expected a number in (0, 1], got {self.p!r}")
        self.p = float(self.p)
        q = self.question_p
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q <= 1:
            raise ConfigError(f"augment.question_p: expected a number in [0, 1], got {q!r}")
        self.question_p = float(q)
        if not isinstance(self.names, bool):
            raise ConfigError(f"augment.names: expected true or false, got {self.names!r}")
        if self.model is not None and (not isinstance(self.model, str) or not self.model):
            raise ConfigError(f"augment.model: expected a model name or null, got {self.model!r}")

    @classmethod
    def from_dict(cls, data, where: str = "augment") -> AugmentConfig:
        """An AugmentConfig from a recipe's `augment:` mapping; unknown fields and bad values name `where`."""
        if not isinstance(data, dict):
            raise ConfigError(f"{where} must be a mapping of augmentation fields, got {data!r}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(known)}")
        values = dict(data)
        for name in ("p", "question_p"):
            if isinstance(values.get(name), str):  # YAML and --set give strings for some numbers
                try:
                    values[name] = float(values[name])
                except ValueError:
                    raise ConfigError(f"{where}.{name}: expected a number, got {values[name]!r}") from None
        try:
            return cls(**values)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace("augment.", f"{where}.", 1)) from None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _integer(name: str, value, low: int) -> int:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"augment.{name}: expected an integer >= {low}, got {value!r}")
    return value

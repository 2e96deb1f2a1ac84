"""Which teacher layer each student layer learns from, as validated data.

Layers are 1-based: layer m is the output of the m-th transformer block, i.e. `hidden_states[m]` and
`attentions[m - 1]`. The embedding output (layer 0) is always matched 0 -> 0 by the embedding loss.
"""

from __future__ import annotations

from dataclasses import dataclass

from destila.errors import ConfigError


@dataclass(frozen=True)
class LayerMap:
    """Pairs (student_layer, teacher_layer), 1-based, student layers unique."""

    pairs: tuple[tuple[int, int], ...]

    def __post_init__(self):
        pairs = tuple((int(s), int(t)) for s, t in self.pairs)
        object.__setattr__(self, "pairs", pairs)
        if not pairs:
            raise ConfigError("layer_map: no layer pairs")
        seen = set()
        for s, _ in pairs:
            if s in seen:
                raise ConfigError(f"layer_map: student layer {s} is mapped twice")
            seen.add(s)

    @classmethod
    def uniform(cls, student_layers: int, teacher_layers: int) -> LayerMap:
        """TinyBERT's g(m) = (T / S) · m for m = 1..S; T must be a multiple of S."""
        if student_layers < 1 or teacher_layers < 1:
            raise ConfigError(
                f"layer_map: uniform needs at least one layer (student {student_layers}, teacher {teacher_layers})"
            )
        if teacher_layers % student_layers:
            raise ConfigError(
                f"layer_map: uniform needs the teacher's {teacher_layers} layers to be a multiple of the student's "
                f"{student_layers}; give an explicit list of teacher layers instead"
            )
        step = teacher_layers // student_layers
        return cls(tuple((m, step * m) for m in range(1, student_layers + 1)))

    @classmethod
    def from_list(cls, entries) -> LayerMap:
        """`[t1, t2, ...]` maps student layer m to teacher layer t_m; `[[s, t], ...]` gives pairs explicitly."""
        if isinstance(entries, (str, bytes)) or not hasattr(entries, "__iter__"):
            raise ConfigError(
                f"layer_map: expected a list of teacher layers or [student, teacher] pairs, got {entries!r}"
            )
        entries = list(entries)
        if not entries:
            raise ConfigError("layer_map: the list is empty")
        pairs = []
        for i, entry in enumerate(entries):
            if _is_int(entry):
                pairs.append((i + 1, int(entry)))
            elif isinstance(entry, (list, tuple)) and len(entry) == 2 and all(_is_int(x) for x in entry):
                pairs.append((int(entry[0]), int(entry[1])))
            else:
                raise ConfigError(
                    f"layer_map[{i}]: expected a teacher layer number or a [student, teacher] pair, got {entry!r}"
                )
        kinds = {_is_int(e) for e in entries}
        if len(kinds) > 1:
            raise ConfigError("layer_map: mix of plain layer numbers and pairs; use one form")
        return cls(tuple(pairs))

    @classmethod
    def resolve(cls, spec, student_layers: int, teacher_layers: int) -> LayerMap:
        """`"uniform"`, a list (see `from_list`) or a LayerMap, validated against the two depths."""
        if isinstance(spec, LayerMap):
            layer_map = spec
        elif spec == "uniform":
            layer_map = cls.uniform(student_layers, teacher_layers)
        else:
            layer_map = cls.from_list(spec)
        layer_map.validate(student_layers, teacher_layers)
        return layer_map

    def validate(self, student_layers: int, teacher_layers: int) -> None:
        for i, (s, t) in enumerate(self.pairs):
            if not 1 <= s <= student_layers:
                raise ConfigError(
                    f"layer_map entry {i} ({s} -> {t}): student layer {s} is outside 1..{student_layers} "
                    "(layers are 1-based; the embedding output is matched by the embedding loss)"
                )
            if not 1 <= t <= teacher_layers:
                raise ConfigError(
                    f"layer_map entry {i} ({s} -> {t}): teacher layer {t} is outside 1..{teacher_layers} "
                    "(layers are 1-based; the embedding output is matched by the embedding loss)"
                )

    def to_list(self) -> list[list[int]]:
        return [[s, t] for s, t in self.pairs]


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)

"""The model families destila builds students of, sets dropout in and stands in for in dry runs: one entry per
transformers `model_type`. Supporting another encoder family is one entry in FAMILIES (tests/test_families.py
checks every entry against transformers).

Shapes are spoken of by BERT's config names (SHAPE_FIELDS), as presets, layer maps and dry-run shapes do; a family
says what its own config calls them. Imports no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from destila.errors import ConfigError

SHAPE_FIELDS = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size")


@dataclass(frozen=True)
class ModelFamily:
    """What destila needs to know about one transformers model type."""

    model_type: str
    shape_names: tuple[str, str, str, str] = SHAPE_FIELDS
    """This family's config names for SHAPE_FIELDS, in that order."""
    attention_dropout: str = "attention_probs_dropout_prob"
    """Config field of the attention-probability dropout rate."""
    hidden_dropout: str = "hidden_dropout_prob"
    """Config field of the hidden-state dropout rate."""
    layer_prefix: str = "encoder.layer."
    """What precedes a transformer block's index in state-dict keys (after the base model's name)."""
    tokenizer: str = "wordpiece"
    """The dry run's stand-in tokenizer when the model's own tokenizer.json is not at hand."""
    attention_interface: bool = True
    """Whether its layers call transformers' AttentionInterface, which attention capture (and so attention and
    value-relation losses) needs."""

    def config_name(self, field: str) -> str:
        """This family's config name for a shape field named as in SHAPE_FIELDS; other names pass through."""
        return dict(zip(SHAPE_FIELDS, self.shape_names)).get(field, field)

    def shape(self, config: Mapping) -> dict:
        """{SHAPE_FIELDS name: value} of a config mapping (e.g. a parsed config.json); missing fields left out."""
        return {field: config[name] for field, name in zip(SHAPE_FIELDS, self.shape_names) if name in config}


FAMILIES: dict[str, ModelFamily] = {
    family.model_type: family
    for family in (
        ModelFamily("bert"),
        ModelFamily("roberta", tokenizer="bpe"),
        ModelFamily("xlm-roberta", tokenizer="unigram"),
        ModelFamily("electra"),
        ModelFamily(
            "distilbert",
            shape_names=("n_layers", "dim", "n_heads", "hidden_dim"),
            attention_dropout="attention_dropout",
            hidden_dropout="dropout",
            layer_prefix="transformer.layer.",
        ),
        ModelFamily("deberta-v2", tokenizer="unigram", attention_interface=False),
    )
}


def model_family(model_type: str) -> ModelFamily:
    """The entry for `model_type`; a model type not in FAMILIES is taken to be BERT-like (attention capture still
    checks at run time that its layers call the attention interface)."""
    return FAMILIES.get(model_type) or ModelFamily(model_type)


def check_layer_list(layers, name: str, n_layers: int | None = None) -> list[int]:
    """A list of 1-based layer numbers (as in layer maps), or a ConfigError naming `name`; with `n_layers`, each
    must be in 1..n_layers. (`--set key=[3, 6]` reaches here as a list: overrides are parsed as YAML.)"""
    if isinstance(layers, (str, bytes, dict)) or not hasattr(layers, "__iter__"):
        raise ConfigError(f"{name}: expected a list of layers, got {layers!r}")
    layers = list(layers)
    if not layers:
        raise ConfigError(f"{name}: the list is empty")
    top = n_layers if n_layers is not None else float("inf")
    for i, layer in enumerate(layers):
        if isinstance(layer, bool) or not isinstance(layer, int) or not 1 <= layer <= top:
            bound = f"1..{n_layers}" if n_layers is not None else "from 1"
            raise ConfigError(f"{name}[{i}]: {layer!r} is not a layer; layers are 1-based, {bound}")
    return layers

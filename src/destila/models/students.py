"""Build a student QA model from a teacher: a preset shape, a subset of the teacher's layers, config overrides,
a pretrained folder, or the teacher pruned to a measured speed (`prune`, destila.models.prune). Every student is
a plain transformers QA model with the teacher's vocabulary, so it saves and reloads with
AutoModelForQuestionAnswering and uses the teacher's tokenizer.

`check_student_spec` is the one rule for a valid spec; recipes are checked by it when they load (this module imports
torch only when a model is built)."""

from __future__ import annotations

import copy
import re
from contextlib import contextmanager

from destila import files
from destila.errors import ConfigError
from destila.models.families import SHAPE_FIELDS, check_layer_list, model_family

STUDENT_PRESETS: dict[str, dict] = {
    # SpanishTinyRoBERTa (Bazaga et al. 2023): 6 layers, hidden 512, 16 heads, FFN 3072.
    "tinyroberta-es": {
        "num_hidden_layers": 6,
        "hidden_size": 512,
        "num_attention_heads": 16,
        "intermediate_size": 3072,
    },
}

SPEC_MODES = ("preset", "layers", "config", "pretrained", "prune")


def check_student_spec(spec) -> None:
    """Raise a ConfigError naming the key unless `spec` is a valid student spec, as far as it can be told without
    the teacher: a mapping with one of SPEC_MODES (a preset may add `config` overrides), a known preset, a mapping
    of config fields."""
    if not isinstance(spec, dict):
        raise ConfigError(f"student: expected a mapping such as {{'preset': 'tinyroberta-es'}}, got {spec!r}")
    unknown = sorted(set(spec) - set(SPEC_MODES))
    if unknown:
        raise ConfigError(f"student: unknown key(s) {', '.join(unknown)}; use one of {', '.join(SPEC_MODES)}")
    modes = [m for m in SPEC_MODES if m in spec]
    if not modes:
        raise ConfigError(f"student: give one of {', '.join(SPEC_MODES)}")
    if len(modes) > 1 and set(modes) != {"preset", "config"}:
        raise ConfigError(
            f"student: give only one of {', '.join(SPEC_MODES)}, or a preset with config (got {', '.join(modes)})"
        )
    name = spec.get("preset")
    if "preset" in spec and (not isinstance(name, str) or name not in STUDENT_PRESETS):
        raise ConfigError(f"student.preset: unknown preset {name!r}; known: {', '.join(sorted(STUDENT_PRESETS))}")
    if "config" in spec and not isinstance(spec["config"], dict):
        raise ConfigError(f"student.config: expected a mapping of config fields, got {spec['config']!r}")
    if "prune" in spec:
        from destila.models.prune import PruneSpec

        PruneSpec.from_dict(spec["prune"])


def describe_student_spec(spec: dict) -> str:
    """A student spec in words, as a model card states it."""
    if "prune" in spec:
        prune = spec["prune"] or {}
        from destila.models.prune import PruneSpec

        defaults = PruneSpec()
        target = prune.get("target_speedup", defaults.target_speedup)
        structures = prune.get("structures", defaults.structures)
        layers = f"; keeping layers {', '.join(map(str, prune['layers']))}" if prune.get("layers") else ""
        return (f"the teacher pruned to {target}x its forward speed (removing {', '.join(structures)}{layers}; "
                f"`{files.PRUNE}`)")
    if "layers" in spec:
        layers = spec["layers"]
        listed = ", ".join(map(str, layers)) if isinstance(layers, (list, tuple)) else layers
        return f"the teacher's layers {listed}"
    if "pretrained" in spec:
        return f"`{spec['pretrained']}`"
    words = f"preset `{spec['preset']}`" if "preset" in spec else "the teacher's config"
    fields = ", ".join(f"{k} {v}" for k, v in (spec.get("config") or {}).items())
    return words + (f" with {fields}" if fields else "") + ", random weights"


def build_run_student(teacher, spec: dict, *, windows=None, folder=None, log=print):
    """The student of a distillation run: `build_student`, or for `{"prune": {...}}` the teacher pruned on the
    run's training windows (`windows(count, seed)`, see `prune.pruned_student`), its plan kept in `folder`."""
    if "prune" not in spec:
        return build_student(teacher, spec)
    from destila.models.prune import PruneSpec, pruned_student

    check_student_spec(spec)
    if windows is None:
        raise ConfigError("student.prune: pruning needs the run's training windows")
    student, _ = pruned_student(teacher, PruneSpec.from_dict(spec["prune"]), windows, folder=folder, log=log)
    return student


def student_overrides(spec: dict) -> dict:
    """The teacher config fields a preset and/or config spec changes: the preset's, then `config`'s."""
    return {**STUDENT_PRESETS.get(spec.get("preset"), {}), **spec.get("config", {})}


def build_student(teacher, spec: dict):
    """A student for `teacher` (a transformers QA model) from one of these specs:

    - `{"preset": name}` (optionally with `"config": {...}` overrides): the teacher's config with a preset's
      layers, width, heads and FFN size; random weights.
    - `{"layers": [t1, t2, ...]}`: teacher layers t1, t2, ... (1-based, as in layer maps) copied in that order,
      with the teacher's embeddings and QA head; the same list works as the distillation layer map.
    - `{"config": {field: value}}`: the teacher's config with these fields changed; random weights.
    - `{"pretrained": path_or_name}`: an existing QA model, loaded through destila.models.hub.

    `{"prune": {...}}` needs training windows to score the teacher on: `destila.models.prune.prune_from_data`
    builds it (run_distill calls it).
    """
    check_student_spec(spec)
    if "prune" in spec:
        raise ConfigError("student.prune: a pruned student is built from training data (prune_from_data), not here")
    if "pretrained" in spec:
        student = _from_pretrained(spec["pretrained"])
    elif "layers" in spec:
        student = _from_layers(teacher, spec["layers"])
    else:
        student = _from_config(teacher, student_overrides(spec))

    if student.config.vocab_size != teacher.config.vocab_size:
        raise ConfigError(
            f"student: vocabulary size {student.config.vocab_size} differs from the teacher's "
            f"{teacher.config.vocab_size}; distillation needs the teacher's tokenizer"
        )
    return student


def student_config(teacher_config, overrides: dict):
    """A copy of the teacher's config with `overrides` applied and checked."""
    family = model_family(teacher_config.model_type)
    config = copy.deepcopy(teacher_config)
    for key, value in overrides.items():
        if not hasattr(config, family.config_name(key)):
            raise ConfigError(f"student.config.{key}: {type(config).__name__} has no such field")
        setattr(config, family.config_name(key), value)
    shape = {field: getattr(config, family.config_name(field)) for field in SHAPE_FIELDS}
    for field, value in shape.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"student.config.{family.config_name(field)}: expected a positive integer, got {value!r}")
    if shape["hidden_size"] % shape["num_attention_heads"]:
        raise ConfigError(
            f"student.config: hidden_size {shape['hidden_size']} is not a multiple of num_attention_heads "
            f"{shape['num_attention_heads']}"
        )
    config._name_or_path = ""
    return config


def _from_config(teacher, overrides: dict):
    import torch
    from transformers import AutoModelForQuestionAnswering

    config = student_config(teacher.config, overrides)
    model = AutoModelForQuestionAnswering.from_config(config)
    return model.to(torch.float32)


def layer_list_module(model):
    """The model's ModuleList of encoder layers (`encoder.layer` for BERT-like families)."""
    from torch import nn

    suffix = model_family(model.config.model_type).layer_prefix.rstrip(".")
    for module_name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and (module_name == suffix or module_name.endswith("." + suffix)):
            return module_name, module
    raise ConfigError(f"{type(model).__name__} has no `{suffix}` layer list to take a sub-network from")


@contextmanager
def sub_network(model, layers: list[int]):
    """Within the block, `model` runs only `layers` (1-based), in that order, with the same weights: the model a
    `{"layers": layers}` student would be, without copying anything."""
    from torch import nn

    module_name, full = layer_list_module(model)
    parent_name, _, attr = module_name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, nn.ModuleList([full[i - 1] for i in layers]))
    try:
        yield model
    finally:
        setattr(parent, attr, full)


def _from_layers(teacher, layers) -> object:
    import torch
    from transformers import AutoModelForQuestionAnswering

    layers = check_layer_list(layers, "student.layers", teacher.config.num_hidden_layers)

    config = student_config(teacher.config, {"num_hidden_layers": len(layers)})
    student = AutoModelForQuestionAnswering.from_config(config)
    prefix = re.escape(model_family(config.model_type).layer_prefix)
    layer_key = re.compile(rf"^(.*?\b{prefix})(\d+)(\..*)$")
    teacher_state = teacher.state_dict()
    state = {}
    for key in student.state_dict():
        match = layer_key.match(key)
        source = key
        if match:
            source = f"{match.group(1)}{layers[int(match.group(2))] - 1}{match.group(3)}"
        if source not in teacher_state:
            raise ConfigError(f"student.layers: the teacher has no weight {source!r} to copy into {key!r}")
        state[key] = teacher_state[source].detach().clone().to(torch.float32)
    student.load_state_dict(state, strict=True)
    return student.to(torch.float32)


def _from_pretrained(name):
    from destila.models.hub import load_qa_model

    if not isinstance(name, (str,)) and not hasattr(name, "__fspath__"):
        raise ConfigError(f"student.pretrained: expected a folder or model name, got {name!r}")
    return load_qa_model(name)

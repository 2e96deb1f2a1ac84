"""Structured pruning of a fine-tuned QA encoder into a smaller, plain transformers model, to a speed measured here.

Three steps, each a plain function:

1. `importance(model, windows)`: a Fisher score for every attention head, FFN neuron and hidden dimension of the
   teacher: masks of ones multiply each structure's output (heads before the attention output projection, neurons
   before the FFN output projection, hidden dimensions on the residual stream after every LayerNorm), and each
   mask's score is the sum over training windows of its squared gradient of the teacher's own QA loss (one window
   at a time). ½·score is the second-order estimate of the loss a removal costs (Kwon et al. 2022), so scores of
   every kind add up in one currency.
2. `choose_shape(...)`: candidate shapes (kept layers, hidden size, FFN size) are timed here as transformer
   layers of that width on windows of the training length (`SpeedTable`, cached per CPU and torch version); among
   the shapes whose measured speed-up over the teacher reaches the target, the one whose removed structures score
   least is kept. With `layers` among the structures depth is chosen by the same rule (removing a layer costs the
   scores of all its heads and neurons); by default the teacher's depth is kept, which recovered better here.
3. `prune_model(model, plan)`: a new model of the same class and an ordinary config (every layer the same number of
   heads and FFN neurons, each layer choosing its own; the hidden dimensions chosen once), weights copied by index.
   It loads with `AutoModelForQuestionAnswering.from_pretrained` and needs nothing of destila.

Heads and hidden size go together: a plain BERT-like config has head size hidden / heads, so keeping the
teacher's head size (what its weights need) ties the number of heads to the hidden size.

Removing heads or neurons whose masks are zero leaves the outputs unchanged; removing hidden dimensions also
changes what each LayerNorm averages over, which the recovery distillation repairs.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from destila.errors import ConfigError
from destila.files import PRUNE as PRUNE_FILE
from destila.models.families import check_layer_list

STRUCTURES = ("heads", "ffn", "hidden", "layers")
# Width only unless a recipe asks for layers: at equal training time the 12-layer width-pruned student recovered
# more of the teacher's F1 than the one the Fisher rule chose with fewer layers (docs/benchmarks/compression.md).
DEFAULT_STRUCTURES = ("heads", "hidden", "ffn")
# Fractions of the teacher's depth tried when `layers` is pruned and no layers are given.
DEPTH_FRACTIONS = (1.0, 3 / 4, 2 / 3, 1 / 2, 1 / 3, 1 / 4)


@dataclass
class PruneSpec:
    """The `student: {prune: {...}}` recipe section and `destila prune`'s options."""

    target_speedup: float = 3.0
    """questions/s the student must reach as a multiple of the teacher's (PyTorch fp32, timed here)"""
    windows: int = 256
    """training windows the importance scores are summed over (never eval data)"""
    structures: list = field(default_factory=lambda: list(DEFAULT_STRUCTURES))
    """what may be removed: heads (with hidden), ffn, hidden (with heads), layers (only when listed)"""
    layers: list | None = None
    """keep exactly these teacher layers (1-based); None: chosen by the rule when `layers` is a structure"""
    min_hidden: int | None = None
    """smallest hidden size tried (None: a quarter of the teacher's)"""
    min_ffn: int | None = None
    """smallest FFN size tried (None: a twelfth of the teacher's)"""
    timing_batch: int = 16
    """windows per timed forward (the bench's batch size)"""
    timing_length: int | None = None
    """tokens per timed window (None: the median length of the importance windows)"""
    seed: int = 42
    """which training windows are scored"""

    @classmethod
    def from_dict(cls, values, where: str = "student.prune") -> PruneSpec:
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: expected a mapping such as {{target_speedup: 3.0}}, got {values!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        spec = cls(**values)
        spec.check(where)
        return spec

    def check(self, where: str) -> None:
        def bad(key, message):
            return ConfigError(f"{where}.{key}: {message}, got {getattr(self, key)!r}")

        if isinstance(self.target_speedup, bool) or not isinstance(self.target_speedup, (int, float)) \
                or not self.target_speedup >= 1:
            raise bad("target_speedup", "must be a number >= 1")
        self.target_speedup = float(self.target_speedup)
        for key in ("windows", "timing_batch", "seed"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "seed" else 1):
                raise bad(key, "must be a positive integer")
        for key in ("min_hidden", "min_ffn", "timing_length"):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise bad(key, "must be a positive integer or null")
        if isinstance(self.structures, str) or not isinstance(self.structures, list) or not self.structures:
            raise bad("structures", f"must be a non-empty list of {', '.join(STRUCTURES)}")
        unknown = [s for s in self.structures if s not in STRUCTURES]
        if unknown:
            raise bad("structures", f"unknown structure(s) {unknown}; known: {', '.join(STRUCTURES)}")
        if ("heads" in self.structures) != ("hidden" in self.structures):
            raise bad("structures", "heads and hidden go together (a plain config's head size is hidden / heads, "
                                    "and the teacher's head size must stay); list both or neither")
        if self.layers is not None:
            self.layers = check_layer_list(self.layers, f"{where}.layers")
            if "layers" in self.structures:
                self.structures = [s for s in self.structures if s != "layers"]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Importance:
    """Fisher scores: heads [layers, heads], neurons [layers, ffn], hidden [hidden] (numpy float64)."""

    heads: object
    neurons: object
    hidden: object
    windows: int
    seconds: float = 0.0


@dataclass
class Shape:
    """A candidate student: the teacher layers it keeps (1-based), its hidden size and its FFN size."""

    layers: tuple
    hidden: int
    ffn: int

    def key(self) -> str:
        return f"L{len(self.layers)}-H{self.hidden}-F{self.ffn}"


@dataclass
class PrunePlan:
    """What to keep: layers (1-based teacher layers), per kept layer the teacher heads and FFN neurons (0-based),
    the hidden dimensions; and how it was chosen."""

    layers: list
    heads: list
    neurons: list
    hidden: list
    head_size: int
    predicted_speedup: float
    cost: float
    info: dict = field(default_factory=dict)

    def shape(self) -> dict:
        return {"num_hidden_layers": len(self.layers), "hidden_size": len(self.hidden),
                "num_attention_heads": len(self.heads[0]), "intermediate_size": len(self.neurons[0])}

    def save(self, folder: str | os.PathLike) -> Path:
        path = Path(folder) / PRUNE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dataclasses.asdict(self), indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> PrunePlan:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))


# ---------------------------------------------------------------------------------------------------------------
# The model's parts (BERT-like families: bert, roberta, xlm-roberta, electra)


def _parts(model):
    """(embeddings, encoder layers, qa_outputs) of a BERT-like QA model, or a ConfigError."""
    base = getattr(model, model.base_model_prefix, None)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    embeddings = getattr(base, "embeddings", None)
    head = getattr(model, "qa_outputs", None)
    if layers is None or embeddings is None or head is None or not hasattr(layers[0], "attention") \
            or not hasattr(layers[0].attention, "self") or not hasattr(layers[0], "intermediate"):
        raise ConfigError(f"prune: {type(model).__name__} is not a BERT-like QA model (embeddings, encoder.layer "
                          "with attention.self / intermediate / output, qa_outputs); pruning supports bert, roberta, "
                          "xlm-roberta and electra")
    if getattr(embeddings, "embedding_size", None) not in (None, model.config.hidden_size) or \
            hasattr(base, "embeddings_project"):
        raise ConfigError("prune: embeddings projected to another width (ELECTRA-small style) are not supported")
    return embeddings, layers, head


def head_size(config) -> int:
    return config.hidden_size // config.num_attention_heads


# ---------------------------------------------------------------------------------------------------------------
# 1. Importance


class _Masks:
    """Masks of ones (requires_grad) applied by hooks to heads, neurons and hidden dimensions of `model`."""

    def __init__(self, model):
        import torch

        config = model.config
        embeddings, layers, _ = _parts(model)
        n, h, f, d = len(layers), config.num_attention_heads, config.intermediate_size, config.hidden_size
        dtype = next(model.parameters()).dtype
        self.heads = torch.ones(n, h, dtype=dtype, requires_grad=True)
        self.neurons = torch.ones(n, f, dtype=dtype, requires_grad=True)
        self.hidden = torch.ones(d, dtype=dtype, requires_grad=True)
        size = head_size(config)
        self.handles = []

        def on_input(mask_of):
            def hook(module, args):
                x = args[0]
                return (x * mask_of(x),) + tuple(args[1:])
            return hook

        def on_output(module, args, out):
            return out * self.hidden

        for i, layer in enumerate(layers):
            self.handles.append(layer.attention.output.dense.register_forward_pre_hook(on_input(
                lambda x, i=i: self.heads[i].repeat_interleave(size))))
            self.handles.append(layer.output.dense.register_forward_pre_hook(on_input(
                lambda x, i=i: self.neurons[i])))
            self.handles.append(layer.attention.output.LayerNorm.register_forward_hook(on_output))
            self.handles.append(layer.output.LayerNorm.register_forward_hook(on_output))
        self.handles.append(embeddings.LayerNorm.register_forward_hook(on_output))

    def grads(self):
        return (self.heads.grad.detach().clone(), self.neurons.grad.detach().clone(),
                self.hidden.grad.detach().clone())

    def zero(self):
        for m in (self.heads, self.neurons, self.hidden):
            m.grad = None

    def remove(self):
        for handle in self.handles:
            handle.remove()


def qa_loss(model, batch: dict):
    """The teacher's own QA loss on labelled windows: the mean of start and end cross-entropy."""
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
    out = model(**inputs, start_positions=batch["start_positions"], end_positions=batch["end_positions"])
    return out.loss


def importance(model, batches) -> Importance:
    """Fisher scores of `model`'s heads, FFN neurons and hidden dimensions: the sum over `batches` (each a dict of
    tensors holding one window, or a few) of each mask's squared gradient of `qa_loss`."""
    import numpy as np

    started = time.perf_counter()
    was_training = model.training
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    masks = _Masks(model)
    totals = None
    count = 0
    try:
        for batch in batches:
            masks.zero()
            qa_loss(model, batch).backward()
            squares = [g.double() ** 2 for g in masks.grads()]
            totals = squares if totals is None else [t + s for t, s in zip(totals, squares)]
            count += int(batch["input_ids"].shape[0])
    finally:
        masks.remove()
        for p in model.parameters():
            p.requires_grad_(True)
        model.train(was_training)
    if totals is None:
        raise ConfigError("prune: no training windows to score importance on")
    heads, neurons, hidden = (np.asarray(t.numpy(), dtype=np.float64) for t in totals)
    return Importance(heads, neurons, hidden, count, time.perf_counter() - started)


def window_batches(features: dict, count: int, seed: int):
    """Tensors of `count` training windows chosen by `seed`, one window per batch (unpadded)."""
    import numpy as np
    import torch

    n = len(features["input_ids"])
    rows = np.random.default_rng(seed).permutation(n)[: min(count, n)]
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids", "start_positions", "end_positions")
            if k in features]
    for row in sorted(rows.tolist()):
        batch = {}
        for k in keys:
            value = features[k][row]
            batch[k] = torch.tensor([value] if isinstance(value, list) else [value], dtype=torch.long)
        yield batch


# ---------------------------------------------------------------------------------------------------------------
# 2. Speed


def _cpu_key() -> str:
    import platform

    import torch

    from destila.hardware import cpu_name

    return f"{cpu_name() or platform.processor()}|torch {torch.__version__}|threads {torch.get_num_threads()}"


_TIMING_VOCAB = 1000  # pieces in the timed models' embedding tables at most


class SpeedTable:
    """Seconds per forward of one transformer layer of a given width, and of the embeddings plus QA head, on
    `batch` windows of `length` tokens, fp32; measured here once and cached in `path` (keyed by CPU, torch
    version, threads, model family, head size, batch and length)."""

    def __init__(self, config, batch: int, length: int, path: str | os.PathLike | None = None, repeats: int = 3):
        self.config = config
        self.batch, self.length, self.repeats = batch, length, repeats
        self.path = Path(path) if path is not None else None
        self.prefix = (f"{_cpu_key()}|{config.model_type}|head {head_size(config)}|"
                       f"B{batch}xT{length}")
        self.cache: dict[str, float] = {}
        if self.path is not None and self.path.exists():
            try:
                self.cache = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                self.cache = {}
        self.measured = 0

    def _config(self, hidden: int, ffn: int, layers: int):
        import copy

        config = copy.deepcopy(self.config)
        config.hidden_size, config.intermediate_size = hidden, ffn
        config.num_attention_heads = hidden // head_size(self.config)
        config.num_hidden_layers = layers
        # the embedding table's size changes what building a timed model costs (a 250k-piece table is most of it),
        # not what the timed forward does: a gather of batch x length rows
        config.vocab_size = min(config.vocab_size, _TIMING_VOCAB)
        return config

    def _time(self, fn) -> float:
        import torch

        with torch.inference_mode():
            fn()  # warm-up
            times = []
            for _ in range(self.repeats):
                started = time.perf_counter()
                fn()
                times.append(time.perf_counter() - started)
        return sorted(times)[len(times) // 2]

    def _lookup(self, key: str, measure) -> float:
        full = f"{self.prefix}|{key}"
        if full not in self.cache:
            self.cache[full] = measure()
            self.measured += 1
        return self.cache[full]

    def layer(self, hidden: int, ffn: int) -> float:
        def measure():
            import torch
            from transformers import AutoModelForQuestionAnswering

            model = AutoModelForQuestionAnswering.from_config(self._config(hidden, ffn, 1)).eval()
            _, layers, _ = _parts(model)
            x = torch.randn(self.batch, self.length, hidden)
            return self._time(lambda: layers[0](x))

        return self._lookup(f"layer {hidden} {ffn}", measure)

    def rest(self, hidden: int) -> float:
        """The embeddings and the QA head (what a model costs besides its layers)."""
        def measure():
            import torch
            from transformers import AutoModelForQuestionAnswering

            model = AutoModelForQuestionAnswering.from_config(self._config(hidden, hidden, 1)).eval()
            embeddings, _, head = _parts(model)
            ids = torch.randint(0, model.config.vocab_size, (self.batch, self.length))
            return self._time(lambda: head(embeddings(input_ids=ids)))

        return self._lookup(f"rest {hidden}", measure)

    def model(self, layers: int, hidden: int, ffn: int) -> float:
        """The estimate: embeddings and head plus `layers` times one layer."""
        return self.rest(hidden) + layers * self.layer(hidden, ffn)

    def whole(self, layers: int, hidden: int, ffn: int) -> float:
        """A whole model of this shape (random weights), as the bench runs it: ids and attention mask in."""
        def measure():
            import torch
            from transformers import AutoModelForQuestionAnswering

            model = AutoModelForQuestionAnswering.from_config(self._config(hidden, ffn, layers)).eval()
            ids = torch.randint(0, model.config.vocab_size, (self.batch, self.length))
            mask = torch.ones_like(ids)
            return self._time(lambda: model(input_ids=ids, attention_mask=mask))

        return self._lookup(f"whole {layers} {hidden} {ffn}", measure)

    def save(self) -> None:
        if self.path is not None and self.measured:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.cache, indent=0), encoding="utf-8")
            tmp.replace(self.path)


def default_speed_cache() -> Path:
    from destila.paths import cache_dir

    return Path(cache_dir()) / "prune_speed.json"


# ---------------------------------------------------------------------------------------------------------------
# 3. Choosing the shape


def spread_layers(total: int, keep: int) -> tuple:
    """`keep` of `total` layers (1-based) evenly spread and ending at the top: 4 of 12 -> (3, 6, 9, 12)."""
    return tuple(sorted({max(1, round((i + 1) * total / keep)) for i in range(keep)}))


def candidate_shapes(config, spec: PruneSpec) -> list[Shape]:
    total, hidden, ffn = config.num_hidden_layers, config.hidden_size, config.intermediate_size
    size = head_size(config)
    if spec.layers is not None:
        for layer in spec.layers:
            if layer > total:
                raise ConfigError(f"student.prune.layers: {layer} is not a layer of the teacher's {total}")
        depths = [tuple(spec.layers)]
    elif "layers" in spec.structures:
        depths = list(dict.fromkeys(spread_layers(total, max(1, round(total * f))) for f in DEPTH_FRACTIONS))
    else:
        depths = [tuple(range(1, total + 1))]
    if "hidden" in spec.structures:
        low = spec.min_hidden or max(size, hidden // 4)
        widths = [w for w in range(hidden, low - 1, -size) if w >= size]
    else:
        widths = [hidden]
    if "ffn" in spec.structures:
        step = max(8, 2 ** int(math.log2(max(ffn // 24, 1))))  # sizes the matmul kernels like (multiples of 8+)
        low = spec.min_ffn or max(step, ffn // 12)
        ffns = [f for f in range(ffn, low - 1, -step)]
    else:
        ffns = [ffn]
    return [Shape(layers, w, f) for layers in depths for w in widths for f in ffns]


def removal_cost(scores: Importance, shape: Shape, head: int) -> float:
    """½ the summed Fisher scores of every structure `shape` removes: whole layers (all their heads and
    neurons), the lowest-scoring heads and neurons of each kept layer, the lowest-scoring hidden dimensions."""
    import numpy as np

    heads, neurons = scores.heads, scores.neurons
    keep_heads, keep_ffn = shape.hidden // head, shape.ffn
    cost = 0.0
    kept = {layer - 1 for layer in shape.layers}
    for i in range(heads.shape[0]):
        if i not in kept:
            cost += heads[i].sum() + neurons[i].sum()
            continue
        cost += np.sort(heads[i])[: heads.shape[1] - keep_heads].sum()
        cost += np.sort(neurons[i])[: neurons.shape[1] - keep_ffn].sum()
    cost += np.sort(scores.hidden)[: scores.hidden.shape[0] - shape.hidden].sum()
    return 0.5 * float(cost)


def choose_shape(config, scores: Importance, spec: PruneSpec, speeds: SpeedTable,
                 verify: int = 12) -> tuple[Shape, float, float, list]:
    """The candidate that removes the least importance among those whose speed-up reaches the target.

    The layer table estimates every candidate's speed-up; the cheapest candidates it admits are then timed as
    whole models against the whole teacher (at most `verify` of them, cheapest first; a candidate whose estimate,
    scaled by the median ratio of whole-model timing to estimate so far, falls short is skipped untimed) and the
    first that reaches the target is kept. Returns (shape, measured speed-up, cost, every candidate's [key,
    estimated speed-up, cost])."""
    teacher = speeds.model(config.num_hidden_layers, config.hidden_size, config.intermediate_size)
    size = head_size(config)
    rows, admitted = [], []
    for shape in candidate_shapes(config, spec):
        speedup = teacher / speeds.model(len(shape.layers), shape.hidden, shape.ffn)
        cost = removal_cost(scores, shape, size)
        rows.append([shape.key(), round(speedup, 3), cost])
        # a small margin below the target: the whole-model timing below decides
        if speedup >= 0.9 * spec.target_speedup:
            admitted.append((cost, -speedup, shape))
    admitted.sort(key=lambda item: item[:2])
    whole_teacher = speeds.whole(config.num_hidden_layers, config.hidden_size, config.intermediate_size)
    tried, ratios = [], []
    for cost, negative, shape in admitted:
        if len(tried) >= verify:
            break
        # what the whole-model timings so far say of the layer table's estimates: skip what they rule out
        if ratios and -negative * sorted(ratios)[len(ratios) // 2] < 0.97 * spec.target_speedup:
            continue
        measured = whole_teacher / speeds.whole(len(shape.layers), shape.hidden, shape.ffn)
        ratios.append(measured / -negative)
        tried.append(f"{shape.key()} {measured:.2f}x")
        if measured >= spec.target_speedup:
            speeds.save()
            return shape, measured, cost, rows
    speeds.save()
    fastest = max(rows, key=lambda r: r[1])
    raise ConfigError(
        f"student.prune.target_speedup: {spec.target_speedup}x is out of reach of the shapes allowed "
        f"(structures {spec.structures}): the fastest, {fastest[0]}, is estimated at {fastest[1]:.2f}x here"
        + (f"; timed whole: {', '.join(tried)}" if tried else "")
        + ". Lower the target or allow more structures (layers, hidden, min_hidden, min_ffn)")


def make_plan(config, scores: Importance, shape: Shape, speedup: float, cost: float, info: dict) -> PrunePlan:
    """Which heads, neurons and hidden dimensions `shape` keeps: the highest-scoring ones, in their order."""
    import numpy as np

    size = head_size(config)
    keep_heads = shape.hidden // size

    def top(values, k):
        return sorted(int(i) for i in np.argsort(-values, kind="stable")[:k])

    layers = list(shape.layers)
    return PrunePlan(
        layers=layers,
        heads=[top(scores.heads[layer - 1], keep_heads) for layer in layers],
        neurons=[top(scores.neurons[layer - 1], shape.ffn) for layer in layers],
        hidden=top(scores.hidden, shape.hidden),
        head_size=size, predicted_speedup=round(speedup, 4), cost=cost, info=info)


# ---------------------------------------------------------------------------------------------------------------
# 4. Building the pruned model


def pruned_config(config, plan: PrunePlan):
    import copy

    config = copy.deepcopy(config)
    for key, value in plan.shape().items():
        setattr(config, key, value)
    config._name_or_path = ""
    return config


def prune_model(model, plan: PrunePlan):
    """A new model of `model`'s class and a plain config holding only what `plan` keeps (fp32)."""
    import torch

    config = model.config
    if plan.head_size != head_size(config):
        raise ConfigError(f"prune: the plan's head size {plan.head_size} is not the model's {head_size(config)}")
    if any(len(heads) * plan.head_size != len(plan.hidden) for heads in plan.heads):
        raise ConfigError(f"prune: every layer must keep {len(plan.hidden)} / {plan.head_size} heads (hidden size / "
                          "head size), as a plain config has it")
    new = type(model)(pruned_config(config, plan)).to(torch.float32).eval()
    src_emb, src_layers, src_head = _parts(model)
    dst_emb, dst_layers, dst_head = _parts(new)
    dims = torch.tensor(plan.hidden, dtype=torch.long)

    def put(dst, src, rows=None, cols=None):
        value = src.detach().to(torch.float32)
        if rows is not None:
            value = value.index_select(0, rows)
        if cols is not None:
            value = value.index_select(1, cols)
        with torch.no_grad():
            dst.copy_(value)

    for name, module in src_emb.named_children():
        target = getattr(dst_emb, name)
        if isinstance(module, torch.nn.Embedding):
            put(target.weight, module.weight, cols=dims)
        elif isinstance(module, torch.nn.LayerNorm):
            put(target.weight, module.weight, rows=dims)
            put(target.bias, module.bias, rows=dims)
    for buffer_name, buffer in src_emb.named_buffers(recurse=False):
        getattr(dst_emb, buffer_name).copy_(buffer)

    size = plan.head_size
    for dst, layer, heads, neurons in zip(dst_layers, plan.layers, plan.heads, plan.neurons):
        src = src_layers[layer - 1]
        cols = torch.tensor([h * size + j for h in heads for j in range(size)], dtype=torch.long)
        ffn = torch.tensor(neurons, dtype=torch.long)
        for name in ("query", "key", "value"):
            put(getattr(dst.attention.self, name).weight, getattr(src.attention.self, name).weight, cols, dims)
            put(getattr(dst.attention.self, name).bias, getattr(src.attention.self, name).bias, cols)
        put(dst.attention.output.dense.weight, src.attention.output.dense.weight, dims, cols)
        put(dst.attention.output.dense.bias, src.attention.output.dense.bias, dims)
        put(dst.intermediate.dense.weight, src.intermediate.dense.weight, ffn, dims)
        put(dst.intermediate.dense.bias, src.intermediate.dense.bias, ffn)
        put(dst.output.dense.weight, src.output.dense.weight, dims, ffn)
        put(dst.output.dense.bias, src.output.dense.bias, dims)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            put(dst.get_submodule(norm).weight, src.get_submodule(norm).weight, dims)
            put(dst.get_submodule(norm).bias, src.get_submodule(norm).bias, dims)
    put(dst_head.weight, src_head.weight, cols=dims)
    put(dst_head.bias, src_head.bias)
    return new


# ---------------------------------------------------------------------------------------------------------------
# The whole step


def plan_pruning(model, features: dict, spec: PruneSpec, *,
                 speed_cache: str | os.PathLike | None | bool = True, log=print) -> PrunePlan:
    """Score `model`'s structures on `spec.windows` of `features` (training windows with gold positions), time the
    candidate shapes here and return the plan of the chosen one."""
    import numpy as np

    n_windows = len(features["input_ids"])
    if not n_windows:
        raise ConfigError("prune: no training windows to score importance on")
    scores = importance(model, window_batches(features, spec.windows, spec.seed))
    log(f"prune: importance of {model.config.num_hidden_layers * model.config.num_attention_heads} heads, "
        f"{model.config.num_hidden_layers * model.config.intermediate_size} FFN neurons and "
        f"{model.config.hidden_size} hidden dimensions from {scores.windows} training windows "
        f"({scores.seconds:.0f} s)")
    length = spec.timing_length or int(np.median([len(x) for x in features["input_ids"]]))
    cache = default_speed_cache() if speed_cache is True else (speed_cache or None)
    started = time.perf_counter()
    speeds = SpeedTable(model.config, spec.timing_batch, length, cache)
    shape, speedup, cost, rows = choose_shape(model.config, scores, spec, speeds)
    timing = time.perf_counter() - started
    log(f"prune: {len(rows)} candidate shapes ({speeds.measured} timings measured, {timing:.0f} s); kept "
        f"{shape.key()} (layers {list(shape.layers)}), {speedup:.2f}x the teacher's forward speed here")
    total = 0.5 * float(scores.heads.sum() + scores.neurons.sum() + scores.hidden.sum())
    info = {"spec": spec.to_dict(), "windows": scores.windows, "importance_seconds": round(scores.seconds, 2),
            "timing_seconds": round(timing, 2), "timing": {"batch": spec.timing_batch, "length": length,
                                                            "machine": _cpu_key()},
            "total_score": total, "candidates": rows,
            "teacher_shape": _shape_of(model.config)}
    return make_plan(model.config, scores, shape, speedup, cost, info)


def pruned_student(teacher, spec: PruneSpec, windows, *, folder=None, log=print):
    """The pruned student of a distillation run: the plan stored in `folder` when it was made for this spec and
    teacher (a resumed run keeps its shape), else one made now and stored there. `windows(count, seed)` gives a
    seeded sample of the run's training windows (with gold positions; `destila.train.batches.training_windows`)."""
    path = Path(folder) / PRUNE_FILE if folder is not None else None
    plan = None
    if path is not None and path.exists():
        stored = PrunePlan.load(path)
        same_teacher = stored.info.get("teacher_shape") == _shape_of(teacher.config)
        if stored.info.get("spec") == spec.to_dict() and same_teacher:
            plan = stored
            log(f"prune: the plan in {path} ({len(plan.layers)} layers, hidden {len(plan.hidden)}, "
                f"FFN {len(plan.neurons[0])})")
    if plan is None:
        features = windows(spec.windows, spec.seed)
        plan = plan_pruning(teacher, features, spec, log=log)
        if path is not None:
            plan.save(path.parent)
    return prune_model(teacher, plan), plan


def _shape_of(config) -> dict:
    return {"num_hidden_layers": config.num_hidden_layers, "hidden_size": config.hidden_size,
            "num_attention_heads": config.num_attention_heads, "intermediate_size": config.intermediate_size}

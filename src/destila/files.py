"""The names of the files destila reads and writes, in one place.

A model folder is a plain Hugging Face folder (`config.json`, `model.safetensors`, tokenizer files) plus what
destila adds beside it; an exported folder holds `model.onnx` or OpenVINO's `openvino_model.xml` instead of weights.
"""

# Hugging Face model folders
HF_CONFIG = "config.json"
WEIGHTS = "model.safetensors"
TOKENIZER = "tokenizer.json"

# Training runs (destila train / distill)
RUN_CONFIG = "destila_config.yaml"
PIPELINE_RECIPE = "destila_pipeline.yaml"  # the pipeline recipe a pipeline folder was started with
RUN_STATE = "destila_state.json"
METRICS = "metrics.json"
TRAINING_LOG = "training_log.jsonl"
CHECKPOINTS = "checkpoints"
BEST = "best"
TEACHER_CACHE = "teacher_cache"
MODEL_CARD = "README.md"
AUGMENTED = "augmented_train.json"  # the teacher-labelled copies a distillation trained on
# The no-answer threshold chosen on training-fold questions (destila.no_answer); the `destila_` prefix carries it
# into trimmed and exported folders with the other records
NO_ANSWER = "destila_no_answer.json"
PRUNE = "destila_prune.json"  # what a pruned student kept of its teacher, and how it was chosen

# Evaluation outputs (destila evaluate, the pipeline)
PREDICTIONS = "predictions.json"
NULL_ODDS = "null_odds.json"

# Exports (destila export)
ONNX = "model.onnx"
OPENVINO = "openvino_model.xml"  # OpenVINO IR: the graph; its weights are the .bin beside it
OPENVINO_WEIGHTS = "openvino_model.bin"
EXPORT_INFO = "export.json"
PARITY = "parity.json"

# Reports (destila bench, destila pipeline)
REPORT_JSON = "report.json"
REPORT_MD = "report.md"

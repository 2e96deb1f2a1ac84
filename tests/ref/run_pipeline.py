"""Run transformers' question-answering pipeline (5.2.0, in the reference environment) on cases from a JSON file.

Usage: python run_pipeline.py CASES.json OUT.json
CASES.json: {"models": {name: folder}, "cases": [{"model": name, "question": ..., "context": ..., "kwargs": {...}}]}
OUT.json: one pipeline result per case, in order.
"""

import json
import sys

import torch
import transformers
from transformers import pipeline


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    torch.set_num_threads(1)
    pipes = {name: pipeline("question-answering", model=f, tokenizer=f) for name, f in spec["models"].items()}
    out = []
    for case in spec["cases"]:
        out.append(pipes[case["model"]](question=case["question"], context=case["context"], **case["kwargs"]))
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump({"transformers": transformers.__version__, "results": out}, f)


if __name__ == "__main__":
    main()

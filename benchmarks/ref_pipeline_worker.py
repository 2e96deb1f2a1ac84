"""Reference side of benchmarks/predict_speed.py: transformers' question-answering pipeline (5.2.0) in its own
environment, driven over stdin/stdout so the two sides can take turns on the same cores.

Usage: REF_PYTHON ref_pipeline_worker.py MODEL_FOLDER QUESTIONS.json THREADS
Prints {"ready": true, "transformers": VERSION}, then for each stdin line {"lo": i, "hi": j} answers questions
i..j-1 with one pipeline call and prints {"seconds": ..., "answers": [{score, start, end, answer}, ...]}.
"""

import json
import sys
import time


def main() -> None:
    folder, questions_path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    import torch
    import transformers
    from transformers import pipeline
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    torch.set_num_threads(threads)
    with open(questions_path, encoding="utf-8") as f:
        pairs = json.load(f)
    qa = pipeline("question-answering", model=folder, tokenizer=folder, device="cpu")
    print(json.dumps({"ready": True, "transformers": transformers.__version__}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        chunk = pairs[cmd["lo"] : cmd["hi"]]
        started = time.perf_counter()
        result = qa(question=[p["question"] for p in chunk], context=[p["context"] for p in chunk])
        seconds = time.perf_counter() - started
        result = result if isinstance(result, list) else [result]
        print(json.dumps({"seconds": seconds, "answers": result}, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()

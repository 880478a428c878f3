"""What choosing passages costs next to answering, on a 100K-token document (issue goal: < 10%).

The document is real text: QMSum validation meetings joined until it has at least --tokens tokens,
and the query is the first specific query of the first meeting. For each scorer, `retrieve` chooses
passages on a fresh index (tokenising, passages, BM25 index, embeddings, scoring, selection: all
of it, cold), then the model answers from the chosen prompt; both are timed in the same run, at
each window. The embedder's one-time load is reported on its own. Binary codes vs float32: index
bytes, search latency and recall@10 over the document's real passage embeddings tiled to 100,000.

    python benchmarks/retrieval_speed_cpu.py --out benchmarks/results/retrieval_speed_cpu.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch


def document(tokens: int) -> tuple[str, str]:
    from qfocus.data import load_dataset

    examples = load_dataset("qmsum", "val")
    query = next(e.query for e in examples if "-specific-" in e.id)
    meetings, text = [], ""
    for e in examples:
        if e.document not in meetings:
            meetings.append(e.document)
            text = "\n".join(meetings)
            if len(text) / 4.2 > tokens * 1.05:  # ~4.2 characters per SmolLM2 token on QMSum
                break
    return text, query


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def binary_vs_float(vectors: np.ndarray, query: np.ndarray, candidates: int = 256) -> dict:
    from qfocus.retrieval import binary

    reps = int(np.ceil(100_000 / len(vectors)))
    rng = np.random.default_rng(0)
    tiled = np.concatenate([vectors + rng.normal(0, 0.01, vectors.shape).astype(np.float32) for _ in range(reps)])[:100_000]
    tiled /= np.linalg.norm(tiled, axis=1, keepdims=True)
    codes = binary.pack(tiled)
    exact, float_s = timed(lambda: np.argsort(-(tiled @ query))[:10])
    scores, binary_s = timed(lambda: binary.search(codes, tiled, query, candidates))
    found = np.argsort(-scores)[:10]
    return {"passages": len(tiled), "float32_index_bytes": int(tiled.nbytes), "binary_index_bytes": int(codes.nbytes),
            "bytes_ratio": round(tiled.nbytes / codes.nbytes, 1), "float32_search_s": round(float_s, 4),
            "binary_search_s": round(binary_s, 4), "binary_candidates": candidates,
            "recall_at_10": len(set(found) & set(exact)) / 10}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--windows", type=int, nargs="+", default=[2048, 8192])
    parser.add_argument("--scorers", nargs="+", default=["bm25", "hybrid", "dense"])
    args = parser.parse_args()
    torch.set_num_threads(2)
    import qfocus
    from qfocus.config import RetrievalConfig, SummarizeConfig
    from qfocus.generation import generate
    from qfocus.retrieval import dense, index as index_module
    from qfocus.strategies import get_strategy

    text, query = document(args.tokens)
    lm = qfocus.load_model("smollm2", dtype="float32")
    _, load_s = timed(dense.load_embedder)
    rows = []
    for window in args.windows:
        for scorer in args.scorers:
            index_module._indexes.clear()  # cold: nothing of this document is indexed yet
            config = SummarizeConfig(strategy="retrieve", context_window=window, retrieval=RetrievalConfig(scorer=scorer))
            strategy = get_strategy("retrieve", config)
            (prompt, chosen, _), select_s = timed(lambda: strategy.choose(lm, text, query))
            answer, generate_s = timed(lambda: generate(lm, prompt.input_ids, config.generation, query_mask=prompt.query_mask))
            row = {"window": window, "scorer": scorer, "document_tokens": prompt.document_tokens,
                   "passages": len(index_module._indexes[next(iter(index_module._indexes))].passages),
                   "prompt_tokens": len(prompt), "selection_s": round(select_s, 3), "generation_s": round(generate_s, 3),
                   "answer_tokens": answer.new_tokens, "selection_over_generation": round(select_s / generate_s, 4)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    index = next(iter(index_module._indexes.values()))
    vectors = index.vectors(list(range(len(index.passages))))
    q = dense.load_embedder().encode([query])[0]
    report = {"command": "python benchmarks/retrieval_speed_cpu.py --out benchmarks/results/retrieval_speed_cpu.json",
              "machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads()},
              "embedder_load_s": round(load_s, 3), "query": query, "rows": rows,
              "binary_vs_float32": binary_vs_float(vectors, q)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["binary_vs_float32"]))


if __name__ == "__main__":
    main()

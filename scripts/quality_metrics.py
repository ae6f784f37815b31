"""The run's data-quality numbers recomputed from a finished run dir's `final` Parquet, without Spark:
for comparing runs made before these metrics existed with new ones, on the same definitions.

    python scripts/quality_metrics.py runs/local [runs/other ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from fanno_spark.generate.instruction_rules import is_request, refers_to_source, unquoted
from fanno_spark.generate.tags import TAG_POOL
from fanno_spark.llm.model_store import embedding_model_path
from fanno_spark.text.verbs import verb_noun


def metrics(run_dir: Path, threshold: float = 0.9) -> dict[str, float]:
    from sentence_transformers import SentenceTransformer

    final = pd.read_parquet(run_dir / "final")
    instr = final["instruction"].fillna("")
    out = {"pairs": float(len(final)),
           "source_reference_share": float(instr.map(lambda t: refers_to_source(unquoted(t)) is not None).mean()),
           "request_share": float(instr.map(is_request).mean()),
           "input_share": float((final.get("input", pd.Series([""] * len(final))).fillna("").str.strip() != "").mean()),
           "verb_noun_unique_pairs": float(len({vn for vn in instr.map(verb_noun) if vn})),
           "tag_coverage": float(len({t for t in zip(final["task_type"], final["difficulty"], final["style"],
                                                     strict=True) if t in set(TAG_POOL)}) / len(TAG_POOL))}
    model = SentenceTransformer(embedding_model_path(), device="cpu")
    vecs = model.encode(list(instr), normalize_embeddings=True, convert_to_numpy=True)
    sims_all = vecs @ vecs.T
    iu = np.triu_indices(len(vecs), k=1)
    out["near_duplicate_share"] = float((sims_all[iu] >= threshold - 1e-6).mean()) if len(iu[0]) else 0.0
    for r in sorted(final["round"].unique()):
        v = vecs[(final["round"] == r).to_numpy()]
        if len(v) > 1:
            s = (v @ v.T)[np.triu_indices(len(v), k=1)]
            out[f"r{r}.mean_cosine"], out[f"r{r}.max_cosine"] = float(s.mean()), float(s.max())
    m = json.loads((run_dir / "metrics.json").read_text())
    out["llm_calls_per_pair"] = float(m.get("final.llm_calls_per_pair", float("nan")))
    return out


if __name__ == "__main__":
    rows = {p: metrics(Path(p)) for p in sys.argv[1:]}
    print(pd.DataFrame(rows).round(3).to_string())

"""The bundled MiniLM exported once to ONNX, in the folder layout Spark NLP's `E5Embeddings.loadSavedModel`
imports (`model.onnx`, `assets/vocab.txt`), so `embed.engine: sparknlp` embeds inside the JVM.

The graph ends in the sentence vector itself (BERT, mean pooling over the attention mask, unit norm) repeated
at every token position under the output name the annotator reads (`last_hidden_state`). The annotator then
averages and normalises rows that are all the same vector, which changes nothing. Why not leave the pooling to
the annotator: Spark NLP 5.5's E5 pooling of a padded batch (any sentence shorter than the longest in its
batch) returns vectors far from sentence-transformers' (cosine 0.55 on short texts), and batch size 1 gives up
the batching. With the pooling in the graph, batches are exact (tests/spark/test_embed_engines.py).

Exported at install (`make install`), offline, from the weights in the package; the folder is keyed by a hash
of the weights, the tokenizer files and this module's export code, so new weights or a new export get a new
folder and an old one is never reused by mistake.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import shutil
from pathlib import Path

OPSET = 17  # what onnxruntime 1.19 (the Spark NLP 5.5 jar's runtime) runs


def _key(model_path: str) -> str:
    root = Path(model_path)
    h = hashlib.sha256()
    for name in ("config.json", "vocab.txt", "tokenizer_config.json", "1_Pooling/config.json"):
        h.update((root / name).read_bytes())
    st = root / "model.safetensors"
    h.update(f"{st.stat().st_size}".encode())
    with st.open("rb") as f:  # the header names every tensor and its offsets; the tail is the last weights
        h.update(f.read(1 << 20))
        f.seek(max(0, st.stat().st_size - (1 << 20)))
        h.update(f.read())
    from . import minilm

    h.update(inspect.getsource(minilm.MiniLM.hidden_states).encode())
    h.update(inspect.getsource(_Pooled).encode())
    h.update(str(OPSET).encode())
    return h.hexdigest()[:16]


def default_dir(model_path: str) -> Path:
    from ..llm.model_store import default_cache_dir

    return default_cache_dir() / f"minilm-onnx-{_key(model_path)}"


class _Pooled:
    """torch module factory (torch is imported only when exporting)."""

    @staticmethod
    def build(model):
        import torch
        import torch.nn.functional as F

        class Pooled(torch.nn.Module):
            def forward(self, input_ids, attention_mask, token_type_ids):
                x = model.hidden_states(input_ids, token_type_ids, attention_mask)
                m = attention_mask.unsqueeze(-1).to(x.dtype)
                pooled = F.normalize((x * m).sum(1) / torch.clamp(m.sum(1), min=1e-9), dim=1)
                return pooled.unsqueeze(1).expand_as(x)

        return Pooled()


def export(model_path: str, target: Path | None = None) -> Path:
    """The Spark NLP import folder for this MiniLM, exported if it is not there yet (atomic: a half-written
    export is never taken for a finished one)."""
    target = Path(target) if target else default_dir(model_path)
    if (target / "export.json").is_file():
        return target
    import torch

    from . import minilm

    if not minilm.supported(model_path):
        raise ValueError(f"embed.engine sparknlp: {model_path} is not a mean-pooled BERT sentence-transformers "
                         "folder (set embed.engine: torch)")
    model = minilm.MiniLM(model_path)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "assets").mkdir(parents=True)
    ids = torch.ones(2, 8, dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with torch.no_grad():
        torch.onnx.export(_Pooled.build(model), (ids, torch.ones_like(ids), torch.zeros_like(ids)),
                          str(tmp / "model.onnx"), input_names=names, output_names=["last_hidden_state"],
                          dynamic_axes={n: axes for n in [*names, "last_hidden_state"]}, opset_version=OPSET,
                          dynamo=False)
    shutil.copy(Path(model_path) / "vocab.txt", tmp / "assets" / "vocab.txt")
    (tmp / "export.json").write_text(json.dumps({"source": str(model_path), "opset": OPSET,
                                                 "torch": torch.__version__}))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target

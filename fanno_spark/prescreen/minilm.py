"""The bundled MiniLM (a sentence-transformers folder: BERT, mean pooling, normalisation) run on torch and
`tokenizers` alone.

Why not sentence-transformers: importing it pulls in transformers, scikit-learn and scipy, 13 s on a 2-core
EPYC against 3.5 s for torch + tokenizers, paid by every Python worker (or daemon) that embeds. The forward
pass is BERT's, with the same tokenizer file, truncation and pooling, so the vectors match
sentence-transformers' to float rounding (tests/unit/test_minilm.py compares them). A folder that is not a
mean-pooled BERT is left to sentence-transformers (embed.py).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

# What a worker imports to embed with this module: the worker daemon imports them once (spark.preload).
LIBRARIES = ["torch", "tokenizers", "safetensors.torch"]


def supported(path: str) -> bool:
    """A sentence-transformers folder this module can run: BERT, absolute positions, mean pooling only."""
    root = Path(path)
    try:
        cfg = json.loads((root / "config.json").read_text())
        modules = json.loads((root / "modules.json").read_text())
        pooling = json.loads((root / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError):
        return False
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    return (cfg.get("model_type") == "bert" and cfg.get("hidden_act") == "gelu"
            and cfg.get("position_embedding_type", "absolute") == "absolute"
            and kinds in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"])
            and modes == {"pooling_mode_mean_tokens"} and (root / "tokenizer.json").exists()
            and (root / "model.safetensors").exists())


class MiniLM:
    """The subset of SentenceTransformer's interface that embed.encode uses."""

    def __init__(self, path: str, device: str = "cpu", max_seq_length: int = 256):
        import torch
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        root = Path(path)
        self.config = json.loads((root / "config.json").read_text())
        self.heads = self.config["num_attention_heads"]
        self.eps = self.config["layer_norm_eps"]
        self.w = {k: v for k, v in load_file(str(root / "model.safetensors")).items()
                  if not k.startswith("pooler.") and k != "embeddings.position_ids"}
        self.tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
        self.max_seq_length = max_seq_length
        self.device = torch.device("cpu")
        self.to(device)

    def to(self, target) -> MiniLM:
        """A device ("cuda:0") or a dtype (torch.float16), like torch.nn.Module.to."""
        import torch

        if isinstance(target, torch.dtype):
            self.w = {k: v.to(target) for k, v in self.w.items()}
        else:
            self.device = torch.device(target)
            self.w = {k: v.to(self.device) for k, v in self.w.items()}
        return self

    def get_sentence_embedding_dimension(self) -> int:
        return self.config["hidden_size"]

    def tokenize(self, texts: list[str]) -> dict:
        """As sentence-transformers does: stripped texts, truncated to max_seq_length, padded to the longest."""
        import torch

        limit = min(self.max_seq_length, self.config["max_position_embeddings"])
        self.tokenizer.enable_truncation(limit)
        self.tokenizer.enable_padding(pad_id=self.config.get("pad_token_id", 0), pad_token="[PAD]")
        enc = self.tokenizer.encode_batch([str(t).strip() for t in texts])
        return {"input_ids": torch.tensor([e.ids for e in enc], dtype=torch.long),
                "token_type_ids": torch.tensor([e.type_ids for e in enc], dtype=torch.long),
                "attention_mask": torch.tensor([e.attention_mask for e in enc], dtype=torch.long)}

    def __call__(self, features: dict) -> dict:
        import torch
        import torch.nn.functional as F

        mask = features["attention_mask"]
        x = self.hidden_states(features["input_ids"], features["token_type_ids"], mask)
        m = mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)
        return {"sentence_embedding": F.normalize(pooled, dim=1)}

    def hidden_states(self, ids, types, mask):
        """BERT's last hidden states (batch, tokens, hidden). Only the token count is read from a shape, so
        the ONNX export (minilm_onnx.py) traces it with batch and length left free."""
        import torch
        import torch.nn.functional as F

        w, eps = self.w, self.eps
        d, h = self.config["hidden_size"], self.heads
        n = ids.shape[1]
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][types])
        x = F.layer_norm(x, (d,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        # padding never attended to: an additive bias, not a boolean mask, so the ONNX export keeps its meaning
        bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for i in range(self.config["num_hidden_layers"]):
            p = f"encoder.layer.{i}."

            def lin(name, t, p=p):
                return F.linear(t, w[p + name + ".weight"], w[p + name + ".bias"])

            q, k, v = (lin(f"attention.self.{m}", x).unflatten(-1, (h, d // h)).transpose(1, 2)
                       for m in ("query", "key", "value"))
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=1 / math.sqrt(d // h))
            a = lin("attention.output.dense", a.transpose(1, 2).flatten(2))
            x = F.layer_norm(a + x, (d,), w[p + "attention.output.LayerNorm.weight"],
                             w[p + "attention.output.LayerNorm.bias"], eps)
            y = lin("output.dense", F.gelu(lin("intermediate.dense", x)))
            x = F.layer_norm(y + x, (d,), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
        return x

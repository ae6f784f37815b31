"""Prompt-cache keys name the model, not the folder it happens to sit in."""

import json
import shutil

from fanno_spark.llm.model_store import model_key
from fanno_spark.llm.types import Sampling, prompt_hash


def _model_dir(path, hidden=64):
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": hidden,
                                                  "_name_or_path": str(path)}))
    return path


def test_key_survives_moving_the_model_and_changes_with_the_weights(tmp_path):
    a = _model_dir(tmp_path / "user1" / "cache" / "smollm2")
    key = model_key("bundled:smollm2-135m-instruct", str(a))
    assert key.startswith("bundled:smollm2-135m-instruct@") and str(tmp_path) not in key
    moved = tmp_path / "elsewhere" / "models" / "smollm2"
    moved.parent.mkdir(parents=True)
    shutil.move(a, moved)
    (moved / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 64,
                                                   "_name_or_path": str(moved)}))
    assert model_key("bundled:smollm2-135m-instruct", str(moved)) == key
    other = _model_dir(tmp_path / "other", hidden=128)
    assert model_key("bundled:smollm2-135m-instruct", str(other)) != key
    conv = [{"role": "user", "content": "hi"}]
    s = Sampling(max_tokens=8)
    assert prompt_hash(key, s, conv) == prompt_hash(model_key("bundled:smollm2-135m-instruct", str(moved)), s, conv)


def test_hub_or_served_names_are_their_own_key():
    assert model_key("Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-7B-Instruct") == "Qwen/Qwen2.5-7B-Instruct"

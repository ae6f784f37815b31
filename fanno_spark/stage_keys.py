"""Store keys of a plan's stages: a hash of what a stage's output depends on (its name, the values of the config
keys it declares in `reads`, outside the resume-safe ones, which never change a dataset, and its inputs' keys),
so two configs that agree on all of it share the output. A sweep stores each keyed output once
(<sweep>/stages/<name>-<key>) and every point with that key reads it.

Keyed stages: frame stages whose ancestors keep no driver state, but `final`: a point's dataset stays in its
own run dir (where its export, its Delta table and output.table point). A stage that restores driver state (the UCB
bandit's picks and updates) and everything after it run per point; their prompts still come from the shared
prompt cache when they are equal."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

from .config import FannoConfig, flatten, resume_safe_keys
from .runner import Stage


@cache
def _code_version() -> str:
    """A hash of the package's code and prompt templates: a store written by other code is not reused."""
    root = Path(__file__).parent
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".txt", ".j2")):
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def read_values(cfg: FannoConfig, reads: tuple[str, ...]) -> dict[str, object]:
    """The dotted config values a stage reads, less the resume-safe keys (precision, batch sizes, ...)."""
    flat, safe = flatten(cfg), resume_safe_keys()
    picked = {k: v for k, v in flat.items() if any(k == r or k.startswith(r + ".") for r in reads)}
    unknown = [r for r in reads if not any(k == r or k.startswith(r + ".") for k in flat)]
    if unknown:
        raise KeyError(f"reads names no config key: {', '.join(unknown)}")
    return {k: v for k, v in sorted(picked.items()) if k not in safe}


def stage_keys(cfg: FannoConfig, plan: list[Stage]) -> dict[str, str]:
    """name -> 16 hex digits for every keyed stage of the plan (see the module's docstring)."""
    keys: dict[str, str] = {}
    code = _code_version()
    for st in plan:
        if st.files or st.restore or not st.shareable or not all(i in keys for i in st.inputs):
            continue
        blob = json.dumps({"stage": st.name, "code": code, "config": read_values(cfg, st.reads),
                           "inputs": {i: keys[i] for i in st.inputs}}, sort_keys=True, default=str)
        keys[st.name] = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return keys


def store_locations(store: str, keys: dict[str, str]) -> dict[str, str]:
    """Each keyed stage's folder in the store."""
    return {name: f"{store.rstrip('/')}/{name}-{key}" for name, key in keys.items()}

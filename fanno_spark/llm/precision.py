"""Pick the numeric precision for the machine a model loads on (executor side, never the driver).

bfloat16 is fast on CPUs only with native bf16 instructions (`avx512_bf16` or `amx_bf16`); elsewhere
PyTorch and oneDNN emulate it: SmolLM2-135M on an AVX2-only AMD EPYC ran 11.6 tok/s in bf16 against
45.0 tok/s in float32. On a GPU the model's own dtype (what vLLM's "auto" picks) is right.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("fanno_spark")

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class CpuInfo:
    model: str
    flags: frozenset[str]

    @property
    def bf16_flags(self) -> list[str]:
        return sorted(f for f in NATIVE_BF16_FLAGS if f in self.flags)


def read_cpu_info(path: str = "/proc/cpuinfo") -> CpuInfo:
    """CPU model name and flags of the first processor; unknown (no flags) where /proc is missing."""
    model, flags = "unknown", frozenset()
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return CpuInfo(model, flags)
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == "unknown":
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = frozenset(value.split())
        if model != "unknown" and flags:
            break
    return CpuInfo(model, flags)


def resolve_dtype(requested: str, cpu: CpuInfo, gpu: bool) -> tuple[str, str]:
    """(dtype to load with, why). `auto`: GPU -> "auto" (vLLM / the model's config decide), CPU with
    native bf16 -> bfloat16, any other CPU -> float32. An explicit dtype always wins."""
    if requested != "auto":
        return requested, "set explicitly"
    if gpu:
        return "auto", "GPU present: the model's dtype"
    if cpu.bf16_flags:
        return "bfloat16", f"CPU has native bf16 ({', '.join(cpu.bf16_flags)})"
    return "float32", "CPU has no avx512_bf16/amx_bf16: bf16 would be emulated"


def cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # a broken or CPU-only torch: no GPU
        return False


def resolve_here(requested: str, what: str) -> str:
    """resolve_dtype for this process's machine, logged with the CPU model and deciding flags."""
    cpu = read_cpu_info()
    gpu = cuda_available()
    dtype, why = resolve_dtype(requested, cpu, gpu)
    log.warning("%s precision: %s (requested %s; %s; CPU %s, bf16 flags: %s, GPU: %s)", what, dtype, requested,
                why, cpu.model, ", ".join(cpu.bf16_flags) or "none", gpu)
    return dtype

"""dtype resolution for the LLM engine and the embedding model, over CPU flag sets."""

import pytest

from fanno_spark.llm.precision import CpuInfo, read_cpu_info, resolve_dtype

AVX2_EPYC = CpuInfo("AMD EPYC", frozenset({"fpu", "sse4_2", "avx", "avx2", "fma"}))
SAPPHIRE = CpuInfo("Intel Xeon Platinum 8480+", frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}))
ZEN4 = CpuInfo("AMD EPYC 9654", frozenset({"avx2", "avx512f", "avx512_bf16"}))
SKYLAKE = CpuInfo("Intel Xeon Gold 6148", frozenset({"avx2", "avx512f", "avx512bw"}))  # AVX-512, no bf16


@pytest.mark.parametrize("cpu, expected", [(AVX2_EPYC, "float32"), (SKYLAKE, "float32"),
                                           (SAPPHIRE, "bfloat16"), (ZEN4, "bfloat16")])
def test_auto_on_cpu_follows_native_bf16(cpu, expected):
    dtype, why = resolve_dtype("auto", cpu, gpu=False)
    assert dtype == expected
    if expected == "bfloat16":
        assert "avx512_bf16" in why
    else:
        assert "emulated" in why


@pytest.mark.parametrize("cpu", [AVX2_EPYC, SAPPHIRE])
def test_auto_with_a_gpu_leaves_it_to_the_model(cpu):
    assert resolve_dtype("auto", cpu, gpu=True)[0] == "auto"


@pytest.mark.parametrize("explicit", ["bfloat16", "float16", "float32"])
@pytest.mark.parametrize("gpu", [False, True])
def test_explicit_dtype_wins(explicit, gpu):
    assert resolve_dtype(explicit, AVX2_EPYC, gpu) == (explicit, "set explicitly")
    assert resolve_dtype(explicit, SAPPHIRE, gpu)[0] == explicit


def test_cpuinfo_parsed_from_proc_format(tmp_path):
    f = tmp_path / "cpuinfo"
    f.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9654 96-Core\n"
                 "flags\t\t: fpu avx2 avx512f avx512_bf16\n\nprocessor\t: 1\nmodel name\t: other\nflags\t: fpu\n")
    cpu = read_cpu_info(str(f))
    assert cpu.model == "AMD EPYC 9654 96-Core" and cpu.bf16_flags == ["avx512_bf16"]
    assert read_cpu_info(str(tmp_path / "missing")) == CpuInfo("unknown", frozenset())


def test_this_machine_reads():
    cpu = read_cpu_info()
    assert cpu.model and cpu.flags  # Linux CI: /proc/cpuinfo exists

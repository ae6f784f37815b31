"""YAML config -> frozen, validated dataclasses.

Every key is checked before Spark starts: unknown keys, wrong types and bad values raise
ConfigError naming the dotted key, so a typo never costs a cluster start-up.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A config problem, reported as one line naming the key or path."""


@dataclass(frozen=True)
class InputConfig:
    path: str = "data/sample/pydocs.jsonl.gz"
    format: str = "auto"  # auto (by extension), jsonl, parquet, text (one file = one doc), warc (WARC/WET)
    max_docs: int | None = None  # take the first N documents (smoke runs)
    max_doc_chars: int = 1_000_000  # longer documents are rejected as too_large (kept aside, head only)
    # undecodable_bytes: U+FFFD (what invalid UTF-8 becomes) over this share of the characters. A valid page
    # may show the character itself (28 of 5,001 real pages did); a page in another encoding has many.
    max_replacement_ratio: float = 0.001
    text_column: str = "text"  # parquet column names
    id_column: str = "id"  # parquet: absent column -> id from a hash of the text
    url_column: str = "url"


@dataclass(frozen=True)
class PrescreenConfig:
    # Gopher (table A1) / C4 thresholds; min_alpha_word_ratio and min_sentences are loosened from
    # 0.8 and 5 because technical prose (code names, short sections) is what FANNO wants to keep.
    min_words: int = 50
    max_words: int = 100_000
    min_mean_word_length: float = 3.0
    max_mean_word_length: float = 10.0
    max_symbol_word_ratio: float = 0.1
    min_alpha_word_ratio: float = 0.6
    max_bullet_line_ratio: float = 0.9
    max_ellipsis_line_ratio: float = 0.3
    min_stop_words: int = 2
    max_duplicate_line_fraction: float = 0.3
    max_duplicate_paragraph_fraction: float = 0.3
    max_duplicate_line_char_fraction: float = 0.2
    max_duplicate_paragraph_char_fraction: float = 0.2
    max_top_ngram_char_fractions: tuple[float, ...] = (0.20, 0.18, 0.16)  # n = 2, 3, 4
    max_dup_ngram_char_fractions: tuple[float, ...] = (0.15, 0.14, 0.13, 0.12, 0.11, 0.10)  # n = 5..10
    min_sentences: int = 3
    # words for the Gopher counts: whitespace-separated, or spaCy's blank-English tokens (datatrove's Gopher
    # filters count those: every punctuation mark is a token, so the alpha ratio is lower)
    tokenizer: str = "whitespace"
    filter_lorem_ipsum: bool = True
    filter_curly_bracket: bool = False  # C4 drops any "{"; that would drop every code document
    languages: tuple[str, ...] = ("en",)  # empty: no language filter
    min_language_score: float = 0.65
    language_chars: int = 2000


@dataclass(frozen=True)
class DedupConfig:
    enabled: bool = True
    jaccard_threshold: float = 0.8  # word 5-gram shingles
    shingle_words: int = 5
    minhash_tables: int = 8
    seed: int = 42


@dataclass(frozen=True)
class DocJudgeConfig:
    """FANNO's LLM document judge (off by default: two prompts per document; SmolLM2-135M cannot judge)."""

    enabled: bool = False
    min_quality: float = 0.5  # P(yes) of the quality prompt below this -> llm_low_quality
    max_advertisement: float = 0.5  # P(yes) of the advertisement prompt at or above this -> llm_advertisement
    max_doc_tokens: int | None = None  # null: the whole document as far as the context allows (FANNO)
    top_logprobs: int = 20  # the yes/no tokens must be among the first token's top-k


@dataclass(frozen=True)
class EmbedConfig:
    batch_size: int = 64
    max_chars: int = 2000  # MiniLM reads 256 tokens; longer text is wasted work
    # auto: float16 on a GPU, bfloat16 on a CPU with native bf16, else float32 (decided per executor)
    precision: str = "auto"
    max_tokens: int = 256  # MiniLM's own limit; fewer tokens per document is faster (bench P5 measures both)
    # >0: the embedding stage runs under its own ResourceProfile (GPU executors), like the LLM stages
    gpu_per_task: float = 0.0
    cpus_per_task: int = 0


@dataclass(frozen=True)
class GraphConfig:
    cosine_threshold: float = 0.7  # FANNO's value
    method: str = "ivf"  # ivf (k-means cells, linear) or brp (pyspark.ml BucketedRandomProjectionLSH)
    cell_size: int = 1000  # ivf: documents per cell on average
    nprobe: int = 4  # ivf: cells each document joins (1M documents: recall 0.911 with 2, 0.946 with 3)
    coarse_nprobe: int = 4  # ivf: coarse cells whose fine cells are searched when placing a document
    kmeans_iter: int = 10
    train_sample: int = 20_000  # ivf: vectors the centroids are fitted on (collected to the driver), at least
    train_per_cell: int = 40  # ... this many per cell (1M documents, 1,000 cells: 40,000 vectors, 61 MB)
    lsh_bucket_length: float = 0.1  # brp
    lsh_num_tables: int = 6  # brp
    lpa_max_iter: int = 5


@dataclass(frozen=True)
class SampleConfig:
    per_community: int = 2
    max_docs: int = 48
    seed: int = 42


@dataclass(frozen=True)
class TagsConfig:
    # tag combinations per seed document, up to all 96 (FANNO: every combination on every seed document)
    prompts_per_doc: int = 96
    seed: int = 42


@dataclass(frozen=True)
class PromptsConfig:
    # fanno: FANNO's published prompts (tag definitions, "cannot see the paragraph", think-different rules);
    # compact: short prompts with a one-shot example, written for very small models
    style: str = "fanno"


@dataclass(frozen=True)
class LLMConfig:
    engine: str = "vllm"
    model: str = "bundled:smollm2-135m-instruct"
    # auto: decided where the engine loads: GPU -> the model's dtype, CPU with avx512_bf16/amx_bf16 ->
    # bfloat16, any other CPU -> float32 (emulated bf16 ran 4x slower on an AVX2-only EPYC)
    dtype: str = "auto"
    max_model_len: int = 4096  # prompt + FANNO's 2,048 new tokens
    enforce_eager: bool = True
    gpu_memory_utilization: float = 0.85
    tensor_parallel_size: int = 1
    partitions: int = 1  # one engine per partition; local runs keep one
    batch_size: int = 64
    commit_every: int = 2048  # prompts per cache commit: a killed job loses at most one such chunk
    temperature: float = 0.0  # FANNO decodes greedily
    top_p: float = 0.9
    seed: int = 0
    # tokens of a document in a prompt: null = the whole document as far as max_model_len allows after the
    # prompt and the stage's max_tokens (FANNO gives the model the whole document); a number = at most that
    max_doc_tokens: int | None = None
    threads: int = 0  # OMP threads per engine on CPU; 0 = all cores of the task
    # engine: openai -> any OpenAI-compatible endpoint (`vllm serve`); model = the served model name
    base_url: str | None = None  # e.g. http://127.0.0.1:8000/v1
    api_key_env: str = "OPENAI_API_KEY"  # name of the variable holding the key (executors need it too)
    concurrency: int = 8  # requests in flight per Spark task
    request_timeout_s: float = 300.0
    max_retries: int = 5  # on 429 / 5xx / timeouts, exponential backoff from backoff_s
    backoff_s: float = 1.0
    # Stage-level scheduling (standalone / YARN / k8s, not local): > 0 gives the LLM stages their own
    # ResourceProfile, e.g. 1 GPU per task, while every other stage stays on CPU task slots.
    gpu_per_task: float = 0.0
    cpus_per_task: int = 0


@dataclass(frozen=True)
class FilterConfig:
    # FANNO's hard filter (generate/instruction_rules.py, whole-word keywords, letter ratio without
    # spaces) plus the not-a-request rule; each rule a counted drop_reason
    fanno_rules: bool = True
    ascii_only: bool = True  # FANNO drops any non-ASCII instruction; set false for other languages
    require_request: bool = True  # drop text that is no question or imperative (English verb lexicon)
    min_words: int = 3  # not FANNO's (it has only "< 5 words without . or ?"): 1-2 word lines are junk
    max_words: int = 150
    # MiniLM cosine at or above which a new instruction repeats the pool (or an earlier one of its
    # round) and goes; FANNO's threshold 0.9; null turns the embedding diversity filter off
    max_similarity: float | None = 0.9
    banned_words: tuple[str, ...] = ()  # extra whole-word keywords of your own -> banned_keyword


@dataclass(frozen=True)
class SeedsConfig:
    docs: int = 10  # the first N selected documents seed the pool (FANNO's seed_docs_num)
    max_tokens: int = 2048  # FANNO's


@dataclass(frozen=True)
class AugmentConfig:
    rounds: int = 5  # the round limit (rounds also end when the selected documents run out)
    window: int = 200  # unseen selected documents per round (FANNO's window_size)
    target_pairs: int | None = 1000  # stop once the pool has this many valid pairs (FANNO's limit_size)
    max_tokens: int = 2048
    fewshot_k: int = 3
    top_fraction: float = 0.05
    ucb_c: float = 3.0
    seed: int = 42


@dataclass(frozen=True)
class RespondConfig:
    mode: str = "direct"  # direct: the instruction alone; rag: + its document and its nearest neighbour
    max_tokens: int = 2048  # FANNO's; conf/local.yaml caps it for the CPU model


@dataclass(frozen=True)
class JudgeConfig:
    """Optional judge of each round's pairs (1-5); its score also becomes the UCB reward."""

    enabled: bool = False
    min_score: float = 3.0  # below -> low_judge_score (kept aside)
    max_chars: int = 1500  # of instruction and of response in the judge prompt
    top_logprobs: int = 20


@dataclass(frozen=True)
class DecontamConfig:
    """Drop generated pairs (and optionally documents) sharing a word n-gram with an evaluation prompt."""

    benchmarks: tuple[str, ...] = ()  # files or folders (.jsonl/.json, .parquet, .txt lines); empty: skipped
    prompt_field: str = "prompt"  # the prompt field (a list field, e.g. MT-Bench "turns": each element a prompt)
    ngram: int = 13  # words per n-gram (common practice since GPT-3)
    min_words: int = 8  # shorter benchmark prompts are skipped (counted); shorter than ngram: matched whole
    documents: bool = False  # also drop input documents that contain a benchmark n-gram
    instruction_fields: tuple[str, ...] = ("instruction", "input", "output")


PII_TYPES = ("secret", "email", "credit_card", "ip", "phone")  # in the order they are masked


@dataclass(frozen=True)
class PIIConfig:
    """Typed placeholders for personal data in documents (before any prompt) and in generated text."""

    types: tuple[str, ...] = PII_TYPES  # empty: off
    documents: bool = True
    generated: bool = True


@dataclass(frozen=True)
class CardConfig:
    """export/README.md, a Hugging Face dataset card written with every run."""

    pretty_name: str = "FANNO instructions (fanno-spark)"
    license: str = "other"  # the licence you release under; the corpus's terms decide what you may choose
    language: tuple[str, ...] = ("en",)
    description: str = ""  # a paragraph of your own at the top of the card


@dataclass(frozen=True)
class OutputConfig:
    dir: str = "runs/local"
    sample_rows: int = 50
    progress_interval_s: float = 30.0  # a progress line per running stage this often; 0 = off


@dataclass(frozen=True)
class ReportConfig:
    enabled: bool = True  # report/*.png + metrics from the final dataset
    top_verb_nouns: int = 25
    length_bin_words: int = 10
    length_cap_words: int = 400
    diversity_sample: int = 500  # instructions per round embedded for the mean pairwise cosine


@dataclass(frozen=True)
class TrackingConfig:
    uri: str | None = None  # None: sqlite file inside the run dir
    experiment: str = "fanno-spark"
    run_name: str | None = None


@dataclass(frozen=True)
class SparkConfig:
    master: str | None = "local[*]"  # None: leave it to spark-submit
    app_name: str = "fanno-spark"
    shuffle_partitions: int = 4
    graphframes: str = "bundled"  # "bundled": the jars of requirements/jars.lock in .jars/; "provided" (--packages)
    # Import torch/transformers (and vLLM) once in Spark's Python worker daemon, not in every forked worker.
    # auto: for a local master (its workers run this Python, where fanno_spark is installed); "always" on a
    # cluster only where fanno_spark is installed on the executors (not shipped by --py-files alone); "never".
    preload: str = "auto"
    conf: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FannoConfig:
    input: InputConfig = field(default_factory=InputConfig)
    prescreen: PrescreenConfig = field(default_factory=PrescreenConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    doc_judge: DocJudgeConfig = field(default_factory=DocJudgeConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    graph: GraphConfig = field(default_factory=GraphConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    tags: TagsConfig = field(default_factory=TagsConfig)
    prompts: PromptsConfig = field(default_factory=PromptsConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    seeds: SeedsConfig = field(default_factory=SeedsConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    respond: RespondConfig = field(default_factory=RespondConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    decontam: DecontamConfig = field(default_factory=DecontamConfig)
    pii: PIIConfig = field(default_factory=PIIConfig)
    card: CardConfig = field(default_factory=CardConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    spark: SparkConfig = field(default_factory=SparkConfig)


CHOICES = {
    "input.format": ("auto", "jsonl", "parquet", "text", "warc"),
    "graph.method": ("ivf", "brp"),
    "llm.engine": ("vllm", "openai", "fake"),
    "llm.dtype": ("auto", "bfloat16", "float16", "float32"),
    "embed.precision": ("auto", "bfloat16", "float16", "float32"),
    "respond.mode": ("direct", "rag"),
    "prompts.style": ("fanno", "compact"),
    "spark.graphframes": ("bundled", "provided"),
    "spark.preload": ("auto", "always", "never"),
    "prescreen.tokenizer": ("whitespace", "spacy_en"),
}
MIN_PROMPT_ROOM = 768  # tokens: the longest template with its few-shots, and room for a document
POSITIVE = ("embed.batch_size", "embed.max_tokens", "graph.lsh_num_tables", "graph.lpa_max_iter", "sample.per_community",
            "sample.max_docs", "tags.prompts_per_doc", "llm.partitions", "llm.batch_size",
            "llm.max_model_len", "seeds.max_tokens", "augment.max_tokens", "augment.fewshot_k", "augment.window",
            "seeds.docs",
            "respond.max_tokens", "spark.shuffle_partitions", "graph.lsh_bucket_length",
            "input.max_doc_chars", "dedup.shingle_words", "dedup.minhash_tables", "graph.cell_size",
            "graph.nprobe", "graph.coarse_nprobe", "graph.kmeans_iter", "graph.train_sample", "graph.train_per_cell",
            "prescreen.language_chars", "doc_judge.top_logprobs",
            "llm.concurrency", "llm.request_timeout_s", "llm.backoff_s",
            "judge.max_chars", "judge.top_logprobs", "llm.commit_every", "report.top_verb_nouns", "report.length_bin_words",
            "report.length_cap_words", "report.diversity_sample", "decontam.ngram", "decontam.min_words")
FRACTIONS = ("input.max_replacement_ratio", "graph.cosine_threshold", "dedup.jaccard_threshold",
             "augment.top_fraction", "llm.top_p",
             "llm.gpu_memory_utilization", "doc_judge.min_quality", "doc_judge.max_advertisement")


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if origin is tuple and typing.get_args(hint)[0] is float:
        if not isinstance(value, (list, tuple)) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"{key}: expected a list of numbers, got {value!r}")
        return tuple(float(v) for v in value)
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
        return tuple(value)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
    raise ConfigError(f"{key}: unsupported type {hint}")  # pragma: no cover - schema bug


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise ConfigError(f"{prefix}{key}: unknown key (known: {', '.join(fields)})")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(value, hint, f"{prefix}{name}")
    return cls(**kwargs)


def _check_values(cfg: FannoConfig) -> None:
    flat = flatten(cfg)
    for key, allowed in CHOICES.items():
        if flat[key] not in allowed:
            raise ConfigError(f"{key}: {flat[key]!r} is not one of {', '.join(allowed)}")
    for key in POSITIVE:
        if not flat[key] > 0:
            raise ConfigError(f"{key}: must be > 0, got {flat[key]!r}")
    for key in FRACTIONS:
        if not 0 < flat[key] <= 1:
            raise ConfigError(f"{key}: must be in (0, 1], got {flat[key]!r}")
    if cfg.augment.rounds < 0:
        raise ConfigError(f"augment.rounds: must be >= 0, got {cfg.augment.rounds}")
    p = cfg.prescreen
    if len(p.max_top_ngram_char_fractions) != 3:
        raise ConfigError("prescreen.max_top_ngram_char_fractions: expected 3 numbers (n = 2, 3, 4)")
    if len(p.max_dup_ngram_char_fractions) != 6:
        raise ConfigError("prescreen.max_dup_ngram_char_fractions: expected 6 numbers (n = 5..10)")
    if p.tokenizer == "spacy_en" and importlib.util.find_spec("spacy") is None:
        raise ConfigError("prescreen.tokenizer: spacy_en needs the spacy package (pip install 'fanno-spark[spacy]')")
    if cfg.filter.max_similarity is not None and not 0 < cfg.filter.max_similarity <= 1:
        raise ConfigError(f"filter.max_similarity: must be in (0, 1] or null, got {cfg.filter.max_similarity}")
    if not 1 <= cfg.judge.min_score <= 5:
        raise ConfigError(f"judge.min_score: must be in [1, 5], got {cfg.judge.min_score}")
    if cfg.llm.engine == "openai" and not cfg.llm.base_url:
        raise ConfigError("llm.base_url: required when llm.engine is openai (e.g. http://127.0.0.1:8000/v1)")
    if cfg.llm.max_retries < 0 or cfg.llm.gpu_per_task < 0 or cfg.llm.cpus_per_task < 0:
        raise ConfigError("llm.max_retries, llm.gpu_per_task and llm.cpus_per_task must be >= 0")
    if cfg.embed.gpu_per_task < 0 or cfg.embed.cpus_per_task < 0:
        raise ConfigError("embed.gpu_per_task and embed.cpus_per_task must be >= 0")
    for key in ("llm.max_doc_tokens", "doc_judge.max_doc_tokens"):
        if flat[key] is not None and flat[key] <= 0:
            raise ConfigError(f"{key}: must be > 0 or null, got {flat[key]!r}")
    for key in ("seeds.max_tokens", "augment.max_tokens", "respond.max_tokens"):
        # the prompt (FANNO's templates, few-shots) and some of the document must fit beside the answer
        if cfg.llm.max_model_len - flat[key] < MIN_PROMPT_ROOM:
            raise ConfigError(f"{key}: {flat[key]} leaves {cfg.llm.max_model_len - flat[key]} of llm.max_model_len "
                              f"{cfg.llm.max_model_len} tokens for the prompt and its document (needs >= {MIN_PROMPT_ROOM})")
    if cfg.embed.max_tokens > 512:
        raise ConfigError(f"embed.max_tokens: MiniLM has 512 positions, got {cfg.embed.max_tokens}")
    if (cfg.embed.gpu_per_task or cfg.embed.cpus_per_task) and (cfg.spark.master or "").startswith("local"):
        raise ConfigError("embed.gpu_per_task / embed.cpus_per_task need a cluster master (Spark has no "
                          "stage-level scheduling in local mode)")
    if (cfg.llm.gpu_per_task or cfg.llm.cpus_per_task) and (cfg.spark.master or "").startswith("local"):
        raise ConfigError("llm.gpu_per_task / llm.cpus_per_task need a cluster master (Spark has no "
                          "stage-level scheduling in local mode); set spark.master: null and use spark-submit")
    if cfg.augment.target_pairs is not None and cfg.augment.target_pairs <= 0:
        raise ConfigError(f"augment.target_pairs: must be > 0, got {cfg.augment.target_pairs}")
    if cfg.output.progress_interval_s < 0:
        raise ConfigError(f"output.progress_interval_s: must be >= 0 (0 = off), got {cfg.output.progress_interval_s}")
    bad = [t for t in cfg.pii.types if t not in PII_TYPES]
    if bad:
        raise ConfigError(f"pii.types: unknown {', '.join(bad)} (known: {', '.join(PII_TYPES)})")
    if cfg.decontam.min_words > cfg.decontam.ngram:
        raise ConfigError(f"decontam.min_words: must be <= decontam.ngram ({cfg.decontam.ngram}), "
                          f"got {cfg.decontam.min_words}")
    if not cfg.decontam.instruction_fields:
        raise ConfigError("decontam.instruction_fields: name at least one of instruction, input, output")
    bad = [f for f in cfg.decontam.instruction_fields if f not in ("instruction", "input", "output")]
    if bad:
        raise ConfigError(f"decontam.instruction_fields: unknown {', '.join(bad)} (known: instruction, input, output)")
    if cfg.input.max_docs is not None and cfg.input.max_docs <= 0:
        raise ConfigError(f"input.max_docs: must be > 0, got {cfg.input.max_docs}")


def flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            out.update(flatten(value, f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = value
    return out


def to_dict(cfg: FannoConfig) -> dict[str, Any]:
    def plain(v: Any) -> Any:
        return list(v) if isinstance(v, tuple) else v
    return {s.name: {k: plain(v) for k, v in dataclasses.asdict(getattr(cfg, s.name)).items()}
            for s in dataclasses.fields(cfg)}


# Keys a resumed run may change: where and how it runs, not what it generates. More rounds or a larger
# target extend a run; anything else (model, sampling, filters, ...) would mix two datasets.
RESUME_SAFE = ("spark.", "tracking.", "output.", "report.", "card.", "llm.partitions", "llm.batch_size", "llm.concurrency",
               "llm.request_timeout_s", "llm.max_retries", "llm.backoff_s", "llm.base_url", "llm.api_key_env",
               "llm.threads", "llm.gpu_per_task", "llm.cpus_per_task", "llm.tensor_parallel_size",
               "llm.gpu_memory_utilization", "llm.commit_every", "augment.rounds", "augment.target_pairs",
               # precision is how the same model runs, not which: outside the prompt-cache key (see prompt_hash)
               "llm.dtype", "embed.precision", "embed.gpu_per_task", "embed.cpus_per_task", "embed.batch_size")


def resume_drift(saved: dict[str, Any], cfg: FannoConfig) -> list[str]:
    """Keys whose value differs between a run dir's saved config.yaml and cfg, outside RESUME_SAFE."""
    now = to_dict(cfg)
    keys = {f"{s}.{k}" for part in (saved, now) for s, sub in part.items() if isinstance(sub, dict) for k in sub}

    def get(d: dict, key: str) -> Any:
        section, name = key.split(".", 1)
        return (d.get(section) or {}).get(name, "<absent>")
    return sorted(k for k in keys if not k.startswith(RESUME_SAFE) and get(saved, k) != get(now, k))


def input_on_driver_disk(cfg: FannoConfig) -> bool:
    """file: URIs, and paths without a scheme when Spark runs locally on its default (local) filesystem;
    anything else is checked through the cluster's filesystem once Spark is up."""
    from .fs import scheme

    s = scheme(cfg.input.path)
    if s is not None:
        return s == "file"
    return (cfg.spark.master or "").startswith("local") and "spark.hadoop.fs.defaultFS" not in cfg.spark.conf


def apply_override(data: dict, assignment: str) -> None:
    """`a.b=c` sets data[a][b] = yaml-parsed c (so numbers, booleans and lists keep their type)."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected dotted.key=value")
    key, raw = assignment.split("=", 1)
    parts = key.strip().split(".")
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{key}: {p} is not a section")
    try:
        node[parts[-1]] = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        node[parts[-1]] = raw


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                output: str | None = None, check_input: bool = True) -> FannoConfig:
    data: dict = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: not valid YAML ({str(exc).splitlines()[0]})") from None
    for assignment in overrides:
        apply_override(data, assignment)
    if output is not None:
        data.setdefault("output", {})["dir"] = output
    cfg = _build(FannoConfig, data, "")
    _check_values(cfg)
    if check_input and input_on_driver_disk(cfg):
        local = cfg.input.path.removeprefix("file://").removeprefix("file:")
        if not Path(local).exists():
            raise ConfigError(f"input.path: {cfg.input.path} does not exist")
    for bench in cfg.decontam.benchmarks if check_input else ():
        from .fs import scheme

        if scheme(bench) in (None, "file") and (cfg.spark.master or "").startswith("local"):
            local = bench.removeprefix("file://").removeprefix("file:")
            if not Path(local).exists():
                raise ConfigError(f"decontam.benchmarks: {bench} does not exist")
    return cfg

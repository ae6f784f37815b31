"""YAML config -> frozen, validated pydantic models.

Every key is checked before Spark starts: unknown keys, types, ranges and choices are declared on the
fields, and cross-key rules on the model; any problem raises ConfigError naming the dotted key, so a
typo never costs a cluster start-up. A field marked `resume_safe` (or a section whose every key is) may
change between a run and its resume: it says where and how the job runs, not what it generates.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """A config problem, reported as one line naming the key or path."""


def _listed(value: Any) -> Any:
    """YAML lists (and "a, b" strings) for tuple fields."""
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(value) if isinstance(value, list) else value


def _numbers(value: Any) -> Any:
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return tuple(float(v) for v in value)
    return value


def _conf_strings(value: Any) -> Any:
    """spark.conf values as Spark takes them: strings, booleans lower-case."""
    if isinstance(value, dict):
        return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
    return value


Pos = Annotated[int, Field(gt=0)]
NonNeg = Annotated[int, Field(ge=0)]
PosF = Annotated[float, Field(gt=0)]
NonNegF = Annotated[float, Field(ge=0)]
Frac = Annotated[float, Field(gt=0, le=1)]  # a share that must not be 0
Share = Annotated[float, Field(ge=0, le=1)]
Strings = Annotated[tuple[str, ...], BeforeValidator(_listed)]
Numbers = Annotated[tuple[Annotated[float, Field(ge=0, le=1)], ...], BeforeValidator(_numbers)]
Precision = Literal["auto", "bfloat16", "float16", "float32"]
PII_TYPES = ("secret", "email", "credit_card", "ip", "phone")  # in the order they are masked
PIIType = Literal["secret", "email", "credit_card", "ip", "phone"]
MIN_PROMPT_ROOM = 768  # tokens: the longest template with its few-shots, and room for a document


def safe(default: Any, **kw: Any) -> Any:
    """A field a resumed run may change (see resume_drift)."""
    return Field(default, json_schema_extra={"resume_safe": True}, **kw)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    resume_safe_section: ClassVar[bool] = False


class InputConfig(Section):
    path: str = "data/sample/pydocs.jsonl.gz"
    format: Literal["auto", "jsonl", "parquet", "text", "warc"] = "auto"  # auto: by extension; text: a file a doc
    max_docs: Pos | None = None  # take the first N documents (smoke runs)
    max_doc_chars: Pos = 1_000_000  # longer documents are rejected as too_large (kept aside, head only)
    # undecodable_bytes: U+FFFD (what invalid UTF-8 becomes) over this share of the characters. A valid page
    # may show the character itself (28 of 5,001 real pages did); a page in another encoding has many.
    max_replacement_ratio: Frac = 0.001
    text_column: str = "text"  # parquet column names
    id_column: str = "id"  # parquet: absent column -> id from a hash of the text
    url_column: str = "url"


class PrescreenConfig(Section):
    # Gopher (table A1) / C4 thresholds; min_alpha_word_ratio and min_sentences are loosened from
    # 0.8 and 5 because technical prose (code names, short sections) is what FANNO wants to keep.
    min_words: NonNeg = 50
    max_words: Pos = 100_000
    min_mean_word_length: NonNegF = 3.0
    max_mean_word_length: PosF = 10.0
    max_symbol_word_ratio: Share = 0.1
    min_alpha_word_ratio: Share = 0.6
    max_bullet_line_ratio: Share = 0.9
    max_ellipsis_line_ratio: Share = 0.3
    min_stop_words: NonNeg = 2
    max_duplicate_line_fraction: Share = 0.3
    max_duplicate_paragraph_fraction: Share = 0.3
    max_duplicate_line_char_fraction: Share = 0.2
    max_duplicate_paragraph_char_fraction: Share = 0.2
    max_top_ngram_char_fractions: Annotated[Numbers, Field(min_length=3, max_length=3)] = (0.20, 0.18, 0.16)  # n=2..4
    max_dup_ngram_char_fractions: Annotated[Numbers, Field(min_length=6, max_length=6)] = (
        0.15, 0.14, 0.13, 0.12, 0.11, 0.10)  # n = 5..10
    min_sentences: NonNeg = 3
    # words for the Gopher counts: whitespace-separated, or spaCy's blank-English tokens (datatrove's Gopher
    # filters count those: every punctuation mark is a token, so the alpha ratio is lower)
    tokenizer: Literal["whitespace", "spacy_en"] = "whitespace"
    filter_lorem_ipsum: bool = True
    filter_curly_bracket: bool = False  # C4 drops any "{"; that would drop every code document
    languages: Strings = ("en",)  # empty: no language filter
    min_language_score: Share = 0.65
    language_chars: Pos = 2000


class DedupConfig(Section):
    enabled: bool = True
    jaccard_threshold: Frac = 0.8  # word 5-gram shingles
    shingle_words: Pos = 5
    minhash_tables: Pos = 8
    seed: int = 42


class DocJudgeConfig(Section):
    """FANNO's LLM document judge (off by default: two prompts per document; SmolLM2-135M cannot judge)."""

    enabled: bool = False
    min_quality: Frac = 0.5  # P(yes) of the quality prompt below this -> llm_low_quality
    max_advertisement: Frac = 0.5  # P(yes) of the advertisement prompt at or above this -> llm_advertisement
    max_doc_tokens: Pos | None = None  # null: the whole document as far as the context allows (FANNO)
    top_logprobs: Annotated[int, Field(gt=0, le=20)] = 20  # the yes/no tokens must be among the first token's top-k


class EmbedConfig(Section):
    # torch: a pandas UDF (Python workers); sparknlp: the same MiniLM exported to ONNX, run by Spark NLP in the
    # JVM (bench P5 compares them; prescreen/embed_sparknlp.py)
    engine: Literal["torch", "sparknlp"] = "torch"
    batch_size: int = safe(64, gt=0)
    max_chars: Pos = 2000  # MiniLM reads 256 tokens; longer text is wasted work
    # auto: float16 on a GPU, bfloat16 on a CPU with native bf16, else float32 (decided per executor)
    precision: Precision = safe("auto")
    max_tokens: Annotated[int, Field(gt=0, le=512, description="MiniLM has 512 positions")] = 256  # P5: fewer
    # >0: the embedding stage runs under its own ResourceProfile (GPU executors), like the LLM stages
    gpu_per_task: float = safe(0.0, ge=0)
    cpus_per_task: int = safe(0, ge=0)

    @model_validator(mode="after")
    def _engine_precision(self) -> EmbedConfig:
        if self.engine == "sparknlp" and self.precision in ("bfloat16", "float16"):
            raise ValueError(f"embed.precision: the sparknlp engine runs the float32 ONNX export; got "
                             f"{self.precision} (set auto or float32, or embed.engine: torch)")
        return self


class GraphConfig(Section):
    cosine_threshold: Frac = 0.7  # FANNO's value
    method: Literal["ivf", "brp"] = "ivf"  # ivf (k-means cells, linear) or brp (pyspark.ml BucketedRandomProjectionLSH)
    cell_size: Pos = 1000  # ivf: documents per cell on average
    nprobe: Pos = 4  # ivf: cells each document joins (1M documents: recall 0.911 with 2, 0.946 with 3)
    coarse_nprobe: Pos = 4  # ivf: coarse cells whose fine cells are searched when placing a document
    kmeans_iter: Pos = 10
    train_sample: Pos = 20_000  # ivf: vectors the centroids are fitted on (collected to the driver), at least
    train_per_cell: Pos = 40  # ... this many per cell (1M documents, 1,000 cells: 40,000 vectors, 61 MB)
    lsh_bucket_length: PosF = 0.1  # brp
    lsh_num_tables: Pos = 6  # brp
    lpa_max_iter: Pos = 5


class SegmentConfig(Section):
    # A kept document longer than max_tokens (the LLM's tokenizer; an estimate without one) becomes passages cut
    # at sentence starts (Spark NLP's rule-based SentenceDetector, plus the sentence marks of CJK, Arabic, Persian,
    # Urdu and Devanagari text), each as long as whole sentences allow; shorter documents stay whole. Each passage
    # is a unit of the graph, the selection and the prompts. null: every document whole (FANNO's behaviour).
    max_tokens: Pos | None = 1024


class SampleConfig(Section):
    per_community: Pos = 2
    max_docs: Pos = 48
    seed: int = 42


class TagsConfig(Section):
    # tag combinations per seed document, up to all 96 (FANNO: every combination on every seed document)
    prompts_per_doc: Annotated[int, Field(gt=0, le=96)] = 96
    seed: int = 42


class PromptsConfig(Section):
    # fanno: FANNO's published prompts (tag definitions, "cannot see the paragraph", think-different rules);
    # compact: short prompts with a one-shot example, written for very small models
    style: Literal["fanno", "compact"] = "fanno"


class LLMConfig(Section):
    engine: str = "vllm"  # vllm, openai, or a kind registered with fanno_spark.llm.registry (tests)
    model: str = "bundled:smollm2-135m-instruct"
    # auto: decided where the engine loads: GPU -> the model's dtype, CPU with avx512_bf16/amx_bf16 ->
    # bfloat16, any other CPU -> float32 (emulated bf16 ran 4x slower on an AVX2-only EPYC)
    dtype: Precision = safe("auto")
    max_model_len: Pos = 4096  # prompt + FANNO's 2,048 new tokens
    enforce_eager: bool = True
    gpu_memory_utilization: float = safe(0.85, gt=0, le=1)
    tensor_parallel_size: int = safe(1, gt=0)
    partitions: int = safe(1, gt=0)  # one engine per partition; local runs keep one
    batch_size: int = safe(64, gt=0)
    commit_every: int = safe(2048, gt=0)  # prompts per cache commit: a killed job loses at most one such chunk
    # the prompt cache: null = <run dir>/llm_cache (a sweep: <sweep dir>/llm_cache); a URI shares one cache
    # between runs (keyed by model, sampling and conversation, so only equal prompts are answered from it)
    cache_uri: str | None = safe(None)
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.0  # FANNO decodes greedily
    top_p: Frac = 0.9
    seed: int = 0
    # tokens of a document in a prompt: null = the whole document as far as max_model_len allows after the
    # prompt and the stage's max_tokens (FANNO gives the model the whole document); a number = at most that
    max_doc_tokens: Pos | None = None
    threads: int = safe(0, ge=0)  # OMP threads per engine on CPU; 0 = all cores of the task
    # engine: openai -> any OpenAI-compatible endpoint (`vllm serve`); model = the served model name
    base_url: str | None = safe(None)  # e.g. http://127.0.0.1:8000/v1
    api_key_env: str = safe("OPENAI_API_KEY")  # name of the variable holding the key (executors need it too)
    concurrency: int = safe(8, gt=0)  # requests in flight per Spark task
    request_timeout_s: float = safe(300.0, gt=0)
    max_retries: int = safe(5, ge=0)  # on 429 / 5xx / timeouts, exponential backoff from backoff_s
    backoff_s: float = safe(1.0, gt=0)
    # Stage-level scheduling (standalone / YARN / k8s, not local): > 0 gives the LLM stages their own
    # ResourceProfile, e.g. 1 GPU per task, while every other stage stays on CPU task slots.
    gpu_per_task: float = safe(0.0, ge=0)
    cpus_per_task: int = safe(0, ge=0)


class FilterConfig(Section):
    # FANNO's hard filter (generate/instruction_rules.py, whole-word keywords, letter ratio without
    # spaces) plus the not-a-request rule; each rule a counted drop_reason
    fanno_rules: bool = True
    ascii_only: bool = True  # FANNO drops any non-ASCII instruction; set false for other languages
    require_request: bool = True  # drop text that is no question or imperative (English verb lexicon)
    min_words: NonNeg = 3  # not FANNO's (it has only "< 5 words without . or ?"): 1-2 word lines are junk
    max_words: Pos = 150
    # MiniLM cosine at or above which a new instruction repeats the pool (or an earlier one of its
    # round) and goes; FANNO's threshold 0.9; null turns the embedding diversity filter off
    max_similarity: Frac | None = 0.9
    banned_words: Strings = ()  # extra whole-word keywords of your own -> banned_keyword


class SeedsConfig(Section):
    docs: Pos = 10  # the first N selected documents seed the pool (FANNO's seed_docs_num)
    max_tokens: Pos = 2048  # FANNO's


class AugmentConfig(Section):
    rounds: int = safe(5, ge=0)  # the round limit (rounds also end when the selected documents run out)
    window: Pos = 200  # unseen selected documents per round (FANNO's window_size)
    target_pairs: int | None = safe(1000, gt=0)  # stop once the pool has this many valid pairs (FANNO's limit_size)
    max_tokens: Pos = 2048
    fewshot_k: Pos = 3
    top_fraction: Frac = 0.05
    ucb_c: NonNegF = 3.0
    seed: int = 42


class RespondConfig(Section):
    mode: Literal["direct", "rag"] = "direct"  # direct: the instruction alone; rag: + its document and its neighbour
    max_tokens: Pos = 2048  # FANNO's; conf/local.yaml caps it for the CPU model


class JudgeConfig(Section):
    """Optional judge of each round's pairs (1-5); its score also becomes the UCB reward."""

    enabled: bool = False
    min_score: Annotated[float, Field(ge=1, le=5)] = 3.0  # below -> low_judge_score (kept aside)
    max_chars: Pos = 1500  # of instruction and of response in the judge prompt
    top_logprobs: Annotated[int, Field(gt=0, le=20)] = 20


class DecontamConfig(Section):
    """Drop generated pairs (and optionally documents) sharing a word n-gram with an evaluation prompt."""

    benchmarks: Strings = ()  # files or folders (.jsonl/.json, .parquet, .txt lines); empty: skipped
    prompt_field: str = "prompt"  # the prompt field (a list field, e.g. MT-Bench "turns": each element a prompt)
    ngram: Pos = 13  # words per n-gram (common practice since GPT-3)
    min_words: Pos = 8  # shorter benchmark prompts are skipped (counted); shorter than ngram: matched whole
    documents: bool = False  # also drop input documents that contain a benchmark n-gram
    instruction_fields: Annotated[tuple[Literal["instruction", "input", "output"], ...], BeforeValidator(_listed),
                                  Field(min_length=1)] = ("instruction", "input", "output")

    @model_validator(mode="after")
    def _min_words_fit(self) -> DecontamConfig:
        if self.min_words > self.ngram:
            raise ValueError(f"decontam.min_words: must be <= decontam.ngram ({self.ngram}), got {self.min_words}")
        return self


class PIIConfig(Section):
    """Typed placeholders for personal data in documents (before any prompt) and in generated text."""

    types: Annotated[tuple[PIIType, ...], BeforeValidator(_listed)] = PII_TYPES  # empty: off
    documents: bool = True
    generated: bool = True


class CardConfig(Section):
    """export/README.md, a Hugging Face dataset card written with every run."""

    resume_safe_section: ClassVar[bool] = True
    pretty_name: str = "FANNO instructions (fanno-spark)"
    license: str = "other"  # the licence you release under; the corpus's terms decide what you may choose
    language: Strings = ("en",)
    description: str = ""  # a paragraph of your own at the top of the card


class OutputConfig(Section):
    resume_safe_section: ClassVar[bool] = True
    dir: str = "runs/local"
    sample_rows: Pos = 50
    progress_interval_s: NonNegF = 30.0  # a progress line per running stage this often; 0 = off
    format: Literal["parquet", "delta"] = "parquet"  # delta: `final` is a Delta table (delta-spark)
    # with format delta: also registered under this name (catalog.schema.table on Unity Catalog, or
    # schema.table / table in the session's catalog) as an external table over the run dir's `final`
    table: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")] | None = None

    @model_validator(mode="after")
    def _table_needs_delta(self) -> OutputConfig:
        if self.table is not None and self.format != "delta":
            raise ValueError(f"output.table: needs output.format: delta, got {self.format}")
        return self


class ReportConfig(Section):
    resume_safe_section: ClassVar[bool] = True
    enabled: bool = True  # report/*.png + metrics from the final dataset
    top_verb_nouns: Pos = 25
    length_bin_words: Pos = 10
    length_cap_words: Pos = 400
    diversity_sample: Pos = 500  # instructions per round embedded for the mean pairwise cosine


class TrackingConfig(Section):
    resume_safe_section: ClassVar[bool] = True
    uri: str | None = None  # None: sqlite file inside the run dir
    experiment: str = "fanno-spark"
    run_name: str | None = None


class CostConfig(Section):
    """Prices for the cost ledger (publish/ledger.py): engine time on GPU executors (llm.gpu_per_task > 0) at
    gpu_hour_usd, on CPU at cpu_hour_usd; an OpenAI-compatible endpoint (llm.engine: openai) per token."""
    resume_safe_section: ClassVar[bool] = True
    gpu_hour_usd: NonNegF = 0.0
    cpu_hour_usd: NonNegF = 0.0
    per_million_tokens: NonNegF = 0.0  # prompt + completion tokens, as the endpoint bills them


class SparkConfig(Section):
    resume_safe_section: ClassVar[bool] = True
    master: str | None = "local[*]"  # None: leave it to spark-submit
    app_name: str = "fanno-spark"
    shuffle_partitions: Pos = 4
    graphframes: Literal["bundled", "provided"] = "bundled"  # bundled: requirements/jars.lock in .jars/
    # Import torch/transformers (and vLLM) once in Spark's Python worker daemon, not in every forked worker.
    # auto: for a local master (its workers run this Python, where fanno_spark is installed); "always" on a
    # cluster only where fanno_spark is installed on the executors (not shipped by --py-files alone); "never".
    preload: Literal["auto", "always", "never"] = "auto"
    conf: Annotated[dict[str, str], BeforeValidator(_conf_strings)] = Field(default_factory=dict)


class FannoConfig(Section):
    input: InputConfig = InputConfig()
    prescreen: PrescreenConfig = PrescreenConfig()
    dedup: DedupConfig = DedupConfig()
    doc_judge: DocJudgeConfig = DocJudgeConfig()
    embed: EmbedConfig = EmbedConfig()
    segment: SegmentConfig = SegmentConfig()
    graph: GraphConfig = GraphConfig()
    sample: SampleConfig = SampleConfig()
    tags: TagsConfig = TagsConfig()
    prompts: PromptsConfig = PromptsConfig()
    llm: LLMConfig = LLMConfig()
    filter: FilterConfig = FilterConfig()
    seeds: SeedsConfig = SeedsConfig()
    augment: AugmentConfig = AugmentConfig()
    respond: RespondConfig = RespondConfig()
    judge: JudgeConfig = JudgeConfig()
    decontam: DecontamConfig = DecontamConfig()
    pii: PIIConfig = PIIConfig()
    card: CardConfig = CardConfig()
    output: OutputConfig = OutputConfig()
    report: ReportConfig = ReportConfig()
    tracking: TrackingConfig = TrackingConfig()
    cost: CostConfig = CostConfig()
    spark: SparkConfig = SparkConfig()

    @model_validator(mode="after")
    def _across_sections(self) -> FannoConfig:
        """Rules that join keys of several sections (each message names the key to change)."""
        from .llm.registry import check_kind

        check_kind(self.llm.engine)
        if self.llm.engine == "openai" and not self.llm.base_url:
            raise ValueError("llm.base_url: required when llm.engine is openai (e.g. http://127.0.0.1:8000/v1)")
        for key in ("seeds", "augment", "respond"):
            # the prompt (FANNO's templates, few-shots) and some of the document must fit beside the answer
            n, room = getattr(self, key).max_tokens, self.llm.max_model_len - getattr(self, key).max_tokens
            if room < MIN_PROMPT_ROOM:
                raise ValueError(f"{key}.max_tokens: {n} leaves {room} of llm.max_model_len {self.llm.max_model_len} "
                                 f"tokens for the prompt and its document (needs >= {MIN_PROMPT_ROOM})")
        local = (self.spark.master or "").startswith("local")
        if local and (self.embed.gpu_per_task or self.embed.cpus_per_task):
            raise ValueError("embed.gpu_per_task / embed.cpus_per_task need a cluster master (Spark has no "
                             "stage-level scheduling in local mode)")
        if local and (self.llm.gpu_per_task or self.llm.cpus_per_task):
            raise ValueError("llm.gpu_per_task / llm.cpus_per_task need a cluster master (Spark has no "
                             "stage-level scheduling in local mode); set spark.master: null and use spark-submit")
        if self.prescreen.tokenizer == "spacy_en" and importlib.util.find_spec("spacy") is None:
            raise ValueError("prescreen.tokenizer: spacy_en needs the spacy package (pip install 'fanno-spark[spacy]')")
        return self


_KINDS = {"int_type": "expected an integer", "int_parsing": "expected an integer", "float_type": "expected a number",
          "float_parsing": "expected a number", "bool_type": "expected true/false", "bool_parsing": "expected true/false",
          "string_type": "expected a string", "dict_type": "expected a mapping", "model_type": "expected a mapping",
          "model_attributes_type": "expected a mapping", "tuple_type": "expected a list"}
_BOUNDS = {"greater_than": ("gt", ">"), "greater_than_equal": ("ge", ">="), "less_than": ("lt", "<"),
           "less_than_equal": ("le", "<=")}


def _field_at(loc: tuple) -> Any:
    """The FieldInfo a pydantic error location points at (None past a container)."""
    model, info = FannoConfig, None
    for part in loc:
        if not isinstance(part, str) or model is None or part not in model.model_fields:
            return info
        info = model.model_fields[part]
        model = info.annotation if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel) else None
    return info


def _one_line(err: dict) -> str:
    """A pydantic error -> 'dotted.key: what is wrong', as the job has always said it."""
    loc = tuple(err["loc"])
    item = loc and isinstance(loc[-1], int)  # an element of a list field
    keys = [p for p in loc if isinstance(p, str)]
    key = ".".join(keys) or "config"
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    if kind == "extra_forbidden":
        parent = _field_at(tuple(keys[:-1]))
        owner = parent.annotation if parent is not None else FannoConfig
        return f"{key}: unknown key (known: {', '.join(owner.model_fields)})"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    if kind == "literal_error":
        allowed = ctx.get("expected", "").replace("'", "").replace(" or ", ", ")
        return f"{key}: unknown {value} (known: {allowed})" if item else f"{key}: {value!r} is not one of {allowed}"
    if kind in _BOUNDS:
        name, sign = _BOUNDS[kind]
        info = _field_at(tuple(keys))
        nullable = info is not None and info.default is None
        why = f"{info.description}: " if info is not None and info.description else ""
        return f"{key}: {why}must be {sign} {ctx[name]}{' or null' if nullable else ''}, got {value!r}"
    if kind in ("too_short", "too_long"):
        return f"{key}: expected {ctx.get('min_length') if kind == 'too_short' else ctx.get('max_length')} " \
               f"{'or more ' if kind == 'too_short' and ctx.get('min_length') == 1 else ''}items, got {value!r}"
    if kind in _KINDS:
        return f"{key}: {_KINDS[kind]}, got {value!r}"
    return f"{key}: {err['msg']}"


def validate(data: Any) -> FannoConfig:
    """A mapping (YAML as read) -> FannoConfig, or ConfigError with the first problem as one line."""
    if not isinstance(data, dict):
        raise ConfigError(f"config: expected a mapping, got {data!r}")
    try:
        return FannoConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc.errors()[0])) from None


def flatten(cfg: BaseModel, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in type(cfg).model_fields:
        value = getattr(cfg, name)
        if isinstance(value, BaseModel):
            out.update(flatten(value, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = value
    return out


def to_dict(cfg: FannoConfig) -> dict[str, Any]:
    return cfg.model_dump(mode="json")


def resume_safe_keys() -> set[str]:
    """Dotted keys a resumed run may change, from the fields' metadata. More rounds or a larger target extend
    a run; anything else (model, sampling, filters, ...) would mix two datasets. Precision is how the same
    model runs, not which: outside the prompt-cache key (see prompt_hash)."""
    keys = set()
    for section, info in FannoConfig.model_fields.items():
        sub = info.annotation
        for name, f in sub.model_fields.items():
            if sub.resume_safe_section or (f.json_schema_extra or {}).get("resume_safe"):
                keys.add(f"{section}.{name}")
    return keys


def resume_drift(saved: dict[str, Any], cfg: FannoConfig) -> list[str]:
    """Keys whose value differs between a run dir's saved config.yaml and cfg, outside the resume-safe ones."""
    now, safe_keys = to_dict(cfg), resume_safe_keys()
    keys = {f"{s}.{k}" for part in (saved, now) for s, sub in part.items() if isinstance(sub, dict) for k in sub}

    def get(d: dict, key: str) -> Any:
        section, name = key.split(".", 1)
        return (d.get(section) or {}).get(name, "<absent>")
    section_safe = {s for s, i in FannoConfig.model_fields.items() if i.annotation.resume_safe_section}
    return sorted(k for k in keys if k not in safe_keys and k.split(".", 1)[0] not in section_safe
                  and get(saved, k) != get(now, k))


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


def load_yaml_file(path: str | Path, what: str = "config") -> Any:
    """A YAML file as read ({} when empty), or ConfigError in one line: missing, or not YAML."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} file not found: {p}")
    try:
        return yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({str(exc).splitlines()[0]})") from None


def read_yaml(path: str | Path | None, overrides: list[str] | tuple[str, ...] = (), output: str | None = None) -> dict:
    """The config as a plain mapping: the file (if any), then each --set, then --output."""
    data: dict = load_yaml_file(path) if path is not None else {}
    for assignment in overrides:
        apply_override(data, assignment)
    if output is not None:
        data.setdefault("output", {})["dir"] = output
    return data


def _exists_locally(cfg: FannoConfig, uri: str, key: str) -> None:
    from .fs import local_path

    if not Path(local_path(uri)).exists():
        raise ConfigError(f"{key}: {uri} does not exist")


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
                output: str | None = None, check_input: bool = True) -> FannoConfig:
    cfg = validate(read_yaml(path, overrides, output))
    if check_input and input_on_driver_disk(cfg):
        _exists_locally(cfg, cfg.input.path, "input.path")
    for bench in cfg.decontam.benchmarks if check_input else ():
        from .fs import scheme

        if scheme(bench) in (None, "file") and (cfg.spark.master or "").startswith("local"):
            _exists_locally(cfg, bench, "decontam.benchmarks")
    return cfg

import pytest

from fanno_spark.config import ConfigError, FannoConfig, flatten, load_config


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_defaults_and_local_yaml_load():
    cfg = load_config("conf/local.yaml")
    assert isinstance(cfg, FannoConfig)
    assert cfg.llm.model == "bundled:smollm2-135m-instruct"
    assert cfg.graph.cosine_threshold == 0.7


def test_cluster_example_validates():
    cfg = load_config("conf/cluster.yaml", check_input=False)
    assert cfg.spark.master is None and cfg.spark.graphframes == "provided"


def test_unknown_key_names_dotted_path(tmp_path):
    with pytest.raises(ConfigError, match=r"^llm\.temprature: unknown key"):
        load_config(write(tmp_path, "llm:\n  temprature: 0.5\n"))


def test_unknown_section(tmp_path):
    with pytest.raises(ConfigError, match=r"^bogus: unknown key"):
        load_config(write(tmp_path, "bogus: {}\n"))


def test_wrong_type_names_key(tmp_path):
    with pytest.raises(ConfigError, match=r"^sample\.max_docs: expected an integer"):
        load_config(write(tmp_path, "sample:\n  max_docs: lots\n"))


def test_bad_value_and_choice():
    with pytest.raises(ConfigError, match=r"graph\.cosine_threshold"):
        load_config(overrides=["graph.cosine_threshold=1.5"])
    with pytest.raises(ConfigError, match=r"llm\.engine"):
        load_config(overrides=["llm.engine=gpt"])


def test_missing_input_path():
    with pytest.raises(ConfigError, match=r"^input\.path: /nope/x\.jsonl does not exist"):
        load_config(overrides=["input.path=/nope/x.jsonl"])


def test_overrides_keep_types():
    cfg = load_config(overrides=["augment.rounds=2", "llm.temperature=0", "spark.conf={a: 1}",
                                 "filter.banned_words=[foo, bar]"], output="/tmp/x")
    assert cfg.augment.rounds == 2 and cfg.llm.temperature == 0.0
    assert cfg.spark.conf == {"a": "1"} and cfg.filter.banned_words == ("foo", "bar")
    assert cfg.output.dir == "/tmp/x"
    assert flatten(cfg)["augment.rounds"] == 2


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="dotted.key=value"):
        load_config(overrides=["augment.rounds"])


def test_cli_exits_before_spark_on_bad_config(capsys):
    from fanno_spark.cli import main

    assert main(["--set", "llm.nope=1"]) == 2
    err = capsys.readouterr().err
    assert err.strip().startswith("config error: llm.nope: unknown key") and err.count("\n") == 1


def test_summary_lists_llm_stages_and_drops():
    from fanno_spark.cli import summary

    text = summary({"pairs_r0.llm_prompts": 4, "pairs_r0.llm_sent": 3, "pairs_r0.llm_completion_tokens": 99,
                    "instructions_r0.dropped.too_short": 2, "final.llm_calls_per_pair": 2.25})
    assert "pairs_r0" in text and "99" in text
    assert "dropped instructions_r0: too_short = 2" in text and "2.25" in text


def test_param_redaction_hides_secret_leaves_not_token_counts():
    from fanno_spark.tracking import SECRET

    assert not any(SECRET.search(k) for k in ("llm.api_key_env", "seeds.max_tokens", "respond.max_tokens",
                                                "doc_judge.top_logprobs"))
    assert all(SECRET.search(k) for k in ("llm.api_key", "hub.token", "s3.secret", "db.password"))


@pytest.mark.parametrize("overrides,message", [
    (["llm.engine=openai"], "llm.base_url: required"),
    (["llm.gpu_per_task=1"], "need a cluster master"),
    (["filter.max_similarity=1.5"], "filter.max_similarity"),
    (["judge.min_score=7"], "judge.min_score"),
    (["respond.mode=hybrid"], "respond.mode"),
    (["augment.target_pairs=0"], "augment.target_pairs"),
    (["doc_judge.top_logprobs=0"], "doc_judge.top_logprobs"),
    (["embed.gpu_per_task=1"], "embed.gpu_per_task / embed.cpus_per_task need a cluster master"),
    (["embed.max_tokens=600"], "embed.max_tokens: MiniLM has 512 positions"),
    (["embed.max_tokens=0"], "embed.max_tokens"),
    (["input.max_replacement_ratio=0"], "input.max_replacement_ratio"),
    (["pii.types=[email,ssn]"], "pii.types: unknown ssn"),
    (["decontam.min_words=20"], "decontam.min_words: must be <= decontam.ngram"),
    (["decontam.ngram=0"], "decontam.ngram"),
    (["output.format=csv"], "output.format: 'csv' is not one of parquet, delta"),
    (["output.table=main.fanno.pairs"], "output.table: needs output.format: delta, got parquet"),
    (["output.format=delta", "output.table=main.fanno.pairs.extra"], "output.table: String should match"),
    (["llm.max_doc_tokens=0"], "llm.max_doc_tokens: must be > 0 or null"),
    (["respond.max_tokens=1900"], r"respond\.max_tokens: 1900 leaves 148 of llm\.max_model_len 2048"),
    (["llm.max_doc_chars=1500"], r"llm\.max_doc_chars: unknown key"),
    (["decontam.instruction_fields=[answer]"], "decontam.instruction_fields: unknown answer"),
    (["decontam.benchmarks=[/no/such/bench.jsonl]"], "decontam.benchmarks: /no/such/bench.jsonl does not exist"),
])
def test_llm_stage_settings_are_checked_before_spark(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config("conf/local.yaml", overrides)


def test_gpu_profile_allowed_on_a_cluster_master():
    cfg = load_config("conf/local.yaml", ["llm.gpu_per_task=1", "spark.master=null", "llm.engine=openai",
                                          "llm.base_url=http://127.0.0.1:8000/v1"])
    assert cfg.llm.gpu_per_task == 1.0 and cfg.spark.master is None


def test_fanno_paper_config_validates_with_the_official_settings():
    cfg = load_config("conf/fanno_paper.yaml", check_input=False)
    assert cfg.llm.model == "Qwen/Qwen2.5-7B-Instruct" and cfg.llm.temperature == 0.0
    assert cfg.seeds.max_tokens == cfg.augment.max_tokens == cfg.respond.max_tokens == 2048
    assert (cfg.seeds.docs, cfg.tags.prompts_per_doc, cfg.augment.window, cfg.augment.target_pairs) == (10, 96, 200, 1000)
    assert cfg.doc_judge.enabled and cfg.filter.max_similarity == 0.9 and cfg.prompts.style == "fanno"


def test_dataclass_defaults_are_fannos_method():
    cfg = FannoConfig()
    assert cfg.llm.temperature == 0.0 and cfg.tags.prompts_per_doc == 96 and cfg.seeds.docs == 10
    assert cfg.augment.window == 200 and cfg.filter.fanno_rules and cfg.prompts.style == "fanno"


def test_embed_engine_is_checked_with_its_precision():
    assert load_config(None, ["embed.engine=sparknlp"]).embed.engine == "sparknlp"
    with pytest.raises(ConfigError, match=r"embed\.engine"):
        load_config(None, ["embed.engine=onnx"])
    with pytest.raises(ConfigError, match=r"embed\.precision: the sparknlp engine runs the float32 ONNX export"):
        load_config(None, ["embed.engine=sparknlp", "embed.precision=bfloat16"])

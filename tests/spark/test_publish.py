"""PII masking, decontamination and MLflow lineage on real Spark (and a real sqlite MLflow store)."""

import json

import pytest
from pyspark.sql import functions as F

from fanno_spark.config import DecontamConfig
from fanno_spark.fs import LocalFS
from fanno_spark.publish import decontam, lineage
from fanno_spark.text import pii

pytestmark = pytest.mark.spark

# A benchmark prompt of 30 words, a 10-word one (matched whole), and a 5-word one (too short to use).
LONG = ("Write a detailed travel itinerary for a seven day trip to Kyoto that balances famous temples with quiet "
        "neighbourhood walks and includes at least two vegetarian restaurants each day")
SHORT = "Name three famous actors who started on Broadway stages"
TINY = "Tell me a joke"


def _mask(spark, texts):
    df = spark.createDataFrame([(i, t) for i, t in enumerate(texts)], "id int, text string")
    return [r["text"] for r in pii.mask_columns(df, ("text",)).orderBy("id").collect()]


def test_each_pii_type_is_masked_and_counted(spark):
    texts = [
        "Write to jane.doe+news@mail.example.co.uk today.",
        "Call (555) 123-4567, +44 20 7946 0958 or 555.867.5309 after 9.",
        "Server 203.0.113.7 and 2001:db8:85a3::8a2e:370:7334 answered.",
        "Card 4111 1111 1111 1111 and 5500-0000-0000-0004 were charged.",
        "Key sk-abcdefghijklmnopqrstu and https://bob:hunter2@db.example.com/x leaked.",
    ]
    masked = _mask(spark, texts)
    assert masked[0] == "Write to <EMAIL_ADDRESS> today."
    assert masked[1] == "Call <PHONE_NUMBER>, <PHONE_NUMBER> or <PHONE_NUMBER> after 9."
    assert masked[2] == "Server <IP_ADDRESS> and <IP_ADDRESS> answered."
    assert masked[3] == "Card <CREDIT_CARD> and <CREDIT_CARD> were charged."
    assert masked[4] == "Key <SECRET> and https://<SECRET>@db.example.com/x leaked."
    df = spark.createDataFrame([(t,) for t in masked], "text string")
    assert pii.counts(df, ("text",)) == {"secret": 2, "email": 1, "credit_card": 2, "ip": 2, "phone": 3}


def test_near_misses_are_left_alone(spark):
    texts = [
        "Card-like 4111 1111 1111 1112 fails Luhn; 1700000000000 is a millisecond timestamp.",
        "Private 192.168.1.20, loopback 127.0.0.1 and 10.0.0.3; version 3.11.2 and 1.2.3.4.5.",
        "pip install novas==3.0.2.4 then novas-3.0.2.4.tar.gz",
        "Use self@property? No: decorators like @staticmethod stay; so does a@b.",
        "In 2021-10-12 we read 12 345 pages at 3.14 per page; std::vector and a::b stay.",
        None,
    ]
    assert _mask(spark, texts) == texts


def test_luhn_valid_number_without_a_card_prefix_is_kept(spark):
    # 1234 5678 9012 3452 passes Luhn but no card network starts with 1
    assert _mask(spark, ["ref 1234 5678 9012 3452"]) == ["ref 1234 5678 9012 3452"]


def _bench(tmp_path, rows, name="evalset.jsonl", field="prompt"):
    p = tmp_path / name
    p.write_text("".join(json.dumps({field: r}) + "\n" for r in rows))
    return str(p)


def _pairs(spark, rows):
    return spark.createDataFrame([(f"i{k}", ins, inp, out, None) for k, (ins, inp, out) in enumerate(rows)],
                                 "instruction_id string, instruction string, input string, output string, "
                                 "drop_reason string")


def _decontaminate(spark, tmp_path, pairs, cfg):
    grams, lengths, stats = decontam.benchmark_grams(decontam.load_benchmarks(spark, cfg, LocalFS()), cfg)
    marked = decontam.mark_contaminated(pairs, "instruction_id", cfg.instruction_fields, grams, lengths)
    return {r["instruction_id"]: (r["drop_reason"], r["contaminated_by"]) for r in marked.collect()}, stats


def test_planted_contamination_paraphrase_and_near_miss(spark, tmp_path):
    cfg = DecontamConfig(benchmarks=(_bench(tmp_path, ["unrelated question about tax law in two countries", LONG,
                                                       SHORT, TINY]),))
    words = LONG.split()
    paraphrased = " ".join(words[:14] + ["calm"] + words[15:])  # one word changed: 14 words still match
    near = " ".join(words[:12]) + " and also something else entirely different"  # 12 words only
    shuffled = " ".join(reversed(words))
    pairs = _pairs(spark, [
        (f"Please help: {LONG.upper()}!", None, "Sure."),  # pasted, other case and punctuation
        (paraphrased, None, "ok"),
        (near, None, "ok"),
        (shuffled, None, "ok"),
        ("Answer this", SHORT + ".", "ok"),  # the short prompt as the input field
        ("Tell me a joke about cats", None, "ok"),  # the 4-word prompt is too short to count
        ("Describe a day", None, "A detailed travel itinerary for a seven day trip to Kyoto that balances famous "
                                 "temples with quiet walks"),  # in the response: 13 words copied
    ])
    got, stats = _decontaminate(spark, tmp_path, pairs, cfg)
    assert got["i0"] == ("contaminated", "evalset:1")
    assert got["i1"] == ("contaminated", "evalset:1")
    assert got["i2"] == (None, None)
    assert got["i3"] == (None, None)
    assert got["i4"] == ("contaminated", "evalset:2")
    assert got["i5"] == (None, None)
    assert got["i6"] == ("contaminated", "evalset:1")
    assert stats == {"evalset.prompts": 3, "evalset.too_short": 1}


def test_window_of_n_words_never_spans_two_fields(spark, tmp_path):
    words = LONG.split()
    cfg = DecontamConfig(benchmarks=(_bench(tmp_path, [LONG]),))
    pairs = _pairs(spark, [(" ".join(words[:7]), " ".join(words[7:14]), "x")])  # 7 + 7 words across two fields
    got, _ = _decontaminate(spark, tmp_path, pairs, cfg)
    assert got["i0"] == (None, None)


def test_benchmark_formats_turns_and_rows_already_dropped(spark, tmp_path):
    mt = tmp_path / "mt_bench.jsonl"
    mt.write_text(json.dumps({"turns": ["first turn is unrelated to anything here", LONG]}) + "\n")
    txt = tmp_path / "arena"
    txt.mkdir()
    (txt / "part-0.txt").write_text("a line that does not matter much at all\n" + SHORT + "\n")
    pq = tmp_path / "alpaca_eval.parquet"
    spark.createDataFrame([(SHORT + " tonight",)], "prompt string").toPandas().to_parquet(pq)
    pairs = _pairs(spark, [(LONG, None, "x"), (SHORT, None, "x")]).withColumn(
        "drop_reason", F.when(F.col("instruction_id") == "i1", "too_short"))
    for paths, field, want in (((str(mt),), "turns", ("contaminated", "mt_bench:0")),
                               ((str(txt),), "prompt", (None, None)),
                               ((str(pq),), "prompt", (None, None))):
        got, _ = _decontaminate(spark, tmp_path, pairs, DecontamConfig(benchmarks=paths, prompt_field=field))
        assert got["i0"] == want, paths
        assert got["i1"] == ("too_short", None)  # an earlier reason is kept, never overwritten
    got, _ = _decontaminate(spark, tmp_path, pairs.withColumn("drop_reason", F.lit(None).cast("string")),
                            DecontamConfig(benchmarks=(str(txt), str(pq))))
    assert got["i1"] == ("contaminated", "arena:1")  # the text file's second line; parquet whole-prompt differs


def test_benchmark_without_the_field_is_one_clear_error(spark, tmp_path):
    cfg = DecontamConfig(benchmarks=(_bench(tmp_path, ["x y z"], field="question"),))
    with pytest.raises(decontam.BenchmarkError, match="has no field 'prompt' .*question.*decontam.prompt_field"):
        decontam.load_benchmarks(spark, cfg, LocalFS())
    with pytest.raises(decontam.BenchmarkError, match="does not exist"):
        decontam.load_benchmarks(spark, DecontamConfig(benchmarks=(str(tmp_path / "nope.jsonl"),)), LocalFS())


def test_lineage_logs_input_and_output_datasets(spark, tmp_path):
    import mlflow

    from fanno_spark.tracking import Tracker

    df = spark.createDataFrame([("a", "x"), ("b", "y")], "id string, text string")
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "lineage")
    info = lineage.log_dataset(tracker, df, "s3a://bucket/corpus/", "corpus", "input", ["id", "text"],
                               {"format": "jsonl"})
    tracker.end()
    again = lineage.content_digest(df.orderBy(F.desc("id")).repartition(3), ["id", "text"])
    other = lineage.content_digest(df.limit(1), ["id", "text"])
    assert again == (2, info["digest"]) and other[1] != info["digest"]
    run = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").get_run(tracker.run_id)
    (ds,) = run.inputs.dataset_inputs
    assert ds.dataset.name == "corpus" and ds.dataset.digest == info["digest"]
    assert json.loads(ds.dataset.source)["path"] == "s3a://bucket/corpus/"
    assert json.loads(ds.dataset.profile) == {"num_rows": 2, "format": "jsonl"}
    assert [c["name"] for c in json.loads(ds.dataset.schema)["mlflow_colspec"]] == ["id", "text"]
    assert {t.key: t.value for t in ds.tags}["mlflow.data.context"] == "input"

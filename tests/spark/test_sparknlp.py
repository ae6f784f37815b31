"""Spark NLP is on the classpath (requirements/jars.lock) and its rule-based annotators run here."""

from pyspark.ml import Pipeline
from sparknlp.annotator import SentenceDetector, Tokenizer
from sparknlp.base import DocumentAssembler


def test_rule_based_sentences_and_tokens(spark):
    docs = spark.createDataFrame([
        ("d1", "The river floods in spring. Farmers plant after it recedes! Do they rest in winter?"),
        ("d2", "One sentence only"),
    ], "id string, text string")
    pipe = Pipeline(stages=[
        DocumentAssembler().setInputCol("text").setOutputCol("document"),
        SentenceDetector().setInputCols(["document"]).setOutputCol("sentence"),  # rule-based: no download
        Tokenizer().setInputCols(["sentence"]).setOutputCol("token"),
    ])
    out = {r["id"]: r for r in pipe.fit(docs).transform(docs).collect()}
    assert [s.result for s in out["d1"]["sentence"]] == [
        "The river floods in spring.", "Farmers plant after it recedes!", "Do they rest in winter?"]
    first = out["d1"]["sentence"][0]
    assert (first.begin, first.end) == (0, len("The river floods in spring.") - 1)
    assert [t.result for t in out["d1"]["token"]][:6] == ["The", "river", "floods", "in", "spring", "."]
    assert [s.result for s in out["d2"]["sentence"]] == ["One sentence only"]

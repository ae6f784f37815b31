"""Filters on crafted documents that must pass and must fail; dedup; the similarity graph; LPA."""


import numpy as np
import pytest
from pyspark.sql import functions as F

from fanno_spark.config import DedupConfig, GraphConfig, PrescreenConfig, SampleConfig
from fanno_spark.prescreen import dedup, graph, heuristics, language

pytestmark = pytest.mark.spark

GOOD = ("The library provides a simple way to read and write files. It is used by many programs, and the "
        "functions are documented with examples that show how to open a file, read its lines and close it. "
        "You can also use it with the context manager so that the file is closed for you when the block ends. "
        "This makes the code shorter and safer, and it is the style that the tutorial recommends to new users.")


def scored(spark, texts, cfg=PrescreenConfig()):
    df = spark.createDataFrame([(f"d{i:02d}", t, None) for i, t in enumerate(texts)], "id string, text string, "
                                                                                        "read_error string")
    df = language.add_language(df)
    return heuristics.decide(heuristics.score_documents(df), cfg).orderBy("id").collect()


PARA = ("Soil needs air and water to stay healthy. Worms help with that by opening small channels, and the "
        "organic matter they leave behind feeds the plants that grow in the bed.")


def test_heuristics_pass_prose_and_fail_crafted_junk(spark):
    texts = [
        GOOD,                                                   # passes
        "too short to keep",                                   # too_few_words
        " ".join(["#tag"] * 30 + ["the", "and"] * 20),         # symbol_ratio
        " ".join(["1234 5678 9999"] * 40),                     # low alpha (mean word length passes)
        "Engineers build reliable systems. Managers review quarterly budgets carefully. Students study modern "
        "physics diligently. Farmers harvest golden wheat early. Doctors examine patients thoroughly. Musicians "
        "practice difficult pieces nightly. Writers draft compelling stories slowly. Chefs prepare delicious meals "
        "daily. Pilots fly large aircraft safely. Teachers grade student essays fairly. Artists paint colorful "
        "murals outside. Scientists publish important papers regularly. Builders construct sturdy houses.",  # stop

        "\n".join(["- the item and the thing with words"] * 20),    # bullet_lines
        "\n".join([f"line {i} of the text and more with words." for i in range(5)] * 4),  # duplicate_lines
        GOOD,                                                   # exact duplicate of d0
        "\n\n".join([PARA, PARA, PARA, GOOD]),                   # duplicate_paragraphs
        GOOD + " " + " ".join(["cheap shoes"] * 30) + ".",  # top 2-gram
        GOOD + " " + " ".join(["the quiet river runs past the old stone mill today."] * 3),  # dup 5-grams
        "Die Bibliothek bietet eine einfache Möglichkeit, Dateien zu lesen und zu schreiben. Sie wird von vielen "
        "Programmen verwendet, und die Funktionen sind mit Beispielen dokumentiert, die zeigen, wie man eine Datei "
        "öffnet, ihre Zeilen liest und sie wieder schließt. Man kann sie auch mit dem Kontextmanager verwenden, "
        "damit die Datei am Ende des Blocks geschlossen wird. Das macht den Code kürzer und sicherer.",  # language
        GOOD.replace(". ", ", ").replace("users.", "users"),   # few_sentences (one long run-on line)
        GOOD + " Lorem ipsum dolor sit amet, the end.",        # lorem_ipsum
    ]
    reasons = [r["drop_reason"] for r in scored(spark, texts)]
    assert reasons == [None, "too_few_words", "symbol_ratio", "low_alpha_ratio", "few_stop_words",
                       "bullet_lines", "duplicate_lines", "exact_duplicate", "duplicate_paragraphs", "top_2gram",
                       "duplicate_5grams", "language", "few_sentences", "lorem_ipsum"]


def test_thresholds_come_from_config(spark):
    code = GOOD + " Use it like this: with open(path) as fh: data = {k: v for k, v in pairs}."
    assert [r["drop_reason"] for r in scored(spark, [code])] == [None]  # C4's curly rule is off by default
    strict = PrescreenConfig().model_copy(update={"filter_curly_bracket": True})
    assert [r["drop_reason"] for r in scored(spark, [code], strict)] == ["curly_bracket"]
    german = "Die Bibliothek bietet eine einfache Möglichkeit, Dateien zu lesen und zu schreiben. " * 8
    anylang = PrescreenConfig().model_copy(update={"languages": (), "min_words": 5})
    row = scored(spark, [german], anylang)[0]
    assert row["language"] == "de" and row["drop_reason"] != "language"


def test_score_columns_are_numbers(spark):
    row = scored(spark, [GOOD])[0]
    assert row["n_words"] == len(GOOD.split())
    assert 3 < row["mean_word_length"] < 6 and row["stop_words"] >= 2 and row["alpha_word_ratio"] == 1.0


def test_near_duplicates_found_and_first_id_kept(spark):
    base = [GOOD, PARA * 3, "Rivers carry sediment from the mountains to the sea, and the delta grows where the "
            "current slows. Farmers have used that fertile land for thousands of years, and cities grew there."]
    near = [t.replace("simple", "easy").replace("air", "oxygen").replace("slows", "slows down") for t in base]
    rows = [(f"a{i}", t) for i, t in enumerate(base)] + [(f"b{i}", t) for i, t in enumerate(near)]
    rows.append(("c0", "A completely different text about cooking pasta: boil the water, salt it well, and "
                       "stir the pasta so that it does not stick to the bottom of the pot while it cooks."))
    df = spark.createDataFrame([(i, t, None) for i, t in rows], "id string, text string, drop_reason string")
    out = {r["id"]: r for r in dedup.mark_near_duplicates(df, DedupConfig(jaccard_threshold=0.6)).collect()}
    assert {i for i, r in out.items() if r["drop_reason"] == "near_duplicate"} == {"b0", "b1", "b2"}
    assert out["b1"]["near_duplicate_of"] == "a1" and out["c0"]["drop_reason"] is None
    pairs = dedup.near_duplicate_pairs(df, DedupConfig(jaccard_threshold=0.6)).collect()
    assert all(0.6 <= p["jaccard"] <= 1.0 for p in pairs)


def clustered_vectors(rng, clusters=3, per=5, dim=32, noise=0.05):
    centers = rng.normal(size=(clusters, dim))
    rows = []
    for c in range(clusters):
        for j in range(per):
            v = centers[c] + noise * rng.normal(size=dim)
            rows.append((f"c{c}-{j}", (v / np.linalg.norm(v)).astype(float).tolist()))
    return rows


def exact_edges(rows, threshold):
    ids = [r[0] for r in rows]
    x = np.array([r[1] for r in rows])
    a, b = np.nonzero(np.triu(x @ x.T >= threshold, k=1))
    return {(min(ids[i], ids[j]), max(ids[i], ids[j])) for i, j in zip(a, b, strict=True)}


def test_ivf_edges_match_exact_pairs(spark):
    rng = np.random.default_rng(1)
    rows = clustered_vectors(rng, clusters=12, per=6, dim=64, noise=0.6)
    v = rng.normal(size=64)
    rows.append(("lonely", (v / np.linalg.norm(v)).tolist()))
    vecs = spark.createDataFrame(rows, "id string, embedding array<float>")
    cfg = GraphConfig(cosine_threshold=0.7, method="ivf", cell_size=10, nprobe=3)
    got = {(e["src"], e["dst"]) for e in graph.similarity_edges(vecs, cfg).collect()}
    truth = exact_edges(rows, 0.7)
    assert len(truth) > 50 and got <= truth  # never a pair below the threshold
    assert len(got & truth) / len(truth) >= 0.95  # recall: 8 cells, each pair seen from 3
    one_cell = {(e["src"], e["dst"]) for e in graph.similarity_edges(vecs, cfg.model_copy(
        update={"cell_size": 10_000})).collect()}
    assert one_cell == truth  # a single cell is the exact answer


def skewed_vectors(rng, n=3000, dim=64):
    """Power-law topic sizes, members at their own distance from the centre, planted near-duplicates,
    25% unrelated documents: the structure of a web corpus under MiniLM, at a test's size."""
    def unit(x):
        return x / np.linalg.norm(x, axis=-1, keepdims=True)
    x, dups, i = np.empty((n, dim)), [], 0
    while i < int(n * 0.75):
        size = min(int(2 * (1 - rng.random()) ** (-1 / 1.3)), 150, int(n * 0.75) - i)
        rho = rng.uniform(0.3, 0.95, size=(size, 1))
        x[i:i + size] = np.sqrt(rho) * unit(rng.normal(size=dim)) + np.sqrt(1 - rho) * unit(rng.normal(size=(size, dim)))
        for d in range(1, size):
            if rng.random() < 0.05:
                x[i + d] = unit(x[i + d - 1] + 0.2 * unit(rng.normal(size=dim)))
                dups.append((i + d - 1, i + d))
        i += size
    x[i:] = rng.normal(size=(n - i, dim))
    x = unit(x)
    ids = [f"v{j:05d}" for j in range(n)]
    return [(ids[j], x[j].astype(float).tolist()) for j in range(n)], [(ids[a], ids[b]) for a, b in dups]


def test_ivf_recall_on_skewed_topics_with_near_duplicates(spark):
    """The two-level IVF (36 cells under 6 coarse ones here) against exact search: never a false edge,
    recall >= 0.95, the planted near-duplicates found."""
    rows, dups = skewed_vectors(np.random.default_rng(7))
    vecs = spark.createDataFrame(rows, "id string, embedding array<float>").repartition(4)
    cfg = GraphConfig(cosine_threshold=0.7, method="ivf", cell_size=len(rows) // 36, nprobe=2)
    got = {(e["src"], e["dst"]) for e in graph.similarity_edges(vecs, cfg).collect()}
    truth = exact_edges(rows, 0.7)
    assert len(truth) > 5_000 and got <= truth
    assert len(got & truth) / len(truth) >= 0.95, len(got & truth) / len(truth)
    # near-duplicates (cosine ~0.98) share their cells but for the odd one on a boundary of three cells
    found = sum((min(a, b), max(a, b)) in got for a, b in dups)
    assert len(dups) > 50 and found >= 0.97 * len(dups), (found, len(dups))


def test_lsh_edges_find_near_vectors_only(spark):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 32))
    rows = []
    for c in range(3):
        for j in range(5):
            v = centers[c] + 0.05 * rng.normal(size=32)
            rows.append((f"c{c}-{j}", (v / np.linalg.norm(v)).astype(float).tolist()))
    v = rng.normal(size=32)
    rows.append(("lonely", (v / np.linalg.norm(v)).tolist()))
    vecs = spark.createDataFrame(rows, "id string, embedding array<double>")
    edges = graph.similarity_edges(vecs, GraphConfig(cosine_threshold=0.9, lsh_bucket_length=0.5, method="brp",
                                                     lsh_num_tables=8)).collect()
    assert edges and all(e["src"] < e["dst"] and e["cosine"] >= 0.9 for e in edges)
    assert all(e["src"].split("-")[0] == e["dst"].split("-")[0] for e in edges)
    assert len(edges) >= 25  # most of the 3 x 10 within-cluster pairs


def test_label_propagation_known_communities_and_singletons(spark):
    edges = [("a1", "a2"), ("a2", "a3"), ("a1", "a3"), ("b1", "b2"), ("b2", "b3"), ("b1", "b3")]
    ids = ["a1", "a2", "a3", "b1", "b2", "b3", "solo1", "solo2"]
    v = spark.createDataFrame([(i,) for i in ids], "id string")
    e = spark.createDataFrame(edges, "src string, dst string").withColumn("cosine", F.lit(0.9))
    comm = {r["id"]: r["community"] for r in graph.label_propagation(v, e, GraphConfig(lpa_max_iter=5)).collect()}
    assert set(comm) == set(ids)  # FANNO dropped singletons; every vertex must survive
    assert comm["a1"] == comm["a2"] == comm["a3"] == "a1"
    assert comm["b1"] == comm["b2"] == comm["b3"] == "b1"
    assert comm["solo1"] == "solo1" and comm["solo2"] == "solo2"


def _lpa_reference(ids, edges, iterations):
    """Synchronous LPA in plain Python: the most frequent neighbour label, ties to the smallest."""
    nbrs = {i: [] for i in ids}
    for a, b in edges:
        nbrs[a].append(b)
        nbrs[b].append(a)
    label = {i: i for i in ids}
    for _ in range(iterations):
        new = {}
        for i in ids:
            counts = {}
            for n in nbrs[i]:
                counts[label[n]] = counts.get(label[n], 0) + 1
            new[i] = min(counts, key=lambda lab: (-counts[lab], lab)) if counts else label[i]
        label = new
    smallest = {}
    for i in ids:
        smallest[label[i]] = min(smallest.get(label[i], i), i)
    return {i: smallest[label[i]] for i in ids}


def test_label_propagation_is_reproducible_on_a_random_graph(spark):
    """Ties (many on a sparse random graph) go to the smallest label, so every partitioning gives the same
    communities: GraphX's labelPropagation broke them by message order and two runs here disagreed."""
    rng = np.random.default_rng(3)
    ids = [f"v{i:03d}" for i in range(200)]
    edges = sorted({(ids[a], ids[b]) for a, b in rng.integers(0, 200, size=(300, 2)) if a < b})
    want = _lpa_reference(ids, edges, 5)
    v = spark.createDataFrame([(i,) for i in ids], "id string")
    e = spark.createDataFrame(edges, "src string, dst string").withColumn("cosine", F.lit(0.8))
    for parts in (1, 3, 7):
        got = graph.label_propagation(v.repartition(parts), e.repartition(parts), GraphConfig(lpa_max_iter=5))
        assert {r["id"]: r["community"] for r in got.collect()} == want, parts
    assert len(set(want.values())) > 1


def test_sample_per_community_keeps_singletons_and_caps(spark):
    rows = [(f"big{i}", "big") for i in range(10)] + [("s1", "s1"), ("s2", "s2")]
    docs = spark.createDataFrame(rows, "id string, community string")
    out = graph.sample_per_community(docs, SampleConfig(per_community=2, max_docs=100, seed=1)).collect()
    assert sorted(r["community"] for r in out) == ["big", "big", "s1", "s2"]
    capped = graph.sample_per_community(docs, SampleConfig(per_community=2, max_docs=3, seed=1)).collect()
    assert len(capped) == 3 and len({r["community"] for r in capped}) == 3  # round-robin first
    again = graph.sample_per_community(docs, SampleConfig(per_community=2, max_docs=3, seed=1)).collect()
    assert sorted(r["id"] for r in again) == sorted(r["id"] for r in capped)


def test_label_propagation_two_runs_on_one_graph_agree(spark):
    """Two runs of the GraphFrames LPA on one graph (dense enough for many ties) give one answer."""
    rng = np.random.default_rng(11)
    ids = [f"w{i:03d}" for i in range(300)]
    edges = sorted({(ids[a], ids[b]) for a, b in rng.integers(0, 300, size=(600, 2)) if a != b})
    v = spark.createDataFrame([(i,) for i in ids], "id string")
    e = spark.createDataFrame(edges, "src string, dst string").withColumn("cosine", F.lit(0.8))
    runs = [{r["id"]: r["community"] for r in graph.label_propagation(v, e.repartition(n), GraphConfig(
        lpa_max_iter=5)).collect()} for n in (2, 5)]
    assert runs[0] == runs[1] == _lpa_reference(ids, sorted({tuple(sorted(p)) for p in edges}), 5)
    assert 1 < len(set(runs[0].values())) < len(ids)

"""Every reader on real files, and every bad-record case kept with a reason (never lost, never a crash)."""

import gzip
import io
import json

import pytest
from pyspark.sql import functions as F

from fanno_spark.config import InputConfig
from fanno_spark.fs import HadoopFS
from fanno_spark.io.readers import InputError, detect_format, read_corpus

pytestmark = pytest.mark.spark

GOOD = ("The library provides a simple way to read and write files. It is used by many programs, and the "
        "functions are documented with examples that show how to open a file, read its lines and close it.")
PAGE = ("<html><head><title>Gardening notes</title></head><body><nav>Home | About | Contact</nav>"
        "<article><h1>Growing tomatoes</h1><p>Tomatoes need at least six hours of sun a day and soil that "
        "drains well. Water them deeply twice a week rather than a little every day, so that the roots grow "
        "down into the cooler soil.</p><p>Pinch out the side shoots of cordon varieties as they appear, and "
        "tie the main stem to a cane. Feed the plants with a high potash fertiliser once the first fruits "
        "have set, and pick them as soon as they are fully coloured.</p></article>"
        "<footer>Copyright 2024. All rights reserved.</footer></body></html>")


def read(spark, path, **kw):
    return {r["id"]: r for r in read_corpus(spark, InputConfig(path=str(path), **kw), HadoopFS(spark)).collect()}


def test_jsonl_bad_records_are_kept_with_reasons(spark, tmp_path):
    lines = [
        json.dumps({"id": "a", "text": GOOD, "url": "u"}),
        "{broken json",
        "",
        json.dumps({"id": "b", "text": 42}),
        json.dumps({"id": "c", "text": None}),
        json.dumps({"text": GOOD + " x"}),
        json.dumps({"id": "a", "text": "another doc with a reused id"}),
        json.dumps({"id": "d", "text": ["a", "list"]}),
        json.dumps({"id": "big", "text": "word " * 400_000}),  # 2 MB
        json.dumps({"id": "blank", "text": " \u200f\u202e \n\t"}),  # only invisible characters
        json.dumps({"id": "bidi", "text": "safe\u202e text\u0007 here " + GOOD}),
        # valid UTF-8 that shows the replacement character once (a page about mojibake): kept
        json.dumps({"id": "fffd", "text": "Broken bytes show up as \ufffd in a browser. " + GOOD * 8}),
    ]
    path = tmp_path / "c.jsonl.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(("\n".join(lines) + "\n").encode())
        # latin-1, not UTF-8: each accented letter becomes U+FFFD, well over input.max_replacement_ratio
        fh.write(b'{"id": "bytes", "text": "caf\xe9 cr\xe8me br\xfbl\xe9e \xe0 la fran\xe7aise ' + GOOD.encode() + b'"}\n')
    df = read_corpus(spark, InputConfig(path=str(path), max_doc_chars=1_000_000), HadoopFS(spark))
    rows = df.collect()
    assert len(rows) == len(lines) + 1  # nothing silently lost
    errors = sorted(r["read_error"] for r in rows if r["read_error"])
    assert errors == sorted(["malformed_json", "empty_line", "non_string_text", "missing_text", "missing_id",
                             "duplicate_id", "non_string_text", "too_large", "empty_text", "undecodable_bytes"])
    by_id = {r["id"]: r for r in rows if r["read_error"] is None}
    assert by_id["a"]["text"] == GOOD and by_id["a"]["url"] == "u"
    assert by_id["bidi"]["text"].startswith("safe text here ")  # bidi override and BEL removed
    assert by_id["fffd"]["text"].count("\ufffd") == 1
    big = next(r for r in rows if r["read_error"] == "too_large")
    assert len(big["text"]) == 10_000  # the reject keeps a head, not 2 MB


def test_parquet_reader_with_and_without_ids(spark, tmp_path):
    df = spark.createDataFrame([("p1", GOOD, "http://x"), ("p2", None, None)], "id string, text string, url string")
    df.write.parquet(str(tmp_path / "with_ids"))
    out = read(spark, tmp_path / "with_ids")
    assert out["p1"]["text"] == GOOD and out["p1"]["url"] == "http://x"
    assert out["p2"]["read_error"] == "missing_text"
    spark.createDataFrame([(GOOD,), (GOOD + " two",)], "content string").write.parquet(str(tmp_path / "no_ids"))
    out = read(spark, tmp_path / "no_ids", text_column="content")
    assert len(out) == 2 and all(len(k) == 20 and v["read_error"] is None for k, v in out.items())
    assert out == read(spark, tmp_path / "no_ids", text_column="content")  # content ids are stable
    with pytest.raises(InputError, match="no column 'body'"):
        read_corpus(spark, InputConfig(path=str(tmp_path / "no_ids"), text_column="body"), HadoopFS(spark))
    spark.createDataFrame([(1,)], "text int").write.parquet(str(tmp_path / "int_text"))
    with pytest.raises(InputError, match="not a string"):
        read_corpus(spark, InputConfig(path=str(tmp_path / "int_text")), HadoopFS(spark))


def test_text_folder_one_document_per_file(spark, tmp_path):
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "a.txt").write_text(GOOD + "\n\nSecond paragraph of the same file.\n")
    (tmp_path / "docs" / "sub" / "b.txt").write_text("Another file.")
    (tmp_path / "docs" / "empty.txt").write_text("")
    assert detect_format(str(tmp_path / "docs")) == "text"
    out = read(spark, tmp_path / "docs")
    assert len(out) == 3
    a = next(v for k, v in out.items() if k.endswith("/a.txt"))
    assert "Second paragraph" in a["text"] and a["read_error"] is None
    assert next(v for k, v in out.items() if k.endswith("empty.txt"))["read_error"] == "empty_file"


def write_warc(path, truncate_at=None):
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    w = WARCWriter(buf, gzip=True)
    w.write_record(w.create_warc_record("", "warcinfo", payload=io.BytesIO(b"software: test\r\n"),
                                        warc_content_type="application/warc-fields"))
    w.write_record(w.create_warc_record("http://garden.example/tomatoes", "request",
                                        payload=io.BytesIO(b"GET /tomatoes HTTP/1.1\r\n\r\n")))
    for url, ctype, body in [("http://garden.example/tomatoes", "text/html; charset=utf-8", PAGE.encode()),
                             ("http://garden.example/logo.png", "image/png", b"\x89PNG\r\n\x1a\n" + bytes(200)),
                             ("http://garden.example/empty", "text/html", b"<html><body></body></html>")]:
        http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
        w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http))
    w.write_record(w.create_warc_record("http://garden.example/plain", "conversion",
                                        payload=io.BytesIO(GOOD.encode()), warc_content_type="text/plain"))
    data = buf.getvalue()
    path.write_bytes(data[:truncate_at] if truncate_at else data)
    return data


def test_warc_html_and_wet_records(spark, tmp_path):
    (tmp_path / "crawl").mkdir()
    write_warc(tmp_path / "crawl" / "a.warc.gz")
    assert detect_format(str(tmp_path / "crawl")) == "warc"
    out = read(spark, tmp_path / "crawl")
    by_url = {v["url"]: v for v in out.values()}
    assert set(by_url) == {"http://garden.example/tomatoes", "http://garden.example/empty",
                           "http://garden.example/plain"}  # request, warcinfo and the PNG are not documents
    page = by_url["http://garden.example/tomatoes"]
    assert page["read_error"] is None and "six hours of sun" in page["text"]
    assert "All rights reserved" not in page["text"] and "Home | About" not in page["text"]  # boilerplate gone
    assert by_url["http://garden.example/empty"]["read_error"] == "no_extractable_text"
    assert by_url["http://garden.example/plain"]["text"] == GOOD


def test_truncated_warc_keeps_what_was_read_and_counts_the_break(spark, tmp_path):
    (tmp_path / "crawl").mkdir()
    full = write_warc(tmp_path / "crawl" / "whole.warc.gz")
    write_warc(tmp_path / "crawl" / "cut.warc.gz", truncate_at=len(full) - 60)
    df = read_corpus(spark, InputConfig(path=str(tmp_path / "crawl")), HadoopFS(spark))
    cut = df.where(F.col("source").endswith("cut.warc.gz")).collect()
    assert any(r["read_error"] == "truncated_warc" for r in cut)
    assert any(r["read_error"] is None and "six hours" in r["text"] for r in cut)  # records before the break
    assert df.where(F.col("source").endswith("whole.warc.gz") & F.col("read_error").isNull()).count() == 2


def test_unknown_or_empty_input_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty folder"):
        detect_format(str(tmp_path / "empty"))
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "x.bin").write_bytes(b"\0")
    with pytest.raises(InputError, match="cannot tell the format"):
        detect_format(str(tmp_path / "odd"))

"""The filesystem layer on local paths (the Hadoop side runs in tests/spark/test_fs_hadoop.py)."""

from fanno_spark.fs import LocalFS, display, is_local, join, scheme


def test_schemes_and_display():
    assert scheme("s3a://b/k") == "s3a" and scheme("dbfs:/x") == "dbfs" and scheme("/tmp/x") is None
    assert scheme("C:/data") is None and scheme("runs/local") is None
    assert is_local("file:/tmp/x") and is_local("runs/x") and not is_local("viewfs://lake/runs")
    assert display("file:/tmp/r") == "/tmp/r" and display("file:///tmp/r") == "/tmp/r"
    assert display("s3a://b/r") == "s3a://b/r" and join("s3a://b/r/", "ucb", "x.json") == "s3a://b/r/ucb/x.json"


def test_local_fs_round_trip(tmp_path):
    fs = LocalFS()
    root = fs.qualify(str(tmp_path / "run"))
    assert root.startswith("file:///")
    assert not fs.exists(root) and fs.list(root) == []
    fs.write_text(join(root, "a", "x.json"), "{}")
    assert fs.read_text(join(root, "a", "x.json")) == "{}" and fs.is_dir(join(root, "a"))
    assert fs.create_new(join(root, "lock"), b"me") and not fs.create_new(join(root, "lock"), b"you")
    assert fs.read_bytes(join(root, "lock")) == b"me"
    (tmp_path / "run" / "_SUCCESS").touch()
    assert fs.find(root) == [join(root, "a", "x.json"), join(root, "lock")]  # hidden names skipped
    fs.delete(join(root, "a"))
    assert not fs.exists(join(root, "a"))

"""Create-if-absent on S3 as one conditional PUT (`If-None-Match: *`): the run dir lock's atomic step on
s3a://. Hadoop 3.3.4's S3A client (the one pyspark 3.5 ships) has no way to send the header, so this PUT
goes through boto3, configured from the same fs.s3a.* settings Spark's S3A uses (per-bucket keys first),
so both talk to the same endpoint with the same credentials."""

from __future__ import annotations


class ConditionalWritesUnsupported(RuntimeError):
    """The store answered NotImplemented (S3Proxy, older MinIO, some S3-compatible stores)."""


def _setting(conf, bucket: str, key: str) -> str | None:
    value = conf.get(f"fs.s3a.bucket.{bucket}.{key}") or conf.get(f"fs.s3a.{key}")
    return value or None


def client_for(conf, bucket: str):
    """A boto3 S3 client with S3A's endpoint, credentials, region and path-style setting for `bucket`;
    without keys in the Hadoop conf, boto3's own chain (environment, instance profile) applies, as S3A's does."""
    import boto3
    from botocore.config import Config

    endpoint = _setting(conf, bucket, "endpoint")
    if endpoint and "://" not in endpoint:
        ssl = (_setting(conf, bucket, "connection.ssl.enabled") or "true").lower() == "true"
        endpoint = f"{'https' if ssl else 'http'}://{endpoint}"
    path_style = (_setting(conf, bucket, "path.style.access") or "false").lower() == "true"
    return boto3.client(
        "s3", endpoint_url=endpoint,
        aws_access_key_id=_setting(conf, bucket, "access.key"),
        aws_secret_access_key=_setting(conf, bucket, "secret.key"),
        aws_session_token=_setting(conf, bucket, "session.token"),
        region_name=_setting(conf, bucket, "endpoint.region") or "us-east-1",
        config=Config(s3={"addressing_style": "path" if path_style else "auto"},
                      retries={"max_attempts": 5, "mode": "standard"}))


def put_if_absent(conf, uri: str, data: bytes) -> bool:
    """PUT uri (s3a://bucket/key) unless an object is there: True if this call created it, False if one
    existed (412 PreconditionFailed, or 409 ConditionalRequestConflict when a concurrent PUT is in flight)."""
    from botocore.exceptions import ClientError

    bucket, _, key = uri.split("://", 1)[1].partition("/")
    try:
        client_for(conf, bucket).put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")
    except ClientError as exc:
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if err.get("Code") in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412):
            return False
        if err.get("Code") == "NotImplemented" or status == 501:
            raise ConditionalWritesUnsupported(uri) from exc
        raise
    return True

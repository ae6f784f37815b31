"""The one way a rule decides: a row keeps the first `drop_reason` it was given; a later rule only names rows
still kept. Rules score into columns elsewhere; this is where a score becomes a reason."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def drop_if(df: DataFrame, *reasons: Column) -> DataFrame:
    """df with drop_reason = its own reason (if any), else the first non-null of `reasons` (string columns,
    e.g. F.when(cond, F.lit("too_long"))). A frame without drop_reason starts with every row kept."""
    own = F.col("drop_reason") if "drop_reason" in df.columns else F.lit(None).cast("string")
    return df.withColumn("drop_reason", F.coalesce(own, *reasons) if reasons else own)

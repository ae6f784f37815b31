"""PII masking as native Spark expressions (no Python UDF: it runs in the JVM at scan speed).

Types, applied in this order (a secret inside a URL is masked before the e-mail rule sees its "@"):
  secret       credentials inside URLs and key-shaped tokens (the patterns of redact.py)
  email        local@domain.tld
  credit_card  13-19 digits, single spaces/dashes allowed, a card-network prefix and a valid Luhn sum
  ip           IPv4 outside private/loopback ranges (as datatrove's PII formatter), not right after "-" or "="
               (package versions such as novas==3.0.2.4 read as addresses), IPv6 full or "::" form
  phone        +CC international, (NNN) NNN-NNNN and NNN-NNN-NNNN / NNN.NNN.NNNN
Each match becomes a typed placeholder; counts are the placeholders in the masked text (`count_expr`).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ..config import PII_TYPES
from ..redact import TOKEN_LIKE

PLACEHOLDERS = {"secret": "<SECRET>", "email": "<EMAIL_ADDRESS>", "credit_card": "<CREDIT_CARD>",
                "ip": "<IP_ADDRESS>", "phone": "<PHONE_NUMBER>"}
TYPES = PII_TYPES  # PLACEHOLDERS lists them in the same order

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_HEX = r"[0-9A-Fa-f]{1,4}"
PATTERNS = {
    "email": r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])",
    "credit_card": r"(?<![\w-])(?:\d[ -]?){12,18}\d(?![\w-])",
    "ip": (r"(?<![\w.=-])(?!(?:10|127|0)\.)(?!192\.168\.)(?!169\.254\.)(?!172\.(?:1[6-9]|2\d|3[01])\.)"
           rf"{_OCTET}(?:\.{_OCTET}){{3}}(?![\w.]*\d)"
           rf"|(?<![\w:])(?:{_HEX}:){{7}}{_HEX}(?![\w:])"
           rf"|(?<![\w:])(?:{_HEX}:){{2,6}}:(?:{_HEX}:){{0,5}}{_HEX}(?![\w:])"),
    "phone": (r"(?<![\w+])\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]\d{2,4}){1,4}(?![\w-])"
              r"|(?<![\w(])\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}(?![\w-])"
              r"|(?<![\w.-])\d{3}[-.]\d{3}[-.]\d{4}(?![\w-])"),
}
URL_CREDENTIALS = r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/\s@]+@"
# Card networks: Visa 4, Mastercard 51-55 / 22-27, Amex 34/37, Diners 30/36/38, JCB 35, Discover/UnionPay 6.
# Without a prefix rule, Luhn alone passes one in ten long numbers (e.g. millisecond timestamps start with 1).
CARD_PREFIX = r"^(?:4|5[1-5]|2[2-7]|3[0456789]|6)"


def _luhn_ok(candidate: Column) -> Column:
    digits = F.regexp_replace(candidate, r"[^0-9]", "")
    rev = F.transform(F.reverse(F.split(digits, "")), lambda d: d.cast("int"))
    doubled = F.transform(rev, lambda d, i: F.when(i % 2 == 1, F.when(d * 2 > 9, d * 2 - 9).otherwise(d * 2))
                          .otherwise(d))
    total = F.aggregate(doubled, F.lit(0), lambda acc, x: acc + x)
    return (total % 10 == 0) & digits.rlike(CARD_PREFIX) & (F.length(digits) >= 13) & (F.length(digits) <= 19)


def mask_expr(text: Column, types: tuple[str, ...] = TYPES) -> Column:
    """`text` with every PII match of `types` replaced by its placeholder (null stays null)."""
    out = text
    if "secret" in types:
        out = F.regexp_replace(out, URL_CREDENTIALS, r"$1" + PLACEHOLDERS["secret"] + "@")
        out = F.regexp_replace(out, TOKEN_LIKE.pattern, PLACEHOLDERS["secret"])
    if "email" in types:
        out = F.regexp_replace(out, PATTERNS["email"], PLACEHOLDERS["email"])
    if "credit_card" in types:
        # Luhn needs arithmetic, so: candidates -> the valid ones -> replaced one by one (a handful per text)
        cands = F.regexp_extract_all(out, F.lit(PATTERNS["credit_card"]), F.lit(0))
        cards = F.filter(cands, _luhn_ok)
        masked = out
        out = F.when(F.size(cards) > 0, F.aggregate(cards, masked, lambda acc, c: F.replace(
            acc, c, F.lit(PLACEHOLDERS["credit_card"])))).otherwise(masked)
    if "ip" in types:
        out = F.regexp_replace(out, PATTERNS["ip"], PLACEHOLDERS["ip"])
    if "phone" in types:
        out = F.regexp_replace(out, PATTERNS["phone"], PLACEHOLDERS["phone"])
    return out


def mask_columns(df: DataFrame, columns: tuple[str, ...], types: tuple[str, ...] = TYPES) -> DataFrame:
    return df.withColumns({c: mask_expr(F.col(c), types) for c in columns}) if types else df


def count_expr(text: Column, kind: str) -> Column:
    """Placeholders of `kind` in masked text (0 for null text)."""
    ph = PLACEHOLDERS[kind]
    n = (F.length(text) - F.length(F.replace(text, F.lit(ph), F.lit("")))) / len(ph)
    return F.coalesce(n.cast("long"), F.lit(0))


def counts(df: DataFrame, columns: tuple[str, ...], types: tuple[str, ...] = TYPES) -> dict[str, int]:
    """{type: placeholders over `columns` of df}, in one Spark job."""
    if not types:
        return {}
    aggs = [F.sum(sum((count_expr(F.col(c), t) for c in columns), F.lit(0))).alias(t) for t in types]
    row = df.agg(*aggs).first()
    return {t: int(row[t] or 0) for t in types}

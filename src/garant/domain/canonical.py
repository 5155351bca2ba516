"""Canonical bytes of a record, so equal content gives an equal hash on every node.

Used for the stored fingerprint of agreement versions (same version + same content = same
result). Keys sorted, no whitespace, UTF-8. Transparency-log leaves use RFC 8785 exactly
(`garant.transparency.canonical`); this fingerprint stays as it was, because agreements
already stored were fingerprinted with it.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson


def canonical_json(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

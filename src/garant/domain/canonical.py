"""Canonical bytes of a record, so equal content gives an equal hash on every node.

Used for idempotency (same client id + same content = same result). Keys sorted, no
whitespace, UTF-8; the transparency log will switch the leaf encoding to RFC 8785 exactly.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson


def canonical_json(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

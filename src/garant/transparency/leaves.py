"""The leaf document of each kind of record: what a record contributes to the transparency log.

A leaf's data is the RFC 8785 canonical JSON of a small document built only from what the
record table holds, so anyone can recompute it from the record (a bundle, the API, or the
database) and `garant log audit` can recompute every leaf from the database:

- observation: `{"record_type": "observation", "id", "received_at", "agreement_key", "payload"}`
  where `payload` is the observation exactly as accepted (it includes client id, source,
  supersedes, attachments' SHA-256);
- agreement: `{"record_type": "agreement", "key", "loaded_at", "content"}`;
- log_key: `{"record_type": "log_key", "vkey", "created_at"}` (a signing key, so that key
  rotation is itself on the record);
- review_act: `{"record_type": "review_act", "id", "event_id", "act", "actor", "actor_org", "at",
  "reason", "payload"}` (an analyst's act on an event: who, when, why, and what it set).

No dependency on the store: the offline bundle verifier shows records with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from garant.transparency.canonical import canonical_bytes


def timestamp(value: datetime) -> str:
    """RFC 3339 UTC with microseconds: the one spelling of a server time inside a leaf."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def observation_leaf(obs_id: str, received_at: datetime, agreement_key: str | None, payload: Any) -> bytes:
    return canonical_bytes(
        {
            "record_type": "observation",
            "id": obs_id,
            "received_at": timestamp(received_at),
            "agreement_key": agreement_key,
            "payload": payload,
        }
    )


def observation_leaves(
    ids: Sequence[str], received_at: datetime, agreement_key: str | None, payloads: Sequence[Any]
) -> list[bytes]:
    """`observation_leaf` of a batch received together, the same bytes made faster for intake:
    the wrapper's keys are fixed and already in RFC 8785 order, so each leaf is the canonical
    payload between a shared prefix and suffix (the time is written once, not per item)."""
    head = b'{"agreement_key":' + canonical_bytes(agreement_key) + b',"id":'
    tail = b',"received_at":' + canonical_bytes(timestamp(received_at)) + b',"record_type":"observation"}'
    return [
        b"".join((head, canonical_bytes(obs_id), b',"payload":', canonical_bytes(payload), tail))
        for obs_id, payload in zip(ids, payloads, strict=True)
    ]


def agreement_leaf(key: str, loaded_at: datetime, content: Any) -> bytes:
    return canonical_bytes(
        {"record_type": "agreement", "key": key, "loaded_at": timestamp(loaded_at), "content": content}
    )


def key_leaf(vkey: str, created_at: datetime) -> bytes:
    return canonical_bytes({"record_type": "log_key", "vkey": vkey, "created_at": timestamp(created_at)})


def key_record_id(key_name: str, key_id: str) -> str:
    return f"{key_name}+{key_id}"


def review_act_leaf(
    act_id: str, event_id: str, act: str, actor: str, actor_org: str, at: datetime, reason: str, payload: Any
) -> bytes:
    return canonical_bytes(
        {
            "record_type": "review_act",
            "id": act_id,
            "event_id": event_id,
            "act": act,
            "actor": actor,
            "actor_org": actor_org,
            "at": timestamp(at),
            "reason": reason,
            "payload": payload,
        }
    )

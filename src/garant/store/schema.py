"""The tables. Core, not ORM: intake writes thousands of rows a second and reads are filters.

Records are append-only: database triggers (see the migrations) refuse UPDATE and DELETE on
`observations` and `agreements`, so nothing accepted can be changed through any path.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from garant.store.types import UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite needs INTEGER PRIMARY KEY to alias the rowid (and feed the R*Tree); PostgreSQL gets BIGINT.
SeqType = BigInteger().with_variant(Integer(), "sqlite")

agreements = Table(
    "agreements",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("agreement_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("key", String(80), nullable=False, unique=True),
    Column("content_sha256", String(64), nullable=False),
    Column("entry_into_force", UTCDateTime, nullable=False),
    Column("content", Text, nullable=False),
    Column("loaded_at", UTCDateTime, nullable=False),
    UniqueConstraint("agreement_id", "version"),
)

observations = Table(
    "observations",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    # the sender's client id scoped by nation, "<nation>/<client id>" (intake.client_key);
    # the payload keeps the client id as sent
    Column("client_id", String(160), nullable=False, unique=True),
    Column("content_sha256", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("source_id", String(128), nullable=False),
    Column("nation", String(16), nullable=False),
    Column("observed_at", UTCDateTime, nullable=False),
    Column("observed_until", UTCDateTime, nullable=True),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("location_uncertainty_m", Float, nullable=False),
    Column("reliability", String(1), nullable=False),
    Column("credibility", SmallInteger, nullable=False),
    Column("releasability", String(16), nullable=False),
    Column("supersedes", String(36), ForeignKey("observations.id"), nullable=True),
    Column("agreement_key", String(80), nullable=True),
    Column("payload", Text, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    # Z-order key of (lon, lat): SQLite's spatial index (garant.store.zorder); null only on
    # PostgreSQL rows written before migration 0007 (that backend uses its GiST index)
    Column("zkey", BigInteger, nullable=True),
    Index("ix_observations_observed_at_seq", "observed_at", "seq"),
    Index("ix_observations_kind_observed_at", "kind", "observed_at"),
    Index("ix_observations_source_id", "source_id"),
    Index("ix_observations_nation", "nation"),
    Index(
        "ix_observations_supersedes",
        "supersedes",
        sqlite_where=text("supersedes IS NOT NULL"),
        postgresql_where=text("supersedes IS NOT NULL"),
    ),
)

# --- the automatic bulletin; see garant.store.events ----------------------------------------
# An event keeps its id through every revision (the CTBTO's rule): automatic updates and, later,
# analysts' acts change its row and raise `revision`; which observations make it is kept in
# `event_observations` (an observation explains at most one automatic event).

events = Table(
    "events",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("evaluation_mode", String(16), nullable=False),  # automatic | manual
    Column("status", String(16), nullable=False),  # preliminary | confirmed | reviewed | rejected
    Column("time", UTCDateTime, nullable=False),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("semi_major_m", Float, nullable=False),
    Column("semi_minor_m", Float, nullable=False),
    Column("azimuth_deg", Float, nullable=False),
    Column("rms_s", Float, nullable=True),  # acoustic events: fit of the arrival times (s)
    Column("n_observations", Integer, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # fused events (the verification pipeline; kind fire | presence | advance | air |
    # interference | allegation); empty for acoustic events
    Column("end_time", UTCDateTime, nullable=True),
    Column("origin_lon", Float, nullable=True),
    Column("origin_lat", Float, nullable=True),
    Column("origin_semi_major_m", Float, nullable=True),
    Column("origin_semi_minor_m", Float, nullable=True),
    Column("origin_azimuth_deg", Float, nullable=True),
    Column("attribution", Text, nullable=True),  # JSON {party: probability}; null: undetermined
    Column("status_reason", Text, nullable=True),  # why undetermined, rejected, merged...
    Column("level", String(16), nullable=True),  # reported | corroborated | verified | rejected
    Column("technical", Boolean, nullable=True),  # rests on a high-grade technical source
    Column("severity", Float, nullable=True),
    Column("weapon_class", String(64), nullable=True),
    Column("rounds", Integer, nullable=True),
    Column("casualties", Integer, nullable=True),  # killed + injured
    Column("agreement_key", String(80), nullable=True),
    Column("fatalities", Integer, nullable=True),  # killed, of `casualties` (migration 0008)
    Index("ix_events_time_seq", "time", "seq"),
    Index("ix_events_kind_time", "kind", "time"),
    Index("ix_events_status_severity", "status", "severity"),
)

event_parts = Table(
    "event_parts",
    metadata,
    Column("part_id", String(36), ForeignKey("events.id"), primary_key=True),  # an acoustic event
    Column("event_id", String(36), ForeignKey("events.id"), nullable=False),  # the fused event
    Index("ix_event_parts_event_id", "event_id"),
)

violations = Table(
    "violations",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("event_id", String(36), ForeignKey("events.id"), nullable=False),
    Column("provision_id", String(64), nullable=False),
    Column("agreement_key", String(80), nullable=False),
    Column("probability", Float, nullable=False),  # that the event breaches the provision
    Column("party", String(64), nullable=True),  # the most probable party; null: undetermined
    Column("party_probability", Float, nullable=True),
    Column("status", String(16), nullable=False),  # active | withdrawn
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("event_id", "provision_id"),
    Index("ix_violations_provision_id", "provision_id"),
)

review_acts = Table(
    "review_acts",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("event_id", String(36), ForeignKey("events.id"), nullable=False),
    Column("act", String(32), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("actor_org", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("payload", Text, nullable=False),  # JSON: what the act set (place, parties, members...)
    Index("ix_review_acts_event_id", "event_id"),
)

event_observations = Table(
    "event_observations",
    metadata,
    Column("observation_id", String(36), ForeignKey("observations.id"), primary_key=True),
    Column("event_id", String(36), ForeignKey("events.id"), nullable=False),
    Index("ix_event_observations_event_id", "event_id"),
)

pipeline_state = Table(
    "pipeline_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("last_leaf", BigInteger, nullable=False),  # the last transparency-log leaf taken in
    Column("updated_at", UTCDateTime, nullable=False),
)

# --- the transparency log (RFC 9162); see garant.store.log ---------------------------------

log_head = Table(
    "log_head",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("tree_size", BigInteger, nullable=False),
)

log_leaves = Table(
    "log_leaves",
    metadata,
    Column("idx", SeqType, primary_key=True, autoincrement=False),
    Column("record_type", String(32), nullable=False),
    Column("record_id", String(128), nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    UniqueConstraint("record_type", "record_id"),
)

log_nodes = Table(
    "log_nodes",
    metadata,
    Column("level", SmallInteger, primary_key=True),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
    sqlite_with_rowid=False,
)

log_checkpoints = Table(
    "log_checkpoints",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("tree_size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("key_name", String(200), nullable=False),
    Column("key_id", String(8), nullable=False),
    Column("note", Text, nullable=False),
    Column("signed_at", UTCDateTime, nullable=False),
    Index("ix_log_checkpoints_tree_size", "tree_size"),
)

log_keys = Table(
    "log_keys",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("vkey", String(300), nullable=False, unique=True),
    Column("key_name", String(200), nullable=False),
    Column("key_id", String(8), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# --- identity and need-to-know; see garant.store.identity and garant.store.access ----------

users = Table(
    "users",
    metadata,
    Column("id", SeqType, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # user | service
    Column("role", String(32), nullable=False),
    Column("org", String(64), nullable=False),
    Column("org_kind", String(16), nullable=False),
    Column("nation", String(16), nullable=False),
    Column("password_hash", String(200), nullable=True),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", SeqType, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("scopes", String(500), nullable=False),
    Column("label", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id_sha256", String(64), primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("action", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("principal", String(64), nullable=False),
    Column("org", String(64), nullable=False),
    Column("token_id", BigInteger, nullable=True),
    Column("client", String(64), nullable=False),
    Column("method", String(8), nullable=False),
    Column("path", String(500), nullable=False),
    Column("detail", Text, nullable=False),
    Index("ix_audit_events_at", "at"),
)

observation_rel_to = Table(
    "observation_rel_to",
    metadata,
    Column("nation", String(64), primary_key=True),  # a nation code or group:<name>
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
)

sharing_group_members = Table(
    "sharing_group_members",
    metadata,
    Column("nation", String(16), primary_key=True),
    Column("group_name", String(48), primary_key=True),
)

"""Observation kinds as Pydantic models: what one source reported, validated at the door.

One discriminated union over `kind`, so a report is parsed into exactly one model and every
error names its field. Checks that depend on the agreement in force (weapon classes, party
codes) read it from the validation context, so the models stay plain data with no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    model_validator,
)

Longitude = Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False)]
Latitude = Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False)]
Bearing = Annotated[
    float, Field(ge=0.0, le=360.0, allow_inf_nan=False, description="degrees from true north")
]
Metres = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Ident = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\w.:@/+=-]+$")]
Nation = Annotated[str, Field(min_length=2, max_length=16, pattern=r"^[A-Z0-9_-]+$")]
# REL TO: a nation or organisation code, or a named sharing group whose members the
# administrators keep (`garant group ...`), so removing a nation takes effect at once
ReleaseTarget = Annotated[
    str, Field(min_length=2, max_length=64, pattern=r"^([A-Z0-9_-]{2,16}|group:[a-z0-9_-]{1,48})$")
]


def _utc_representable(v: datetime) -> datetime:
    if 1 < v.year < 9999:  # an offset is under a day: only the first and last years can overflow
        return v
    try:
        v.astimezone(UTC)
    except OverflowError:
        raise ValueError("time out of range once converted to UTC") from None
    return v


Instant = Annotated[AwareDatetime, AfterValidator(_utc_representable)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class ObservationKind(StrEnum):
    ACOUSTIC_DETECTION = "acoustic_detection"
    SIGHTING = "sighting"
    CRATER = "crater"
    RADAR_TRACK = "radar_track"
    WEAPON_PRESENCE = "weapon_presence"
    AIR_TRACK = "air_track"
    ALLEGATION = "allegation"
    OSINT = "osint"
    INTERFERENCE = "interference"


class Releasability(StrEnum):
    """MISP-style distribution levels; enforcement comes with the access-control layer."""

    ORIGINATOR = "originator"
    MECHANISM = "mechanism"
    SHARING_GROUP = "sharing_group"
    MEMBERS = "members"
    PUBLIC = "public"


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Attachment(_Part):
    sha256: Sha256
    media_type: str = Field(min_length=3, max_length=127)
    name: str | None = Field(default=None, max_length=255)
    size_bytes: int | None = Field(default=None, ge=0)


class Signature(_Part):
    """Detached signature over the observation's canonical form; verified by the integrity layer."""

    alg: Literal["ed25519"]
    key_id: Ident
    value: str = Field(min_length=1, max_length=1024)


class Ellipse(_Part):
    semi_major_m: Metres
    semi_minor_m: Metres
    azimuth_deg: Bearing = 0.0

    @model_validator(mode="after")
    def _order(self) -> Ellipse:
        if self.semi_minor_m > self.semi_major_m:
            raise ValueError("semi_minor_m must not exceed semi_major_m")
        return self


class Point(_Part):
    lon: Longitude
    lat: Latitude
    ellipse: Ellipse | None = None


class TrackPoint(_Part):
    lon: Longitude
    lat: Latitude
    time: Instant
    altitude_m: float | None = Field(default=None, ge=-500, le=40_000)


# the distance bands of the mechanism's sighting form (a post judges which one it saw fire in);
# a band outside this list is accepted as stated
SIGHTING_DISTANCE_BANDS_M = (0.0, 500.0, 2_000.0, 5_000.0, 10_000.0, 20_000.0, 50_000.0)


class DistanceBand(_Part):
    min_m: Metres
    max_m: Metres

    @model_validator(mode="after")
    def _order(self) -> DistanceBand:
        if self.min_m > self.max_m:
            raise ValueError("min_m must not exceed max_m")
        return self


def _casualty_field(who: str) -> Any:
    """Killed or injured as the reporter counted them: the event's figures and its severity
    rest on these, never on a party's claim (`casualties_reported` of an allegation)."""
    return Field(default=None, ge=0, le=100_000, description=f"{who}; null: not reported")


def _known_weapon_class(v: str | None, info: ValidationInfo) -> str | None:
    known = (info.context or {}).get("weapon_classes")
    if v is not None and known is not None and v not in known:
        raise ValueError(f"unknown weapon class {v!r}; the agreement in force knows {sorted(known)}")
    return v


def _known_party(v: str | None, info: ValidationInfo) -> str | None:
    known = (info.context or {}).get("parties")
    if v is not None and known is not None and v not in known:
        raise ValueError(f"unknown party {v!r}; the agreement in force names {sorted(known)}")
    return v


class ObservationBase(BaseModel):
    """Fields every observation carries, whatever its kind."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    client_id: Ident = Field(description="chosen by the sender; makes the write idempotent")
    source_id: Ident = Field(description="the observer, sensor or analyst cell that reported")
    nation: Nation = Field(description="nation or organisation of the source (ISO 3166 alpha-2 or org code)")
    observed_at: Instant = Field(description="when it happened (or the start of the window)")
    observed_until: Instant | None = Field(default=None, description="end of the window, if a window")
    time_precision_s: float = Field(
        default=1.0,
        ge=0,
        le=86_400 * 31,
        allow_inf_nan=False,
        description="how exact the time is, in seconds",
    )
    lon: Longitude = Field(description="WGS84 longitude of the place the kind defines (see below)")
    lat: Latitude = Field(description="WGS84 latitude")
    location_uncertainty_m: Metres = Field(default=0.0, description="radius of the position's uncertainty")
    reliability: Literal["A", "B", "C", "D", "E", "F"] = Field(
        description="source reliability (Admiralty code)"
    )
    credibility: int = Field(ge=1, le=6, description="information credibility (Admiralty code, 1-6)")
    releasability: Releasability = Field(
        default=Releasability.MECHANISM,
        description="who may see it: originator, mechanism, sharing_group, members or public",
    )
    rel_to: list[ReleaseTarget] = Field(
        default_factory=list,
        max_length=64,
        description="sharing group: nation codes, or `group:<name>` for a named group of nations",
    )
    supersedes: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=r"^[\w.:@/+=-]+$",
        description="id of the observation this corrects",
    )
    attachments: list[Attachment] = Field(
        default_factory=list, max_length=64, description="files, by SHA-256"
    )
    signature: Signature | None = Field(default=None, description="the source's signature")
    note: str | None = Field(default=None, max_length=10_000, description="free text")

    @model_validator(mode="after")
    def _window_and_sharing(self) -> ObservationBase:
        if self.observed_until is not None and self.observed_until < self.observed_at:
            raise ValueError("observed_until is before observed_at")
        if self.releasability == Releasability.SHARING_GROUP and not self.rel_to:
            raise ValueError("releasability sharing_group needs rel_to (the nations it is released to)")
        return self


class AcousticDetection(ObservationBase):
    """One arrival at one acoustic sensor; `observed_at` is the arrival time."""

    kind: Literal[ObservationKind.ACOUSTIC_DETECTION]
    sensor_id: Ident
    amplitude: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    azimuth_deg: Bearing | None = None
    azimuth_uncertainty_deg: float | None = Field(default=None, gt=0, le=180)


SightingType = Literal["explosion", "outgoing", "impact", "projectile_in_flight", "burst", "flare"]


class Sighting(ObservationBase):
    """What a monitor saw or heard from the observer position (`lon`, `lat`)."""

    kind: Literal[ObservationKind.SIGHTING]
    sighting_type: SightingType
    count: int = Field(default=1, ge=1, le=100_000)
    bearing_deg: Bearing | None = None
    distance_band: DistanceBand | None = None
    weapon_class: Annotated[str | None, AfterValidator(_known_weapon_class)] = None
    calibre_mm: float | None = Field(default=None, gt=0, le=1000)
    direction_of_flight_deg: Bearing | None = None
    killed: int | None = _casualty_field("people killed, as the monitor saw or was told at the place")
    injured: int | None = _casualty_field("people injured, as the monitor saw or was told at the place")


class Crater(ObservationBase):
    """Crater analysis at the impact point (`lon`, `lat`)."""

    kind: Literal[ObservationKind.CRATER]
    azimuth_of_origin_deg: Bearing | None = None
    azimuth_uncertainty_deg: float | None = Field(default=None, gt=0, le=180)
    calibre_mm: float | None = Field(default=None, gt=0, le=1000)
    weapon_class: Annotated[str | None, AfterValidator(_known_weapon_class)] = None
    killed: int | None = _casualty_field("people killed by the impact, as the crater team found")
    injured: int | None = _casualty_field("people injured by the impact, as the crater team found")


class RadarTrack(ObservationBase):
    """Counter-battery radar: point of origin and impact, each with an error ellipse.

    `lon`, `lat` is the point of origin, the fact that attribution turns on.
    """

    kind: Literal[ObservationKind.RADAR_TRACK]
    origin_ellipse: Ellipse
    impact: Point | None = None
    weapon_class: Annotated[str | None, AfterValidator(_known_weapon_class)] = None


class WeaponPresence(ObservationBase):
    """Weapons of a class seen at a place, for withdrawal compliance; `moving`, forces on the move."""

    kind: Literal[ObservationKind.WEAPON_PRESENCE]
    weapon_class: Annotated[str, AfterValidator(_known_weapon_class)]
    count: int = Field(ge=1, le=10_000)
    moving: bool = False
    forces_party: Annotated[str | None, AfterValidator(_known_party)] = Field(
        default=None,
        description=(
            "whose forces they are, as the observer identified them (markings, insignia, unit); "
            "absent if not identified. Only identified forces on ground their party does not "
            "control breach the no-advance provision: unidentified ones are never presumed across"
        ),
    )


class AirTrack(ObservationBase):
    """An aircraft or drone track; `lon`, `lat` is its first point."""

    kind: Literal[ObservationKind.AIR_TRACK]
    aircraft_type: Literal["military_aircraft", "helicopter", "drone", "unknown"]
    points: list[TrackPoint] = Field(min_length=1, max_length=100_000)


class Allegation(ObservationBase):
    """A party's complaint: a lead for tasking, never verified on its own."""

    kind: Literal[ObservationKind.ALLEGATION]
    alleging_party: Annotated[str, AfterValidator(_known_party)]
    accused_party: Annotated[str, AfterValidator(_known_party)]
    description: str = Field(min_length=1, max_length=20_000)
    weapon_class: Annotated[str | None, AfterValidator(_known_weapon_class)] = None
    casualties_reported: int | None = Field(
        default=None,
        ge=0,
        description="killed and injured as the party claims: a lead, never counted in the event's figures",
    )


class Osint(ObservationBase):
    """Open-source material, pinned by the hash of what was retrieved."""

    kind: Literal[ObservationKind.OSINT]
    url: str = Field(min_length=8, max_length=4096, pattern=r"^https?://")
    content_sha256: Sha256
    description: str | None = Field(default=None, max_length=20_000)


class Interference(ObservationBase):
    """Obstruction of the monitors: jamming, spoofing, denial of access, fire at them."""

    kind: Literal[ObservationKind.INTERFERENCE]
    interference_type: Literal[
        "jamming", "spoofing", "access_denial", "fire_at_monitors", "fire_at_uav", "other"
    ]
    target: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=20_000)
    killed: int | None = _casualty_field("people killed (fire at monitors: monitors among them)")
    injured: int | None = _casualty_field("people injured (fire at monitors: monitors among them)")


Observation = Annotated[
    AcousticDetection
    | Sighting
    | Crater
    | RadarTrack
    | WeaponPresence
    | AirTrack
    | Allegation
    | Osint
    | Interference,
    Field(discriminator="kind"),
]

OBSERVATION_ADAPTER: TypeAdapter[Observation] = TypeAdapter(Observation)
OBSERVATION_LIST_ADAPTER: TypeAdapter[list[Observation]] = TypeAdapter(list[Observation])


def observation_json(obs: ObservationBase) -> bytes:
    """The accepted form: fields in model order, absent optional fields left out, so equal
    content gives equal bytes whatever the spelling or order it was sent in."""
    return obs.__pydantic_serializer__.to_json(obs, exclude_none=True)


def accepted_documents(observations: Sequence[ObservationBase]) -> list[dict[str, Any]]:
    """The accepted forms of a batch as JSON data, in one call: `orjson.dumps` of each is
    byte for byte `observation_json` of it (tests/test_observations_accepted_form.py checks
    this on every kind), at a third of the cost of one serialiser call and one parse per item."""
    models: list[Any] = list(observations)
    documents: list[dict[str, Any]] = OBSERVATION_LIST_ADAPTER.dump_python(
        models, mode="json", exclude_none=True
    )
    return documents

"""A simulation scenario as data: the monitoring network, the weapons' physics and the regimes.

A scenario file (YAML) says what happens over a period along an agreement's contact line and
how the mechanism's network sees it. Every number has a default that fits the demo agreement,
so a scenario file only states what differs; `garant sim --scenario NAME` also takes the
scenarios shipped in `garant/sim/scenarios/`. Validated here so a bad file fails before a
long run starts, with the path and line of each problem.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from garant.domain.agreement import Agreement, ProvisionKind
from garant.domain.observations import ObservationKind
from garant.services.agreements import AgreementFileError, AgreementProblem, parse_yaml_document

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Reliability = Literal["A", "B", "C", "D", "E", "F"]
Level = Literal["originator", "mechanism", "members", "public"]


def _aware(v: datetime) -> datetime:
    if v.tzinfo is None or v.utcoffset() is None:
        raise ValueError("time must carry a UTC offset, e.g. 2026-03-02T00:00:00Z")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Atmosphere(_Strict):
    """Sound speed from air temperature (a daily cycle) and a uniform wind."""

    temperature_c: float = Field(default=10.0, ge=-50, le=55)
    diurnal_amplitude_c: NonNegative = 0.0
    warmest_hour_utc: float = Field(default=12.0, ge=0, lt=24)
    wind_speed_ms: float = Field(default=0.0, ge=0, le=40)
    wind_from_deg: float = Field(default=270.0, ge=0, le=360)


class DetectionCurve(_Strict):
    """Probability that a sensor hears a blast: logistic in range, the range growing with calibre.

    p(d) = max_probability / (1 + exp((d - r50 * f) / (width * f))), with
    f = loudness * (calibre / reference_calibre) ** calibre_exponent.
    """

    r50_km: Positive = 10.0
    width_km: Positive = 1.5
    reference_calibre_mm: Positive = 122.0
    calibre_exponent: NonNegative = 0.5
    max_probability: Probability = 0.97


class AcousticNetwork(_Strict):
    """Rows of sensors on both sides of the line; a share are arrays that also give an azimuth."""

    spacing_km: Positive = 4.0
    offsets_km: list[Positive] = Field(default_factory=lambda: [3.0, 11.0], min_length=1)
    position_jitter_m: NonNegative = 300.0
    array_fraction: Probability = 0.2
    timing_sigma_s: NonNegative = 0.02
    bias_sigma_s: NonNegative = 0.01
    azimuth_sigma_deg: Positive = 4.0
    detection: DetectionCurve = Field(default_factory=DetectionCurve)
    dead_time_s: NonNegative = 0.25
    false_per_sensor_hour: NonNegative = 0.3
    nation: str = "US"


class Posts(_Strict):
    """Fixed observation posts with cameras, staffed by the guarantor nations in turn."""

    spacing_km: Positive = 30.0
    offset_km: Positive = 2.5
    sight_km: Positive = 7.0
    night_factor: Probability = 0.6
    max_probability: Probability = 0.9
    bearing_sigma_deg: Positive = 5.0
    direction_confusion: Probability = 0.1
    weapon_confusion: Probability = 0.25
    band_error: Probability = 0.15
    count_detected: Probability = 0.8
    time_sigma_s: NonNegative = 20.0
    day_hours_utc: tuple[float, float] = (4.0, 18.0)
    nations: list[str] | None = Field(
        default=None, description="default: the agreement's guarantors, in the order listed"
    )


class Patrols(_Strict):
    """Patrol stops in daylight: they see what posts see at a shorter range and analyse craters."""

    stops_per_day: NonNegative = 24.0
    stop_hours: Positive = 1.5
    offset_km: tuple[float, float] = (0.5, 6.0)
    sight_km: Positive = 4.0
    crater_radius_km: Positive = 4.0
    crater_probability: Probability = 0.6
    crater_max_age_hours: Positive = 48.0
    crater_azimuth_sigma_deg: Positive = 10.0
    # a crater team, or a post or patrol that saw the impacts from this close, counts the dead
    # and injured of a fire that had casualties with this probability
    casualty_report_probability: Probability = 0.7
    casualty_sight_km: Positive = 1.0
    presence_probability: Probability = 0.7
    position_sigma_m: NonNegative = 50.0


class Uav(_Strict):
    """Mechanism UAV sorties: weapons in zones, forces across the line, and what jams them."""

    sorties_per_day: NonNegative = 96.0
    hours: Positive = 3.0
    radius_km: Positive = 25.0
    max_offset_km: Positive = 45.0
    detect_probability: Probability = 0.8
    position_sigma_m: NonNegative = 30.0
    nation: str = "GB"


class Radar(_Strict):
    """Counter-battery radars: point of origin of each round they track, with an error ellipse."""

    spacing_km: Positive = 60.0
    offset_km: Positive = 8.0
    range_km: Positive = 30.0
    detect_probability: Probability = 0.85
    error_fraction: Positive = 0.004
    min_error_m: Positive = 25.0
    cross_range_factor: Positive = 1.5
    min_calibre_mm: NonNegative = 60.0
    weapon_confusion: Probability = 0.1
    nation: str = "US"


class AirSurveillance(_Strict):
    detect_probability: Probability = 0.9
    position_sigma_m: NonNegative = 150.0
    interval_s: Positive = 20.0
    nation: str = "US"


class Allegations(_Strict):
    """What the parties claim: true complaints, blame for one's own fire, and fabrications."""

    report_probability: Probability = 0.25
    blame_flip_probability: Probability = 0.03
    fabricated_per_day: NonNegative = 4.0
    location_sigma_km: NonNegative = 1.5
    time_sigma_min: NonNegative = 20.0
    reliability: Reliability = "F"
    credibility: tuple[int, int] = (2, 5)
    weapon_confusion: Probability = 0.3

    @model_validator(mode="after")
    def _credibility(self) -> Allegations:
        lo, hi = self.credibility
        if not 1 <= lo <= hi <= 6:
            raise ValueError("credibility must be two grades 1-6, the lower first")
        return self


class WeaponPhysics(_Strict):
    """How one weapon class fires, flies and sounds (the agreement's class gives the name and range)."""

    calibre_mm: Positive
    rounds: tuple[int, int] = (1, 1)
    single_probability: Probability = 0.0
    interval_s: NonNegative = 5.0
    launchers: tuple[int, int] = (1, 1)
    battery_spread_m: NonNegative = 50.0
    dispersion_m: NonNegative = 100.0
    speed_ms: Positive = 300.0
    origin_range_fraction: tuple[float, float] = (0.15, 0.6)
    impact_range_fraction: tuple[float, float] = (0.35, 0.9)
    launch_loudness: NonNegative = 0.8
    impact_loudness: NonNegative = 1.0
    casualties_mean: NonNegative = 0.05
    killed_share: Probability = Field(
        default=0.3, description="each casualty is killed with this probability"
    )
    craters: bool = True
    max_range_km: Positive | None = Field(default=None, description="default: the agreement's")


DEFAULT_WEAPONS: dict[str, WeaponPhysics] = {
    "small_arms": WeaponPhysics(
        calibre_mm=12.7,
        rounds=(5, 60),
        interval_s=0.3,
        dispersion_m=30,
        speed_ms=800,
        origin_range_fraction=(0.05, 0.4),
        impact_range_fraction=(0.5, 0.95),
        launch_loudness=1.0,
        impact_loudness=0.0,
        casualties_mean=0.02,
        craters=False,
    ),
    "mortar_lt_120": WeaponPhysics(
        calibre_mm=120,
        rounds=(2, 12),
        single_probability=0.3,
        interval_s=6,
        launchers=(1, 3),
        dispersion_m=80,
        speed_ms=200,
        launch_loudness=0.7,
        casualties_mean=0.05,
    ),
    "tank_artillery_lt_100": WeaponPhysics(
        calibre_mm=100,
        rounds=(2, 8),
        single_probability=0.4,
        interval_s=8,
        launchers=(1, 2),
        dispersion_m=60,
        speed_ms=700,
        launch_loudness=0.9,
        casualties_mean=0.05,
    ),
    "artillery_100_plus": WeaponPhysics(
        calibre_mm=152,
        rounds=(3, 16),
        single_probability=0.25,
        interval_s=8,
        launchers=(1, 4),
        battery_spread_m=150,
        dispersion_m=120,
        origin_range_fraction=(0.15, 0.9),
        speed_ms=450,
        launch_loudness=0.9,
        casualties_mean=0.1,
    ),
    "mlrs": WeaponPhysics(
        calibre_mm=122,
        rounds=(10, 40),
        interval_s=0.5,
        launchers=(1, 2),
        battery_spread_m=200,
        dispersion_m=250,
        origin_range_fraction=(0.15, 0.9),
        speed_ms=600,
        launch_loudness=1.2,
        casualties_mean=0.3,
    ),
    "mlrs_heavy_tactical_missile": WeaponPhysics(
        calibre_mm=300,
        rounds=(1, 12),
        single_probability=0.4,
        interval_s=3,
        battery_spread_m=100,
        dispersion_m=150,
        speed_ms=900,
        origin_range_fraction=(0.2, 0.5),
        impact_range_fraction=(0.3, 0.7),
        launch_loudness=1.5,
        impact_loudness=1.5,
        casualties_mean=0.5,
    ),
}


RegimeKind = Literal["quiet", "flare_up", "armed_attack"]

# What each regime does per day, unless the scenario says otherwise (rates are for the whole
# regime sector; weapon mixes name the demo agreement's classes).
REGIME_PRESETS: dict[str, dict[str, object]] = {
    "quiet": {
        "fire_per_day": 30.0,
        "weapon_mix": {
            "small_arms": 0.6,
            "mortar_lt_120": 0.25,
            "tank_artillery_lt_100": 0.05,
            "artillery_100_plus": 0.08,
            "mlrs": 0.02,
        },
        "presence_violations_per_day": 4.0,
        "compliant_presence_per_day": 6.0,
        "air_per_day": 3.0,
        "interference_per_day": 2.0,
        "advance_per_day": 0.0,
        "rear_movement_per_day": 12.0,
        "osint_probability": 0.05,
    },
    "flare_up": {
        "fire_per_day": 400.0,
        "weapon_mix": {
            "small_arms": 0.35,
            "mortar_lt_120": 0.35,
            "tank_artillery_lt_100": 0.1,
            "artillery_100_plus": 0.15,
            "mlrs": 0.05,
        },
        "presence_violations_per_day": 10.0,
        "compliant_presence_per_day": 4.0,
        "air_per_day": 6.0,
        "interference_per_day": 6.0,
        "advance_per_day": 0.0,
        "rear_movement_per_day": 12.0,
        "osint_probability": 0.15,
    },
    "armed_attack": {
        "fire_per_day": 5000.0,
        "weapon_mix": {
            "small_arms": 0.1,
            "mortar_lt_120": 0.25,
            "tank_artillery_lt_100": 0.1,
            "artillery_100_plus": 0.33,
            "mlrs": 0.2,
            "mlrs_heavy_tactical_missile": 0.02,
        },
        "presence_violations_per_day": 100.0,
        "compliant_presence_per_day": 10.0,
        "air_per_day": 60.0,
        "interference_per_day": 30.0,
        "advance_per_day": 40.0,
        "rear_movement_per_day": 40.0,
        "osint_probability": 0.1,
    },
}


class Regime(_Strict):
    """A period and a stretch of the line with one pattern of activity.

    `sector_km` is measured along the contact line from its first vertex; absent, the whole line.
    In an armed attack, `aggressor` fires `aggressor_share` of the rounds and advances.
    """

    kind: RegimeKind
    start_hour: NonNegative = 0.0
    hours: Positive | None = Field(default=None, description="default: to the end of the scenario")
    sector_km: tuple[float, float] | None = None
    fire_per_day: NonNegative | None = None
    weapon_mix: dict[str, NonNegative] | None = None
    party_weights: dict[str, NonNegative] | None = None
    aggressor: str | None = None
    aggressor_share: Probability = 0.9
    presence_violations_per_day: NonNegative | None = None
    compliant_presence_per_day: NonNegative | None = None
    air_per_day: NonNegative | None = None
    interference_per_day: NonNegative | None = None
    advance_per_day: NonNegative | None = None
    # forces moving 8-35 km behind their own line: no violation, reported as on the move
    rear_movement_per_day: NonNegative | None = None
    osint_probability: Probability | None = None

    @model_validator(mode="after")
    def _sector(self) -> Regime:
        if self.sector_km is not None and not 0 <= self.sector_km[0] < self.sector_km[1]:
            raise ValueError("sector_km must be [from, to] with 0 <= from < to")
        return self

    def value(self, name: str) -> object:
        own = getattr(self, name)
        return REGIME_PRESETS[self.kind][name] if own is None else own


class Scenario(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str | None = None
    seed: int = Field(default=0, ge=0, lt=2**63)
    agreement: str = Field(default="demo", description="`demo`, or a path relative to the scenario file")
    start: Annotated[datetime, AfterValidator(_aware)]
    hours: Positive = Field(le=24 * 90)
    window_minutes: Positive = Field(default=60.0, le=24 * 60)
    id_prefix: str | None = Field(default=None, min_length=1, max_length=48, pattern=r"^[\w.:@/+=-]+$")
    releasability: Level | dict[str, Level] = Field(
        default="mechanism",
        description="one level for every observation, or a level per observation kind with a `default`",
    )
    atmosphere: Atmosphere = Field(default_factory=Atmosphere)
    acoustic: AcousticNetwork = Field(default_factory=AcousticNetwork)
    posts: Posts = Field(default_factory=Posts)
    patrols: Patrols = Field(default_factory=Patrols)
    uav: Uav = Field(default_factory=Uav)
    radar: Radar = Field(default_factory=Radar)
    air_surveillance: AirSurveillance = Field(default_factory=AirSurveillance)
    allegations: Allegations = Field(default_factory=Allegations)
    weapons: dict[str, WeaponPhysics] = Field(default_factory=dict)
    advance_weapon_class: str = "tank_artillery_lt_100"
    regimes: list[Regime] = Field(min_length=1)

    def releasability_of(self, kind: str) -> str:
        if isinstance(self.releasability, str):
            return self.releasability
        return self.releasability.get(kind) or self.releasability.get("default") or "mechanism"

    def weapon(self, code: str) -> WeaponPhysics:
        return self.weapons.get(code) or DEFAULT_WEAPONS[code]

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=self.hours)

    def prefix(self) -> str:
        return self.id_prefix or f"sim-{self.name}-s{self.seed}"

    def check_against(self, agreement: Agreement) -> list[AgreementProblem]:
        """Cross-references to the agreement the scenario runs on (weapon classes, parties)."""
        problems: list[AgreementProblem] = []
        classes = agreement.weapon_class_codes()
        parties = agreement.party_codes()
        for code in self.weapons:
            if code not in classes:
                problems.append(AgreementProblem(f"weapons.{code}", f"not a weapon class of {agreement.key}"))
        for i, regime in enumerate(self.regimes):
            mix = regime.value("weapon_mix")
            assert isinstance(mix, dict)
            for code in mix:
                if code not in classes:
                    problems.append(
                        AgreementProblem(
                            f"regimes[{i}].weapon_mix.{code}", f"not a weapon class of {agreement.key}"
                        )
                    )
                elif code not in self.weapons and code not in DEFAULT_WEAPONS:
                    problems.append(
                        AgreementProblem(
                            f"regimes[{i}].weapon_mix.{code}", "no physics: add it under weapons"
                        )
                    )
            for code in [*(regime.party_weights or {}), *([regime.aggressor] if regime.aggressor else [])]:
                if code not in parties:
                    problems.append(
                        AgreementProblem(f"regimes[{i}]", f"{code!r} is not a party of {agreement.key}")
                    )
            if regime.start_hour >= self.hours:
                problems.append(AgreementProblem(f"regimes[{i}].start_hour", "after the end of the scenario"))
        if isinstance(self.releasability, dict):
            for kind in self.releasability:
                if kind != "default" and kind not in {k.value for k in ObservationKind}:
                    problems.append(AgreementProblem(f"releasability.{kind}", "not an observation kind"))
        if self.advance_weapon_class not in classes:
            problems.append(
                AgreementProblem("advance_weapon_class", f"not a weapon class of {agreement.key}")
            )
        for code in [self.acoustic.nation, self.uav.nation, self.radar.nation, self.air_surveillance.nation]:
            if code in parties:
                problems.append(
                    AgreementProblem("", f"the mechanism's sensors cannot belong to party {code}")
                )
        if not any(p.kind == ProvisionKind.CESSATION_OF_FIRE for p in agreement.provisions):
            problems.append(AgreementProblem("agreement", "the agreement has no cessation_of_fire provision"))
        return problems


SCENARIO_DIR = "sim/scenarios"


def shipped_scenarios() -> list[str]:
    base = resources.files("garant") / SCENARIO_DIR
    return sorted(p.name.removesuffix(".yaml") for p in base.iterdir() if p.name.endswith(".yaml"))


def scenario_path(name_or_path: str) -> Path:
    """A scenario file, or the name of one shipped with Garant."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    shipped = resources.files("garant") / SCENARIO_DIR / f"{name_or_path}.yaml"
    if not shipped.is_file():
        raise AgreementFileError(
            name_or_path,
            [AgreementProblem("", f"no such file, and no shipped scenario (shipped: {shipped_scenarios()})")],
        )
    return Path(str(shipped))


def load_scenario(name_or_path: str, seed: int | None = None) -> tuple[Scenario, Path]:
    path = scenario_path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AgreementFileError(str(path), [AgreementProblem("", f"cannot read: {exc.strerror}")]) from exc
    scenario = parse_yaml_document(text, str(path), Scenario)
    if seed is not None:
        scenario = scenario.model_copy(update={"seed": seed})
    return scenario, path

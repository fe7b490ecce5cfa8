"""Runtime configuration (设置), read from GRIDMAP_* variables; built only at the edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gridmap import times

HOME_DIR = ".gridmap"
# This checkout, when gridmap runs from one (make demo installs it editable); None from a wheel.
_CHECKOUT = Path(__file__).resolve().parents[1]


def default_home(cwd: Path) -> Path:
    """Where the private cluster lives when GRIDMAP_HOME is not set, the same wherever a
    command runs: the nearest ``.gridmap`` in ``cwd`` or a folder above it, else that of the
    checkout gridmap runs from, else ``cwd/.gridmap`` (created by ``gridmap db up``).
    """
    for folder in (cwd, *cwd.parents):
        if (folder / HOME_DIR).is_dir():
            return folder / HOME_DIR
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / HOME_DIR).is_dir():
        return _CHECKOUT / HOME_DIR
    return cwd / HOME_DIR


class Settings(BaseSettings):
    """Runtime configuration; the CLI and create_app build one and pass values down."""

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        None, validation_alias=AliasChoices("GRIDMAP_DATABASE_URL", "DATABASE_URL")
    )
    # The private cluster lives here when no database URL is given (see default_home).
    home: Path = Field(default_factory=lambda: default_home(Path.cwd()))
    pg_port: int = Field(54329, ge=1024, le=65535)
    pg_bin: Path | None = None
    h3_resolution: int = Field(10, ge=5, le=12)
    near_boundary_m: float = Field(30.0, ge=0, le=1000)
    max_page_size: int = Field(1000, gt=0)
    max_batch_points: int = Field(100_000, gt=0)
    # Times phones send (device_time, GPS fixes) must lie between this and now + time_ahead_s.
    time_earliest: datetime = times.DEFAULT_EARLIEST
    time_ahead_s: float = Field(times.DEFAULT_AHEAD.total_seconds(), ge=0, le=366 * 86_400)
    # Per-county grid rules, e.g. {"513401": {"urban": [300, 500], "rural": [100, 300]}}.
    grid_rules: dict[str, dict[str, tuple[int, int]]] = Field(default_factory=dict)
    # Overdue cases climb one tier every this many seconds (0: only `gridmap incidents escalate`).
    escalate_every_s: float = Field(300.0, ge=0)
    # Signs access tokens (32+ characters); unset: generated once into <home>/jwt-secret.
    jwt_secret: str | None = None
    # Access tokens live this long; refresh tokens (server-side, revocable) 14 days.
    access_token_ttl_s: int = Field(900, ge=60, le=86_400)
    # Login attempts per client address per minute (then 429), besides the per-account lockout.
    login_per_minute: int = Field(20, ge=1)
    # Requests per minute of a person's account (API clients carry their own rate), then 429;
    # counted across every API process (gridmap.auth.rates).
    account_per_minute: int = Field(1200, ge=1)
    # Browser cookies need HTTPS (Secure) unless this is off (plain http on a laptop or a LAN).
    secure_cookies: bool = False
    # FOR `gridmap bench` ONLY: requests without credentials act as a county admin of
    # everything, so one server can be measured with and without authentication in one run.
    # Never set it on a server anyone else can reach; the server logs a warning when it is on.
    benchmark_anonymous: bool = False
    # Tianditu (天地图) key for basemap=tianditu-vec|tianditu-img; none: those basemaps are refused.
    tianditu_key: str | None = None
    # Self-hosted {z}/{x}/{y} tile URL for basemap=custom (WGS84/CGCS2000 tiles; GCJ-02 refused).
    tile_url: str | None = None
    # A request's line and headers must arrive within this time and size (api/server.py).
    header_timeout_s: float = Field(10.0, gt=0, le=300)
    max_header_bytes: int = Field(32 * 1024, ge=1024, le=1024 * 1024)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)

    @field_validator("home")
    @classmethod
    def _absolute(cls, home: Path) -> Path:
        """A relative GRIDMAP_HOME is taken from where the command starts, once."""
        return home.expanduser().resolve()

    def time_bounds(self) -> times.Bounds:
        """The window client times must fall in (``gridmap.times``)."""
        earliest = self.time_earliest
        if earliest.tzinfo is None:
            earliest = earliest.replace(tzinfo=UTC)
        return times.Bounds(earliest=earliest, ahead=timedelta(seconds=self.time_ahead_s))

"""Configuration, read from environment variables (and nothing else)."""

import os
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import SplitResult, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SOURCE_ROOT = Path(__file__).resolve().parent.parent
CPU_QUOTA = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "max 100000" or "quota period"
# A host name (ASCII, as IDNA writes it), an IPv4 address or a bracketed IPv6 address, then an
# optional port: nothing that could end a header value or a CSP source list.
_HOST_AND_PORT = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9-]+(\.[a-z0-9-]+)*)(:[0-9]{1,5})?")
DEFAULT_PORTS = {"http": 80, "https": 443}


def available_cpus() -> int:
    """The CPUs this process may use: its affinity, and a container's CPU quota (`docker run
    --cpus`), which os.sched_getaffinity does not see."""
    count = len(os.sched_getaffinity(0))
    try:
        quota, period = CPU_QUOTA.read_text().split()
        if quota != "max":
            count = min(count, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return count


def default_campaign_dir() -> Path:
    """The source checkout when it holds a campaign, else the working directory.

    Data files live at the top of the repository, outside the Python package, so an installed
    command finds them through CAMPAIGN_DIR, the checkout it was installed from, or the folder it
    runs in, in that order.
    """
    if (SOURCE_ROOT / "recipients.yaml").is_file():
        return SOURCE_ROOT
    return Path.cwd()


def _is_origin(parts: SplitResult) -> bool:
    """An http(s) address of a host (and port) and nothing else."""
    try:
        parts.port  # noqa: B018 (ValueError for a port that is not a number)
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and parts.username is None
        and not (parts.path or parts.query or parts.fragment)
    )


def embed_origin(value: str) -> str:
    """An origin of EMBED_ORIGINS as browsers write it (lower case, no default port), or
    ValueError naming the value: it is written into the CSP header, pages and scripts."""
    text = value.strip().removesuffix("/")
    parts = urlsplit(text.lower())
    if not _is_origin(parts) or not _HOST_AND_PORT.fullmatch(parts.netloc):
        raise ValueError(
            f"EMBED_ORIGINS: {value!r} is not an origin; give scheme://host[:port] of each site "
            "that may show the form in a frame, separated by commas, e.g. "
            "https://example.org,https://www.example.org"
        )
    netloc = parts.netloc
    if parts.port == DEFAULT_PORTS[parts.scheme]:
        netloc = netloc.rsplit(":", 1)[0]
    return f"{parts.scheme}://{netloc}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    database_url: str = f"sqlite:///{SOURCE_ROOT / 'var' / 'letter-campaign.db'}"
    campaign_dir: Path = Field(default_factory=default_campaign_dir)
    assets_dir: Path = SOURCE_ROOT
    secret_key: str = ""
    environment: Literal["development", "production"] = "development"
    campaign_goal: int = Field(default=5000, ge=1)
    session_max_age: int = 8 * 3600
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    allowed_hosts: str = "*"
    # The address supporters use, e.g. https://letters.example.org (app/security.py).
    public_url: str = ""
    # The sites that may show the form in a frame (/embed, app/routes/embed.py), as origins
    # separated by commas. None by default: /embed is not found, and no page may be framed.
    embed_origins: Annotated[list[str], NoDecode] = []
    forwarded_allow_ips: str = ""
    workers: int = Field(default=1, ge=1, le=64)
    max_body_bytes: int = 600_000
    body_timeout_s: float = Field(default=30.0, gt=0)
    worker_threads: int = Field(default=4, ge=1, le=40)
    stale_after_days: int = Field(default=365, ge=1)
    # The time zone of the calendar day on which an event's kiosk link works (storage/events.py).
    event_time_zone: str = "UTC"
    # Officials last checked longer ago than stale_after_days: "hold" takes no letters to them,
    # "warn" offers them, saying when they were last checked. Default: hold in production.
    unverified_officials: Literal["hold", "warn"] = "warn"
    # Who must log in with a second factor (app/storage/staff.py): admins, organisers and admins,
    # everyone, or nobody. Default: admins in production, nobody in development.
    require_totp: Literal["admin", "organiser", "all", "none"] = "none"
    redis_url: str = ""
    rate_limit_letters: str = "20/minute;200/hour"
    rate_limit_login: str = "10/minute;50/hour"
    rate_limit_forms: str = "60/minute;600/hour"
    # Per write-a-thon, on the packs its kiosk link makes (app/routes/kiosk.py), where everyone
    # shares one address: instead of RATE_LIMIT_LETTERS per address.
    rate_limit_event: str = "300/hour"
    render_budget_s: float = Field(default=15.0, gt=0)
    # A pack is refused (503) only when the wait it can expect for a renderer is longer.
    render_max_wait_s: float = Field(default=20.0, gt=0)
    # Processes that render packs for each web worker (app/render/pool.py); 0: the web worker
    # renders itself. Default: one per CPU, at most 4.
    render_processes: int | None = Field(default=None, ge=0, le=8)
    warm_up: bool = True
    # Speed-ups of the renderer to leave off, by name, separated by commas
    # (app/render/speedups/__init__.py): to tell whether one is behind a fault.
    speedups_off: str = ""
    # /metrics answers only a request that brings this as a bearer token; empty: 404.
    metrics_token: str = ""

    @field_validator(
        "log_level", "environment", "unverified_officials", "require_totp", mode="before"
    )
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="before")
    @classmethod
    def _hold_unverified_in_production(cls, data: object) -> object:
        """Production sends no letter to an office nobody has checked unless told otherwise;
        development shows the whole campaign (make run)."""
        if isinstance(data, dict) and data.get("unverified_officials") is None:
            environment = str(data.get("environment") or "").strip().lower()
            if environment == "production":
                data = {**data, "unverified_officials": "hold"}
        return data

    @model_validator(mode="before")
    @classmethod
    def _second_factor_for_admins_in_production(cls, data: object) -> object:
        """In production a stolen admin password alone manages nothing; development asks no
        code (make run)."""
        if isinstance(data, dict) and data.get("require_totp") is None:
            environment = str(data.get("environment") or "").strip().lower()
            if environment == "production":
                data = {**data, "require_totp": "admin"}
        return data

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        """Scheme and host (and port) only: links are written as this plus the route's path."""
        value = value.strip().removesuffix("/")
        if not value:
            return ""
        parts = urlsplit(value)
        if not _is_origin(parts):
            raise ValueError(
                "PUBLIC_URL must be an absolute http(s) address with a host and nothing after "
                "it, e.g. https://letters.example.org"
            )
        return f"{parts.scheme}://{parts.netloc.lower()}"

    @field_validator("embed_origins", mode="before")
    @classmethod
    def _embed_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        if isinstance(value, list | tuple):
            return list(dict.fromkeys(embed_origin(str(origin)) for origin in value))
        return value

    @field_validator("event_time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        value = value.strip()
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"EVENT_TIME_ZONE: {value!r} is not a time zone; give an IANA name such as "
                "UTC, Asia/Almaty or Europe/Berlin"
            ) from None
        return value

    @model_validator(mode="after")
    def _production_needs_a_secret(self) -> "Settings":
        if self.environment == "production" and len(self.secret_key) < 32:
            raise ValueError(
                "SECRET_KEY must be set to at least 32 random characters in production "
                '(python -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        return self

    @model_validator(mode="after")
    def _production_needs_its_address(self) -> "Settings":
        if self.environment == "production" and not self.public_url:
            raise ValueError(
                "PUBLIC_URL must be set in production to the address supporters use, e.g. "
                "https://letters.example.org: links, redirects and the feed are written with it, "
                "and requests for any other host are refused"
            )
        return self

    @property
    def render_process_count(self) -> int:
        if self.render_processes is not None:
            return self.render_processes
        return min(available_cpus(), 4)

    @property
    def speedups_off_list(self) -> list[str]:
        """Checked by the renderer, which knows the speed-ups: an unknown name stops the start."""
        return [name.strip() for name in self.speedups_off.split(",") if name.strip()]

    @property
    def event_zone(self) -> ZoneInfo:
        return ZoneInfo(self.event_time_zone)

    @property
    def host_list(self) -> list[str]:
        return [host.strip() for host in self.allowed_hosts.split(",") if host.strip()]

    @property
    def fonts_dir(self) -> Path:
        """Fonts the set-up builds from registry packages (make install)."""
        return self.assets_dir / "build" / "fonts"

    @property
    def node_modules(self) -> Path:
        return self.assets_dir / "node_modules"

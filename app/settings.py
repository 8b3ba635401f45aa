"""Configuration, read from environment variables (and nothing else)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SOURCE_ROOT = Path(__file__).resolve().parent.parent


def default_campaign_dir() -> Path:
    """The source checkout when it holds a campaign, else the working directory.

    Data files live at the top of the repository, outside the Python package, so an installed
    command finds them through CAMPAIGN_DIR, the checkout it was installed from, or the folder it
    runs in, in that order.
    """
    if (SOURCE_ROOT / "recipients.yaml").is_file():
        return SOURCE_ROOT
    return Path.cwd()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    database_url: str = "sqlite:///var/letter-campaign.db"
    campaign_dir: Path = Field(default_factory=default_campaign_dir)
    assets_dir: Path = SOURCE_ROOT
    secret_key: str = ""
    environment: str = "development"
    campaign_goal: int = 5000
    session_max_age: int = 8 * 3600
    log_level: str = "info"

    @property
    def fonts_dir(self) -> Path:
        """Fonts the set-up builds from registry packages (make install)."""
        return self.assets_dir / "build" / "fonts"

    @property
    def node_modules(self) -> Path:
        return self.assets_dir / "node_modules"

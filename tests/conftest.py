import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from app.campaign import Campaign, load_campaign
from app.pdf import LetterRenderer
from app.settings import SOURCE_ROOT, Settings

KAZAKH_NAME = "Әсел Нұрғалиқызы Жүсіпова"


def png_data_url(width: int = 300, height: int = 100) -> str:
    """A drawn-looking signature: a zigzag stroke on a transparent background."""
    image = Image.new("RGBA", (width, height), (255, 255, 255, 0))
    points = [
        (int(width * x), int(height * y))
        for x, y in [(0.03, 0.8), (0.27, 0.2), (0.5, 0.85), (0.73, 0.15), (0.97, 0.7)]
    ]
    ImageDraw.Draw(image).line(points, fill=(0, 0, 80, 255), width=5)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="session")
def campaign() -> Campaign:
    return load_campaign(SOURCE_ROOT)


@pytest.fixture(scope="session")
def renderer(campaign: Campaign) -> LetterRenderer:
    return LetterRenderer(campaign, Settings().fonts_dir)


@pytest.fixture
def supporter_data() -> dict:
    return {
        "name": KAZAKH_NAME,
        "street": "Hauptstraße 5",
        "postcode": "10115",
        "city": "Berlin",
        "country": "DE",
        "language": "ru",
        "recipients": [],
        "message": None,
        "signature": {"kind": "typed"},
    }


@pytest.fixture
def supporter_file(tmp_path: Path, supporter_data: dict) -> Iterator[tuple[Path, dict]]:
    path = tmp_path / "supporter.json"

    def write(**changes: object) -> Path:
        path.write_text(json.dumps({**supporter_data, **changes}, ensure_ascii=False))
        return path

    yield write  # type: ignore[misc]

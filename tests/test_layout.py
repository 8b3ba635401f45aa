"""The layout keeps its promises: the renderer (app/render/) reaches neither the web nor the
database, so it can be read, tested and run (in its render processes) without them."""

import subprocess
import sys

import pytest

from app.settings import SOURCE_ROOT

WEB_OR_DATABASE = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "psycopg", "alembic")


@pytest.mark.slow
def test_the_renderer_imports_nothing_of_the_web_or_the_database():
    script = (
        "import sys, app.render\n"
        f"print('\\n'.join(sorted(m for m in sys.modules if m.split('.')[0] in {WEB_OR_DATABASE!r}"
        " or m.startswith(('app.routes', 'app.storage', 'app.main')))))"
    )
    found = subprocess.run(
        [sys.executable, "-c", script], cwd=SOURCE_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert found == []

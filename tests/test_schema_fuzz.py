"""The API fuzzed from its own OpenAPI schema with Schemathesis, in process (ASGI): whatever it
is sent, no 500 and no response that breaks the schema it publishes. `make test` runs a bounded
number of examples per operation; `make fuzz` runs many more (FUZZ_EXAMPLES)."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.main import create_app
from app.settings import Settings
from app.storage.db import migrate

# What the API promises: never a 500, and answers as its schema documents them (status, media
# type, headers, body). Schemathesis' "acceptance" checks are left out on purpose: the schema
# cannot say which countries exist, which officials the campaign has or which characters the
# fonts can print, so some schema-valid bodies are rightly refused with a 422.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
CALLS = {"cases": 0}


def fuzzed_app():
    """The service on a database of its own, made when the module loads: Schemathesis reads
    the schema at collection time."""
    url = f"sqlite:///{FOLDER / 'letters.db'}"
    migrate(url)
    return create_app(Settings(database_url=url, secret_key="fuzzing-secret-key-32-characters"))


FOLDER = Path(tempfile.mkdtemp(prefix="letter-campaign-fuzz-"))
APP = fuzzed_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    APP.state.engine.dispose()
    shutil.rmtree(FOLDER, ignore_errors=True)
    print(f"\nschema fuzz cases: {CALLS['cases']}")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize="FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_never_answers_500_or_against_its_own_schema(case):
    CALLS["cases"] += 1
    case.call_and_validate(checks=CHECKS)

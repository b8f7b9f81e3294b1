"""schemathesis against the schema the app serves: a bounded number of generated requests for
every operation, valid and invalid; no answer is a 5xx, every answer matches the schema
(status code, content type, headers, body), and no request the schema calls valid is refused as
bad input (tests.api.schema_checks: the schema states what the server enforces)."""

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from portal.api.main import api
from portal.wsgi import application
from tests.api.conftest import make_token
from tests.api.schema_checks import schema_valid_requests_are_accepted

# Bounded so the suite stays quick; raise it for a deeper run: API_FUZZ_EXAMPLES=200 pytest ...
MAX_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "10"))
OPERATIONS = [
    (method.upper(), path)
    for path, item in api.get_openapi_schema()["paths"].items()
    for method in item
]


@pytest.fixture
def served_schema(db, global_admin, sandbox, production, accounts, settings, tmp_path):
    settings.API_WRITES_PER_MINUTE = 0  # generated writes are many; 429 is tested elsewhere
    # Generated uploads (restore from a file) go to a folder of the test's own.
    settings.STORAGES = {
        **settings.STORAGES,
        "backups": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "backups")},
        },
    }
    # Like Django's test client: the WSGI app must not close the test's database connection
    # (and with it the transaction that holds the fixtures) at the end of each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.parametrize(
    "mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"]
)
@pytest.mark.parametrize("method, path", OPERATIONS)
def test_every_answer_matches_the_schema_and_none_is_a_server_error(
    served_schema, global_admin, method, path, mode
):
    headers = {"Authorization": f"Bearer {make_token(global_admin)}"}
    operation = served_schema[path][method]
    # Valid requests name a real environment (and table), so they get past the lookup.
    fixed = None
    if mode is GenerationMode.POSITIVE and "{environment}" in path:
        fixed = {"environment": "sales-sandbox"}
        if "{table}" in path:
            fixed["table"] = "accounts"
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed)

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        # The same requests on every run, so that a failure is the code's and not the draw's.
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        # Valid-by-schema data may still name something that does not exist (404) or meet a
        # rule about the portal's state (some 422s): schema_checks tells those from a schema
        # looser than the server, which the built-in check cannot.
        case.call_and_validate(
            headers=headers,
            excluded_checks=[positive_data_acceptance],
            additional_checks=[schema_valid_requests_are_accepted],
        )

    run()

"""schemathesis hooks for a run of its CLI against a served portal (the suite passes the check
itself): the same judgement of schema-valid requests as tests/api/test_schema.py, deeper.

    PYTHONPATH=. SCHEMATHESIS_HOOKS=tests.api.schemathesis_hooks \
      st run http://127.0.0.1:8000/api/v1/openapi.json -H "Authorization: Bearer $TOKEN" \
      -c schema_valid_requests_are_accepted --mode positive -n 100 --continue-on-failure
"""

import schemathesis

from tests.api.schema_checks import schema_valid_requests_are_accepted

schemathesis.check(schema_valid_requests_are_accepted)

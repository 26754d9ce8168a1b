"""Schemathesis over the bodies its generator never makes (issue #13): for every operation in the
schema that takes a JSON body, a 3 MB body and 6 KB of nested ``[[[…]]]`` are sent to the live
server, and schemathesis's own checks judge each answer (no 5xx, a documented status, JSON, the
Error schema); on top, the exact status and code are asserted (413 ``request_too_large``, 400
``malformed_json``).

Usage: schemathesis_bodies.py BASE_URL BEARER_TOKEN
"""

import json
import sys
import uuid

import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
BODIES = {
    "3 MB": (json.dumps({"pad": "x" * (3 * 1024 * 1024)}).encode(), 413, "request_too_large"),
    "6 KB nested": (("[" * 3000 + "]" * 3000).encode(), 400, "malformed_json"),
    "40 levels in an object": (('{"a": ' * 40 + "1" + "}" * 40).encode(), 400, "malformed_json"),
}


def main(base_url: str, token: str) -> int:
    schema = schemathesis.openapi.from_url(f"{base_url}/api/schema?format=json")
    failures, sent = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.body is None or not list(operation.body):
            continue
        path_parameters = {p.name: str(uuid.uuid4()) for p in operation.path_parameters}
        for name, (raw, status, code) in BODIES.items():
            case = operation.Case(path_parameters=path_parameters, media_type="application/json", body={})
            url = f"{base_url}{case.formatted_path}"
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
            response = requests.request(operation.method.upper(), url, data=raw, headers=headers, timeout=30)
            sent += 1
            label = f"{operation.method.upper()} {operation.path} with {name}"
            try:
                case.validate_response(response, checks=CHECKS)
            except Exception as exc:  # schemathesis raises a FailureGroup with every failed check
                failures.append(f"{label}: {exc}")
                continue
            body = response.json()
            if response.status_code != status or body.get("error", {}).get("code") != code:
                failures.append(f"{label}: {response.status_code} {body} (expected {status} {code})")
    print(f"schemathesis bodies: {sent} requests, {len(failures)} failures")
    for failure in failures:
        print("  " + failure)
    return 1 if failures or sent == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1].rstrip("/"), sys.argv[2]))

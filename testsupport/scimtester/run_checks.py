"""Run scim2-tester's check_server against one SCIM base URL for usersvc's tests.

Usage: python run_checks.py BASE_URL, with the bearer token as the first line
of standard input (never on the command line, where ps would show it).

Every check result is printed to standard output as one JSON object a line:
title, status (the name of scim2_tester.Status), reason, description (the
first line of the checker's docstring), resource_type, tags and data (what
scim2-tester attached to help debugging, made JSON-safe). Anything else (a
traceback) goes to standard error, and the exit status is then non-zero.
The token is written "<redacted>" wherever it would appear on standard
output or standard error (as it is, or as JSON or repr escape it).
"""

import json
import sys

import httpx2
from pydantic import BaseModel
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import check_server

REDACTED = "<redacted>"
MAX_TEXT = 4000


def jsonable(value, redact, depth=0):
    """Turn what scim2-tester puts in CheckResult.data into JSON values, every
    string passed through redact."""
    if depth > 12:
        return redact(repr(value)[:MAX_TEXT])
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact(value)[:MAX_TEXT]
    if isinstance(value, BaseModel):
        try:
            dumped = value.model_dump(mode="json", exclude_none=True)
        except Exception:  # a model the server described oddly
            return redact(repr(value))[:MAX_TEXT]
        return jsonable(dumped, redact, depth + 1)
    if isinstance(value, dict):
        return {redact(str(k)): jsonable(v, redact, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v, redact, depth + 1) for v in value]
    if isinstance(value, BaseException):
        return {
            "exception": type(value).__name__,
            "message": redact(str(value))[:MAX_TEXT],
        }
    if isinstance(value, type):
        return value.__name__
    if hasattr(value, "status_code") and hasattr(value, "text"):
        # An HTTP response: its status and body, never its request (headers).
        try:
            body = value.text
        except Exception:
            body = None
        return {"status_code": value.status_code, "body": jsonable(body, redact, depth + 1)}
    return redact(repr(value))[:MAX_TEXT]


class Redacting:
    """A text stream that writes "<redacted>" for the token."""

    def __init__(self, stream, token):
        self.stream = stream
        self.forms = (token, json.dumps(token)[1:-1], repr(token)[1:-1])

    def redact(self, text):
        for form in self.forms:
            text = text.replace(form, REDACTED)
        return text

    def write(self, text):
        return self.stream.write(self.redact(text))

    def flush(self):
        self.stream.flush()

    def __getattr__(self, name):  # encoding, isatty, fileno...
        return getattr(self.stream, name)


def summary(doc):
    for line in (doc or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: run_checks.py BASE_URL < token")
    base_url = sys.argv[1]
    token = sys.stdin.readline().rstrip("\r\n")
    if not token:
        sys.exit("no bearer token on standard input")
    # Tracebacks and warnings go to standard error: never with the token.
    sys.stderr = Redacting(sys.stderr, token)
    out = Redacting(sys.stdout, token)

    http = httpx2.Client(
        base_url=base_url,
        headers={"Authorization": "Bearer " + token},
        timeout=30.0,
        follow_redirects=False,
        trust_env=False,  # loopback only: no proxy from the environment
    )
    with http:
        scim = SyncSCIMClient(http)
        results = check_server(scim)

    for result in results:
        check = {
            "title": result.title,
            "status": result.status.name,
            "reason": result.reason,
            "description": summary(result.description),
            "resource_type": result.resource_type,
            "tags": sorted(result.tags or []),
            "data": result.data,
        }
        # Every string on its own: a response body holds the token as JSON
        # escapes it, which the line would escape once more.
        line = json.dumps(jsonable(check, out.redact))
        out.write(line + "\n")
    out.flush()


if __name__ == "__main__":
    main()

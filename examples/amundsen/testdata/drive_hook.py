"""Test driver: imports usersvc_user_detail from argv[1] and runs the cases
given as JSON on stdin, printing one JSON result per line."""

import json
import sys
import time

sys.path.insert(0, sys.argv[1])

import usersvc_user_detail as hook  # noqa: E402

for case in json.load(sys.stdin):
    fn = hook.make_user_detail_method(
        case["base_url"],
        authorization=lambda token=case["authorization"]: token or None,
        fallback=lambda user_id: {"fallback_for": user_id},
    )
    start = time.monotonic()
    out = {"name": case["name"]}
    try:
        out["result"] = fn(case["user_id"])
    except Exception as e:  # the test asserts on the class name
        out["error"] = type(e).__name__
        out["message"] = str(e)
    out["elapsed"] = time.monotonic() - start
    print(json.dumps(out), flush=True)

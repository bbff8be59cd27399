"""A USER_DETAIL_METHOD for Amundsen's metadata service, backed by usersvc.

For operators who keep Amundsen's metadata service in front of the frontend
(hook mode, see the README): the metadata service keeps serving every route,
and asks usersvc who a user is.

Amundsen calls USER_DETAIL_METHOD(user_id) in two places:
  * metadata_service/api/user.py, UserDetailAPI.get (GET /user/<id>): the
    returned dict goes through UserSchema().dump; any exception becomes a
    404 "user_id <id> fetch failed".
  * metadata_service/proxy/base_proxy.py, _get_user_details: for each owner
    and reader of a table (neo4j_proxy._exec_owners_query and
    _exec_usage_query), where an exception fails the whole table request.

The seed pattern in metadata/docs/configurations.md returns a fixed dict for
any id and never fails. This function differs from it:
  * it asks usersvc's GET /user/<id> with the caller's own bearer token
    (flaskoidc passed the request through, so the token is on
    flask.request) and a 3 s timeout, the frontend's own budget;
  * usersvc's 404 (nobody in the graph or the directory) raises Amundsen's
    NotFoundException, which the user route turns into its 404;
  * a 5xx, a timeout or a refused connection falls back to the metadata
    service's own lookup (the proxy's get_user on the graph), so an outage
    of usersvc degrades to what Amundsen did before;
  * any other answer (401, 403, 409: a token or data problem) raises, so it
    is visible instead of hidden behind a fallback.

Install: put this file on the metadata service's PYTHONPATH and, in the
config class the service loads (METADATA_SVC_CONFIG_MODULE_CLASS):

    from usersvc_user_detail import get_user_details

    class UsersvcConfig(LocalConfig):
        USER_DETAIL_METHOD = get_user_details

USERSVC_URL (default http://usersvc:5002) names usersvc's Service.
"""

import os
from typing import Any, Callable, Dict, Optional
from urllib.parse import quote

import requests

TIMEOUT_SECONDS = 3.0

UserDict = Dict[str, Any]


class UsersvcError(Exception):
    """usersvc refused the lookup for a reason a fallback would hide."""


def caller_authorization() -> Optional[str]:
    """The Authorization header of the request being served, if any."""
    try:
        from flask import has_request_context, request
    except ImportError:
        return None
    if not has_request_context():
        return None
    return request.headers.get("Authorization")


def not_found(user_id: str) -> Exception:
    """Amundsen's NotFoundException, or LookupError outside the service."""
    try:
        from metadata_service.exception import NotFoundException
    except ImportError:
        return LookupError("user_id {} not found".format(user_id))
    return NotFoundException("user_id {} not found".format(user_id))


def metadata_lookup(user_id: str) -> UserDict:
    """The metadata service's own lookup: the user node in its graph."""
    from amundsen_common.models.user import UserSchema
    from metadata_service.proxy import get_proxy_client

    return UserSchema().dump(get_proxy_client().get_user(id=user_id))


def make_user_detail_method(
    base_url: str,
    timeout: float = TIMEOUT_SECONDS,
    authorization: Callable[[], Optional[str]] = caller_authorization,
    fallback: Callable[[str], UserDict] = metadata_lookup,
    session: Optional[requests.Session] = None,
) -> Callable[[str], UserDict]:
    """Build a USER_DETAIL_METHOD that asks usersvc at base_url."""
    http = session or requests.Session()
    base = base_url.rstrip("/")

    def get_user_details(user_id: str) -> UserDict:
        # Ids hold "@", "+" and "."; anything else is percent-encoded so a
        # "/" or "?" in an id cannot change the route.
        url = "{}/user/{}".format(base, quote(user_id, safe="@+."))
        headers = {"Accept": "application/json"}
        auth = authorization()
        if auth:
            headers["Authorization"] = auth
        try:
            resp = http.get(url, headers=headers, timeout=timeout)
        except (requests.ConnectionError, requests.Timeout):
            return fallback(user_id)
        if resp.status_code == 200:
            return resp.json()
        if resp.status_code == 404:
            raise not_found(user_id)
        if resp.status_code >= 500:
            return fallback(user_id)
        try:
            msg = resp.json().get("message", "")
        except ValueError:
            msg = ""
        raise UsersvcError("usersvc answered {} for user_id {}: {}".format(resp.status_code, user_id, msg))

    return get_user_details


get_user_details = make_user_detail_method(os.environ.get("USERSVC_URL", "http://usersvc:5002"))

"""WSGI entry point for Amundsen's real frontend service, for usersvc's tests.

The app comes from amundsen_application.create_app with a config class that
subclasses Amundsen's OidcConfig (amundsen_application.oidc_config), the
config Amundsen's OIDC setup runs. OidcConfig keeps Amundsen's own
    REQUEST_HEADERS_METHOD = get_access_headers
        -> {'Authorization': 'Bearer ' + json.dumps(app.auth_client.token)}
    AUTH_USER_METHOD = get_auth_user
        -> load_user(session['user'])
so every call the frontend makes to METADATASERVICE_BASE carries the header
the real frontend sends, built by Amundsen's code.

In Amundsen's OIDC deployment the Flask class is flaskoidc.FlaskOIDC, which
runs the browser login and then keeps the provider's token in the session
(app.auth_client.token) and the userinfo in session['user']. The test has no
browser, so this driver stands in for that login only:

- POST /_usersvc_test/login with JSON {"token": {...}, "user": {...}} stores
  both in Flask's (signed cookie) session, as flaskoidc does after its
  callback; the test's HTTP client keeps the cookie. Without "token" the
  session has a user but no token: get_access_headers then returns {} and
  the frontend calls the metadata service without an Authorization header;
- app.auth_client is an object whose .token is the session's token, as
  flaskoidc's OAuth client's is.

Everything else is Amundsen's. METADATASERVICE_BASE (usersvc's base URL)
comes from the environment, read by Amundsen's LocalConfig at import.

Run it as:
    gunicorn -c gunicorn_conf.py --bind 127.0.0.1:PORT frontend_app:app
"""

import os

from flask import jsonify, request, session

from amundsen_application import create_app
from amundsen_application.oidc_config import OidcConfig


class UsersvcFrontendConfig(OidcConfig):
    """Amundsen's OidcConfig; only the session secret is the test's, and
    REQUEST_SESSION_TIMEOUT_SEC (Amundsen's default: 3 s for every call to
    the metadata service) when USERSVC_FRONTEND_REQUEST_TIMEOUT_SEC is set."""

    SECRET_KEY = os.environ['USERSVC_FRONTEND_SECRET_KEY']
    if os.environ.get('USERSVC_FRONTEND_REQUEST_TIMEOUT_SEC'):
        REQUEST_SESSION_TIMEOUT_SEC = int(os.environ['USERSVC_FRONTEND_REQUEST_TIMEOUT_SEC'])


app = create_app(config_module_class=f'{__name__}.UsersvcFrontendConfig')


class _SessionAuthClient:
    """flaskoidc's auth_client as get_access_headers uses it: .token."""

    @property
    def token(self):
        return session['_usersvc_token']


app.auth_client = _SessionAuthClient()


@app.route('/_usersvc_test/login', methods=['POST'])
def _usersvc_test_login():
    body = request.get_json()
    session.clear()
    if body.get('token') is not None:
        session['_usersvc_token'] = body['token']
    session['user'] = body['user']
    return jsonify({'msg': 'logged in'})

"""WSGI entry point for Amundsen's real metadata service, for usersvc's tests.

This module only drives Amundsen's own code: the app comes from
metadata_service.create_app with a config class that subclasses Amundsen's
LocalConfig (the class metadata_service.metadata_wsgi uses by default) and
selects the Neo4jProxy. LocalConfig reads the connection from the
environment when metadata_service.config is imported: PROXY_HOST (a bolt://
or neo4j:// URI without the port), PROXY_PORT, CREDENTIALS_PROXY_USER,
CREDENTIALS_PROXY_PASSWORD and PROXY_ENCRYPTED. Neither create_app nor the
neo4j driver connects to Neo4j before the first request that queries it.

Additions, none of which changes what Amundsen answers:

- an after_request hook naming the route that handled each request:
      X-Amundsen-Endpoint: request.url_rule.endpoint, "" when no rule matched
      X-Amundsen-Path:     request.path
  (after_request does not run when a view raises: LocalConfig sets DEBUG, so
  Flask propagates the exception and gunicorn answers its own bare 500);
- a before_request hook that, when USERSVC_ROUTE_LOG names a file, appends
  one JSON line per request with the routing decision (also for requests
  whose view later raises), keyed by the request's X-Usersvc-Probe header;
- USERSVC_NEO4J_MAX_TRANSACTION_RETRY_TIME (opt-in): the neo4j driver's
  max_transaction_retry_time for the driver Amundsen builds.

Run it as Amundsen's docs run metadata_service.metadata_wsgi:
    gunicorn -c gunicorn_conf.py --bind 127.0.0.1:PORT metadata_app:app
"""

import json
import os

from flask import request

from metadata_service import create_app
from metadata_service.config import PROXY_CLIENTS, LocalConfig

# Amundsen's Neo4jProxy builds its driver with the neo4j driver's default
# max_transaction_retry_time (30 s) and no way to configure it, so against an
# unreachable Neo4j every managed read (GET /healthcheck, GET /user/<id>, ...)
# retries for 30 s and races gunicorn's 30 s worker timeout.
_RETRY_TIME = os.environ.get('USERSVC_NEO4J_MAX_TRANSACTION_RETRY_TIME')
if _RETRY_TIME:
    import neo4j

    _driver = neo4j.GraphDatabase.driver

    def _driver_with_retry_time(*args, **kwargs):
        kwargs.setdefault('max_transaction_retry_time', float(_RETRY_TIME))
        return _driver(*args, **kwargs)

    neo4j.GraphDatabase.driver = staticmethod(_driver_with_retry_time)


class Neo4jConfig(LocalConfig):
    """Amundsen's LocalConfig with the Neo4j proxy selected explicitly."""

    PROXY_CLIENT = PROXY_CLIENTS['NEO4J']


app = create_app(config_module_class=f'{__name__}.Neo4jConfig')

_ROUTE_LOG = os.environ.get('USERSVC_ROUTE_LOG')


def _endpoint():
    rule = request.url_rule
    return rule.endpoint if rule is not None else ''


if _ROUTE_LOG:
    @app.before_request
    def _log_the_route():
        line = json.dumps({
            'probe': request.headers.get('X-Usersvc-Probe', ''),
            'method': request.method,
            'raw_uri': request.environ.get('RAW_URI', ''),
            'path_info': request.environ.get('PATH_INFO', ''),
            'path': request.path,
            'endpoint': _endpoint(),
        }) + '\n'
        # One write on an O_APPEND descriptor: lines from several workers
        # do not interleave.
        fd = os.open(_ROUTE_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


@app.after_request
def _name_the_route(response):
    response.headers['X-Amundsen-Endpoint'] = _endpoint()
    response.headers['X-Amundsen-Path'] = request.path
    return response

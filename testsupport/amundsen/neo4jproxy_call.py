"""Call Amundsen metadata's own Neo4jProxy and print its answers as JSON.

This module only drives Amundsen's code: the Flask app comes from
metadata_service.create_app with a config class subclassing LocalConfig (as
metadata_app.py builds it), and the proxy from
metadata_service.proxy.get_proxy_client inside the app context, the way
Amundsen's API resources get it (host, port, user, password, encrypted,
validate_ssl and database name from the config). Answers are dumped with
amundsen_common's marshmallow schemas as metadata_service/api/user.py dumps
them: UserSchema for users; PopularTableSchema and DashboardSummarySchema
for resources, follow lists sorted as UserFollowsAPI sorts them (own and
read lists are left in the proxy's order, as UserOwnsAPI and UserReadsAPI
leave them).

    python neo4jproxy_call.py CALLS.json

CALLS.json is a list of calls, each {"method": ..., "args": {...}}:
    get_user                        {"id"}
    get_users                       {}
    get_table_by_user_relation      {"user_email", "relation_type"}
    get_dashboard_by_user_relation  {"user_email", "relation_type"}
    get_frequently_used_tables      {"user_email"}
    add_resource_relation_by_user   {"id", "user_id", "relation_type", "resource_type"}
    add_owner                       {"table_uri", "owner"}
relation_type is a UserResourceRel field (follow, own, read; Amundsen's
proxy compares with the namedtuple's field objects), resource_type
a ResourceType label (table, dashboard, ...). stdout gets one JSON array,
one {"value": ...} or {"error": {"type", "message"}} per call, in order.

Environment: PROXY_HOST (bolt://host), PROXY_PORT, CREDENTIALS_PROXY_USER,
CREDENTIALS_PROXY_PASSWORD, PROXY_ENCRYPTED (read by LocalConfig) and
USER_OTHER_KEYS (comma-separated; Amundsen's setting of that name).
"""

import json
import os
import sys

from amundsen_common.entity.resource_type import to_resource_type
from amundsen_common.models.dashboard import DashboardSummarySchema
from amundsen_common.models.popular_table import PopularTableSchema
from amundsen_common.models.user import UserSchema

from metadata_service import create_app
from metadata_service.config import PROXY_CLIENTS, LocalConfig
from metadata_service.proxy import get_proxy_client
from metadata_service.util import UserResourceRel


class ProxyCallConfig(LocalConfig):
    PROXY_CLIENT = PROXY_CLIENTS['NEO4J']
    USER_OTHER_KEYS = {k for k in os.environ.get('USER_OTHER_KEYS', '').split(',') if k}


def _tables(resources, sort):
    tables = list(resources.get('table', []))
    if sort:
        tables.sort(key=lambda x: (x.schema, x.name))
    return PopularTableSchema().dump(tables, many=True)


def _dashboards(resources, sort):
    dashboards = list(resources.get('dashboard', []))
    if sort:
        dashboards.sort(key=lambda x: (x.group_name, x.name))
    return DashboardSummarySchema().dump(dashboards, many=True)


def call(proxy, method, args):
    if method == 'get_user':
        return UserSchema().dump(proxy.get_user(id=args['id']))
    if method == 'get_users':
        return UserSchema().dump(proxy.get_users(), many=True)
    if method == 'get_table_by_user_relation':
        rel = getattr(UserResourceRel, args['relation_type'])
        res = proxy.get_table_by_user_relation(user_email=args['user_email'], relation_type=rel)
        return _tables(res, rel == UserResourceRel.follow)
    if method == 'get_dashboard_by_user_relation':
        rel = getattr(UserResourceRel, args['relation_type'])
        res = proxy.get_dashboard_by_user_relation(user_email=args['user_email'], relation_type=rel)
        return _dashboards(res, rel == UserResourceRel.follow)
    if method == 'get_frequently_used_tables':
        return _tables(proxy.get_frequently_used_tables(user_email=args['user_email']), False)
    if method == 'add_resource_relation_by_user':
        proxy.add_resource_relation_by_user(id=args['id'], user_id=args['user_id'],
                                            relation_type=getattr(UserResourceRel, args['relation_type']),
                                            resource_type=to_resource_type(label=args['resource_type']))
        return None
    if method == 'add_owner':
        proxy.add_owner(table_uri=args['table_uri'], owner=args['owner'])
        return None
    raise ValueError(f'unknown method {method!r}')


def main():
    with open(sys.argv[1], encoding='utf8') as f:
        calls = json.load(f)
    app = create_app(config_module_class=f'{__name__}.ProxyCallConfig')
    out = []
    with app.app_context():
        proxy = get_proxy_client()
        for c in calls:
            try:
                out.append({'value': call(proxy, c['method'], c.get('args', {}))})
            except Exception as e:  # reported to the caller, which decides
                out.append({'error': {'type': type(e).__name__, 'message': str(e)}})
    json.dump(out, sys.stdout)


if __name__ == '__main__':
    main()

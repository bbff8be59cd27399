"""Amundsen's metadata service as a production deployment would configure it,
for loadgen -neo4j -amundsen-debug=false.

Amundsen ships one Neo4j config class, LocalConfig, which its metadata_wsgi
entry point and its image use unless METADATA_SVC_CONFIG_MODULE_CLASS names
another. LocalConfig sets Flask's DEBUG = True and LOG_LEVEL = 'DEBUG'. This
class is LocalConfig with both turned off, and nothing else changed.
"""

from metadata_service import create_app
from metadata_service.config import PROXY_CLIENTS, LocalConfig


class Neo4jProductionConfig(LocalConfig):
    DEBUG = False
    LOG_LEVEL = 'INFO'
    PROXY_CLIENT = PROXY_CLIENTS['NEO4J']


app = create_app(config_module_class=f'{__name__}.Neo4jProductionConfig')

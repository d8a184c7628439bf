"""Superset's configuration on the local platform (dev/platform/superset.sh). The state dir
(TWEETPIPE_SUPERSET_STATE) holds the generated secret key and the SQLite metadata database."""
import os
import pathlib

import pymysql

# Superset's MySQL support names result types through MySQLdb (mysqlclient, a C extension with no
# wheels for Linux); PyMySQL, the driver of our connections, provides the same module.
pymysql.install_as_MySQLdb()

_STATE = pathlib.Path(os.environ["TWEETPIPE_SUPERSET_STATE"])

SECRET_KEY = (_STATE / "secret-key").read_text().strip()
SQLALCHEMY_DATABASE_URI = f"sqlite:///{_STATE / 'superset.db'}?check_same_thread=false"
# The dataset SQL carries the dashboards' time range and query filter as Jinja
# (dashboards/generate.py translates Grafana's macros into it).
FEATURE_FLAGS = {"ENABLE_TEMPLATE_PROCESSING": True}
# No example data, no telemetry; one host process on loopback.
SUPERSET_LOAD_EXAMPLES = False
SCARF_ANALYTICS = False
# Charts' queries run in the web worker; nothing asynchronous (no Celery on this platform).
GLOBAL_ASYNC_QUERIES = False
# The session cookie is sent over plain HTTP on 127.0.0.1.
SESSION_COOKIE_SECURE = False
# Content-Security-Policy off: the server listens on loopback only, and Talisman's default
# policy warns on every request without a nonce setup.
TALISMAN_ENABLED = False
ROW_LIMIT = 10000

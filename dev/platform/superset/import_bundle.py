"""Imports the dashboard bundle (dashboards/superset) into a running Superset through its REST API,
pointing the database connection at a pipeline's database as its read-only reporting user.
Run by `dev/platform/superset.sh import` with the venv's Python (requests, PyYAML).

    python import_bundle.py BUNDLE_DIR

Environment: SUPERSET_URL, SUPERSET_ADMIN_PASSWORD_FILE, SUPERSET_MYSQL_HOST, SUPERSET_MYSQL_PORT,
SUPERSET_MYSQL_DATABASE, SUPERSET_MYSQL_USER, SUPERSET_MYSQL_PASSWORD_FILE, SUPERSET_MYSQL_CA_FILE
(optional). Passwords are read from files and never printed.
"""
import io
import json
import os
import pathlib
import sys
import zipfile
from urllib.parse import quote

import requests
import yaml

ROOT = "tweetpipe_dashboards"  # Superset expects the bundle's files under one top-level folder
DATABASE_FILE = "databases/tweetpipe.yaml"


class ImportFailed(Exception):
    pass


def secret(variable):
    path = os.environ[variable]
    value = pathlib.Path(path).read_text().strip()
    if not value:
        raise ImportFailed(f"{variable} names an empty file")
    return value


def connection_uri():
    host = os.environ.get("SUPERSET_MYSQL_HOST", "127.0.0.1")
    port = os.environ.get("SUPERSET_MYSQL_PORT", "3306")
    database = os.environ.get("SUPERSET_MYSQL_DATABASE", "tweets_covid19")
    user = os.environ.get("SUPERSET_MYSQL_USER", "dashboards")
    # XXXXXXXXXX is Superset's mask: the password comes in the import's `passwords` field.
    return f"mysql+pymysql://{quote(user, safe='')}:XXXXXXXXXX@{host}:{port}/{quote(database, safe='')}"


# Superset's dashboard import never replaces an existing database, dataset or chart (only the
# dashboard), so each kind is imported by its own API, with overwrite, before the dashboard: a
# changed password, database or query reaches Superset on the next import. Each import's
# metadata.yaml names its kind (the model's class); its files are those of the kind and below.
IMPORTS = [
    ("database", "Database", ("databases/",)),
    ("dataset", "SqlaTable", ("databases/", "datasets/")),
    ("chart", "Slice", ("databases/", "datasets/", "charts/")),
    ("dashboard", "Dashboard", ("databases/", "datasets/", "charts/", "dashboards/")),
]


def bundle_files(bundle_dir):
    """The bundle's files {relative path: text}, the connection set from the environment."""
    files = {}
    for path in sorted(bundle_dir.rglob("*.yaml")):
        relative = path.relative_to(bundle_dir).as_posix()
        text = path.read_text()
        if relative == DATABASE_FILE:
            database = yaml.safe_load(text)
            database["sqlalchemy_uri"] = connection_uri()
            ca_file = os.environ.get("SUPERSET_MYSQL_CA_FILE")
            if ca_file:
                # PyMySQL verifies the server's certificate and host name against this CA.
                database["extra"]["engine_params"] = {
                    "connect_args": {"ssl": {"ca": ca_file, "check_hostname": True}}}
            text = yaml.safe_dump(database, sort_keys=False, allow_unicode=True)
        files[relative] = text
    return files


def bundle_zip(files, kind, prefixes):
    """One import's archive, under the top-level folder Superset expects."""
    metadata = yaml.safe_load(files["metadata.yaml"])
    metadata["type"] = kind
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{ROOT}/metadata.yaml", yaml.safe_dump(metadata))
        for relative, text in files.items():
            if relative.startswith(prefixes):
                archive.writestr(f"{ROOT}/{relative}", text)
    return buffer.getvalue()


def session(base_url):
    """A logged-in API session: bearer token, and the CSRF token with its session cookie."""
    http = requests.Session()
    login = http.post(f"{base_url}/api/v1/security/login", timeout=60, json={
        "username": "admin", "password": secret("SUPERSET_ADMIN_PASSWORD_FILE"), "provider": "db", "refresh": False})
    if login.status_code != 200:
        raise ImportFailed(f"login as admin refused: HTTP {login.status_code}")
    http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    csrf = http.get(f"{base_url}/api/v1/security/csrf_token/", timeout=60)
    csrf.raise_for_status()
    http.headers["X-CSRFToken"] = csrf.json()["result"]
    http.headers["Referer"] = base_url
    return http


def import_bundle(base_url, bundle_dir):
    http = session(base_url)
    password = secret("SUPERSET_MYSQL_PASSWORD_FILE")
    files = bundle_files(bundle_dir)
    for api, kind, prefixes in IMPORTS:
        answer = http.post(
            f"{base_url}/api/v1/{api}/import/", timeout=300,
            files={"formData": (f"tweetpipe_{api}.zip", bundle_zip(files, kind, prefixes), "application/zip")},
            data={"passwords": json.dumps({DATABASE_FILE: password}), "overwrite": "true"})
        if answer.status_code != 200:
            raise ImportFailed(f"{api} import refused: HTTP {answer.status_code}: "
                               f"{answer.text.replace(password, '***')[:2000]}")
    dashboard = http.get(f"{base_url}/api/v1/dashboard/tweetpipe", timeout=60)
    dashboard.raise_for_status()
    return f"{base_url}/superset/dashboard/{dashboard.json()['result']['slug']}/"


def main(argv):
    if len(argv) != 2:
        print("usage: import_bundle.py BUNDLE_DIR", file=sys.stderr)
        return 2
    try:
        url = import_bundle(os.environ.get("SUPERSET_URL", "http://127.0.0.1:8088"), pathlib.Path(argv[1]))
    except (ImportFailed, requests.RequestException, KeyError, OSError) as error:
        print(f"superset import: {error}", file=sys.stderr)
        return 1
    print(f"imported: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Builds grafana/tweetpipe.json and the Superset export bundle superset/ (superset_bundle.py)
from the SQL files in sql/, so both dashboards run exactly the queries that the transformer's tests
check against MariaDB. Run after editing a .sql file or a dashboard's layout:
    python3 dashboards/generate.py           # writes the files
    python3 dashboards/generate.py --check   # exit 1 when a written file is stale (make dashboards-check)
The transformer's test `dashboard_json_matches_the_sql_files` also fails when the JSON is stale."""
import json
import pathlib
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the sources
import superset_bundle  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent


def sql(name):
    return (HERE / "sql" / f"{name}.sql").read_text()


DS = {"type": "mysql", "uid": "${datasource}"}

PANELS = [
    # (title, sql file, panel type, format, grid position, extra field config)
    ("Posts per hour by query and language", "volume_by_query_lang", "timeseries", "time_series", (0, 0, 16, 9), {}),
    ("Language share", "language_share", "piechart", "table", (16, 0, 8, 9), {}),
    ("Average sentiment per hour", "sentiment_over_time", "timeseries", "time_series", (0, 9, 16, 8),
     {"min": -1, "max": 1}),
    ("Post kinds per hour", "post_kinds", "timeseries", "time_series", (16, 9, 8, 8),
     {"custom": {"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 40}}),
    ("Top hashtags", "top_hashtags", "table", "table", (0, 17, 12, 10), {}),
    ("Top mentioned accounts", "top_mentions", "table", "table", (12, 17, 12, 10), {}),
    ("Sentiment by topic", "sentiment_by_topic", "barchart", "table", (0, 27, 8, 9), {"min": -1, "max": 1}),
    ("Extraction health: posts collected per minute and their age (s)", "extraction_health", "timeseries",
     "time_series", (8, 27, 16, 9), {}),
]


def panel(index, title, name, kind, fmt, pos, defaults):
    x, y, w, h = pos
    result = {
        "id": index + 1,
        "title": title,
        "type": kind,
        "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {},
        "targets": [{
            "refId": "A",
            "datasource": DS,
            "editorMode": "code",
            "format": fmt,
            "rawQuery": True,
            "rawSql": sql(name),
        }],
    }
    if kind == "piechart":
        result["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": True},
                             "pieType": "pie", "legend": {"displayMode": "table", "placement": "right",
                                                          "values": ["percent"]}}
    return result


dashboard = {
    "uid": "tweetpipe-overview",
    "title": "tweetpipe — posts overview",
    "description": "Volume, languages, sentiment, hashtags and mentions of the posts a TweetPipeline collected. "
                   "Queries: dashboards/sql/*.sql in the tweetpipe repository.",
    "tags": ["tweetpipe"],
    "timezone": "utc",
    "schemaVersion": 39,
    "version": 1,
    "editable": True,
    "time": {"from": "now-7d", "to": "now"},
    "refresh": "1m",
    "templating": {"list": [
        {"name": "datasource", "label": "MySQL", "type": "datasource", "query": "mysql",
         "current": {}, "hide": 0},
        {"name": "query", "label": "Query", "type": "query", "datasource": DS,
         "query": sql("queries"), "definition": sql("queries"), "refresh": 2,
         "multi": True, "includeAll": True, "current": {"text": "All", "value": "$__all"}, "sort": 1},
    ]},
    "panels": [panel(i, *p) for i, p in enumerate(PANELS)],
}



def outputs():
    """Every generated file: {path: text}."""
    result = {HERE / "grafana" / "tweetpipe.json": json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"}
    for relative, text in superset_bundle.files(sql).items():
        result[HERE / "superset" / relative] = text
    return result


def main(argv):
    wanted = outputs()
    # Files under superset/ that the generator no longer makes (a renamed chart) are stale too.
    extra = [path for path in (HERE / "superset").rglob("*") if path.is_file() and path not in wanted]
    if argv[1:] == ["--check"]:
        stale = [path for path, text in wanted.items() if not path.is_file() or path.read_text() != text]
        for path in stale + extra:
            print(f"stale: {path.relative_to(HERE.parent)}", file=sys.stderr)
        if stale or extra:
            print("the dashboards differ from dashboards/sql and generate.py: run python3 dashboards/generate.py",
                  file=sys.stderr)
            return 1
        return 0
    if argv[1:]:
        print("usage: generate.py [--check]", file=sys.stderr)
        return 2
    for path in extra:
        path.unlink()
    for path, text in wanted.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

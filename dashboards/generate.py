#!/usr/bin/env python3
"""Builds grafana/tweetpipe.json from the SQL files in sql/, so the dashboard runs exactly the
queries that the transformer's tests check against MariaDB. Run after editing a .sql file:
    python3 dashboards/generate.py
The test `dashboard_json_matches_the_sql_files` fails when the JSON is stale."""
import json
import pathlib

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

(HERE / "grafana" / "tweetpipe.json").write_text(json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n")

#!/usr/bin/env python3
"""Builds grafana/tweetpipe-operations.json: the operations dashboard over the Prometheus metrics of
the operator, the extractors and the transformers (is it collecting, is it keeping up, is the
operator healthy). Run after editing a panel:
    python3 dashboards/generate_operations.py
`make rules-test` (dev/alerts/test.sh) fails when the JSON is stale, and checks every panel's
PromQL with promtool. Worker series carry namespace/pipeline from the scrape (pod labels), as
in dev/platform/observe.sh's scrape config."""
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
OUTPUT = HERE / "grafana" / "tweetpipe-operations.json"

DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'namespace=~"$namespace", pipeline=~"$pipeline"'

# (title, panel type, grid position (x, y, w, h), unit, [(legend, PromQL)])
PANELS = [
    # Is it collecting?
    ("Budget use (requests per 15-minute window / budget)", "timeseries", (0, 0, 8, 8), "percentunit",
     [("{{namespace}}/{{pipeline}}",
       f"sum by (namespace, pipeline) (increase(tweetpipe_extractor_requests_total{{{SEL}}}[15m]))"
       f" / on (namespace, pipeline) max by (namespace, pipeline) (tweetpipe_operator_budget_requests_per_window{{{SEL}}} > 0)")]),
    ("X API requests per second by outcome", "timeseries", (8, 0, 8, 8), "reqps",
     [("{{pipeline}} {{outcome}}",
       f"sum by (pipeline, outcome) (rate(tweetpipe_extractor_requests_total{{{SEL}}}[5m]))")]),
    ("429 answers (last hour)", "stat", (16, 0, 4, 4), "short",
     [("{{pipeline}} {{query}}",
       f"sum by (pipeline, query) (increase(tweetpipe_extractor_rate_limited_total{{{SEL}}}[1h]))")]),
    ("Checkpoint gaps (last day)", "stat", (20, 0, 4, 4), "short",
     [("{{pipeline}} {{query}}",
       f"sum by (pipeline, query) (increase(tweetpipe_extractor_gaps_total{{{SEL}}}[1d]))")]),
    ("Stopped queries", "table", (16, 4, 8, 4), "short",
     [("", f"max by (pipeline, query, reason) (tweetpipe_extractor_query_stopped{{{SEL}}}) == 1")]),
    ("Days until the monthly post cap (forecast)", "stat", (0, 8, 8, 6), "d",
     [("{{pipeline}}", f"tweetpipe_operator_monthly_cap_forecast_seconds{{{SEL}}} / 86400")]),
    ("Posts collected per second by query", "timeseries", (8, 8, 16, 6), "short",
     [("{{pipeline}} {{query}}", f"sum by (pipeline, query) (rate(tweetpipe_extractor_posts_total{{{SEL}}}[5m]))")]),
    # Is it keeping up?
    ("Freshness: API to queryable in MySQL (p50, p99)", "timeseries", (0, 14, 12, 8), "s",
     [("p50 {{pipeline}}",
       f"histogram_quantile(0.5, sum by (namespace, pipeline, le) (rate(tweetpipe_transformer_freshness_seconds_bucket{{{SEL}}}[10m])))"),
      ("p99 {{pipeline}}",
       f"histogram_quantile(0.99, sum by (namespace, pipeline, le) (rate(tweetpipe_transformer_freshness_seconds_bucket{{{SEL}}}[10m])))")]),
    ("Transformer consumer lag (records)", "timeseries", (12, 14, 12, 8), "short",
     [("{{namespace}}/{{pipeline}}", f"tweetpipe_operator_consumer_lag_records{{{SEL}}}")]),
    ("Posts written per second (inserted, duplicate)", "timeseries", (0, 22, 12, 8), "short",
     [("{{pipeline}} {{result}}", f"sum by (pipeline, result) (rate(tweetpipe_transformer_posts_written_total{{{SEL}}}[5m]))")]),
    ("Dead letters (last hour) by reason", "timeseries", (12, 22, 12, 8), "short",
     [("{{pipeline}} {{reason}}", f"sum by (pipeline, reason) (increase(tweetpipe_transformer_dead_letters_total{{{SEL}}}[1h]))")]),
    # Is the operator healthy?
    ("Pipeline Ready", "stat", (0, 30, 6, 6), "short",
     [("{{namespace}}/{{pipeline}}", f"tweetpipe_operator_pipeline_ready{{{SEL}}}")]),
    ("Reconcile errors per second by reason", "timeseries", (6, 30, 6, 6), "short",
     [("{{reason}}", "sum by (reason) (rate(tweetpipe_operator_reconcile_errors_total[5m]))")]),
    ("Replicas (extractor, transformer)", "timeseries", (12, 30, 6, 6), "short",
     [("extractor {{pipeline}}", f"tweetpipe_operator_extractor_replicas{{{SEL}}}"),
      ("transformer {{pipeline}}", f"tweetpipe_operator_transformer_replicas{{{SEL}}}")]),
    ("Scrape targets up", "stat", (18, 30, 6, 6), "short",
     [("{{component}}", 'sum by (component) (up{namespace=~"$namespace"})')]),
]


def panel(index, title, kind, pos, unit, queries):
    x, y, w, h = pos
    return {
        "id": index + 1,
        "title": title,
        "type": kind,
        "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DS, "editorMode": "code", "expr": expr,
             "legendFormat": legend, "range": kind != "table", "instant": kind == "table"}
            for i, (legend, expr) in enumerate(queries)
        ],
    }


def variable(name, label, query):
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": query, "refId": name}, "definition": query, "refresh": 2,
            "multi": True, "includeAll": True, "allValue": ".*",
            "current": {"text": "All", "value": "$__all"}, "sort": 1}


dashboard = {
    "uid": "tweetpipe-operations",
    "title": "tweetpipe — operations",
    "description": "Is it collecting (budget use, 429s, stopped queries, gaps, monthly cap), is it keeping up "
                   "(freshness, lag, dead letters), is the operator healthy. Alerts: "
                   "helm/tweetpipe-operator/files/alerts.yaml; runbook: docs/operations.md.",
    "tags": ["tweetpipe"],
    "timezone": "utc",
    "schemaVersion": 39,
    "version": 1,
    "editable": True,
    "time": {"from": "now-6h", "to": "now"},
    "refresh": "30s",
    "templating": {"list": [
        {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
         "current": {}, "hide": 0},
        variable("namespace", "Namespace", "label_values(tweetpipe_operator_pipeline_ready, namespace)"),
        variable("pipeline", "Pipeline", 'label_values(tweetpipe_operator_pipeline_ready{namespace=~"$namespace"}, pipeline)'),
    ]},
    "panels": [panel(i, *p) for i, p in enumerate(PANELS)],
}


def exprs():
    """Every panel's PromQL with the dashboard variables replaced, one per line (checked by
    promtool in dev/alerts/test.sh)."""
    for _, _, _, _, queries in PANELS:
        for _, expr in queries:
            yield expr.replace("$namespace", ".*").replace("$pipeline", ".*")


if __name__ == "__main__":
    if sys.argv[1:] == ["--exprs"]:
        print("\n".join(exprs()))
    else:
        OUTPUT.write_text(json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n")

"""The Superset dashboard as code: an export bundle (Superset's import format v1) built from the
same SQL files as the Grafana dashboard. generate.py writes it to superset/; dev/platform/superset.sh
import zips it and imports it with the reporting user's password (the bundle holds none).

Each SQL file becomes a virtual dataset; Grafana's macros become Superset's Jinja (which needs the
ENABLE_TEMPLATE_PROCESSING feature flag, on in dev/platform/superset/superset_config.py):
  $__timeFilter(c)        -> c BETWEEN <from> AND <to>   (the chart's time range; all time if none)
  $__timeFrom()/To()      -> the range's ends
  IN ($query)             -> IN <the values of a query_name filter>, or every query without one
"""
import json
import re
import uuid

# Stable identities: the same names always give the same UUIDs, so a re-import overwrites.
NAMESPACE = uuid.UUID("6f1d3c1e-8a4b-4c59-9d3e-7b2a0c5e4f10")


def stable_uuid(kind, name):
    return str(uuid.uuid5(NAMESPACE, f"{kind}/{name}"))


DATABASE_NAME = "tweetpipe"
DATABASE_FILE = f"databases/{DATABASE_NAME}.yaml"
# Demo defaults (examples/covid19.yaml): dev/platform/superset.sh import replaces host, port,
# database and user from its settings; Superset's export format masks the password like this.
DEFAULT_URI = "mysql+pymysql://dashboards:XXXXXXXXXX@127.0.0.1:3306/tweets_covid19"

FROM = "'{{ from_dttm or \"1970-01-01 00:00:00\" }}'"
TO = "'{{ to_dttm or \"9999-12-31 23:59:59\" }}'"
QUERY_FILTER = "IN {{ filter_values('query_name') | where_in if filter_values('query_name') else '(query_name)' }}"


def superset_sql(grafana_sql):
    sql = grafana_sql.replace("$__timeFrom()", FROM).replace("$__timeTo()", TO)
    sql = re.sub(r"\$__timeFilter\(([^)]+)\)", rf"\1 BETWEEN {FROM} AND {TO}", sql)
    sql = sql.replace("IN ($query)", QUERY_FILTER)
    if "$" in sql:
        raise ValueError(f"a Grafana macro has no Superset translation in:\n{sql}")
    return sql


TIME, TEXT, INT, FLOAT = "DATETIME", "VARCHAR(255)", "BIGINT", "DOUBLE"

# Output columns of each SQL file (name, type); DATETIME columns are the temporal ones.
DATASETS = {
    "volume_by_query_lang": [("time", TIME), ("metric", TEXT), ("posts", INT)],
    "language_share": [("language", TEXT), ("posts", INT)],
    "sentiment_over_time": [("time", TIME), ("metric", TEXT), ("sentiment", FLOAT)],
    "sentiment_by_topic": [("topic", TEXT), ("posts", INT), ("sentiment", FLOAT)],
    "post_kinds": [("time", TIME), ("originals", INT), ("retweets", INT), ("replies", INT), ("quotes", INT)],
    "top_hashtags": [("tag", TEXT), ("posts", INT)],
    "top_mentions": [("account", TEXT), ("mentions", INT)],
    "extraction_health": [("time", TIME), ("metric", TEXT), ("posts", INT), ("delay_seconds", FLOAT)],
}


def metric(column, aggregate, label=None):
    label = label or column
    return {"expressionType": "SIMPLE", "column": {"column_name": column}, "aggregate": aggregate,
            "label": label, "hasCustomLabel": True, "optionName": f"metric_{column}_{aggregate.lower()}"}


ALL_TIME = [{"clause": "WHERE", "subject": "time", "operator": "TEMPORAL_RANGE", "comparator": "No filter",
             "expressionType": "SIMPLE"}]


def timeseries(viz, metrics, grain, groupby=(), **extra):
    return {"viz_type": viz, "x_axis": "time", "time_grain_sqla": grain, "x_axis_sort_asc": True,
            "metrics": metrics, "groupby": list(groupby), "adhoc_filters": ALL_TIME, "row_limit": 10000,
            "truncate_metric": True, "show_legend": True, "legendType": "scroll", "legendOrientation": "top",
            "rich_tooltip": True, "y_axis_format": "SMART_NUMBER", "order_desc": True,
            # Markers on hourly series: a pipeline younger than an hour has one point per series.
            "markerEnabled": grain == "PT1H", "markerSize": 6, **extra}


def ranking(column, value):
    return {"viz_type": "table", "query_mode": "aggregate", "groupby": [column], "metrics": [metric(value, "SUM")],
            "timeseries_limit_metric": metric(value, "SUM"), "order_desc": True, "adhoc_filters": [],
            "row_limit": 100, "server_page_length": 25, "include_search": False, "show_cell_bars": True}


# (chart title, dataset, form data, width in the 12-column grid); rows of the dashboard.
ROWS = [
    [("Posts per hour by query and language", "volume_by_query_lang",
      timeseries("echarts_timeseries_line", [metric("posts", "SUM")], "PT1H", ["metric"]), 8),
     ("Language share", "language_share",
      {"viz_type": "pie", "groupby": ["language"], "metric": metric("posts", "SUM"), "adhoc_filters": [],
       "row_limit": 100, "sort_by_metric": True, "show_legend": True, "legendType": "scroll",
       "legendOrientation": "right", "show_labels": True, "label_type": "key_percent", "labels_outside": False,
       "number_format": "SMART_NUMBER", "outerRadius": 70, "donut": False}, 4)],
    [("Average sentiment per hour by query", "sentiment_over_time",
      timeseries("echarts_timeseries_line", [metric("sentiment", "AVG")], "PT1H", ["metric"],
                 y_axis_bounds=[-1, 1], y_axis_format=".2f"), 8),
     ("Sentiment by topic", "sentiment_by_topic",
      {"viz_type": "echarts_timeseries_bar", "x_axis": "topic", "metrics": [metric("sentiment", "AVG")],
       "groupby": [], "adhoc_filters": [], "row_limit": 100, "orientation": "vertical", "show_legend": False,
       "y_axis_format": ".2f", "y_axis_bounds": [-1, 1], "show_value": True, "rich_tooltip": True}, 4)],
    [("Post kinds per hour", "post_kinds",
      timeseries("echarts_area", [metric(k, "SUM") for k in ("originals", "retweets", "replies", "quotes")],
                 "PT1H", stack="Stack", opacity=0.4), 4),
     ("Extraction health: posts collected per minute", "extraction_health",
      timeseries("echarts_timeseries_line", [metric("posts", "SUM")], "PT1M", ["metric"]), 4),
     ("Extraction health: age of posts when collected (s)", "extraction_health",
      timeseries("echarts_timeseries_line", [metric("delay_seconds", "AVG", "age (s)")], "PT1M", ["metric"]), 4)],
    [("Top hashtags", "top_hashtags", ranking("tag", "posts"), 6),
     ("Top mentioned accounts", "top_mentions", ranking("account", "mentions"), 6)],
]

DASHBOARD_TITLE = "tweetpipe — posts overview"
DASHBOARD_SLUG = "tweetpipe"
CHART_HEIGHT = 50  # grid units of 8 px


def database():
    return {
        "database_name": DATABASE_NAME,
        "sqlalchemy_uri": DEFAULT_URI,
        "cache_timeout": None,
        "expose_in_sqllab": True,
        "allow_run_async": False,
        "allow_ctas": False,
        "allow_cvas": False,
        "allow_dml": False,
        "allow_file_upload": False,
        "extra": {"allows_virtual_table_explore": True},
        "uuid": stable_uuid("database", DATABASE_NAME),
        "version": "1.0.0",
    }


def dataset(name, grafana_sql):
    columns = [{"column_name": column, "verbose_name": None, "is_dttm": kind == TIME, "is_active": True,
                "type": kind, "advanced_data_type": None, "groupby": True, "filterable": True,
                "expression": None, "description": None, "python_date_format": None, "extra": {}}
               for column, kind in DATASETS[name]]
    temporal = [c for c, kind in DATASETS[name] if kind == TIME]
    return {
        "table_name": name,
        "main_dttm_col": temporal[0] if temporal else None,
        "description": f"dashboards/sql/{name}.sql of the tweetpipe repository",
        "default_endpoint": None,
        "offset": 0,
        "cache_timeout": None,
        # No schema: the queries run in the database the connection names.
        "schema": None,
        "sql": superset_sql(grafana_sql),
        "params": None,
        "template_params": None,
        "filter_select_enabled": True,
        "fetch_values_predicate": None,
        "extra": None,
        "normalize_columns": False,
        "uuid": stable_uuid("dataset", name),
        "metrics": [{"metric_name": "count", "verbose_name": "COUNT(*)", "metric_type": "count",
                     "expression": "COUNT(*)", "description": None, "d3format": None, "extra": {},
                     "warning_text": None}],
        "columns": columns,
        "version": "1.0.0",
        "database_uuid": stable_uuid("database", DATABASE_NAME),
    }


def chart(title, dataset_name, form_data):
    return {
        "slice_name": title,
        "description": None,
        "certified_by": None,
        "certification_details": None,
        "viz_type": form_data["viz_type"],
        # The importer points `datasource` at the imported dataset.
        "params": {"datasource": "1__table", **form_data},
        "query_context": None,
        "cache_timeout": None,
        "uuid": stable_uuid("chart", title),
        "version": "1.0.0",
        "dataset_uuid": stable_uuid("dataset", dataset_name),
    }


def slug(title):
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")


def dashboard():
    position = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
        "HEADER_ID": {"type": "HEADER", "id": "HEADER_ID", "meta": {"text": DASHBOARD_TITLE}},
    }
    chart_number = 0
    for row_number, row in enumerate(ROWS, start=1):
        row_id = f"ROW-{row_number}"
        position["GRID_ID"]["children"].append(row_id)
        position[row_id] = {"type": "ROW", "id": row_id, "children": [], "parents": ["ROOT_ID", "GRID_ID"],
                            "meta": {"background": "BACKGROUND_TRANSPARENT"}}
        for title, _, _, width in row:
            chart_number += 1
            chart_id = f"CHART-{slug(title)}"
            position[row_id]["children"].append(chart_id)
            position[chart_id] = {
                "type": "CHART", "id": chart_id, "children": [], "parents": ["ROOT_ID", "GRID_ID", row_id],
                # chartId is replaced by the imported chart's id (found through the uuid).
                "meta": {"chartId": chart_number, "uuid": stable_uuid("chart", title), "width": width,
                         "height": CHART_HEIGHT, "sliceName": title},
            }
    return {
        "dashboard_title": DASHBOARD_TITLE,
        "description": None,
        "css": "",
        "slug": DASHBOARD_SLUG,
        "certified_by": None,
        "certification_details": None,
        "published": True,
        "uuid": stable_uuid("dashboard", DASHBOARD_SLUG),
        "position": position,
        "metadata": {"color_scheme": "supersetColors", "refresh_frequency": 300, "expanded_slices": {},
                     "label_colors": {}, "timed_refresh_immune_slices": [], "cross_filters_enabled": False,
                     "default_filters": "{}", "chart_configuration": {}, "native_filter_configuration": [],
                     "shared_label_colors": [], "color_scheme_domain": []},
        "version": "1.0.0",
    }


# --- YAML: block style for mappings and lists, literal blocks for SQL, JSON-quoted scalars
# otherwise (a double-quoted JSON string is a valid YAML scalar), so the output needs no library.

def scalar(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False)


def literal_block(text):
    """Whether text reads back unchanged from a `|` block: one final newline, no trailing blanks."""
    lines = text[:-1].split("\n")
    return (text.endswith("\n") and not text.endswith("\n\n") and lines[0][:1] not in (" ", "")
            and all(line == line.rstrip() and "\t" not in line for line in lines))


def inline(value):
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return scalar(value)


def emit(value, indent=0):
    pad = " " * indent
    lines = []
    if isinstance(value, dict):
        for key, item in value.items():
            key = key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key) else scalar(key)
            lines += nested(f"{pad}{key}:", item, indent)
    else:
        for item in value:
            sub = nested(f"{pad}-", item, indent)
            if isinstance(item, (dict, list)) and item:
                # The item's first line goes beside the dash.
                sub = [f"{pad}- " + sub[1][indent + 2:]] + sub[2:]
            lines += sub
    return lines


def nested(head, item, indent):
    if isinstance(item, (dict, list)) and item:
        return [head] + emit(item, indent + 2)
    if isinstance(item, str) and "\n" in item and literal_block(item):
        body = item[:-1].split("\n")
        return [f"{head} |"] + [" " * (indent + 2) + line if line else "" for line in body]
    return [f"{head} {inline(item)}"]


def to_yaml(value):
    return "\n".join(emit(value))


def files(read_sql):
    """Every file of the bundle: {relative path: YAML text}. read_sql(name) gives a SQL file."""
    bundle = {
        "metadata.yaml": {"version": "1.0.0", "type": "Dashboard", "timestamp": "2026-12-01T00:00:00+00:00"},
        DATABASE_FILE: database(),
    }
    for name in DATASETS:
        bundle[f"datasets/{DATABASE_NAME}/{name}.yaml"] = dataset(name, read_sql(name))
    for row in ROWS:
        for title, dataset_name, form_data, _ in row:
            bundle[f"charts/{slug(title)}.yaml"] = chart(title, dataset_name, form_data)
    bundle[f"dashboards/{DASHBOARD_SLUG}.yaml"] = dashboard()
    return {path: to_yaml(content) + "\n" for path, content in bundle.items()}

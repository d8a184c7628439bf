"""Checks the imported Superset dashboard against a running Superset (dashboards/tests/superset-e2e.sh
runs it with the Superset venv's Python, after the pipeline has stored posts):

1. every chart of the dashboard answers Superset's chart-data API with rows and no error;
2. headless Chromium (Debian's), logged in with a session cookie made the way Superset makes them
   for its own screenshots, loads the dashboard; every chart renders (an ECharts canvas or a table
   with rows, no error box) and the screenshot is not blank.

    python superset_e2e.py SCREENSHOT.png

Environment: SUPERSET_URL, SUPERSET_ADMIN_PASSWORD_FILE, and Superset's own (SUPERSET_CONFIG_PATH,
TWEETPIPE_SUPERSET_STATE) for the session cookie. Prints one line per check; exit 1 on a failure.
"""
import base64
import datetime
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import websocket  # websocket-client, a Superset dependency

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "dev" / "platform" / "superset"))
import import_bundle  # noqa: E402  (its logged-in API session)

DASHBOARD = "tweetpipe"
WIDTH, HEIGHT = 1600, 1900
RENDER_TIMEOUT = 180


class CheckFailed(Exception):
    pass


def chart_rows(http, base_url, chart, time_range="No filter"):
    """Rows the chart-data API answers for the chart's own form data (all time by default)."""
    form_data = chart["form_data"]
    datasource_id, datasource_type = form_data["datasource"].split("__")
    columns = ([form_data["x_axis"]] if form_data.get("x_axis") else []) + list(form_data.get("groupby", []))
    metrics = form_data.get("metrics") or [form_data["metric"]]
    filters = [{"col": form_data["x_axis"], "op": "TEMPORAL_RANGE", "val": time_range}] \
        if time_range != "No filter" else []
    query = {"columns": columns, "metrics": metrics, "filters": filters, "row_limit": 1000, "time_range": time_range,
             "orderby": [[metrics[0], False]]}
    answer = http.post(f"{base_url}/api/v1/chart/data", timeout=120, json={
        "datasource": {"id": int(datasource_id), "type": datasource_type}, "force": True,
        "queries": [query], "form_data": form_data, "result_format": "json", "result_type": "full"})
    if answer.status_code != 200:
        raise CheckFailed(f"chart {chart['slice_name']!r}: chart-data HTTP {answer.status_code}: {answer.text[:1000]}")
    result = answer.json()["result"][0]
    if result.get("error"):
        raise CheckFailed(f"chart {chart['slice_name']!r}: {result['error']}")
    rows = result["data"]
    if time_range != "No filter":
        return rows
    values = [row[metrics[0]["label"]] for row in rows]
    if not rows or all(value is None for value in values):
        raise CheckFailed(f"chart {chart['slice_name']!r}: no data (query: {result.get('query', '')[:1500]})")
    return rows


def session_cookie():
    """The admin's Flask session cookie, as Superset's screenshot machinery makes it."""
    from superset.app import create_app
    from superset.utils.machine_auth import MachineAuthProvider

    app = create_app()
    with app.app_context():
        from superset import security_manager
        return MachineAuthProvider.get_auth_cookies(security_manager.find_user(username="admin"))


class DevTools:
    """A minimal Chrome DevTools Protocol client over the browser's websocket."""

    def __init__(self, url):
        self.socket = websocket.create_connection(url, timeout=60, suppress_origin=True)
        self.next_id = 0

    def call(self, method, session=None, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.socket.send(json.dumps(message))
        while True:
            answer = json.loads(self.socket.recv())
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise CheckFailed(f"{method}: {answer['error']}")
                return answer["result"]


# Evaluated in the page: how many charts rendered, are still loading, or show an error.
RENDER_STATE = """(() => {
  const holders = [...document.querySelectorAll('.dashboard-component-chart-holder')];
  const rendered = holders.filter(h => h.querySelector('canvas, svg.echarts, table tbody tr'));
  const loading = document.querySelectorAll('.loading, [data-test="loading-indicator"]').length;
  const errors = [...document.querySelectorAll('.alert-danger, [data-test="error-message"], .ant-alert-error')]
    .map(e => e.innerText.slice(0, 200));
  return JSON.stringify({charts: holders.length, rendered: rendered.length, loading, errors});
})()"""


def screenshot(base_url, cookies, expected_charts, path):
    chromium = shutil.which("chromium")
    if not chromium:
        raise CheckFailed("chromium is not installed (dev/platform/superset.sh install)")
    profile = tempfile.mkdtemp(prefix="superset-e2e-chromium-")
    browser = subprocess.Popen(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = pathlib.Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and len(port_file.read_text().split()) == 2):
            if time.monotonic() > deadline or browser.poll() is not None:
                raise CheckFailed("chromium did not open its DevTools port")
            time.sleep(0.2)
        port, browser_path = port_file.read_text().split()
        tools = DevTools(f"ws://127.0.0.1:{port}{browser_path}")
        target = tools.call("Target.createTarget", url="about:blank")["targetId"]
        session = tools.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        tools.call("Emulation.setDeviceMetricsOverride", session, width=WIDTH, height=HEIGHT, deviceScaleFactor=1,
                   mobile=False)
        for name, value in cookies.items():
            tools.call("Network.setCookie", session, name=name, value=value, url=base_url)
        tools.call("Page.navigate", session, url=f"{base_url}/superset/dashboard/{DASHBOARD}/?standalone=1")
        deadline = time.monotonic() + RENDER_TIMEOUT
        state = {}
        while time.monotonic() < deadline:
            time.sleep(2)
            answer = tools.call("Runtime.evaluate", session, expression=RENDER_STATE, returnByValue=True)
            state = json.loads(answer["result"].get("value") or "{}")
            if state.get("errors"):
                break
            if state.get("rendered") == expected_charts and not state.get("loading"):
                break
        # Animations (ECharts draws in ~1 s) settle before the picture.
        time.sleep(3)
        png = tools.call("Page.captureScreenshot", session, format="png")["data"]
        pathlib.Path(path).write_bytes(base64.b64decode(png))
        if state.get("errors"):
            raise CheckFailed(f"the dashboard shows errors: {state['errors']}")
        if state.get("charts") != expected_charts or state.get("rendered") != expected_charts:
            raise CheckFailed(f"{state.get('rendered')} of {expected_charts} charts rendered in {RENDER_TIMEOUT}s "
                              f"(page state {state}; screenshot {path})")
        return state
    finally:
        browser.terminate()
        browser.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


def not_blank(path):
    """The screenshot has pictures in it: many colours, and pixels far from the background's."""
    from PIL import Image, ImageStat

    image = Image.open(path).convert("RGB")
    stddev = ImageStat.Stat(image).stddev
    colours = len(image.getcolors(maxcolors=1 << 20) or [])
    if max(stddev) < 20 or colours < 500:
        raise CheckFailed(f"{path} looks blank: channel standard deviations {stddev}, {colours} colours")
    return stddev, colours


def main(argv):
    if len(argv) != 2:
        print("usage: superset_e2e.py SCREENSHOT.png", file=sys.stderr)
        return 2
    base_url = os.environ.get("SUPERSET_URL", "http://127.0.0.1:8088")
    passed = failed = 0
    try:
        http = import_bundle.session(base_url)
        charts = http.get(f"{base_url}/api/v1/dashboard/{DASHBOARD}/charts", timeout=60)
        charts.raise_for_status()
        charts = charts.json()["result"]
        if len(charts) < 9:
            raise CheckFailed(f"the dashboard has {len(charts)} charts, expected 9")
        for chart in charts:
            try:
                rows = chart_rows(http, base_url, chart)
                print(f"ok   chart-data {chart['slice_name']!r}: {len(rows)} rows")
                passed += 1
            except CheckFailed as error:
                print(f"FAIL {error}")
                failed += 1
        # The time range reaches the dataset's SQL (Grafana's $__timeFilter as Jinja): a recent
        # range keeps the posts, one long past has none.
        volume = next(c for c in charts if c["slice_name"] == "Posts per hour by query and language")
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)
        week = f"{(now - datetime.timedelta(days=7)).isoformat()} : {(now + datetime.timedelta(days=1)).isoformat()}"
        recent = chart_rows(http, base_url, volume, week)
        past = chart_rows(http, base_url, volume, "2001-01-01T00:00:00 : 2001-01-02T00:00:00")
        if not recent or past:
            raise CheckFailed(f"time range: {len(recent)} rows for the last week, {len(past)} for 2001-01-01")
        print(f"ok   time range: {len(recent)} rows for the last week, none for 2001-01-01")
        passed += 1
        state = screenshot(base_url, session_cookie(), len(charts), argv[1])
        print(f"ok   dashboard rendered in Chromium: {state['rendered']}/{state['charts']} charts")
        passed += 1
        stddev, colours = not_blank(argv[1])
        print(f"ok   screenshot {argv[1]} not blank: {colours} colours, standard deviations "
              f"{[round(s, 1) for s in stddev]}")
        passed += 1
    except (CheckFailed, import_bundle.ImportFailed, OSError, KeyError, ValueError) as error:
        print(f"FAIL {error}")
        failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

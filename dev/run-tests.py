#!/usr/bin/env python3
"""The `tests` stage of `make test`: every test binary of the workspace, TEST_JOBS at a time.

Most binaries spend their time waiting on pods, brokers and consumer groups, so two of them share
two cores well. A binary that disturbs what every other binary uses (it restarts the platform's
MariaDB, say) says so with a line `// test-runner: alone (why)` in its source file; it runs with
nothing beside it. Each binary runs through dev/test-binary.sh (its watchdog and stacks), from its
package's directory as cargo would, with its output kept in target/test-logs/ and printed whole
when it ends, so two binaries never interleave. Longest first, by the last run's durations.

usage: dev/run-tests.py [--jobs N] [--no-fail-fast] [cargo test selection, e.g. -p tweetpipe-operator]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALONE_MARKER = re.compile(r"^\s*//[/!]?\s*test-runner:\s*alone\b", re.M)
RESULT_LINE = re.compile(r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", re.M)
# A binary never timed before (a fresh clone): integration tests are assumed long, so they start
# early; unit tests, which take seconds, fill the gaps at the end.
UNKNOWN_SECONDS = {"test": 60.0, "unittests": 5.0}


@dataclass
class Binary:
    package: str
    kind: str
    name: str
    executable: str
    package_dir: Path
    alone: bool
    expected: float = 0.0
    log: Path = field(default=Path())
    started: float = 0.0
    seconds: float = 0.0
    exit_code: int | None = None
    passed: int = 0
    failed: int = 0

    @property
    def label(self) -> str:
        return f"{self.package} {self.kind} {self.name}"


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")


def build(selection: list[str]) -> list[Binary]:
    """Compile the test binaries (as `cargo test --no-run`) and list them from cargo's messages."""
    command = ["cargo", "test", "--workspace", "--locked", "--no-run", "--message-format=json-render-diagnostics", *selection]
    proc = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(f"::: the test build failed (exit {proc.returncode}): {' '.join(command)}")
    binaries = []
    for line in proc.stdout.splitlines():
        message = json.loads(line)
        if message.get("reason") != "compiler-artifact" or not message.get("executable"):
            continue
        if not message["profile"]["test"]:
            continue
        target = message["target"]
        source = Path(target["src_path"])
        alone = bool(ALONE_MARKER.search(source.read_text(encoding="utf-8", errors="replace")))
        binaries.append(
            Binary(
                package=package_name(message["package_id"]),
                kind="unittests" if target["kind"] != ["test"] else "test",
                name=target["name"],
                executable=message["executable"],
                package_dir=Path(message["manifest_path"]).parent,
                alone=alone,
            )
        )
    return binaries


def package_name(package_id: str) -> str:
    """From cargo's package id: "path+file:///w/operator#tweetpipe-operator@0.1.0", or
    "path+file:///w/dev/xapi-simulator#0.1.0" when the name is the directory's."""
    url, _, fragment = package_id.partition("#")
    if "@" in fragment:
        return fragment.split("@", 1)[0]
    return url.rstrip("/").rsplit("/", 1)[-1]


def durations_file() -> Path:
    return target_dir() / "test-durations.json"


def load_durations() -> dict[str, float]:
    try:
        return json.loads(durations_file().read_text())
    except (OSError, ValueError):
        return {}


def save_durations(binaries: list[Binary]) -> None:
    known = load_durations()
    known.update({b.label: round(b.seconds, 1) for b in binaries if b.exit_code == 0})
    durations_file().parent.mkdir(parents=True, exist_ok=True)
    durations_file().write_text(json.dumps(known, indent=1, sort_keys=True))


def start(binary: Binary, libtest_args: list[str], logs: Path) -> subprocess.Popen:
    binary.log = logs / f"{binary.package}-{binary.kind}-{binary.name}.log"
    env = dict(os.environ, CARGO_MANIFEST_DIR=str(binary.package_dir), CARGO_PKG_NAME=binary.package)
    binary.started = time.monotonic()
    with binary.log.open("w") as out:
        return subprocess.Popen(
            ["bash", str(ROOT / "dev/test-binary.sh"), binary.executable, *libtest_args],
            cwd=binary.package_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def finish(binary: Binary, code: int) -> None:
    binary.seconds = time.monotonic() - binary.started
    binary.exit_code = code
    text = binary.log.read_text(encoding="utf-8", errors="replace")
    for passed, failed, _ignored in RESULT_LINE.findall(text):
        binary.passed += int(passed)
        binary.failed += int(failed)
    verdict = "ok" if code == 0 else f"FAILED (exit {code})"
    print(f"\n::: {binary.label} ({binary.executable})", flush=True)
    sys.stdout.write(text)
    print(f"::: {binary.label}: {verdict} in {binary.seconds:.1f}s", flush=True)


def run(binaries: list[Binary], jobs: int, fail_fast: bool, libtest_args: list[str]) -> bool:
    logs = target_dir() / "test-logs"
    logs.mkdir(parents=True, exist_ok=True)
    # Those that must run alone first, while nothing else has started; then longest first.
    pending = sorted(binaries, key=lambda b: (not b.alone, -b.expected))
    running: dict[int, tuple[Binary, subprocess.Popen]] = {}
    failed = False
    while pending or running:
        stop_starting = failed and fail_fast
        while pending and not stop_starting:
            following = pending[0]
            room = len(running) < jobs
            alone_ok = not following.alone or not running
            beside_alone = any(b.alone for b, _ in running.values())
            if not (room and alone_ok and not beside_alone):
                break
            pending.pop(0)
            proc = start(following, libtest_args, logs)
            running[proc.pid] = (following, proc)
            others = ", ".join(b.label for b, _ in running.values() if b is not following) or "nothing"
            print(f"::: started {following.label}{' (alone)' if following.alone else ''}; beside it: {others}", flush=True)
        if stop_starting and pending:
            print(f"::: not starting {len(pending)} binaries after a failure (--no-fail-fast runs them all)", flush=True)
            pending.clear()
        if not running:
            continue
        pid, status = os.wait()
        if pid not in running:
            continue
        binary, _proc = running.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        finish(binary, code)
        failed = failed or code != 0
    return not failed


def doc_tests(selection: list[str]) -> bool:
    print("\n::: doc tests", flush=True)
    return subprocess.run(["cargo", "test", "--workspace", "--locked", "--doc", *selection], cwd=ROOT).returncode == 0


def summary(binaries: list[Binary], wall: float) -> None:
    ran = [b for b in binaries if b.exit_code is not None]
    print("\n::: test binaries, longest first")
    for b in sorted(ran, key=lambda b: -b.seconds):
        verdict = "ok" if b.exit_code == 0 else f"FAILED ({b.exit_code})"
        print(f"    {b.seconds:7.1f}s  {verdict:12} {b.passed:4} passed {b.failed:3} failed  {b.label}{'  [alone]' if b.alone else ''}")
    busy = sum(b.seconds for b in ran)
    print(
        f"::: {len(ran)}/{len(binaries)} binaries, {sum(b.passed for b in ran)} tests passed, "
        f"{sum(b.failed for b in ran)} failed; {wall:.0f}s wall for {busy:.0f}s of binaries",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("TEST_JOBS", "2")))
    parser.add_argument("--no-fail-fast", action="store_true")
    args, selection = parser.parse_known_args()
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    binaries = build(selection)
    known = load_durations()
    for b in binaries:
        b.expected = known.get(b.label, UNKNOWN_SECONDS[b.kind])
    t0 = time.monotonic()
    ok = run(binaries, args.jobs, not args.no_fail_fast, [])
    if ok or args.no_fail_fast:
        ok = doc_tests(selection) and ok
    summary(binaries, time.monotonic() - t0)
    save_durations(binaries)
    return 0 if ok else 101


if __name__ == "__main__":
    sys.exit(main())

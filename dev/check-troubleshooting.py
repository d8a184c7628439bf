#!/usr/bin/env python3
"""Fails when docs/troubleshooting.md lacks a reason the operator can set, or documents one it
cannot.

    python3 dev/check-troubleshooting.py           check (run by dev/check-crd-drift.sh)
    python3 dev/check-troubleshooting.py --list    print every reason found and where

Condition and event reasons are string literals scattered over the operator (no enum lists
them all), so they are found in the source by these rules, on non-test code (a file's text
before its first `#[cfg(test)]`):

1. Sweep: every string literal that is one CamelCase word (`"[A-Z][a-z0-9]+([A-Z][A-Za-z0-9]*)*"`,
   e.g. "KafkaUnreachable", "Running") in operator/core/src/decide/ and operator/src/reconcile/,
   where conditions, events and reconcile errors are decided. Condition *types* (the constants
   of `pub mod types` in decide/conditions.rs) and the words in NOT_REASONS are not reasons;
   decide/scaling.rs holds the capReason values instead (rule 4).
2. Anywhere in operator/src and operator/core/src: the reason argument of `Check::failed(…)`,
   `EventSpec::new(<severity>, …)` and `condition(<type>, <status>, …)`, whether a literal or a
   constant (resolved through every `const NAME: &str = "…"` of the scanned files).
3. In shared/common/src and shared/schema/src (crates whose reasons the operator passes on,
   e.g. `KafkaConnectionError::kind`, `TlsFailure::reason`): the CamelCase literals returned by
   `fn reason(&self) -> &'static str` and `fn kind(&self) -> &'static str`.
4. capReason: the literals of `CapReason::as_str` in decide/scaling.rs must each be a row of the
   page's capReason table (a line starting with "| `<value>` |").

Each reason must have a section `## <Reason>` in docs/troubleshooting.md, and every heading of
that page that is a single CamelCase word must be a reason found by these rules. A literal that
matches rule 1 but is no reason goes into NOT_REASONS, with why.
"""

import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "troubleshooting.md"
OPERATOR = ROOT / "operator" / "src"
CORE = ROOT / "operator" / "core" / "src"
SWEPT = [CORE / "decide", OPERATOR / "reconcile"]
CAP_REASONS = CORE / "decide" / "scaling.rs"
CONDITIONS = CORE / "decide" / "conditions.rs"
WORKER_CRATES = [ROOT / "shared" / "common" / "src", ROOT / "shared" / "schema" / "src"]

# CamelCase literals of the swept code that are not reasons.
NOT_REASONS = {
    "True": "a condition status",
    "False": "a condition status",
    "Unknown": "a condition status",
    "TweetPipeline": "a kind (object references)",
    "StatefulSet": "a kind (error messages)",
    "Deployment": "a kind (error messages)",
    "Kafka": "a word of a cleanup message (`Kafka did not answer in time`)",
    "MySQL": "a word of a cleanup message (`MySQL did not answer in time`)",
    "Reconcile": "the `action` field of every event the operator publishes",
    "Search": "a delivery mode in status.queries[].delivery (decide/stream.rs)",
    "Stream": "a delivery mode in status.queries[].delivery (decide/stream.rs)",
    "StreamWithSearchRecovery": "a delivery mode in status.queries[].delivery (decide/stream.rs)",
    "Streaming": "a connection state in status.stream.connections[].state (decide/stream.rs)",
    "Behind": "a connection state in status.stream.connections[].state (decide/stream.rs)",
    "NotStarted": "a connection state in status.stream.connections[].state (decide/stream.rs)",
}

CAMEL = r"[A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)*"
LITERAL = re.compile(rf'"({CAMEL})"')
CONST = re.compile(r'const\s+([A-Z][A-Z0-9_]*)\s*:\s*&(?:\'static\s+)?str\s*=\s*"([^"]*)"\s*;')
# The argument is a literal or a (path to a) constant.
ARG = r'\s*(?:"(?P<lit>[^"]*)"|(?:[a-z_]+::)*(?P<const>[A-Z][A-Z0-9_]*))'
CALLS = [
    re.compile(r"Check::failed\(" + ARG),
    re.compile(r"EventSpec::new\(\s*Severity::\w+\s*," + ARG),
    re.compile(r"\bcondition\(\s*[^,()]+,\s*[^,()]+," + ARG),
]
HEADING = re.compile(rf"^## ({CAMEL})\s*$", re.M)
REASON_FN = re.compile(r"fn\s+(?:reason|kind)\s*\(\s*&self\s*\)\s*->\s*&'static\s+str\s*\{")


def non_test(path):
    text = path.read_text(encoding="utf-8")
    cut = text.find("#[cfg(test)]")
    return text if cut < 0 else text[:cut]


# Files compiled for tests only (declared under `#[cfg(test)]` beside the modules they test): their
# literals (event types, kinds, answers of the mock API server) are no reasons the operator sets.
# Besides these, every `tests.rs`, every file under a module's `tests/` folder, and the operator's
# shared test doubles (`operator/src/test_support/`).
TEST_ONLY = {CORE / "admission" / "contract_twins.rs", CORE / "admission" / "examples.rs", CORE / "fixtures.rs"}
TEST_DIRS = {"tests", "test_support"}


def is_test_only(path, directory):
    folders = path.relative_to(directory).parts[:-1]
    return path.name == "tests.rs" or path in TEST_ONLY or not TEST_DIRS.isdisjoint(folders)


def rust_files(directory):
    return sorted(p for p in directory.rglob("*.rs") if not is_test_only(p, directory))


def body(text, start):
    """The text of the block whose `{` is at `start`, braces balanced."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return text[start:]


def module_constants(text, module):
    match = re.search(rf"pub mod {module}\s*\{{", text)
    if not match:
        sys.exit(f"check-troubleshooting: no `pub mod {module}` in {CONDITIONS.relative_to(ROOT)}")
    return {value for _, value in CONST.findall(body(text, match.end() - 1))}


def found_reasons():
    """reason -> set of 'file:line' where it is set."""
    found = defaultdict(set)
    sources = {p: non_test(p) for root in (OPERATOR, CORE) for p in rust_files(root)}
    constants = {}
    for text in sources.values():
        constants.update(dict(CONST.findall(text)))
    conditions = sources[CONDITIONS]
    types = module_constants(conditions, "types")
    reasons = module_constants(conditions, "reasons")

    def add(reason, path, text, offset):
        line = text.count("\n", 0, offset) + 1
        found[reason].add(f"{path.relative_to(ROOT)}:{line}")

    # Rule 1: sweep.
    for path, text in sources.items():
        if path == CAP_REASONS or not any(d in path.parents for d in SWEPT):
            continue
        for match in LITERAL.finditer(text):
            word = match.group(1)
            if word in NOT_REASONS or (word in types and word not in reasons):
                continue
            add(word, path, text, match.start())
    # Rule 2: reason arguments anywhere in the operator.
    for path, text in sources.items():
        for call in CALLS:
            for match in call.finditer(text):
                value = match.group("lit") or constants.get(match.group("const") or "")
                if value and re.fullmatch(CAMEL, value):
                    add(value, path, text, match.start())
    # Rule 3: reason()/kind() of the worker crates the operator uses.
    for crate in WORKER_CRATES:
        for path in rust_files(crate):
            text = non_test(path)
            for fn in REASON_FN.finditer(text):
                block = body(text, fn.end() - 1)
                for match in LITERAL.finditer(block):
                    add(match.group(1), path, text, fn.end() + match.start())
    return found


def cap_reasons():
    text = non_test(CAP_REASONS)
    match = re.search(r"fn as_str\(self\)\s*->\s*&'static str\s*\{", text)
    if not match:
        sys.exit("check-troubleshooting: no `fn as_str` in decide/scaling.rs")
    return LITERAL.findall(body(text, match.end() - 1))


def main():
    found = found_reasons()
    if "--list" in sys.argv[1:]:
        for reason in sorted(found):
            print(f"{reason}\t{', '.join(sorted(found[reason]))}")
        for cap in cap_reasons():
            print(f"{cap}\tcapReason (operator/core/src/decide/scaling.rs)")
        return 0
    page = PAGE.read_text(encoding="utf-8")
    headings = set(HEADING.findall(page))
    problems = []
    for reason in sorted(set(found) - headings):
        where = ", ".join(sorted(found[reason]))
        problems.append(f"reason {reason} (set at {where}) has no section `## {reason}`")
    for heading in sorted(headings - set(found)):
        problems.append(
            f"section `## {heading}` names no reason the operator sets (renamed or removed?)"
        )
    for cap in cap_reasons():
        if not re.search(rf"^\| `{re.escape(cap)}` \|", page, re.M):
            problems.append(f"capReason {cap} (decide/scaling.rs) has no row in the capReason table")
    if problems:
        print("docs/troubleshooting.md is out of step with the operator's reasons:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print(
            "Add or remove the section (what it means, causes, how to confirm, the fix); see"
            " dev/check-troubleshooting.py for how reasons are found.",
            file=sys.stderr,
        )
        return 1
    print(f"docs/troubleshooting.md has a section for each of the {len(found)} reasons.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Writes docs/reference/api.md, the TweetPipeline API reference, from the generated CRD.

    python3 dev/apiref.py            write docs/reference/api.md
    python3 dev/apiref.py --check    fail when docs/reference/api.md differs from the CRD

Reads crds/tweetpipe.io_tweetpipelines.yaml (generated from the Rust types by
`dev/check-crd-drift.sh --write`; never edited by hand) and lists, for every served version,
every field of the object (spec and status) with its full path, type, whether it is required,
its default, its bounds (minimum/maximum, lengths, item and property counts, pattern, enum,
format) and description, and the CEL rules (x-kubernetes-validations) where they apply.

The output depends on the CRD alone (no time stamp, the CRD's own order), so the check is a
plain comparison. Python 3 standard library and PyYAML.
"""

import argparse
import difflib
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CRD = ROOT / "crds" / "tweetpipe.io_tweetpipelines.yaml"
OUTPUT = ROOT / "docs" / "reference" / "api.md"
STALE = "docs/reference/api.md differs from the CRD; run python3 dev/apiref.py"

# Keys of a schema node that this page renders as bounds, in this order.
BOUND_KEYS = [
    ("minimum", "minimum"),
    ("exclusiveMinimum", "exclusive minimum"),
    ("maximum", "maximum"),
    ("exclusiveMaximum", "exclusive maximum"),
    ("multipleOf", "multiple of"),
    ("minLength", "min length"),
    ("maxLength", "max length"),
    ("pattern", "pattern"),
    ("minItems", "min items"),
    ("maxItems", "max items"),
    ("uniqueItems", "unique items"),
    ("minProperties", "min properties"),
    ("maxProperties", "max properties"),
    ("x-kubernetes-list-type", "list type"),
    ("x-kubernetes-list-map-keys", "list map keys"),
    ("x-kubernetes-map-type", "map type"),
]
# Keys understood (rendered, or structural); anything else is listed as "other schema keys",
# so nothing the CRD says is silently dropped.
KNOWN_KEYS = {key for key, _ in BOUND_KEYS} | {
    "type",
    "format",
    "description",
    "default",
    "enum",
    "nullable",
    "properties",
    "required",
    "items",
    "additionalProperties",
    "x-kubernetes-validations",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "title",
}


def number(value):
    """100.0 -> 100; other values as they are."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def code(text, table=False):
    """An inline code span that survives backticks inside `text` (and, in a table cell, pipes)."""
    text = str(text)
    if table:
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def plain(text):
    """Text for people (a rule's message): Markdown's special characters taken literally."""
    return re.sub(r"([\\`*_\[\]<>|#])", r"\\\1", str(text))


def prose(text):
    """A description: its own Markdown (code spans) kept, lines joined into paragraphs, and a
    bare `<` outside code spans escaped so it is not read as an HTML tag."""
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", str(text).strip())]
    out = []
    for paragraph in paragraphs:
        parts = re.split(r"(`[^`]*`)", paragraph)
        out.append(
            "".join(p if p.startswith("`") else p.replace("<", "&lt;") for p in parts)
        )
    return "\n\n".join(out)


def json_value(value):
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def type_of(node):
    """The field's type in words: `string`, `integer (int32)`, `array of object`, ..."""
    if node.get("x-kubernetes-int-or-string"):
        base = "int-or-string"
    elif node.get("type") == "array":
        items = node.get("items") or {}
        base = f"array of {type_of(items)}" if items else "array"
    elif node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict):
        base = f"map of string to {type_of(node['additionalProperties'])}"
    elif "type" in node:
        base = node["type"]
    elif node.get("x-kubernetes-preserve-unknown-fields"):
        base = "any"
    else:
        base = "object"
    if node.get("format") and node.get("type") in ("integer", "number", "string"):
        base = f"{base} ({node['format']})"
    return base


def bounds_of(node):
    """The node's bounds, one string each."""
    out = []
    for key, label in BOUND_KEYS:
        if key in node:
            value = node[key]
            if key == "pattern":
                out.append(f"{label} {code(value)}")
            elif isinstance(value, list):
                out.append(f"{label}: {', '.join(code(v) for v in value)}")
            else:
                out.append(f"{label} {code(number(value))}")
    if "enum" in node:
        out.append("one of " + ", ".join(code(v) for v in node["enum"]))
    if node.get("nullable"):
        out.append("nullable (`null` means unset)")
    if node.get("x-kubernetes-preserve-unknown-fields"):
        out.append("unknown fields kept")
    others = sorted(k for k in node if k not in KNOWN_KEYS)
    for key in others:
        out.append(f"{key}: {code(json_value(node[key]))}")
    return out


def anchor(version, path):
    """A stable HTML id for a field: `v1beta1-spec-kafka-topic`, `...-queries-items-name`."""
    slug = path.replace("[]", ".items").replace("<name>", "key")
    slug = re.sub(r"[^A-Za-z0-9]+", "-", slug).strip("-")
    return f"{version}-{slug}".lower()


class Field:
    """One row of the reference: a schema node at a path."""

    def __init__(self, path, node, required, parent_required_known):
        self.path = path
        self.node = node
        # None: not applicable (array items, map values, the root).
        self.required = required if parent_required_known else None


def walk(node, path, required, required_known, out):
    """Depth first, in the CRD's own order: the node, then its properties, items, map values."""
    out.append(Field(path, node, required, required_known))
    names = node.get("required") or []
    for name, child in (node.get("properties") or {}).items():
        child_path = f"{path}.{name}" if path else name
        walk(child, child_path, name in names, True, out)
    items = node.get("items")
    if isinstance(items, dict) and (set(items) - {"type", "description"} or items.get("properties")):
        walk(items, f"{path}[]", False, False, out)
    values = node.get("additionalProperties")
    if isinstance(values, dict) and set(values) - {"type"}:
        walk(values, f"{path}.<name>", False, False, out)


def rules_of(node):
    """CEL rules at this node, each as lines of Markdown."""
    lines = []
    for rule in node.get("x-kubernetes-validations") or []:
        text = rule.get("rule", "")
        transition = " (transition rule: checked on update, against the old value)" if re.search(
            r"\boldSelf\b", text
        ) else ""
        lines.append(f"- rule{transition}: {code(text)}")
        if "message" in rule:
            lines.append(f"  - message: {plain(rule['message'])}")
        for key in sorted(k for k in rule if k not in ("rule", "message")):
            lines.append(f"  - {key}: {code(json_value(rule[key]) if not isinstance(rule[key], str) else rule[key])}")
    return lines


def short_default(node):
    if "default" not in node:
        return "—"
    text = json_value(node["default"])
    return code(text, table=True) if len(text) <= 40 else "yes, see the field"


def required_word(field):
    if field.required is None:
        return "—"
    return "**required**" if field.required else "optional"


def same_as(version, documented):
    """The documented version with the same schema, subresources and columns, if any."""
    keys = ("schema", "subresources", "additionalPrinterColumns")
    for other in documented:
        if all(version.get(k) == other.get(k) for k in keys):
            return other["name"]
    return None


def render_version(version, lines, twin=None):
    name = version["name"]
    schema = version["schema"]["openAPIV3Schema"]
    lines.append(f"## Version `{name}`")
    lines.append("")
    facts = [
        f"served: {code(json_value(version.get('served', False)))}",
        f"storage version: {code(json_value(version.get('storage', False)))}",
    ]
    if version.get("deprecated"):
        facts.append("**deprecated**")
        if version.get("deprecationWarning"):
            facts.append(f"warning: {plain(version['deprecationWarning'])}")
    lines.append("; ".join(facts) + ".")
    lines.append("")
    if twin:
        lines.append(
            f"Its schema, subresources and printer columns are those of {code(twin)} above, so"
            " the API server converts between the two by changing `apiVersion` only."
        )
        lines.append("")
        return

    subresources = version.get("subresources") or {}
    if subresources:
        lines.append("Subresources:")
        lines.append("")
        for sub in sorted(subresources):
            value = subresources[sub]
            if value:
                detail = ", ".join(f"{k} {code(v)}" for k, v in value.items())
                lines.append(f"- `{sub}`: {detail}")
            else:
                lines.append(f"- `{sub}`")
        lines.append("")

    columns = version.get("additionalPrinterColumns") or []
    if columns:
        lines.append("Printer columns (`kubectl get tp`; priority 1 only with `-o wide`):")
        lines.append("")
        lines.append("| column | type | JSONPath | priority | description |")
        lines.append("| --- | --- | --- | --- | --- |")
        for column in columns:
            lines.append(
                "| {} | {} | {} | {} | {} |".format(
                    column.get("name", ""),
                    column.get("type", ""),
                    code(column.get("jsonPath", ""), table=True),
                    column.get("priority", 0),
                    plain(column.get("description", "")) or "—",
                )
            )
        lines.append("")

    fields = []
    walk(schema, "", False, False, fields)
    root, fields = fields[0], fields[1:]
    root_rules = rules_of(root.node)
    if root_rules:
        lines.append("Rules on the whole object (CEL):")
        lines.append("")
        lines.extend(root_rules)
        lines.append("")

    lines.append(f"### Fields of `{name}`")
    lines.append("")
    lines.append("| field | type | required | default |")
    lines.append("| --- | --- | --- | --- |")
    for field in fields:
        lines.append(
            "| [{}](#{}) | {} | {} | {} |".format(
                code(field.path, table=True),
                anchor(name, field.path),
                type_of(field.node).replace("|", "\\|"),
                required_word(field),
                short_default(field.node),
            )
        )
    lines.append("")

    for field in fields:
        node = field.node
        lines.append(f'<a id="{anchor(name, field.path)}"></a>')
        lines.append("")
        lines.append(f"#### {code(field.path)}")
        lines.append("")
        facts = [f"type: {type_of(node)}"]
        if field.required is not None:
            facts.append(required_word(field))
        if "default" in node:
            facts.append(f"default: {code(json_value(node['default']))}")
        lines.append("- " + "\n- ".join(facts))
        for bound in bounds_of(node):
            lines.append(f"- {bound}")
        lines.append("")
        if node.get("description"):
            lines.append(prose(node["description"]))
            lines.append("")
        rules = rules_of(node)
        if rules:
            lines.append("Rules (CEL):")
            lines.append("")
            lines.extend(rules)
            lines.append("")


def render(crd):
    spec = crd["spec"]
    names = spec["names"]
    lines = [
        f"# API reference: `{names['kind']}` (`{spec['group']}`)",
        "",
        "<!-- Generated by `python3 dev/apiref.py` from crds/tweetpipe.io_tweetpipelines.yaml; do not edit."
        " `dev/check-crd-drift.sh` (make crd-check) fails when it is stale. -->",
        "",
        "Generated from the CRD (`crds/tweetpipe.io_tweetpipelines.yaml`, itself generated from"
        " `operator/core/src/crd.rs`) by `python3 dev/apiref.py`; `make crd-check` fails when this page"
        " differs. Besides these schema bounds and CEL rules, the operator's admission webhook"
        " refuses more (X query grammar, allowed API and registry hosts, worker images, the"
        " administrator's Kafka maxima): see [operator.md](../operator.md#the-api-tweetpipeiov1beta1-kind-tweetpipeline-short-name-tp)"
        " and [security.md](../security.md). What each status condition means and what to do about"
        " it: [troubleshooting.md](../troubleshooting.md).",
        "",
        f"- kind `{names['kind']}`, plural `{names['plural']}`, singular `{names.get('singular', '')}`,"
        f" scope `{spec['scope']}`",
    ]
    if names.get("shortNames"):
        lines.append("- short names: " + ", ".join(code(n) for n in names["shortNames"]))
    if names.get("categories"):
        lines.append("- categories: " + ", ".join(code(n) for n in names["categories"]))
    served = [v for v in spec["versions"] if v.get("served")]
    lines.append(
        "- versions served: "
        + ", ".join(
            code(v["name"]) + (" (storage)" if v.get("storage") else "") for v in served
        )
    )
    conversion = spec.get("conversion")
    if conversion:
        lines.append(f"- conversion: {code(json_value(conversion))}")
    lines.append("")
    lines.append(
        "Reading a field: the path is the field's place in the object (`[]` = every item of a"
        " list, `<name>` = every key of a map); **required** means the API server refuses the"
        " object without it (a defaulted field is filled in before that check); a default is"
        " applied by the API server when the field is absent; bounds are OpenAPI checks made at"
        " `kubectl apply` time; a CEL rule's message is what the API server answers when the rule"
        " fails. A transition rule compares the new value with the stored one (it makes a field"
        " immutable or grow-only)."
    )
    lines.append("")
    # The stored version in full first; a served version identical to it only says so.
    documented = []
    for version in sorted(served, key=lambda v: not v.get("storage")):
        render_version(version, lines, same_as(version, documented))
        documented.append(version)
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the page is stale")
    parser.add_argument("--crd", type=Path, default=CRD, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=OUTPUT, help=argparse.SUPPRESS)
    args = parser.parse_args()
    with args.crd.open(encoding="utf-8") as f:
        crd = yaml.safe_load(f)
    page = render(crd)
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != page:
            print(STALE, file=sys.stderr)
            diff = difflib.unified_diff(
                current.splitlines(),
                page.splitlines(),
                "docs/reference/api.md (committed)",
                "docs/reference/api.md (from the CRD)",
                lineterm="",
            )
            for i, line in enumerate(diff):
                if i == 40:
                    print("...", file=sys.stderr)
                    break
                print(line, file=sys.stderr)
            return 1
        print("docs/reference/api.md matches the CRD.")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(page, encoding="utf-8")
    print(f"wrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""An SPDX 2.3 JSON SBOM for one release image (dev/release/release.sh; python3 stdlib only).

The image holds one Rust binary, the shared libraries it loads and the CA bundle. Its packages:
- the Rust crates linked into the binary: the tree under --root in --cargo-tree, the output of
  `cargo tree -e normal,no-proc-macro --prefix depth --format {p} -p ... --target TRIPLE` (normal
  dependencies only: build scripts' and proc-macros' crates run at build time and are not linked),
  with licenses and sources from `cargo metadata` (--metadata) and crate checksums from Cargo.lock,
  and the C libraries that -sys crates bundle and link statically (VENDORED);
- the Debian packages the image's files come from (--debs: `package<TAB>version<TAB>arch<TAB>path`
  per line, what `dpkg -S` and `dpkg-query` said of each file copied from the build machine).

Deterministic: `created` is SOURCE_DATE_EPOCH (--source-date-epoch), packages and relationships are
sorted, keys sorted, so the same inputs give the same bytes.
"""

import argparse
import datetime
import json
import re
import sys
import tomllib
import urllib.parse

TOOL = "tweetpipe-sbom.py-1"
CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"
# -sys crates that compile C sources they bundle and link them statically: the C library is a
# component of its own (what vulnerability databases know it as), versioned by the crate's build
# metadata. crate: (library, version pattern, license, purl, download location).
VENDORED = {
    "rdkafka-sys": (
        "librdkafka",
        r"\+(\d+\.\d+\.\d+)$",
        "BSD-2-Clause",
        "pkg:github/confluentinc/librdkafka@v{v}",
        "https://github.com/confluentinc/librdkafka/archive/refs/tags/v{v}.tar.gz",
    ),
    "zstd-sys": (
        "zstd",
        r"\+zstd\.(\d+\.\d+\.\d+)$",
        "BSD-3-Clause OR GPL-2.0-only",
        "pkg:github/facebook/zstd@v{v}",
        "https://github.com/facebook/zstd/archive/refs/tags/v{v}.tar.gz",
    ),
}
TREE_LINE = re.compile(r"^(\d+)(\S+) v(\S+)(?: \(([^)]*)\))?(?: \(\*\))?$")


def spdx_id(kind, name, version):
    """An SPDXRef made of [A-Za-z0-9.-] only, as the spec requires."""
    return "SPDXRef-" + re.sub(r"[^A-Za-z0-9.-]", "-", f"{kind}-{name}-{version}")


def parse_tree(text, root):
    """The crates (name, version) -> path-or-None and the parent->child edges reachable from ROOT.

    cargo tree prints each crate's dependencies once for the whole output (later occurrences, under
    any root, end in `(*)`), so the graph is read from every tree and then walked from ROOT. The
    graph is one for all roots: features are unified over the packages given with -p, as in the
    release build.
    """
    paths, children, stack, roots = {}, {}, [], {}
    for line in text.splitlines():
        if not line.strip():
            continue
        m = TREE_LINE.match(line.strip())
        if not m:
            raise SystemExit(f"sbom.py: unexpected cargo tree line: {line!r}")
        depth, name, version, extra = int(m[1]), m[2], m[3], m[4]
        node = (name, version)
        if depth == 0:
            roots[name] = node
        # A path dependency shows its directory; a registry crate shows nothing.
        paths.setdefault(node, extra if extra and extra != "proc-macro" else None)
        children.setdefault(node, set())
        del stack[depth:]
        if stack:
            children[stack[-1]].add(node)
        stack.append(node)
    if root not in roots:
        raise SystemExit(f"sbom.py: {root} is not a root of the cargo tree output")
    nodes, edges, todo = {}, set(), [roots[root]]
    while todo:
        node = todo.pop()
        if node in nodes:
            continue
        nodes[node] = paths[node]
        for child in children[node]:
            edges.add((node, child))
            todo.append(child)
    return nodes, edges


def spdx_license(expr):
    """Cargo's license field as an SPDX expression: the old `A/B` form means `A OR B`."""
    if not expr:
        return "NOASSERTION"
    return " OR ".join(part.strip() for part in expr.split("/")) if "/" in expr else expr


def purl_cargo(name, version):
    return f"pkg:cargo/{name}@{urllib.parse.quote(version, safe='')}"


def purl_deb(vendor, name, version, arch, distro):
    purl = f"pkg:deb/{vendor}/{name}@{urllib.parse.quote(version, safe='')}?arch={arch}"
    return purl + (f"&distro={distro}" if distro else "")


def crate_package(name, version, path, meta, checksums, source_url):
    pkg = {
        "SPDXID": spdx_id("crate", name, version),
        "name": name,
        "versionInfo": version,
        "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": spdx_license(meta.get("license")),
        "copyrightText": "NOASSERTION",
        "externalRefs": [
            {
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": purl_cargo(name, version),
            }
        ],
    }
    source = meta.get("source")
    if source == CRATES_IO:
        pkg["downloadLocation"] = f"https://crates.io/api/v1/crates/{name}/{version}/download"
    elif path is not None or source is None:
        # One of this workspace's crates: released from this repository.
        pkg["downloadLocation"] = source_url or "NOASSERTION"
        pkg["supplier"] = "Organization: tweetpipe"
    else:
        pkg["downloadLocation"] = "NOASSERTION"
    if meta.get("description"):
        pkg["summary"] = " ".join(meta["description"].split())
    if meta.get("repository"):
        pkg["homepage"] = meta["repository"]
    checksum = checksums.get((name, version))
    if checksum:
        pkg["checksums"] = [{"algorithm": "SHA256", "checksumValue": checksum}]
    return pkg


def vendored_package(crate, crate_version):
    """The C library CRATE bundles, as (package, relationship) or None."""
    if crate not in VENDORED:
        return None
    name, pattern, license_, purl, download = VENDORED[crate]
    m = re.search(pattern, crate_version)
    if not m:
        raise SystemExit(f"sbom.py: {crate} {crate_version}: no {name} version in its build metadata")
    version = m[1]
    pkg = {
        "SPDXID": spdx_id("c", name, version),
        "name": name,
        "versionInfo": version,
        "downloadLocation": download.format(v=version),
        "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": license_,
        "copyrightText": "NOASSERTION",
        "comment": f"C sources bundled in the {crate} crate, compiled and linked statically into the binary.",
        "externalRefs": [
            {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl.format(v=version)}
        ],
    }
    return pkg, (spdx_id("crate", crate, crate_version), "CONTAINS", pkg["SPDXID"])


def parse_debs(text):
    """{(package, version, arch): [paths]} from the TSV lines."""
    debs = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 4:
            raise SystemExit(f"sbom.py: --debs line is not package<TAB>version<TAB>arch<TAB>path: {line!r}")
        debs.setdefault(tuple(fields[:3]), []).append(fields[3])
    return debs


def deb_package(name, version, arch, paths, distro):
    """A Debian package; DISTRO is /etc/os-release's ID-VERSION_ID (debian-12), its vendor the ID."""
    vendor = distro.split("-", 1)[0] if distro else "debian"
    return {
        "SPDXID": spdx_id("deb", name, version),
        "name": name,
        "versionInfo": version,
        "downloadLocation": "NOASSERTION",
        "supplier": f"Organization: {vendor.capitalize()}",
        "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "comment": "In the image: " + ", ".join(sorted(paths)),
        "externalRefs": [
            {
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": purl_deb(vendor, name, version, arch, distro),
            }
        ],
    }


def image_package(ref, digest):
    repo, tag = ref.rsplit(":", 1)
    name = repo.rsplit("/", 1)[-1]
    # purl's own examples leave the repository's slashes as they are.
    qualifiers = f"repository_url={urllib.parse.quote(repo, safe='/')}&tag={urllib.parse.quote(tag, safe='')}"
    pkg = {
        "SPDXID": "SPDXRef-image",
        "name": repo,
        "versionInfo": tag,
        "downloadLocation": "NOASSERTION",
        "supplier": "Organization: tweetpipe",
        "primaryPackagePurpose": "CONTAINER",
        "filesAnalyzed": False,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
    }
    if digest:
        algorithm, value = digest.split(":", 1)
        pkg["checksums"] = [{"algorithm": algorithm.upper(), "checksumValue": value}]
        pkg["externalRefs"] = [
            {
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": f"pkg:oci/{name}@{urllib.parse.quote(digest, safe='')}?{qualifiers}",
            }
        ]
    return pkg


def build(args):
    with open(args.cargo_tree, encoding="utf-8") as f:
        nodes, edges = parse_tree(f.read(), args.root)
    with open(args.metadata, encoding="utf-8") as f:
        metadata = json.load(f)
    meta = {(p["name"], p["version"]): p for p in metadata["packages"]}
    checksums = {}
    if args.lockfile:
        with open(args.lockfile, "rb") as f:
            for p in tomllib.load(f).get("package", []):
                if "checksum" in p:
                    checksums[(p["name"], p["version"])] = p["checksum"]
    debs = {}
    if args.debs:
        with open(args.debs, encoding="utf-8") as f:
            debs = parse_debs(f.read())

    root_version = next(v for (n, v) in nodes if n == args.root)
    packages = [image_package(args.image, args.image_digest)]
    for (name, version), path in nodes.items():
        if (name, version) not in meta:
            raise SystemExit(f"sbom.py: {name} {version} is in the tree but not in cargo metadata")
        packages.append(crate_package(name, version, path, meta[(name, version)], checksums, args.source_url))
    vendored_rels = []
    for name, version in nodes:
        vendored = vendored_package(name, version)
        if vendored:
            packages.append(vendored[0])
            vendored_rels.append(vendored[1])
    for (name, version, arch), paths in debs.items():
        packages.append(deb_package(name, version, arch, paths, args.distro))
    ids = [p["SPDXID"] for p in packages]
    if len(ids) != len(set(ids)):
        raise SystemExit("sbom.py: two packages map to one SPDXID")

    root_id = spdx_id("crate", args.root, root_version)
    rels = [("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-image"), ("SPDXRef-image", "CONTAINS", root_id)]
    rels += [("SPDXRef-image", "CONTAINS", spdx_id("deb", n, v)) for (n, v, _) in debs]
    rels += [(spdx_id("crate", *a), "DEPENDS_ON", spdx_id("crate", *b)) for a, b in edges]
    rels += vendored_rels

    created = datetime.datetime.fromtimestamp(int(args.source_date_epoch), datetime.timezone.utc)
    name = args.image.rsplit("/", 1)[-1]
    namespace_id = (args.image_digest or "").split(":")[-1] or "unbuilt"
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name.replace(":", "-"),
        "documentNamespace": f"{args.namespace_base.rstrip('/')}/{name.replace(':', '-')}-{namespace_id}",
        "creationInfo": {
            "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "creators": [f"Tool: {TOOL}", "Organization: tweetpipe"],
        },
        "packages": sorted(packages, key=lambda p: p["SPDXID"]),
        "relationships": [
            {"spdxElementId": a, "relationshipType": t, "relatedSpdxElement": b} for a, t, b in sorted(set(rels))
        ],
    }


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True, help="the image reference, registry/name:tag")
    parser.add_argument("--image-digest", help="the image's manifest digest, sha256:...")
    parser.add_argument("--root", required=True, help="the binary's crate, a root of the cargo tree")
    parser.add_argument("--cargo-tree", required=True)
    parser.add_argument("--metadata", required=True, help="`cargo metadata --format-version 1` output")
    parser.add_argument("--lockfile", help="Cargo.lock, for crate checksums")
    parser.add_argument("--debs", help="package<TAB>version<TAB>arch<TAB>path lines")
    parser.add_argument("--distro", help="the build machine's ID-VERSION_ID from /etc/os-release (debian-12)")
    parser.add_argument("--source-url", help="downloadLocation of this workspace's own crates")
    parser.add_argument("--namespace-base", default="https://github.com/tweetpipe/tweetpipe/spdx")
    parser.add_argument("--source-date-epoch", required=True, help="the document's created time")
    parser.add_argument("--output", "-o", help="file to write (default: stdout)")
    args = parser.parse_args(argv)
    text = json.dumps(build(args), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])

#!/usr/bin/env python3
"""retar.py SOURCE_DATE_EPOCH FILE.tgz: rewrite a gzipped tar in place with every entry's mtime set
to SOURCE_DATE_EPOCH, owners 0:0 without names, and a gzip header without a name or a time, keeping
the entries, their order, modes and contents. `helm package` (3.19) stamps entries with the current
time and ignores SOURCE_DATE_EPOCH; after this the same chart gives the same bytes.
"""

import gzip
import io
import os
import sys
import tarfile


def main(argv):
    if len(argv) != 2:
        raise SystemExit(__doc__.splitlines()[0])
    epoch, path = int(argv[0]), argv[1]
    out = io.BytesIO()
    with tarfile.open(path, "r:gz") as src, tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as dst:
        for member in src.getmembers():
            data = src.extractfile(member) if member.isfile() else None
            member.mtime = epoch
            member.uid = member.gid = 0
            member.uname = member.gname = ""
            dst.addfile(member, data)
    tmp = path + ".tmp"
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(out.getvalue())
    os.replace(tmp, path)


if __name__ == "__main__":
    main(sys.argv[1:])

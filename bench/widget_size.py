"""The embed widget's download size: `static/widget.js` as is, minified, and minified+gzipped.

    .venv/bin/python bench/widget_size.py [--max-gzip-bytes N] [--write-minified PATH]

Minified with rjsmin (comments and whitespace only: no renaming, so the number is reproducible
and conservative), gzipped at level 9 with a zero timestamp, so that the same file always gives
the same bytes. With `--max-gzip-bytes` the exit status is 1 when the gzipped size is over it.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

import rjsmin  # type: ignore[import-untyped]

WIDGET = Path(__file__).resolve().parent.parent / "static" / "widget.js"


def minified(source: str) -> str:
    """The widget without comments and needless whitespace (`/*! ... */` comments dropped too)."""
    result: str = rjsmin.jsmin(source, keep_bang_comments=False)
    return result


def gzipped_size(data: bytes) -> int:
    """Bytes on the wire with `Content-Encoding: gzip` at the highest level."""
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-gzip-bytes", type=int, default=None)
    parser.add_argument("--write-minified", type=Path, default=None)
    args = parser.parse_args()

    source = WIDGET.read_text(encoding="utf-8")
    small = minified(source).encode("utf-8")
    size = gzipped_size(small)
    if args.write_minified is not None:
        args.write_minified.write_bytes(small)
    print(f"{'static/widget.js':<28}{len(source.encode('utf-8')):>8,} bytes")
    print(f"{'minified (rjsmin ' + rjsmin.__version__ + ')':<28}{len(small):>8,} bytes")
    print(f"{'minified + gzip -9':<28}{size:>8,} bytes ({size / 1024:.1f} KiB)")
    if args.max_gzip_bytes is not None and size > args.max_gzip_bytes:
        print(f"over the budget of {args.max_gzip_bytes:,} bytes", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

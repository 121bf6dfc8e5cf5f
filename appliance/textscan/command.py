"""``hearth scan``: the detector from the shell, to see why a message alerted (or did not).

    hearth scan "some text"          the hits in words; "nothing worrying found" when there are none
    hearth scan --json -             one message per line on stdin, exactly one JSON object per line out
"""
from __future__ import annotations

import json
import sys


def add_arguments(parser) -> None:
    parser.add_argument("text", nargs="+",
                        help='the message to scan, or "-" to read one message per line from standard input')
    parser.add_argument("--json", action="store_true",
                        help='print one JSON object per message: {"text": ..., "hits": [...]}')
    parser.add_argument("--lang", choices=("en", "fr"),
                        help="only this language's rules (default: English and French both)")


def _scanner():
    from .scanner import scanner_for
    return scanner_for()


def run(args) -> int:
    from .rules import RulesError
    try:
        scanner = _scanner()
    except RulesError as e:
        print(f"hearth scan: the rule files have {len(e.errors)} problem(s):", file=sys.stderr)
        for line in e.errors:
            print(f"  {line}", file=sys.stderr)
        return 1
    if args.text == ["-"]:
        messages = _stdin_lines()
    else:
        messages = iter([" ".join(args.text)])
    out = sys.stdout
    for text in messages:
        hits = scanner.scan(text, args.lang)
        if args.json:
            out.write(json.dumps({"text": text, "hits": [h.as_dict() for h in hits]}, ensure_ascii=False) + "\n")
            out.flush()                  # one line out per line in, as it comes: usable as a filter
        else:
            _print_words(text, hits, out)
    return 0


def _stdin_lines():
    """One message per line; bytes that are not UTF-8 are replaced, never a crash halfway through a file."""
    stream = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else sys.stdin
    for raw in stream:
        line = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        yield line.rstrip("\r\n")


def _print_words(text: str, hits, out) -> None:
    if not hits:
        print("nothing worrying found", file=out)
        return
    print(f"{len(hits)} worrying thing(s) found:", file=out)
    for h in hits:
        print(f"  {h.category}: {h.description}", file=out)
        print(f"    \u201c{h.excerpt}\u201d  (rule {h.rule})", file=out)

#!/usr/bin/env python3
"""Group the findings in a tool's log by kind, with counts and a few examples.

    summarize.py validator   LOG   # openapi-spec-validator --validation-errors all
    summarize.py generator   LOG   # openapi-python-client generate
    summarize.py schemathesis LOG  # schemathesis run (its text output)

Only reads the logs; run.sh prints this after each step. The full logs stay next to it.
"""

from __future__ import annotations

import re
import sys
from collections import OrderedDict

EXAMPLES = 3


def show(groups: OrderedDict[str, list[str]], indent: str = "  ") -> None:
    for kind, examples in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        print(f"{indent}{len(examples):4d} x {kind}")
        for example in examples[:EXAMPLES]:
            print(f"{indent}         e.g. {example}")


def add(groups: OrderedDict[str, list[str]], kind: str, example: str) -> None:
    groups.setdefault(kind, []).append(example)


def json_pointer_path(instance: str) -> str:
    """`["paths"]["~1api~1v1~1accounts"]["post"]["responses"][201]`
    -> `paths./api/v1/accounts.post.responses.201`."""
    parts = re.findall(r'\[("(?:[^"\\]|\\.)*"|\d+)\]', instance)
    return ".".join(p.strip('"').replace("~1", "/").replace("~0", "~") for p in parts)


def validator(text: str) -> None:
    groups: OrderedDict[str, list[str]] = OrderedDict()
    # Each error: "FILE: Validation Error: [N] MESSAGE" then, for schema errors, an
    # "On instance[...]" line saying where.
    blocks = re.split(r"^\S.*?: Validation Error: (?:\[\d+\] )?", text, flags=re.M)[1:]
    for block in blocks:
        lines = block.splitlines()
        message = lines[0].strip()
        where = next(
            (json_pointer_path(x[len("On instance") :]) for x in lines if x.startswith("On instance")), ""
        )
        kind = re.sub(r"'[^']*'", "'…'", message)
        add(groups, kind, f"{where}" if where else message)
    total = len(blocks)
    if total == 0:
        ok = re.search(r": OK\s*$", text, flags=re.M)
        print("  valid" if ok else "  no errors parsed; see the log")
        return
    print(f"  {total} error(s), {len(groups)} kind(s):")
    show(groups)


def generator(text: str) -> None:
    groups: OrderedDict[str, list[str]] = OrderedDict()
    lines = text.splitlines()
    headline = next((x for x in lines if re.search(r"encountered while generating|^Generating ", x)), "")
    if headline:
        print(f"  {headline.strip()}")
    for i, line in enumerate(lines):
        # Pydantic errors when the document does not parse at all:
        #   paths./api/v1/accounts.post.responses.201.other.description
        #     Field required [type=missing, ...]
        m = re.match(r"^(paths|components|info|servers|webhooks)\.\S+$", line)
        if m and i + 1 < len(lines) and lines[i + 1].startswith("  "):
            detail = re.sub(r"\s*\[type=.*", "", lines[i + 1].strip())
            field = line.rsplit(".", 1)[-1]
            add(groups, f"document does not parse: `{field}`: {detail}", line)
            continue
        # Warnings and errors about single endpoints or schemas:
        #   WARNING parsing POST /x within orders. Endpoint will not be generated.
        #   <blank>
        #   <reason>
        m = re.match(r"^(WARNING|ERROR)\b(.*)$", line)
        if m:
            reason = next((x.strip() for x in lines[i + 1 : i + 6] if x.strip()), "")
            what = re.sub(r"[A-Z]+ /\S+", "METHOD PATH", m.group(2).strip())
            why = re.sub(r"\b\d{3}\b", "NNN", reason)[:160]
            kind = f"{m.group(1)}: {what}" + (f" — {why}" if why else "")
            add(groups, kind, f"{m.group(2).strip()} {reason}"[:200])
    if groups:
        print(f"  {sum(map(len, groups.values()))} message(s), {len(groups)} kind(s):")
        show(groups)
    elif not headline:
        print("  no messages parsed; see the log")
    else:
        print("  no warnings or errors")


def schemathesis(text: str) -> None:
    groups: OrderedDict[str, list[str]] = OrderedDict()
    operation = ""
    pending: list[str] = []  # failure kinds waiting for their reproduce line
    for line in text.splitlines():
        m = re.match(r"^_{3,} (\S+ \S+) _{3,}$", line)
        if m:
            operation, pending = m.group(1), []
            continue
        m = re.match(r"^- (ST\d+ .+)$", line)
        if m:
            pending.append(m.group(1).strip())
            continue
        m = re.match(r"^\s+(curl .+)$", line)
        if m and pending:
            for kind in pending:
                add(groups, kind, f"[{operation}] {m.group(1)[:300]}")
            pending = []
    # Phase lines and the run's own totals, as schemathesis prints them.
    for line in text.splitlines():
        if (
            re.match(r"^ (✅|❌|⏭|🚫)\s+(Examples|Coverage|Fuzzing|Stateful) \(", line)
            or re.match(r"^\s+(Scenarios|API Links):", line)
            or re.match(r"^\s+(✅|❌|⏭)\s+\d+ (passed|failed|skipped)", line)
        ):
            print(f"  {line.strip()}")
    for line in text.splitlines():
        if (
            re.match(r"^\s+⚠️", line)
            or re.search(r"^\s*\d+ generated, ", line)
            or line.startswith("===")
            and " in " in line
        ):
            print(f"  {line.strip(' =')}")
    if groups:
        print(f"  failures by kind ({len(groups)}):")
        show(groups)
    else:
        print("  no failures reported")


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in {"validator", "generator", "schemathesis"}:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    with open(sys.argv[2], encoding="utf-8", errors="replace") as f:
        text = re.sub(r"\x1b\[[0-9;]*m", "", f.read())
    {"validator": validator, "generator": generator, "schemathesis": schemathesis}[sys.argv[1]](text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

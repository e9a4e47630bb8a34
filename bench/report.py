#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Merge benchmark JSON lines into bench/results.json and regenerate the
README's results table from it.

usage: bench/report.py RESULTS.jsonl... [--json bench/results.json] [--readme README.md]
                       [--notes FILE]

Each input line is one figure: {"name", "value", "unit"} and, for a
comparison, "baseline" (the kube-proxy path or the unsteered case measured in
the same run) and "ratio" (baseline / value unless given).
"""
import argparse
import json
import os
import platform
import sys
import time

START = "<!-- bench:start -->"
END = "<!-- bench:end -->"


def load(paths):
    out = []
    for p in paths:
        with open(p) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    r = json.loads(line)
                except ValueError as e:
                    sys.exit(f"report: {p}:{n}: not JSON: {e}")
                for k in ("name", "value", "unit"):
                    if r.get(k) is None:
                        sys.exit(f"report: {p}:{n}: missing '{k}'")
                # null means "not a comparison", as if absent
                r = {k: v for k, v in r.items() if v is not None}
                if "baseline" in r and "ratio" not in r and r["value"]:
                    r["ratio"] = r["baseline"] / r["value"]
                out.append(r)
    return out


def fmt(v):
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 100:
            return f"{v:,.0f}"
        if abs(v) >= 1:
            return f"{v:.2f}"
        return f"{v:.3g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(results):
    rows = ["| figure | steer | unit | baseline | ratio |",
            "| --- | ---: | --- | ---: | ---: |"]
    for r in results:
        base = fmt(r["baseline"]) if "baseline" in r else ""
        ratio = f"{r['ratio']:.1f}x" if "ratio" in r else ""
        rows.append(f"| {r['name']} | {fmt(r['value'])} | {r['unit']} | {base} | {ratio} |")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--json", default="bench/results.json")
    ap.add_argument("--readme", default="README.md")
    ap.add_argument("--notes", help="what was not measured, a line each")
    a = ap.parse_args()
    results = load(a.inputs)
    notes = []
    if a.notes and os.path.exists(a.notes):
        with open(a.notes) as f:
            notes = [x.strip() for x in f if x.strip()]
    doc = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"kernel": platform.release(), "cpus": os.cpu_count()},
        "results": results,
        "notes": notes,
    }
    with open(a.json, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(table(results))
    try:
        text = open(a.readme).read()
    except OSError:
        return
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        block = (f"{START}\n_Measured {doc['generated']} on kernel "
                 f"{doc['machine']['kernel']}, {doc['machine']['cpus']} CPUs; "
                 f"generated from bench/results.json._\n\n{table(results)}\n"
                 + "".join(f"\n- {x}" for x in notes)
                 + ("\n" if notes else "") + END)
        with open(a.readme, "w") as f:
            f.write(head + block + tail)


if __name__ == "__main__":
    main()

"""Checks a ci/partb report folder: every result file and plot is there and
parses. No timing is asserted: the numbers are whatever the machine gave.

Usage: python3 ci/partb/check.py DIR   (exit status 1 on a problem)"""

import csv
import json
import os
import struct
import sys
import zlib

CSVS = {
    "startup.csv": ["variant", "kind", "accel", "run", "up_ms", "exit_ms"],
    "startup_steps.csv": ["run", "step", "ms"],
    "memory.csv": ["kind", "accel", "instance", "footprint_kib"],
    "throughput.csv": ["target", "accel", "concurrency", "rps", "lat_p50_ms", "lat_p99_ms"],
}
# Columns that must hold a number on every row.
NUMERIC = {
    "startup.csv": ["up_ms", "exit_ms"],
    "startup_steps.csv": ["ms"],
    "memory.csv": ["footprint_kib"],
    "throughput.csv": ["concurrency", "rps", "lat_p50_ms", "lat_p99_ms"],
}
PLOTS = ["startup.png", "startup_steps.png", "memory.png", "throughput.png"]
RESULT_KEYS = ["machine", "accel", "startup", "memory", "throughput"]
MACHINE_KEYS = ["date", "kernel", "cpu", "cpus", "tools", "accel"]


def png_problem(path):
    """Why a file is not a whole PNG (signature, IHDR with a size, chunks
    whose CRCs match, IEND at the end), or None."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "not a PNG"
    pos = 8
    names = []
    while pos + 8 <= len(data):
        length, name = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        crc = data[pos + 8 + length : pos + 12 + length]
        if len(body) != length or len(crc) != 4:
            return "truncated chunk"
        if zlib.crc32(name + body) != struct.unpack(">I", crc)[0]:
            return f"bad CRC in chunk {name!r}"
        if name == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
            if width == 0 or height == 0:
                return "empty image"
        names.append(name)
        pos += 12 + length
    if not names or names[0] != b"IHDR" or names[-1] != b"IEND":
        return "no IHDR first or no IEND last"
    if b"IDAT" not in names:
        return "no image data"
    return None


def check(out):
    problems = []

    def need(name):
        path = os.path.join(out, name)
        if not os.path.isfile(path) or os.path.getsize(path) == 0:
            problems.append(f"{name} is missing or empty")
            return None
        return path

    path = need("results.json")
    if path:
        try:
            with open(path) as f:
                results = json.load(f)
            problems += [f"results.json has no {k}" for k in RESULT_KEYS if k not in results]
        except ValueError as e:
            problems.append(f"results.json does not parse: {e}")
    path = need("machine.json")
    if path:
        try:
            with open(path) as f:
                machine = json.load(f)
            problems += [f"machine.json has no {k}" for k in MACHINE_KEYS if k not in machine]
        except ValueError as e:
            problems.append(f"machine.json does not parse: {e}")
    for name, header in CSVS.items():
        path = need(name)
        if not path:
            continue
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows:
            problems.append(f"{name} has no rows")
            continue
        missing = [h for h in header if h not in rows[0]]
        if missing:
            problems.append(f"{name} lacks columns {missing}")
            continue
        for i, row in enumerate(rows):
            for column in NUMERIC[name]:
                try:
                    float(row[column])
                except (TypeError, ValueError):
                    problems.append(f"{name} row {i + 1}: {column}={row[column]!r} is no number")
    for name in PLOTS:
        path = need(name)
        if path:
            problem = png_problem(path)
            if problem:
                problems.append(f"{name}: {problem}")
    path = need("report.md")
    if path:
        with open(path) as f:
            text = f.read()
        problems += [f"report.md does not show {p}" for p in PLOTS if f"]({p})" not in text]
        if "accelerator" not in text.lower():
            problems.append("report.md does not name the accelerator")
    return problems


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 ci/partb/check.py DIR")
    found = check(sys.argv[1])
    for p in found:
        print(f"partb check: {p}")
    print(f"partb check: {sys.argv[1]}: " + ("ok" if not found else f"{len(found)} problem(s)"))
    sys.exit(1 if found else 0)

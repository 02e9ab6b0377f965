"""How report.md writes numbers and tables."""

MIB = 1024.0


def ms(x):
    if x is None:
        return "n/a"
    if x >= 1000:
        return f"{x / 1000:.2f} s"
    if x >= 10:
        return f"{x:.1f} ms"
    return f"{x:.2f} ms"


def mib(kib):
    return f"{kib / MIB:.1f} MiB"


def times(x):
    if x is None:
        return "n/a"
    return f"{x:,.0f}x" if x >= 100 else f"{x:.1f}x"


def share(x):
    return "n/a" if x is None else f"{x * 100:.0f}%"


def rps(x):
    return "n/a" if x is None else f"{x:,.0f} req/s"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)

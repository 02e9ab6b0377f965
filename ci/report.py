"""Reading and writing for ci/report: nextest's JUnit output (with the
evidence blocks the suite's harness prints), the suite's own list of tests,
the machine's kernel and cgroup layout, and the report as Markdown and HTML.

ci/report holds what decides: the requirement table, the static check of the
runtime's sources, and the verdicts. Python 3 standard library only.
"""

import datetime
import html
import os
import platform
import re
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

# nextest names the suite's binary "<package>::<test target>".
SUITE_BINARY = "nsbox::suite"

PASSED, FAILED, NOT_RUN, NO_TESTS = "passed", "failed", "not run", "no tests"


@dataclass
class Evidence:
    """One `=== evidence ===` block the suite's harness printed."""

    command: str
    status: str
    stdout: str
    stderr: str


@dataclass
class Test:
    """One test of the JUnit report, or one the suite holds but did not run."""

    name: str
    binary: str
    outcome: str
    seconds: float = None
    evidence: list = field(default_factory=list)
    failure: str = ""
    note: str = ""

    @property
    def module(self):
        return self.name.split("::", 1)[0]


@dataclass
class Run:
    """What one JUnit file says."""

    path: str
    timestamp: str
    seconds: float
    tests: list


class ReportError(Exception):
    """An input that cannot be read; the message says which and why."""


# --- JUnit -----------------------------------------------------------------


def read_junit(path):
    """Parses nextest's JUnit file into a Run."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as err:
        raise ReportError(f"cannot read JUnit report {path}: {err}") from err
    tests = []
    for case in root.iter("testcase"):
        tests.append(_read_case(case))
    seconds = _float(root.get("time"))
    return Run(path, root.get("timestamp", ""), seconds, tests)


def _read_case(case):
    test = Test(
        name=case.get("name", "?"),
        binary=case.get("classname", ""),
        outcome=PASSED,
        seconds=_float(case.get("time")),
        evidence=parse_evidence(case.findtext("system-out") or ""),
    )
    bad = case.find("failure")
    if bad is None:
        bad = case.find("error")
    if bad is not None:
        test.outcome = FAILED
        test.failure = (bad.text or "").strip() or bad.get("message", "") or "failed"
        test.note = bad.get("type", "")
    elif case.find("skipped") is not None:
        test.outcome = NOT_RUN
        test.note = "skipped by nextest: " + (
            case.find("skipped").get("message") or "no reason given"
        )
    retries = len(case.findall("flakyFailure")) + len(case.findall("rerunFailure"))
    if retries and test.outcome == PASSED:
        test.note = f"flaky: passed after {retries} failed attempt(s)"
    return test


def _float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


EVIDENCE = re.compile(r"=== evidence ===\n(.*?)\n=== end evidence ===", re.S)
HEAD = re.compile(r"command: (.*?)\nexit status: (\S*)\n--- stdout ---\n", re.S)


def parse_evidence(text):
    """Every evidence block of a test's captured stdout, in order."""
    found = []
    for block in EVIDENCE.findall(text):
        head = HEAD.match(block)
        if head is None:
            found.append(Evidence("(unreadable evidence block)", "?", block, ""))
            continue
        rest = block[head.end() :]
        out, _, err = rest.partition("\n--- stderr ---\n")
        found.append(Evidence(head.group(1), head.group(2), _chomp(out), _chomp(err)))
    return found


def _chomp(text):
    """The harness adds one newline after each stream; drop trailing blank lines."""
    return text.rstrip("\n")


# --- the suite's sources ---------------------------------------------------

TEST_ATTR = re.compile(r"#\[(?:test|rstest)\]")
FN_NAME = re.compile(r"\bfn\s+(\w+)")
MOD_DECL = re.compile(r"^\s*(?:pub\s+)?mod\s+(\w+)\s*;", re.M)


def suite_tests_in_sources(suite_dir):
    """`module::function` for every test function the suite declares, or None
    when the sources are not there. rstest cases expand to several JUnit
    names below one function."""
    main = os.path.join(suite_dir, "main.rs")
    try:
        with open(main, encoding="utf-8") as f:
            modules = [m for m in MOD_DECL.findall(f.read()) if m != "harness"]
    except OSError:
        return None
    names = []
    for module in modules:
        for path in (f"{module}.rs", f"{module}/mod.rs"):
            try:
                with open(os.path.join(suite_dir, path), encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue
            for attr in TEST_ATTR.finditer(text):
                fn = FN_NAME.search(text, attr.end())
                if fn:
                    names.append(f"{module}::{fn.group(1)}")
            break
    return names


def add_unrun_tests(tests, declared):
    """Adds, as not run, each declared suite test the JUnit report lacks:
    nextest leaves skipped and filtered-out tests out of JUnit entirely."""
    ran = [t.name for t in tests if t.binary == SUITE_BINARY]
    for name in declared:
        if not any(r == name or r.startswith(name + "::") for r in ran):
            tests.append(
                Test(
                    name=name,
                    binary=SUITE_BINARY,
                    outcome=NOT_RUN,
                    note="declared in tests/suite but absent from the JUnit report: "
                    "skipped, ignored or filtered out",
                )
            )


# --- the machine -----------------------------------------------------------

V1_CONTROLLERS = {
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
}


def _unescape(path):
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def cgroup_layout(mountinfo="/proc/self/mountinfo"):
    """(layout, description): layout is v1, hybrid, v2 or unknown."""
    v1, v2 = [], []
    try:
        with open(mountinfo, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as err:
        return "unknown", f"cannot read {mountinfo}: {err.strerror}"
    for line in lines:
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        mount_point = _unescape(left.split()[4])
        fstype, _, options = (right.split() + ["", "", ""])[:3]
        if fstype == "cgroup":
            controllers = sorted(set(options.split(",")) & V1_CONTROLLERS)
            if controllers:
                v1.append((mount_point, controllers))
        elif fstype == "cgroup2":
            v2.append((mount_point, _v2_controllers(mount_point)))
    v2_text = "; ".join(
        f"cgroup2 at {mp} (controllers: {' '.join(c) if c else 'none'})" for mp, c in v2
    )
    if v1:
        names = sorted({c for _, cs in v1 for c in cs})
        v1_text = f"v1 controllers {', '.join(names)} at {_common_parent(v1)}/<controller>"
        if v2:
            return "hybrid", f"{v1_text}; {v2_text}"
        return "v1", v1_text
    if v2:
        return "v2", v2_text
    return "unknown", "no cgroup filesystem is mounted"


def _v2_controllers(mount_point):
    try:
        with open(os.path.join(mount_point, "cgroup.controllers"), encoding="utf-8") as f:
            return f.read().split()
    except OSError:
        return []


def _common_parent(mounts):
    parents = {os.path.dirname(mp) for mp, _ in mounts}
    return parents.pop() if len(parents) == 1 else "several places"


def machine_facts(repo):
    """What the header says about where and when the report was made."""
    layout, detail = cgroup_layout()
    return {
        "written": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "kernel": platform.release(),
        "cgroup_layout": layout,
        "cgroup_detail": detail,
        "commit": _git_commit(repo),
    }


def _git_commit(repo):
    """NSBOX_COMMIT when set (the Vagrant VM gets no .git), else git's answer."""
    if os.environ.get("NSBOX_COMMIT"):
        return os.environ["NSBOX_COMMIT"]
    sha = os.environ.get("GITHUB_SHA", "")[:12]
    try:
        sha = subprocess.run(
            ["git", "-C", repo, "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        return sha + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return sha or "unknown"


# --- writing ---------------------------------------------------------------

MAX_OUT_LINES, MAX_ERR_LINES, MAX_FAILURE_LINES, MAX_LINE_CHARS = 40, 15, 30, 2000
NSBOX_PATH = re.compile(r"^(\S*/)nsbox(?=\s|$)")
BADGE = {
    PASSED: ("✅", "passed"),
    FAILED: ("❌", "FAILED"),
    NOT_RUN: ("⚠️", "NOT RUN"),
    NO_TESTS: ("⚠️", "NO TEST"),
}
PARTS = (
    ("assignment", "Part A of the assignment"),
    ("nsbox", "nsbox's own requirements"),
)


def write(out_dir, run, facts, sections, other, unit, good):
    """Writes requirements.md and requirements.html; returns their paths."""
    view = _View(run, facts, sections, other, unit, good)
    written = []
    for name, text in (("requirements.md", view.markdown()), ("requirements.html", view.html())):
        path = os.path.join(out_dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        written.append(path)
    return written


def trim(text, max_lines):
    """(text, note): at most `max_lines` lines of at most MAX_LINE_CHARS."""
    lines = text.split("\n") if text else []
    notes = []
    if len(lines) > max_lines:
        notes.append(f"{len(lines) - max_lines} more lines not shown")
        lines = lines[:max_lines]
    cut = [ln[:MAX_LINE_CHARS] + " …" if len(ln) > MAX_LINE_CHARS else ln for ln in lines]
    if cut != lines:
        notes.append(f"lines over {MAX_LINE_CHARS} characters cut")
    return "\n".join(cut), "; ".join(notes)


def failure_excerpt(text):
    """The panic message without the backtrace."""
    for marker in ("\nstack backtrace:", "\nnote: run with `RUST_BACKTRACE"):
        text = text.split(marker, 1)[0]
    return trim(text.strip(), MAX_FAILURE_LINES)


def _slug(heading):
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.lower())
    return text.replace(" ", "-")


def shown_path(path):
    """Relative to the working directory when below it, else absolute."""
    rel = os.path.relpath(path)
    return os.path.abspath(path) if rel.startswith("..") else rel


def _seconds(value):
    return "" if value is None else f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def _counts(tests):
    c = {o: sum(t.outcome == o for t in tests) for o in (PASSED, FAILED, NOT_RUN)}
    return f"{len(tests)}: {c[PASSED]} passed, {c[FAILED]} failed, {c[NOT_RUN]} not run"


def _test_line(t):
    """E.g. "passed in 0.04 s (flaky: ...)": the line under a test's name."""
    line = BADGE[t.outcome][1]
    if t.seconds is not None and t.outcome != NOT_RUN:
        line += f" in {_seconds(t.seconds)}"
    return line + (f"; {t.note}" if t.note else "")


def _tail(ev, out_note, err_note):
    """The line after a command's output: exit status and what was cut."""
    tail = f"exit status {ev.status}"
    if not ev.stdout:
        tail += ", nothing on stdout"
    elif out_note:
        tail += f", stdout cut here ({out_note})"
    if not ev.stderr:
        return tail + ", nothing on stderr."
    return tail + ", stderr" + (f" cut here ({err_note})" if err_note else "") + ":"


class _View:
    """The report's content, shared by the Markdown and HTML writers."""

    def __init__(self, run, facts, sections, other, unit, good):
        self.run, self.facts, self.sections = run, facts, sections
        self.other, self.unit, self.good = other, unit, good
        self.nsbox_path = ""
        for test in [t for s in sections for t in s["tests"]] + other:
            for ev in test.evidence:
                m = NSBOX_PATH.match(ev.command)
                if m and not self.nsbox_path:
                    self.nsbox_path = m.group(0)

    def headline(self):
        counted = [s for s in self.sections if not (s["req"].optional and s["status"] == NO_TESTS)]
        bad = [s["req"].id for s in counted if s["status"] != PASSED]
        if bad:
            head = f"{len(bad)} of {len(counted)} requirements are not met: {', '.join(bad)}."
        else:
            head = f"All {len(counted)} requirements are met."
        stray = len([t for t in self.other + self.unit if t.outcome != PASSED])
        if stray:
            head += f" {stray} other test{'s' if stray != 1 else ''} did not pass."
        return head

    def facts_rows(self):
        f, run = self.facts, self.run
        suite = [t for s in self.sections for t in s["tests"]] + self.other
        suite = list({id(t): t for t in suite}.values())
        rows = [
            ("Report written", f["written"]),
            (
                "Suite run",
                f"{run.timestamp or 'time unknown'}, {_seconds(run.seconds) or '?'}, "
                f"read from {shown_path(run.path)}",
            ),
            ("nsbox commit", f["commit"]),
            ("Kernel (uname -r)", f["kernel"]),
            ("cgroup layout", f"{f['cgroup_layout']}: {f['cgroup_detail']}"),
            ("Suite tests", _counts(suite)),
            ("Unit tests", _counts(self.unit)),
        ]
        if not f["sources_checked"]:
            rows.append(
                (
                    "Note",
                    "tests/suite was not found: tests left out of the JUnit "
                    "report cannot be listed as not run",
                )
            )
        if self.nsbox_path:
            rows.append(("nsbox in commands", self.nsbox_path))
        return rows

    def command(self, ev):
        cmd = NSBOX_PATH.sub("nsbox", ev.command.rstrip())
        return "$ " + cmd.replace("\n", "\n> ")

    def markdown(self):
        md = [
            "# nsbox: requirements report",
            "",
            f"**{self.headline()}**",
            "",
            "| | |",
            "|---|---|",
        ]
        md += [f"| {k} | {_md_cell(v)} |" for k, v in self.facts_rows()]
        md += [
            "",
            INTRO,
            "",
            "## Summary",
            "",
            "| | Requirement | Result | Tests |",
            "|---|---|---|---|",
        ]
        for s in self.sections:
            req = s["req"]
            link = f"[{_md_cell(req.title)}](#{_slug(req.id + '. ' + req.title)})"
            md.append(f"| {req.id} | {link} | {_md_badge(s)} | {_md_cell(s['summary'])} |")
        for part, title in PARTS:
            md += ["", f"## {title}"]
            for s in (s for s in self.sections if s["part"] == part):
                md += self.md_section(s)
        if self.other:
            md += [
                "",
                "## Other tests",
                "",
                "Suite tests that no requirement of the table in `ci/report` claims yet.",
            ]
            for t in self.other:
                md += self.md_test(t)
        md += [
            "",
            "## Unit tests",
            "",
            f"{_counts(self.unit)}. They need no root and record no evidence.",
        ]
        for t in (t for t in self.unit if t.outcome != PASSED):
            md += self.md_test(t)
        return "\n".join(md) + "\n"

    def md_section(self, s):
        req = s["req"]
        md = [
            "",
            f"### {req.id}. {req.title}",
            "",
            f"> {req.text}",
            "",
            f"**{_md_badge(s)}**: {s['summary']}.",
        ]
        if s["details"]:
            md += [""] + [f"- {line}" for line in s["details"]]
        for t in s["tests"]:
            md += self.md_test(t)
        return md

    def md_test(self, t):
        md = ["", f"#### {BADGE[t.outcome][0]} `{t.name}`", "", _test_line(t) + "."]
        if t.failure:
            text, note = failure_excerpt(t.failure)
            md += ["", "Why it failed" + (f" ({note})" if note else "") + ":", "", *_fence(text)]
        for ev in t.evidence:
            out, out_note = trim(ev.stdout, MAX_OUT_LINES)
            body = self.command(ev) + ("\n" + out if out else "")
            err, err_note = trim(ev.stderr, MAX_ERR_LINES)
            md += ["", *_fence(body), "", _tail(ev, out_note, err_note)]
            if ev.stderr:
                md += ["", *_fence(err)]
        if not t.evidence and t.outcome != NOT_RUN and t.binary == SUITE_BINARY:
            md += ["", NO_EVIDENCE]
        return md

    def html(self):
        h = [
            HTML_HEAD,
            "<h1>nsbox: requirements report</h1>",
            f'<p class="headline {"ok" if self.good else "bad"}">{_h(self.headline())}</p>',
            '<table class="facts">',
        ]
        h += [f"<tr><th>{_h(k)}</th><td>{_h(v)}</td></tr>" for k, v in self.facts_rows()]
        h += [
            "</table>",
            f"<p>{_h(INTRO.replace('`', ''))}</p>",
            "<h2>Summary</h2>",
            '<table class="summary">',
            "<tr><th></th><th>Requirement</th><th>Result</th><th>Tests</th></tr>",
        ]
        for s in self.sections:
            req = s["req"]
            h.append(
                f"<tr><td>{req.id}</td>"
                f'<td><a href="#{req.id.lower()}">{_h_inline(req.title)}</a></td>'
                f"<td>{_h_badge(s['status'], s)}</td><td>{_h(s['summary'])}</td></tr>"
            )
        h.append("</table>")
        for part, title in PARTS:
            h.append(f"<h2>{_h(title)}</h2>")
            for s in (s for s in self.sections if s["part"] == part):
                h += self.html_section(s)
        if self.other:
            h += [
                "<h2>Other tests</h2>",
                "<p>Suite tests that no requirement of the table in <code>ci/report</code> "
                "claims yet.</p>",
            ]
            for t in self.other:
                h += self.html_test(t)
        h += [
            "<h2>Unit tests</h2>",
            f"<p>{_h(_counts(self.unit))}. They need no root and record no evidence.</p>",
        ]
        for t in (t for t in self.unit if t.outcome != PASSED):
            h += self.html_test(t)
        h.append("</body>\n</html>")
        return "\n".join(h) + "\n"

    def html_section(self, s):
        req = s["req"]
        h = [
            f'<section id="{req.id.lower()}">',
            f"<h3>{req.id}. {_h_inline(req.title)}</h3>",
            f"<blockquote>{_h_inline(req.text)}</blockquote>",
            f"<p>{_h_badge(s['status'], s)} {_h(s['summary'])}.</p>",
        ]
        if s["details"]:
            h += ["<ul>", *(f"<li>{_h_inline(line)}</li>" for line in s["details"]), "</ul>"]
        for t in s["tests"]:
            h += self.html_test(t)
        h.append("</section>")
        return h

    def html_test(self, t):
        seconds = _seconds(t.seconds) if t.outcome != NOT_RUN else ""
        h = [
            f'<details class="test {t.outcome.replace(" ", "-")}" open>',
            f"<summary>{_h_badge(t.outcome)} <code>{_h(t.name)}</code> "
            f'<span class="time">{seconds}</span></summary>',
        ]
        if t.note:
            h.append(f'<p class="note">{_h(t.note)}.</p>')
        if t.failure:
            text, note = failure_excerpt(t.failure)
            h += [
                f"<p>Why it failed{_h(f' ({note})' if note else '')}:</p>",
                f'<pre class="failure">{_h(text)}</pre>',
            ]
        for ev in t.evidence:
            out, out_note = trim(ev.stdout, MAX_OUT_LINES)
            err, err_note = trim(ev.stderr, MAX_ERR_LINES)
            h.append(
                f'<pre><span class="cmd">{_h(self.command(ev))}</span>'
                + (f"\n{_h(out)}" if out else "")
                + "</pre>"
            )
            h.append(f'<p class="tail">{_h(_tail(ev, out_note, err_note))}</p>')
            if ev.stderr:
                h.append(f'<pre class="stderr">{_h(err)}</pre>')
        if not t.evidence and t.outcome != NOT_RUN and t.binary == SUITE_BINARY:
            h.append(f'<p class="note">{_h_inline(NO_EVIDENCE)}</p>')
        h.append("</details>")
        return h


INTRO = (
    "Each requirement lists the tests that cover it. A test's evidence is what the "
    "suite's harness recorded for every nsbox command it ran: the command, then what it "
    "printed on stdout, its exit status and its stderr. Long outputs are cut here; the "
    "JUnit file holds them whole. A requirement passes only when it has tests and all of "
    "them passed; a test that was skipped or not run counts as not passed."
)
NO_EVIDENCE = (
    "No evidence recorded: this test drives nsbox through a helper that does not print "
    "its commands (a terminal session, or a container in the background); its assertions "
    "are in `tests/suite`."
)


def _md_cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_badge(s):
    if s["req"].optional and s["status"] == NO_TESTS:
        return "➖ not built yet (optional)"
    icon, word = BADGE[s["status"]]
    return f"{icon} {word}"


def _fence(text):
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + "text", text, fence]


def _h(text):
    return html.escape(str(text), quote=True)


def _h_inline(text):
    """Escapes, then shows `code` spans as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", _h(text))


def _h_badge(status, section=None):
    if section is not None and section["req"].optional and status == NO_TESTS:
        return '<span class="badge optional">not built yet (optional)</span>'
    word = BADGE[status][1]
    return f'<span class="badge {status.replace(" ", "-")}">{word}</span>'


HTML_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nsbox: requirements report</title>
<style>
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; }
h1 { border-bottom: 2px solid #d0d7de; padding-bottom: .3em; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em; margin-top: 2em; }
h3 { margin-top: 1.8em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #d0d7de; padding: .3em .7em; text-align: left; vertical-align: top; }
table.facts th { background: #f6f8fa; white-space: nowrap; }
table.summary tr:nth-child(even) td { background: #f6f8fa; }
blockquote { margin: .5em 0; padding: .2em 1em; color: #59636e; border-left: 4px solid #d0d7de; }
code { font: 13px ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
       background: #eff1f3; padding: .1em .3em; border-radius: 4px; }
pre { font: 13px/1.45 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
      background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px; padding: .6em .8em;
      white-space: pre-wrap; overflow-wrap: anywhere; margin: .4em 0; }
pre .cmd { color: #0550ae; font-weight: 600; }
pre.stderr { border-left: 4px solid #bf8700; }
pre.failure { border-left: 4px solid #cf222e; background: #fff5f5; }
details.test { margin: .8em 0 .8em 1em; }
details.test > summary { cursor: pointer; font-weight: 600; }
p.tail, p.note { margin: .2em 0 .6em; color: #59636e; font-size: 14px; }
.time { color: #59636e; font-weight: normal; font-size: 14px; }
.badge { display: inline-block; padding: 0 .5em; border-radius: 1em; font-size: 13px;
         font-weight: 600; color: #fff; }
.badge.passed { background: #1a7f37; }
.badge.failed { background: #cf222e; }
.badge.not-run, .badge.no-tests { background: #9a6700; }
.badge.optional { background: #6e7781; }
.headline { font-size: 1.2em; font-weight: 600; padding: .5em .8em; border-radius: 6px; }
.headline.ok { background: #dafbe1; }
.headline.bad { background: #ffebe9; }
</style>
</head>
<body>"""

"""The type checker runs on every `make test`, against a baseline that may only shrink.

mypy checks connectors/, insights/, dashboard/ and sample_data/ (settings in pyproject.toml). The
errors known when the checker was introduced are listed in tests/mypy_baseline.txt, one line per
(file, error code, message) with its count; line numbers are left out so that unrelated edits do
not churn it. A new error fails, and so does a baseline entry that no longer occurs: fix the error,
or when one is fixed regenerate the file with

    .venv/bin/python tests/test_types.py --update
"""
from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BASELINE = Path(__file__).with_name("mypy_baseline.txt")
LINE = re.compile(r"^(?P<file>[^:]+):\d+(?::\d+)?: error: (?P<msg>.*?)\s+\[(?P<code>[a-z0-9-]+)\]$")


def _current() -> Counter[str]:
    try:
        import mypy  # noqa: F401
    except ImportError:
        pytest.skip("mypy is not installed (make test installs it with the dev extra)")
    out = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", "--no-pretty", "--show-error-codes"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    if out.returncode not in (0, 1) or "error: " in out.stderr:
        raise AssertionError(f"mypy could not run (exit {out.returncode}):\n{out.stderr[-2000:]}")
    keys: Counter[str] = Counter()
    for line in out.stdout.splitlines():
        m = LINE.match(line)
        if m:
            keys[f"{m['file']} [{m['code']}] {m['msg']}"] += 1
    return keys


def _baseline() -> Counter[str]:
    keys: Counter[str] = Counter()
    for line in BASELINE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            count, _, key = line.partition(" ")
            keys[key] = int(count)
    return keys


def _write(keys: Counter[str]) -> None:
    head = "# mypy errors tolerated for now: '<count> <file> [<code>] <message>'. Only ever shrinks; see tests/test_types.py.\n"
    BASELINE.write_text(head + "".join(f"{n} {k}\n" for k, n in sorted(keys.items())))


def test_no_type_error_beyond_the_baseline() -> None:
    now, base = _current(), _baseline()
    new = {k: n - base.get(k, 0) for k, n in now.items() if n > base.get(k, 0)}
    assert not new, "new type errors (fix them; the baseline never grows):\n" + "\n".join(f"  +{n} {k}" for k, n in sorted(new.items()))


def test_the_baseline_only_shrinks() -> None:
    now, base = _current(), _baseline()
    fixed = {k: n - now.get(k, 0) for k, n in base.items() if n > now.get(k, 0)}
    assert not fixed, ("type errors fixed; shrink the baseline with `.venv/bin/python tests/test_types.py --update`:\n"
                       + "\n".join(f"  -{n} {k}" for k, n in sorted(fixed.items())))


if __name__ == "__main__":
    if sys.argv[1:] == ["--update"]:
        _write(_current())
        print(f"wrote {BASELINE}")

"""Start-up cost: whole-process wall time of importing the SDK and of the CLI's help.

What is measured
----------------
Each row is one command run as a fresh interpreter (``subprocess.run``), timed from the
start of the child to its exit with ``time.perf_counter()``: interpreter start, imports,
the statement, exit. Rows:

* ``python -c pass``: the interpreter alone (for reference).
* ``import aiohttp`` (baseline).
* ``import peertube_async``: what the package itself loads (names are imported on first
  use, PEP 562).
* ``from peertube_async import PeerTube``: the client class, the import every program
  starts with (aiohttp comes with it).
* ``PeerTube(...).videos``: a client built and its resources bound (the generated
  resources load here, on first use, and the few models the video extension names),
  for reference.
* ``import peertube_async.models``: the models module, for reference (its enums; each
  model is built the first time it is used).
* ``peertube-async --help``: the command line's help (the console script next to the
  interpreter, else ``python -m peertube_async``).

Byte-code caches are written first (one untimed run of every command with
``PYTHONDONTWRITEBYTECODE`` unset), as an installed package has them: without them every
run would compile the sources again, which measures the compiler, not the imports. Then
the rows take turns, run after run (``--runs``, default 15), so that load from other
processes falls on every row alike; each row reports the median and the spread of its
runs. Ratios are medians against the ``import aiohttp`` row.

Goals: ``import peertube_async`` and ``from peertube_async import PeerTube`` within
1.30x of ``import aiohttp``; ``peertube-async --help`` within 0.5 s.

Run: ``python benchmarks/startup.py [--json FILE] [--quick] [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from _common import format_table, median, write_json

ROOT = Path(__file__).resolve().parents[1]

BASELINE = "import aiohttp"
#: Goals: a ratio against the baseline's median, or an absolute time in seconds.
RATIO_GOALS = {"import peertube_async": 1.30, "from peertube_async import PeerTube": 1.30}
SECONDS_GOALS = {"peertube-async --help": 0.5}


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("peertube-async")
    if script.exists():
        return [str(script), "--help"]
    found = shutil.which("peertube-async")
    if found:
        return [found, "--help"]
    return [sys.executable, "-m", "peertube_async", "--help"]


def commands() -> dict[str, list[str]]:
    """Row name -> the command it times."""
    py = sys.executable
    return {
        "python -c pass": [py, "-c", "pass"],
        BASELINE: [py, "-c", "import aiohttp"],
        "import peertube_async": [py, "-c", "import peertube_async"],
        "from peertube_async import PeerTube": [py, "-c", "from peertube_async import PeerTube"],
        "PeerTube(...).videos": [
            py,
            "-c",
            "from peertube_async import PeerTube; PeerTube('http://127.0.0.1:9').videos",
        ],
        "import peertube_async.models": [py, "-c", "import peertube_async.models"],
        "peertube-async --help": _cli(),
    }


@dataclass
class Row:
    name: str
    runs: int
    median_s: float
    min_s: float
    max_s: float
    ratio: float
    goal: str


def _env(write_bytecode: bool) -> dict[str, str]:
    env = dict(os.environ)
    # The checkout's package, not an older installed copy.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    if write_bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _run(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, cwd=ROOT, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{command} failed: {done.stderr.decode(errors='replace')[-500:]}")
    return elapsed


def measure(runs: int) -> dict[str, list[float]]:
    cmds = commands()
    warm = _env(write_bytecode=True)
    for command in cmds.values():
        _run(command, warm)
    env = _env(write_bytecode=False)
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for i in range(runs):
        print(f"  run {i + 1}/{runs}", file=sys.stderr)
        for name, command in cmds.items():
            times[name].append(_run(command, env))
    return times


def summarize(times: dict[str, list[float]]) -> list[Row]:
    base = median(times[BASELINE])
    rows = []
    for name, values in times.items():
        m = median(values)
        goal = ""
        if name in RATIO_GOALS:
            limit = RATIO_GOALS[name]
            goal = f"<= {limit:.2f}x " + ("met" if m / base <= limit else "MISSED")
        elif name in SECONDS_GOALS:
            limit = SECONDS_GOALS[name]
            goal = f"<= {limit:.1f} s " + ("met" if m <= limit else "MISSED")
        rows.append(Row(name, len(values), m, min(values), max(values), m / base, goal))
    return rows


def report(rows: Sequence[Row]) -> str:
    headers = ["command", "runs", "median s", "min s", "max s", f"vs {BASELINE}", "goal"]
    body = [
        [
            r.name,
            str(r.runs),
            f"{r.median_s:.3f}",
            f"{r.min_s:.3f}",
            f"{r.max_s:.3f}",
            f"{r.ratio:.2f}x",
            r.goal,
        ]
        for r in rows
    ]
    footer = [
        "Whole-process wall time of each command (fresh interpreter, byte-code caches "
        "written beforehand); rows interleaved run by run; median of the runs.",
        f"Ratios: median against {BASELINE!r}'s median. Lower is better.",
    ]
    return format_table(headers, body, footer)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--quick", action="store_true", help="3 runs, for CI smoke tests")
    parser.add_argument("--runs", type=int, help="runs of every command (15; quick 3)")
    args = parser.parse_args(argv)
    runs = args.runs if args.runs is not None else (3 if args.quick else 15)
    if runs < 1:
        parser.error("--runs must be positive")
    rows = summarize(measure(runs))
    print(report(rows))
    if args.json:
        write_json(args.json, [asdict(r) for r in rows])
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Command line of the generator; see the package docstring."""

from __future__ import annotations

import argparse
import difflib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from .build import Builder
from .render import header, render_models, render_reference, render_resources, render_routes
from .snapshot import FACTS, load_facts, write_facts
from .spec import Spec, SpecError
from .typefacts import TYPE_FACTS, TypeFacts

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent
OUT = PACKAGE / "_generated"
OVERRIDES = HERE / "overrides.yaml"
COMMAND = "python -m peertube_async.codegen"


def render(facts_path: Path, overrides_path: Path, out: Path) -> None:
    """Write the generated folder for the facts at ``facts_path`` (and the TypeScript
    facts beside it) into ``out`` (wiped first)."""
    facts = load_facts(facts_path)
    spec = Spec(facts)
    overrides = yaml.safe_load(overrides_path.read_text()) or {}
    builder = Builder(spec, overrides, TypeFacts.load(facts_path.parent / TYPE_FACTS.name))
    builder.build()
    source = facts.get("source") or {}
    head = header(COMMAND, str(source.get("spec_version")), str(source.get("sha256")))
    files = {
        "__init__.py": head + '"""Code generated from the OpenAPI spec; see ``codegen``."""\n',
        "models.py": render_models(builder, head),
        "resources.py": render_resources(builder, head),
        "routes.py": render_routes(builder, head),
    }
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name, text in files.items():
        (out / name).write_text(text)
    _format(out)
    (out / "API.md").write_text(render_reference(builder, COMMAND))


def _format(folder: Path) -> None:
    py = sorted(str(p) for p in folder.glob("*.py"))
    ruff = [sys.executable, "-m", "ruff"]
    subprocess.run(
        [*ruff, "check", "--fix", "--quiet", "--select", "I,F401,UP,RUF022", *py],
        check=False,
        cwd=PACKAGE.parent,
    )
    subprocess.run([*ruff, "format", "--quiet", *py], check=True, cwd=PACKAGE.parent)


def check(facts_path: Path, overrides_path: Path) -> int:
    """0 when the checked-in folder is what :func:`render` writes now, else 1."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "_generated"
        render(facts_path, overrides_path, fresh)
        want = {p.name: p.read_text() for p in fresh.iterdir() if p.is_file()}
        have = {p.name: p.read_text() for p in OUT.iterdir() if p.is_file()} if OUT.exists() else {}
    stale = sorted(n for n in set(want) | set(have) if want.get(n) != have.get(n))
    for name in stale:
        diff = difflib.unified_diff(
            have.get(name, "").splitlines(),
            want.get(name, "").splitlines(),
            f"checked-in/{name}",
            f"generated/{name}",
            lineterm="",
            n=1,
        )
        print("\n".join(list(diff)[:40]))
    if stale:
        print(f"generated code is stale: {', '.join(stale)}; run `{COMMAND}`", file=sys.stderr)
        return 1
    print("generated code is current")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m peertube_async.codegen",
        description="Write peertube_async/_generated from the facts snapshots and "
        "overrides.yaml; `snapshot --spec PATH` refreshes the spec's facts first.",
    )
    parser.add_argument("--facts", type=Path, default=FACTS, help=argparse.SUPPRESS)
    parser.add_argument("--overrides", type=Path, default=OVERRIDES, help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help="fail when the output is stale")
    sub = parser.add_subparsers(dest="command")
    snap = sub.add_parser("snapshot", help="write the facts of an upstream OpenAPI spec")
    snap.add_argument("--spec", required=True, type=Path, help="PeerTube's openapi.yaml")
    types = sub.add_parser(
        "types", help="write the facts of PeerTube's TypeScript models (npm packages)"
    )
    types.add_argument(
        "--tarballs",
        type=Path,
        help="a folder of peertube-peertube-types-X.tgz files (default: npm pack them)",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "snapshot":
            write_facts(args.spec, args.facts)
            print(f"wrote {_shown(args.facts)}; review its diff, then run `{COMMAND}`")
            return 0
        if args.command == "types":
            from .tsfacts import write_snapshot

            out = args.facts.parent / TYPE_FACTS.name
            write_snapshot(out, tarballs_dir=args.tarballs)
            print(f"wrote {_shown(out)}; review its diff, then run `{COMMAND}`")
            return 0
        if args.check:
            return check(args.facts, args.overrides)
        render(args.facts, args.overrides, OUT)
    except SpecError as exc:
        print(f"codegen: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {_shown(OUT)}")
    return 0


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PACKAGE.parent))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    raise SystemExit(main())

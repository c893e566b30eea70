"""The README cannot drift from the product: every `flask` command the docs name exists with the
options they give it, the command blocks a newcomer copies work without an activated venv, and
the docs point only at paths inside this repository (the product contract is `docs/spec.md`).
"""

from __future__ import annotations

import os
import re
import subprocess
from fnmatch import fnmatch
from pathlib import Path

import click
import pytest

from app import create_app
from app.auth.permissions import ROLE_SCOPES, SCOPES

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# What the docs describe, in the repository's own words.
DOCS = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "helm/README.md"]
DOCS += [ROOT / "bench/README.md"]
# Files the docs name that `make run` writes; they are not in the repository.
GENERATED = {"instance/demo-credentials.json", "instance/secret-key", "instance/jwt-es256.pem"}
# Flask's own commands (`flask run`), not the app's.
FLASK_BUILTINS = {"run", "shell", "routes"}
FLASK_INVOCATION = re.compile(r"flask --app wsgi\b(.*)")


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(heading above it, body) of every fenced code block."""
    blocks, heading = [], ""
    lines = iter(text.splitlines())
    for line in lines:
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("```"):
            body = []
            for inner in lines:
                if inner.startswith("```"):
                    break
                body.append(inner)
            blocks.append((heading, "\n".join(body)))
    return blocks


def prose(text: str) -> str:
    """The text outside fenced code blocks."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def flask_commands(path: Path) -> list[str]:
    """The argument string of every `flask --app wsgi ...` the file names."""
    text = path.read_text()
    if path.suffix != ".md":  # Procfile.dev, Makefile: one command a line
        pieces = text.splitlines()
    else:
        pieces = [body for _, block in code_blocks(text) for body in block.splitlines()]
        # Inline code may wrap across lines.
        pieces += [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose(text))]
    found = []
    for piece in pieces:
        match = FLASK_INVOCATION.search(piece.split(" #", 1)[0])
        if match and match.group(1).strip() != "...":  # "...": any of them
            found.append(match.group(1).strip())
    return found


def resolve(group: click.Group, args: str) -> tuple[click.Command | None, list[str]]:
    """The command `args` names under `group`, and the options written after it."""
    words = args.split()
    command: click.Command = group
    while words and isinstance(command, click.Group) and words[0] in command.commands:
        command = command.commands[words.pop(0)]
    options = [re.sub(r"[\[\]]|=.*", "", w) for w in words if w.lstrip("[").startswith("--")]
    return command, options


NAMED = [
    (path.relative_to(ROOT).as_posix(), args)
    for path in [*DOCS, ROOT / "Procfile.dev", ROOT / "Makefile"]
    for args in flask_commands(path)
]


def test_the_docs_name_flask_commands_at_all():
    # A parser that finds nothing would pass every check below.
    assert len({args for _, args in NAMED}) >= 15
    assert any(where == "Procfile.dev" for where, _ in NAMED)


@pytest.fixture(scope="module")
def cli(tmp_path_factory) -> click.Group:
    """The app's command group (`flask --app wsgi`); naming commands needs no database."""
    instance = tmp_path_factory.mktemp("instance")
    return create_app({"INSTANCE_PATH": str(instance), "SECRET_KEY": "test-secret"}).cli


@pytest.mark.parametrize(("where", "args"), NAMED, ids=[f"{w}: {a}" for w, a in NAMED])
def test_every_flask_command_the_docs_name_exists_with_the_options_they_give_it(cli, where, args):
    if args.split()[:1] and args.split()[0] in FLASK_BUILTINS:
        return  # Flask's own `run`: its options are Flask's, documented by Flask
    command, options = resolve(cli, args)
    if args.startswith("--help"):
        return
    assert command is not cli, f"{where} names no command: flask --app wsgi {args}"
    assert not isinstance(command, click.Group), f"{where} names only a group: {args}"
    known = {opt for param in command.params for opt in param.opts}
    unknown = [o for o in options if o not in known | {"--help"}]
    assert not unknown, f"{where}: `{args}` has no {unknown}"


def test_command_blocks_run_flask_from_the_venv_except_in_the_production_image():
    for heading, block in code_blocks(README.read_text()):
        for line in block.splitlines():
            # Leading VAR=value assignments are part of the command.
            command = re.sub(r"^(\w+=\S+\s+)*", "", line.strip())
            if command.split()[:1] in (["flask"], ["gunicorn"], ["python"], ["pip"]):
                assert heading == "Run it in production", (heading, line)


def test_the_command_that_lists_every_command_works_as_written_without_an_activated_venv():
    spans = re.findall(r"`([^`]+)`", prose(README.read_text()))
    [listed] = [s for s in spans if "flask" in s and s.endswith("--help")]
    assert listed == ".venv/bin/flask --app wsgi --help"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = "/usr/bin:/bin"  # a fresh shell: the venv's bin is not on it
    env = {k: v for k, v in env.items() if not k.startswith(("SWITCHBOARD_", "FLASK_"))}
    result = subprocess.run(
        listed.split(), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for group in ("db", "users", "api-clients", "tenants", "sla", "worker", "billing", "demo"):
        assert re.search(rf"^\s+{group}\s", result.stdout, re.M), result.stdout


def test_the_readme_lists_every_scope_with_the_roles_that_may_hold_it():
    rows = re.findall(r"^\s*\| `([a-z]+:[a-z]+)` \| [^|]+ \| ([^|]+) \|$", README.read_text(), re.M)
    assert [scope for scope, _ in rows] == list(SCOPES)
    every_role = set(ROLE_SCOPES)
    for scope, roles_cell in rows:
        holders = {role for role, scopes in ROLE_SCOPES.items() if scope in scopes}
        if roles_cell.strip() == "all":
            written = every_role
        elif roles_cell.startswith("all but"):
            written = every_role - set(re.findall(r"`(\w+)`", roles_cell))
        else:
            written = set(re.findall(r"`(\w+)`", roles_cell))
        assert written == holders, scope


def tracked() -> set[str]:
    """Every file and folder in the repository (not what a run left in the checkout)."""
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    paths = {f for f in files if f}
    return paths | {p.as_posix() for f in paths for p in Path(f).parents if p.name}


TRACKED = tracked()


def repository_paths(text: str) -> list[str]:
    """Inline-code tokens that are paths under one of the repository's top-level folders."""
    top = {p for p in TRACKED if "/" not in p}
    found = []
    for span in re.findall(r"`([^`\s]+)`", text):
        path = span.split("::", 1)[0]
        if re.fullmatch(r"[\w.-]+(/[\w.*-]+)*/?", path) and "/" in path:
            if path.split("/", 1)[0] in top:
                found.append(path)
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_docs_point_only_at_paths_inside_the_repository(doc):
    text = doc.read_text()
    # `.../calendar` is an API path abbreviated; `../x` leaves the repository.
    assert not re.search(r"(?<![.\w])\.\./", text), "a path outside the repository"
    assert "shared/" not in text, "the product contract is docs/spec.md"
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://|#|mailto:", target):
            continue
        assert (doc.parent / target.split("#")[0]).exists(), target
    for path in repository_paths(text):
        if path in GENERATED:
            continue
        pattern = path.rstrip("/")
        assert any(fnmatch(p, pattern) for p in TRACKED), (
            f"{doc.name} names {path}: not in the repo"
        )

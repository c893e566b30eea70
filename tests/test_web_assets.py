"""The web app's own files: the vendored browser libraries are the pinned ones, with their
licences; the translation catalogs are complete and compiled."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from app.web.vendor import PACKAGES

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "app/web/translations"


def test_vendored_files_are_the_pinned_releases_with_their_licences():
    for package in PACKAGES:
        manifest = json.loads((package.target / "VENDOR.json").read_text())[package.name]
        assert manifest["version"] == package.version
        for name, sha256 in manifest["files"].items():
            assert hashlib.sha256((package.target / name).read_bytes()).hexdigest() == sha256
        assert any("LICENSE" in name for name in manifest["files"])


def test_spanish_catalog_translates_every_string_and_is_compiled():
    with (TRANSLATIONS / "messages.pot").open("rb") as f:
        template = read_po(f)
    folder = TRANSLATIONS / "es/LC_MESSAGES"
    with (folder / "messages.po").open("rb") as f:
        spanish = read_po(f)
    with (folder / "messages.mo").open("rb") as f:
        compiled = read_mo(f)
    wanted = {(m.context, m.id) for m in template if m.id}
    untranslated = sorted(
        str(m.id)
        for m in spanish
        if m.id and (not m.string or m.fuzzy) and (m.context, m.id) in wanted
    )
    assert not untranslated, f"untranslated in es: {untranslated[:20]}"
    assert wanted <= {(m.context, m.id) for m in spanish if m.id}, "run `make translations`"
    # A plural reads back from the .mo as lists, from the .po as tuples: compare them as tuples;
    # one msgid may carry several contexts (app/web/labels.py), each its own message.
    assert {(m.context, _plain(m.id)): _plain(m.string) for m in spanish if m.id and m.string} == {
        (m.context, _plain(m.id)): _plain(m.string) for m in compiled if m.id
    }, "run `make translations` (the compiled catalog is stale)"


def _plain(value):
    return tuple(value) if isinstance(value, list | tuple) else value

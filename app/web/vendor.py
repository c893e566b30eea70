"""The web app's third-party browser files: which npm packages, at which pinned versions, and the
refresh that fetches them (`make vendor`).

Every page is served from this app alone (no CDN), so the files live in the repository, each with
its licence; `VENDOR.json` beside them records where each came from and its SHA-256, and a test
checks the files still match it. Refreshing downloads the pinned tarballs from the npm registry,
verifies them against the registry's published integrity (SHA-512), and rewrites the files.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    # tarball path (under package/) -> file name in the target folder
    files: dict[str, str]
    target: Path


PACKAGES = (
    # htmx 2 (not 4): its attribute inheritance and events are what the pages are written for.
    Package(
        "htmx.org",
        "2.0.11",
        {"dist/htmx.min.js": "htmx.min.js", "LICENSE": "htmx.LICENSE.txt"},
        ROOT / "app/web/static/vendor",
    ),
    Package(
        "chart.js",
        "4.6.1",
        {"dist/chart.umd.min.js": "chart.umd.min.js", "LICENSE.md": "chart.js.LICENSE.md"},
        ROOT / "app/web/static/vendor",
    ),
    # Only the browser tests load axe-core; it is never served to a person.
    Package(
        "axe-core",
        "4.14.1",
        {"axe.min.js": "axe.min.js", "LICENSE": "axe-core.LICENSE.txt"},
        ROOT / "tests/vendor",
    ),
)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - fixed https URL
        return response.read()


def _refresh(package: Package) -> dict:
    meta = json.loads(_get(f"{REGISTRY}/{package.name}/{package.version}"))
    tarball = _get(meta["dist"]["tarball"])
    algorithm, _, expected = meta["dist"]["integrity"].partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode()
    if actual != expected:
        raise SystemExit(f"{package.name}@{package.version}: tarball integrity mismatch")
    package.target.mkdir(parents=True, exist_ok=True)
    written = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for source, name in package.files.items():
            member = archive.extractfile(f"package/{source}")
            if member is None:
                raise SystemExit(f"{package.name}: {source} is not in the tarball")
            content = member.read()
            (package.target / name).write_bytes(content)
            written[name] = hashlib.sha256(content).hexdigest()
    return {
        "version": package.version,
        "tarball": meta["dist"]["tarball"],
        "integrity": meta["dist"]["integrity"],
        "license": meta.get("license"),
        "files": written,
    }


def main() -> int:
    manifests: dict[Path, dict] = {}
    for package in PACKAGES:
        manifests.setdefault(package.target, {})[package.name] = _refresh(package)
        print(f"{package.name}@{package.version}")
    for target, manifest in manifests.items():
        (target / "VENDOR.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""constraints.txt: the pinned dependency set installs on Raspberry Pi OS, 64-bit and 32-bit, Python 3.11 (bookworm)
and 3.13 (trixie). Asked of PyPI the way pip installs (``pip download --only-binary=:all: --platform …``)."""
from __future__ import annotations

import subprocess
import sys
import urllib.request
from importlib.metadata import distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "constraints.txt"
GLIBC = 36                       # bookworm's glibc 2.36 (trixie has 2.41): a wheel must need no newer one
PYTHONS = ("3.11", "3.13")
# 32-bit Raspberry Pi OS: PyPI has no armv7l wheel for these. Raspberry Pi OS's pip takes them from piwheels; without
# it, pip builds them (install.sh installs gcc, g++, python3-dev and libffi-dev on armv7l). uvloop is optional: the
# DNS daemon runs on asyncio's own loop without it.
ARMV7_BUILDS = {"argon2-cffi-bindings", "cffi", "marisa-trie", "pyyaml", "uvloop"}


def pins() -> dict[str, str]:
    out = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"constraints.txt: {line!r} is not pinned with =="
            out[canonicalize_name(name)] = version.strip()
    return out


def test_every_dependency_is_pinned_within_its_range():
    """pyproject's dependencies (this platform's) each have a pin, and the pin satisfies the range asked."""
    have = pins()
    for raw in distribution("hearth").requires or []:
        req = Requirement(raw)
        if req.marker and not req.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(req.name)
        assert name in have, f"{req.name} is a dependency but constraints.txt does not pin it"
        assert req.specifier.contains(have[name], prereleases=True), f"{name}=={have[name]} is outside {req}"


def test_the_pins_are_closed():
    """What each pinned package needs is pinned too (read from the installed metadata when the versions agree)."""
    have = pins()
    for name, version in have.items():
        try:
            dist = distribution(name)
        except Exception:
            continue
        if dist.version != version:
            continue
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker and not req.marker.evaluate({"extra": ""}):
                continue
            assert canonicalize_name(req.name) in have, f"{name} needs {req.name}, which is not pinned"


def _pypi_reachable() -> bool:
    try:
        urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=10).close()
        return True
    except OSError:
        return False


needs_pypi = pytest.mark.skipif(not _pypi_reachable(), reason="PyPI is not reachable from here")


def _download(arch: str, python: str, reqs: list[str], dest: Path) -> subprocess.CompletedProcess:
    platforms = [a for y in range(17, GLIBC + 1) for a in ("--platform", f"manylinux_2_{y}_{arch}")]
    platforms += ["--platform", f"manylinux2014_{arch}", "--platform", f"linux_{arch}"]
    abi = "cp" + python.replace(".", "")
    return subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", *platforms,
         "--python-version", python, "--implementation", "cp", "--abi", abi, "--abi", "abi3", "--abi", "none",
         "-d", str(dest), *reqs], capture_output=True, text=True, timeout=600)


@needs_pypi
@pytest.mark.parametrize("python", PYTHONS)
def test_64_bit_pi_gets_a_wheel_for_every_pin(tmp_path, python):
    r = _download("aarch64", python, [f"{n}=={v}" for n, v in pins().items()], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]


@needs_pypi
@pytest.mark.parametrize("python", PYTHONS)
def test_32_bit_pi_gets_a_wheel_for_all_but_the_listed_builds(tmp_path, python):
    have = pins()
    r = _download("armv7l", python, [f"{n}=={v}" for n, v in have.items() if n not in ARMV7_BUILDS], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    # And the list is true: each of those still has no wheel (when one appears, take it off the list).
    for name in sorted(ARMV7_BUILDS & set(have)):
        r = _download("armv7l", python, [f"{name}=={have[name]}"], tmp_path)
        assert r.returncode != 0, f"{name} now has an armv7l wheel for Python {python}: drop it from ARMV7_BUILDS"

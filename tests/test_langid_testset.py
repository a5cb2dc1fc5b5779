"""The shipped language-id set (tests/data/langid/manpages.jsonl.zst) is what
scripts/langid_testset.py builds from the Debian packages: downloads ~45 MB with apt-get."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import langid_testset  # noqa: E402


@pytest.mark.slow
def test_the_shipped_set_is_rebuilt_byte_identical_from_the_packages(tmp_path: Path) -> None:
    assert shutil.which("apt-get") and shutil.which("dpkg"), "needs Debian's apt-get and dpkg"
    debs = tmp_path / "debs"
    debs.mkdir()
    packages = [*langid_testset.PACKAGES, "manpages-dev", *langid_testset.ENGLISH_UPSTREAM]
    got = subprocess.run(
        ["apt-get", "download", *packages], cwd=debs, capture_output=True, text=True
    )
    assert got.returncode == 0, got.stderr
    src = tmp_path / "x"
    src.mkdir()
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg", "-x", deb, src / deb.name.split("_")[0]], check=True)
    out = tmp_path / "manpages.jsonl.zst"
    assert langid_testset.main([str(src), str(out)]) == 0
    shipped = ROOT / "tests" / "data" / "langid" / "manpages.jsonl.zst"
    # A new Debian point release of a package can change a page: then rebuild and ship the set.
    assert out.read_bytes() == shipped.read_bytes()

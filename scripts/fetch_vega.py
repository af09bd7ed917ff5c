"""Put Vega, Vega-Lite and vega-embed (from the npm registry) under _vendor/_static/vega (the
built book's _static/vega), so the book's explorers run offline: the built pages load them from
there, never from a CDN.

    python scripts/fetch_vega.py        (make setup runs it; it does nothing when they are there)

The versions are grokbook.teaching.explorers.VEGA_JS, the ones the explorers' pages and their
CDN fallback (Colab, Jupyter) name.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from grokbook.teaching.explorers import VEGA_JS  # noqa: E402

DEST = ROOT / "_vendor" / "_static" / "vega"


def fetched() -> bool:
    stamp = DEST / "versions.json"
    want = {name: version for name, version, _ in VEGA_JS}
    return stamp.exists() and json.loads(stamp.read_text()) == want and all(
        (DEST / f"{name}.min.js").exists() for name in want)


def main() -> int:
    if fetched():
        return 0
    if not shutil.which("npm"):
        raise SystemExit("npm is needed to fetch Vega for the book's explorers (apt-get install npm)")
    DEST.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, version, path in VEGA_JS:
            out = subprocess.run(["npm", "pack", "--silent", f"{name}@{version}"], cwd=tmp,
                                 capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(f"npm pack {name}@{version} failed: {out.stderr.strip()}")
            with tarfile.open(Path(tmp) / out.stdout.strip().splitlines()[-1]) as tgz:
                tgz.extractall(Path(tmp) / name, filter="data")
            package = Path(tmp) / name / "package"
            shutil.copy(package / path, DEST / f"{name}.min.js")
            shutil.copy(package / "LICENSE", DEST / f"{name}.LICENSE")
    (DEST / "versions.json").write_text(json.dumps({n: v for n, v, _ in VEGA_JS}, indent=1) + "\n")
    print("Vega in", DEST.relative_to(ROOT), ", ".join(f"{n} {v}" for n, v, _ in VEGA_JS))
    return 0


if __name__ == "__main__":
    sys.exit(main())

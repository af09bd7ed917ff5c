"""The GitHub Pages workflow: valid for GitHub (check-jsonschema's vendored schema of workflow
files, no network) and doing what the README promises (the book profile, the committed results,
_build/html published)."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def lint(path):
    exe = shutil.which("check-jsonschema")
    cmd = ([exe] if exe else [sys.executable, "-m", "check_jsonschema"])
    return subprocess.run(cmd + ["--builtin-schema", "vendor.github-workflows", str(path)],
                          capture_output=True, text=True, timeout=120)


def test_there_is_a_pages_workflow():
    assert [p.name for p in WORKFLOWS] == ["book.yml"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_passes_the_linter(path):
    out = lint(path)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_linter_catches_a_broken_workflow(tmp_path):
    broken = yaml.safe_load((ROOT / ".github/workflows/book.yml").read_text())
    broken["jobs"]["build"]["runs-onn"] = broken["jobs"]["build"].pop("runs-on")
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump(broken))
    out = lint(bad)
    assert out.returncode != 0 and "runs-on" in out.stdout + out.stderr


def test_pages_workflow_builds_the_book_profile_and_publishes_the_html():
    text = (ROOT / ".github/workflows/book.yml").read_text()
    wf = yaml.safe_load(text)
    steps = wf["jobs"]["build"]["steps"]
    build = next(s for s in steps if "jupyter-book build" in s.get("run", ""))
    assert build["env"]["GROKBOOK_PROFILE"] == "book"
    execute = [i for i, s in enumerate(steps) if "scripts/execute_chapters.py --profile book" in s.get("run", "")]
    assert execute and execute[0] < steps.index(build), "each chapter executed once (claims checked), then rendered"
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    deploy = wf["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert deploy["steps"][0]["uses"].startswith("actions/deploy-pages")
    assert {"pages": "write", "id-token": "write"}.items() <= wf["permissions"].items()
    assert "torch==2.13.0" in text and "download.pytorch.org/whl/cpu" in text  # not a CUDA build

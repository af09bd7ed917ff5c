"""Re-key committed results to the engine digest of today's code, where the code is proven the same.

    python scripts/rekey_results.py --same-code-as COMMIT [--renamed OLD=NEW ...]

For when the engine's code moves or the digest's scheme changes but no number can change.  It
checks, and refuses to write anything unless all hold:

1. every result in results/ was current at COMMIT: its stored engine digest (the transformer
   diagram's code digest) is the one COMMIT's own package computes;
2. the engine at COMMIT, read with today's digest (``grokbook.store.digest``: pieces keyed by
   qualified name, wherever they sit), has exactly today's pieces and sources, for the sweeps with
   per-example records and for those without, and so has the transformer's training code; with
   ``--renamed OLD=NEW`` the identifier OLD of COMMIT's code is read as NEW first (a rename
   changes a piece's name and its callers' text, not what they compute).

Then it rewrites each result's provenance with today's digest and parts and appends a record of
the proof (COMMIT, both digests, this command) under ``rekeyed``.  The arrays are not touched.
"""
from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
import tempfile
import tokenize
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grokbook.store import digest, files, sweeps, transformer_diagram  # noqa: E402


def old_tree(commit: str, into: Path) -> Path:
    data = subprocess.run(["git", "archive", commit, "grokbook"], cwd=ROOT, capture_output=True,
                          check=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into / "grokbook"


def old_value(tree: Path, expression: str) -> str:
    """``expression`` evaluated by COMMIT's own package (imported from its tree), with ``S`` its
    sweeps module and ``T`` its transformer diagram's, in the flat layout or the layered one."""
    code = (f"import sys, importlib; sys.path.insert(0, {str(tree.parent)!r}); import grokbook\n"
            "def load(*names):\n"
            "    for name in names:\n"
            "        try:\n"
            "            return importlib.import_module(name)\n"
            "        except ImportError:\n"
            "            pass\n"
            "S = load('grokbook.store.sweeps', 'grokbook.sweeps')\n"
            "R = getattr(load('grokbook.store.files', 'grokbook.sweeps'), 'read_npz', None) or S._read\n"
            "T = load('grokbook.store.transformer_diagram', 'grokbook.transformer_diagram')\n"
            f"print({expression})")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=tree.parent).stdout.strip().splitlines()[-1]


def renamed(text: str, renames: dict) -> str:
    """``text`` with every identifier token OLD of ``renames`` written NEW (strings, comments and
    longer names that contain OLD are left alone)."""
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.NAME and tok.string in renames:
            tok = tok._replace(string=renames[tok.string])
        out.append(tok)
    return tokenize.untokenize(out)


def sources_as_today(tree: Path, renames: dict) -> dict:
    """COMMIT's files (renames applied), each engine module under the path today's
    ENGINE_MODULES give it."""
    sources = {p.relative_to(tree).as_posix(): renamed(p.read_text(), renames)
               for p in sorted(tree.rglob("*.py"))}
    for path in digest.ENGINE_MODULES:
        if path not in sources:
            hits = [k for k in sources if Path(k).name == Path(path).name]
            if len(hits) != 1:
                raise SystemExit(f"{path}: no single file of that name at the old commit ({hits})")
            sources[path] = sources.pop(hits[0])
    return sources


def rekey(commit: str, results, command: str, why: str, extra: dict | None = None) -> None:
    """Write today's engine digest into every result of ``results`` with a record of the proof
    (``why``, ``command``, ``extra``), after checking that each was current at ``commit`` (as
    that commit's own package judges it); SystemExit naming the first that was not."""
    results = Path(results)
    with tempfile.TemporaryDirectory() as tmp:
        tree = old_tree(commit, Path(tmp))
        # what COMMIT's own package said of each result: the engine pieces changed since it was made
        stale_then = json.loads(old_value(tree, (
            "__import__('json').dumps({p.name: S.stale_parts(R(p)[1], "
            "S.sweep(*p.stem.rsplit('-', 2)[:2])) for p in "
            f"__import__('pathlib').Path({str(results)!r}).glob('*.npz')}})")))
        then_transformer = old_value(tree, "T.code_digest()")
    plans = []
    for path in sorted(results.glob("*.npz")):
        arrays, meta = files.read_npz(path)
        name, profile, _ = path.stem.rsplit("-", 2)
        pe = sweeps.sweep(name, profile).per_example
        if meta["engine"] != digest.engine_digest(per_example=pe) and stale_then.get(path.name) != []:
            raise SystemExit(f"{path.name} was not current at {commit[:12]} (changed then: "
                             f"{stale_then.get(path.name)}); regenerate it instead")
        plans.append((path, arrays, meta, pe))
    diagrams = []
    for path in sorted(results.glob("transformer_phase_diagram-*.json")):
        record = json.loads(path.read_text())
        if record["provenance"].get("code") not in (then_transformer, transformer_diagram.code_digest()):
            raise SystemExit(f"{path.name} was not current at {commit[:12]}; regenerate it instead")
        diagrams.append((path, record))
    base = {"commit": commit, "why": why, "command": command, **(extra or {})}
    for path, arrays, meta, pe in plans:
        now = digest.engine_digest(per_example=pe)
        if meta["engine"] == now:
            print(f"{path.name}: current already")
            continue
        note = {"from": meta["engine"], "to": now, **base}
        meta = dict(meta, engine=now, engine_parts=digest.engine_parts(per_example=pe),
                    rekeyed=meta.get("rekeyed", []) + [note])
        files._write(path, arrays, meta)
        print(f"{path.name}: {note['from']} -> {now}")
    for path, record in diagrams:
        now = transformer_diagram.code_digest()
        if record["provenance"]["code"] == now:
            print(f"{path.name}: current already")
            continue
        note = {"from": record["provenance"]["code"], "to": now, **base}
        record["provenance"].update(code=now, rekeyed=record["provenance"].get("rekeyed", []) + [note])
        path.write_text(json.dumps(record, indent=1) + "\n")
        print(f"{path.name}: {note['from']} -> {now}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--same-code-as", required=True, metavar="COMMIT")
    ap.add_argument("--renamed", action="append", default=[], metavar="OLD=NEW")
    ap.add_argument("--results", default=str(ROOT / "results"))
    args = ap.parse_args(argv)
    renames = dict(r.split("=", 1) for r in args.renamed)
    commit = subprocess.run(["git", "rev-parse", args.same_code_as], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        sources = sources_as_today(old_tree(commit, Path(tmp)), renames)
        for pe in (True, False):
            old_pieces, now_pieces = digest.engine_pieces(sources, pe), digest._pieces(None, pe)
            differ = sorted(k for k in set(old_pieces) | set(now_pieces)
                            if old_pieces.get(k) != now_pieces.get(k))
            if differ:
                raise SystemExit(f"the engine's code differs from {commit[:12]}'s "
                                 f"(per_example={pe}): {', '.join(differ)}; regenerate instead")
        old_tf = digest.engine_pieces(sources, False)
        old_tf.update(digest.find_pieces(transformer_diagram.TRAINING_CODE, sources))
        if digest.pieces_digest(old_tf) != transformer_diagram.code_digest():
            raise SystemExit(f"the transformer's training code differs from {commit[:12]}'s")
    command = " ".join(["python scripts/rekey_results.py --same-code-as", args.same_code_as]
                       + [f"--renamed {r}" for r in args.renamed])
    rekey(commit, args.results, command, "the same engine pieces, name by name and source by source",
          {"renamed": renames})
    return 0


if __name__ == "__main__":
    sys.exit(main())

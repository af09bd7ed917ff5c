"""gb.claims.check: a claim holds or fails with a message naming the value, the threshold and the
shortfall; its margin is the worst seed's distance inside the threshold (compared with a loop over
the values); the contrast's margin is on the other side; the log is what claim_margins.py reads."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from grokbook.teaching import claims

ROOT = Path(__file__).resolve().parents[1]


def brute_margin(values, op, threshold):
    worst = math.inf
    for v in values:
        d = v - threshold if op in (">=", ">") else threshold - v
        worst = min(worst, d)
    return worst


@pytest.mark.parametrize("op", [">=", ">", "<=", "<"])
def test_margin_is_the_worst_values_distance_inside(op):
    rng = np.random.default_rng(0)
    for _ in range(50):
        values = rng.uniform(0, 1, size=rng.integers(1, 6))
        threshold = 0.5
        expected = brute_margin(values, op, threshold)
        holds = expected > 0 if op in (">", "<") else expected >= 0
        if holds:
            assert claims.check("c", values, op, threshold, kind="accuracy", what="w") == pytest.approx(expected)
        else:
            with pytest.raises(claims.ClaimError):
                claims.check("c", values, op, threshold, kind="accuracy", what="w")


def test_a_failing_claim_names_value_threshold_and_shortfall():
    with pytest.raises(AssertionError) as e:
        claims.check("forget.inverted", pd.Series([0.106, 0.163, 0.082]), "<=", 0.15, kind="changed fraction",
                     what="few changed labels to forget")
    message = str(e.value)
    assert "forget.inverted" in message and "few changed labels to forget" in message
    assert "0.163 <= 0.15" in message and "short by 0.013" in message


def test_equal_to_the_threshold_holds_only_when_not_strict():
    assert claims.check("c", [0.9], ">=", 0.9, kind="accuracy", what="w") == 0
    with pytest.raises(claims.ClaimError):
        claims.check("c", [0.9], ">", 0.9, kind="accuracy", what="w")


def test_nan_never_holds():
    with pytest.raises(claims.ClaimError):
        claims.check("c", [0.95, float("nan")], ">=", 0.9, kind="accuracy", what="w")


def test_values_of_every_type_a_chapter_has():
    for values in (0.95, [0.95, 0.97], np.array([0.95, 0.97]), pd.Series([0.95, 0.97]), torch.tensor([0.95, 0.97])):
        assert claims.check("c", values, ">=", 0.9, kind="accuracy", what="w") == pytest.approx(0.05)


@pytest.mark.parametrize("bad, message", [
    (dict(op="=>"), "op must be one of"),
    (dict(threshold=float("nan")), "threshold must be a finite number"),
    (dict(threshold="0.9"), "threshold must be a finite number"),
    (dict(kind=""), "kind must be a non-empty string"),
    (dict(values=[]), "values must hold at least one number"),
    (dict(name=""), "name must be a non-empty string"),
])
def test_bad_input_is_refused_by_name(bad, message):
    args = dict(name="c", values=[0.95], op=">=", threshold=0.9, kind="accuracy", what="w") | bad
    with pytest.raises(ValueError, match=message):
        claims.check(args.pop("name"), args.pop("values"), args.pop("op"), args.pop("threshold"), **args)


def test_the_log_records_values_margins_and_the_contrast(tmp_path, monkeypatch):
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv(claims.LOG, str(log))
    monkeypatch.setenv("GROKBOOK_CHAPTER", "08_memorization")
    claims.check("inverted", [0.10, 0.16], "<=", 0.35, kind="changed fraction", what="few",
                 contrast={"Coexistence": [0.99, 1.0]})
    claims.check("inverted", [0.10, 0.12], "<=", 0.35, kind="changed fraction", what="few")  # the latest wins
    with pytest.raises(claims.ClaimError):
        claims.check("broken", [0.5], ">=", 0.9, kind="accuracy", what="fails")
    rows = {r["name"]: r for r in claims.read_log(log)}
    assert set(rows) == {"inverted", "broken"}
    assert rows["inverted"]["values"] == [0.10, 0.12] and rows["inverted"]["margin"] == pytest.approx(0.23)
    assert rows["broken"]["holds"] is False and rows["broken"]["margin"] == pytest.approx(-0.4)
    assert rows["inverted"]["chapter"] == "08_memorization" and rows["inverted"]["threads"] >= 1
    first = json.loads(log.read_text().splitlines()[0])
    assert first["contrast_margin"]["Coexistence"] == pytest.approx(0.99 - 0.35)  # the contrast's nearest value


def test_claim_margins_table_flags_a_margin_below_the_spread(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    import claim_margins

    two, one = tmp_path / "two", tmp_path / "one"
    for folder, auc in ((two, 0.80), (one, 0.77)):
        folder.mkdir()
        rows = [dict(name="acc", what="generalizes", kind="accuracy", op=">=", threshold=0.9, values=[0.95, 0.92],
                     margin=0.02, holds=True, contrast={}, contrast_margin={}, chapter="07_two_stages",
                     profile="book", threads=2, cpu="cpu", machine="x86_64"),
                dict(name="auc", what="finds them", kind="AUC", op=">=", threshold=0.75, values=[auc],
                     margin=auc - 0.75, holds=True, contrast={}, contrast_margin={}, chapter="07_two_stages",
                     profile="book", threads=2, cpu="cpu", machine="x86_64")]
        (folder / "07_two_stages.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    table = claim_margins.table(claim_margins.load(two), claim_margins.load(one))
    acc = table[table.claim == "acc"].iloc[0]
    auc = table[table.claim == "auc"].iloc[0]
    assert acc.spread == pytest.approx(0.03) and acc.spread_from == "between CPUs" and not acc.ok
    assert auc.spread == pytest.approx(0.03) and auc.spread_from == "1 vs 2 threads" and auc.ok


def test_a_phase_claim_measures_the_distance_to_the_phase_boundaries():
    from grokbook.core.phases import phases

    rng = np.random.default_rng(1)
    runs = pd.DataFrame(dict(train_acc=rng.uniform(0.5, 1, 200), test_acc=rng.uniform(0.5, 1, 200),
                             xi=rng.choice([0.2, 0.35], 200)))
    runs["phase"] = phases(runs.train_acc, runs.test_acc, runs.xi)
    for r in runs.itertuples():
        one = runs.loc[[r.Index]]
        # the margin is positive exactly for the run's own phase, and is the nearest boundary's distance
        for name in ("Coexistence", "Partial Inversion", "Full Inversion", "Memorization", "Forgetting / Confusion"):
            m = claims.phase_margins(one, name)[0]
            assert (m >= 0) == (name == r.phase) or abs(m) < 1e-12
        edges = [r.test_acc - 0.9, r.train_acc - 0.9, r.train_acc - (1.05 - r.xi)]
        assert claims.phase_margins(one, r.phase)[0] == pytest.approx(min(abs(e) for e in edges[:2 if r.test_acc < 0.9 or r.train_acc >= 0.9 else 3]))
    coex = runs[runs.phase == "Coexistence"]
    assert claims.phase("c", coex, "Coexistence", what="w") == pytest.approx(min(claims.phase_margins(coex, "Coexistence")))
    with pytest.raises(claims.ClaimError, match="expected Full Inversion"):
        claims.phase("c", coex, "Full Inversion", what="w")
    with pytest.raises(ValueError, match="expected must be one of the phases"):
        claims.phase("c", coex, "Grokking", what="w")


def test_the_table_shows_each_claim_checked_since_the_last_table_once():
    claims._pending.clear()
    claims.check("t.acc", [0.95, 0.97, 0.99], ">=", 0.9, kind="accuracy", what="every seed generalizes")
    claims.check("t.one", 0.25, "<", 0.3, kind="ratio", what="one value")
    runs = pd.DataFrame(dict(train_acc=[1.0, 0.99], test_acc=[0.95, 0.97], xi=[0.2, 0.2],
                             phase=["Coexistence"] * 2))
    claims.phase("t.phase", runs, "Coexistence", what="both coexist")
    table = claims.table()
    assert [r["claim"] for r in table.rows] == ["every seed generalizes", "one value", "both coexist"]
    assert table.rows[0]["measured"] == "0.95 to 0.99 (3 values)"
    assert table.rows[0]["needed"] == "≥ 0.9" and table.rows[1]["needed"] == "< 0.3"
    # the margin is the worst value's distance inside: 0.95 - 0.9, 0.3 - 0.25, min over runs and sides
    assert table.rows[0]["margin"] == f"{0.95 - 0.9:.3g}" and table.rows[1]["margin"] == f"{0.3 - 0.25:.3g}"
    assert table.rows[2]["measured"] == "Coexistence in all 2 runs"
    assert table.rows[2]["margin"] == f"accuracy {min(0.95 - 0.9, 0.99 - 0.9):.3g}"
    html = table._repr_html_()
    assert html.count("<tr>") == 4 and "every seed generalizes" in html and "&lt; 0.3" in html
    assert "every seed generalizes" in repr(table)
    with pytest.raises(ValueError, match="no claim was checked"):
        claims.table()  # the next table starts empty


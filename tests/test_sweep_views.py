"""StoredSweep's views of a stored sweep (panels, select, cell, cell_ipr, panel_runs, summary),
on the small sweeps of conftest, against brute-force filters of the runs table."""
import numpy as np
import pytest

from grokbook.store.views import Panel


def test_panels_are_keyed_by_part_knob_and_value(wd_sweep, bn_sweeps):
    data, bn_data = wd_sweep, bn_sweeps
    p = data.panels()
    assert list(p) == [Panel(0, "wd", 0.0, "wd = 0"), Panel(0, "wd", 2.0, "wd = 2")]
    for key, runs in p.items():
        want = data.runs[data.runs.wd == key.value]
        assert runs.run.tolist() == want.run.tolist()
    q = bn_data.panels()
    assert [(k.part, k.knob, k.value) for k in q] == [(i, None, None) for i in range(4)]
    assert [k.label for k in q] == ["batch 8, BatchNorm", "batch 8, no BatchNorm",
                                    "batch 16, BatchNorm", "batch 16, no BatchNorm"]
    assert bn_data.panel("batch 16, no BatchNorm") == list(q)[3]
    with pytest.raises(ValueError, match="panel must be one of"):
        bn_data.panel("batch 32, BatchNorm")


def test_select_by_run_settings_and_by_part_config(bn_sweeps, wd_sweep):
    bn_data, data = bn_sweeps, wd_sweep
    runs = bn_data.runs
    for b in (8, 16):
        for bn in (True, False):
            got = bn_data.select(batch_size=b, batchnorm=bn)
            part = [i for i, pt in enumerate(bn_data.parts)
                    if pt["config"]["batch_size"] == b and pt["config"]["batchnorm"] == bn]
            want = runs[runs.part.isin(part)].sort_values(["alpha", "xi"])
            assert got.run.tolist() == want.run.tolist() and list(got.index) == list(range(len(got)))
    # grid order: the same cells line up across parts
    a, b = bn_data.select(batch_size=8, batchnorm=True), bn_data.select(batch_size=16, batchnorm=False)
    assert (a[["alpha", "xi"]].to_numpy() == b[["alpha", "xi"]].to_numpy()).all()
    assert (data.select(wd=2, alpha=0.8).xi.tolist()) == [0.0, 0.2, 0.4]
    with pytest.raises(ValueError, match="neither a run setting"):
        data.select(batch=8)
    with pytest.raises(ValueError, match="no run"):
        data.select(wd=3)


def test_cell_finds_the_one_run_and_refuses_the_rest(wd_sweep, bn_sweeps):
    data, bn_data = wd_sweep, bn_sweeps
    runs = data.runs
    want = runs[(runs.wd == 2.0) & (runs.alpha == 0.8) & (runs.xi == 0.2)]
    for row in (data.cell(0.8, 0.2, wd=2), data.cell(0.8, 0.2, panel="wd = 2"),
                data.cell(0.8, 0.2, panel=data.panel("wd = 2"))):
        assert row.run == want.run.iloc[0]
    np.testing.assert_array_equal(data.cell_ipr(0.8, 0.2, wd=2),
                                  data.ipr[int(want.run.iloc[0])].astype(float))
    with pytest.raises(ValueError, match="not a cell of the grid"):
        data.cell(0.5, 0.2, wd=2)
    with pytest.raises(ValueError, match="not one cell"):
        data.cell(0.8, 0.2)  # two weight decays at this cell
    row = bn_data.cell(0.4, 0.0, batch_size=16, batchnorm=True)
    assert bn_data.parts[int(row.part)]["label"] == "batch 16, BatchNorm"


def test_panel_runs_and_summary(wd_sweep):
    data = wd_sweep
    labelled = data.panel_runs()
    assert (labelled.panel == labelled.wd.map({0.0: "wd = 0", 2.0: "wd = 2"})).all()
    row = data.cell(0.4, 0.0, wd=0)
    line = data.summary(row)
    assert f"test {row.test_acc:.1%}" in line and line.endswith(row.phase)

"""A sample shorter than a billing month still builds: no invoices (no complete month), every other table filled."""

import pytest

from insights.cli import main


@pytest.mark.parametrize("weeks", [1, 2, 3], ids=lambda w: f"{w}-weeks")
def test_a_sample_of_a_few_weeks_builds_without_invoices(tmp_path, capsys, weeks):
    code = main(["sample", "--out", str(tmp_path / "ws"), "--weeks", str(weeks), "--scale", "0.02"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "Traceback" not in out.err
    rows = {line.split()[0]: line.split()[1] for line in out.out.splitlines() if line.split() and line.split()[-1] == "rows"}
    assert rows["cost_invoices"] == "0"
    assert int(rows["tickets"].replace(",", "")) > 0

"""The Counterfactuals page's logic without Streamlit: typed rows, changes in the data's units, the 2-D view."""
import pytest
import torch

from core.counterfactuals.actionable import ActionableSet
from core.errors import InputError
from core.studies.cfe_view import changes, format_row, parse_row, pca_view

SPACE = ActionableSet(("age", "income"), (18.0, 0.0), (99.0, 1e6), (40.0, 5e4), (10.0, 2e4))


def test_typed_rows_read_in_order_and_bad_values_named():
    assert torch.equal(parse_row("30, 52000", SPACE), torch.tensor([[30.0, 52000.0]]))
    assert torch.equal(parse_row(format_row(torch.tensor([[30.0, 52000.0]])), SPACE), torch.tensor([[30.0, 52000.0]]))
    with pytest.raises(InputError, match="'income'.*not a number"):
        parse_row("30, lots", SPACE)
    with pytest.raises(InputError, match=r"'age', 12, lies outside its range \[18, 99\]"):
        parse_row("12, 100", SPACE)
    with pytest.raises(InputError, match="Give 2 values"):
        parse_row("30", SPACE)
    with pytest.raises(InputError, match="'age'"):
        parse_row("nan, 3", SPACE)


def test_changes_in_units_largest_first():
    x, y = torch.tensor([[30.0, 50000.0]]), torch.tensor([[35.0, 10000.0]])
    got = changes(x, y, SPACE, ("years", "$"))
    assert [(c.feature, c.unit, c.before, c.after) for c in got] == [("income", "$", 50000.0, 10000.0),
                                                                    ("age", "years", 30.0, 35.0)]
    assert got[0].z_change == pytest.approx(-2.0) and got[1].z_change == pytest.approx(0.5)
    assert changes(x, x.clone(), SPACE, ("years", "$")) == []


def test_pca_view_projects_on_the_main_axes():
    z = torch.zeros(50, 3, dtype=torch.float64)
    z[:, 1] = torch.linspace(-5, 5, 50)
    z[:, 2] = torch.linspace(-1, 1, 50) * torch.tensor([1.0, -1.0]).repeat(25)
    train, [point], share = pca_view(z, torch.tensor([[0.0, 2.0, 0.0]], dtype=torch.float64))
    assert abs(point[0, 0]) == pytest.approx(2.0) and share[0] > 0.9

"""FWnucl (core.attacks.fwnucl): the linear minimisation oracle of the nuclear group-norm ball against the
ball's definition, the iterates inside the ball, the attack on a small model, refusals."""
import pytest
import torch
from torch import nn

from core.attacks.fwnucl import fwnucl, lmo, nuclear_group_norm
from core.errors import InputError
from tests.devices import DEVICES


def test_lmo_is_the_best_rank_one_group_atom():
    g = torch.randn(3, 2, 8, 12, generator=torch.Generator().manual_seed(0))
    s = lmo(g, 2.5, 4)
    torch.testing.assert_close(nuclear_group_norm(s, 4), torch.full((3,), 2.5))  # on the ball's surface
    # <g, s> = eps * the largest top singular value over every group and channel (the dual norm)
    blocks = g.unfold(2, 4, 4).unfold(3, 4, 4)
    dual = torch.linalg.svdvals(blocks)[..., 0].flatten(1).amax(1)
    torch.testing.assert_close((g * s).flatten(1).sum(1), 2.5 * dual)
    # non-zero on exactly one 4x4 group of one channel, and rank one there
    assert ((s != 0).flatten(1).sum(1) <= 16).all()
    for i in range(3):
        block = s[i][s[i] != 0].view(4, 4)
        assert torch.linalg.matrix_rank(block) == 1
    # no random point of the ball does better
    for _ in range(20):
        r = torch.randn_like(g)
        r = r * (2.5 / nuclear_group_norm(r, 4)).view(-1, 1, 1, 1)
        assert ((g * r).flatten(1).sum(1) <= (g * s).flatten(1).sum(1) + 1e-5).all()


def small_model(device="cpu") -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 3)).eval().to(device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("rule", ["line", "open"])
def test_fwnucl_fools_a_small_model_inside_box_and_ball(device, rule):
    model = small_model(device)
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(1)).to(device)
    before = x.clone()
    y = model(x).argmax(1)
    result = fwnucl(model, x, y, eps=4.0, steps=50, step_rule=rule)
    assert torch.equal(x, before)
    assert result.success.float().mean() >= 0.8
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1 and torch.equal(result.delta, result.x_adv - x)
    assert torch.equal(model(result.x_adv).argmax(1) != y, result.success)
    # clipping to the box only shrinks each entry, so the perturbation's group norm stays within a little of eps
    assert (nuclear_group_norm(result.delta, 4) <= 4.0 * 1.5).all()
    target = (y + 1) % 3
    aimed = fwnucl(model, x, y, target=target, eps=4.0, steps=50, step_rule=rule)
    assert torch.equal(model(aimed.x_adv).argmax(1) == target, aimed.success) and aimed.success.any()


def test_fwnucl_refuses_bad_settings():
    model = small_model()
    x = torch.rand(1, 1, 8, 8)
    for settings, words in [({"eps": 0.0}, "eps"), ({"size": 9}, "group size"), ({"steps": 0}, "iterations"),
                            ({"step_rule": "armijo"}, "step rule")]:
        with pytest.raises(InputError, match=words):
            fwnucl(model, x, torch.tensor([0]), **settings)

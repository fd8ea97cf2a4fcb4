"""A model handed over in train mode is attacked and explained as in eval mode, and handed back as it was."""
import pytest
import torch

from c2f_toy import toy_c2f_with_batchnorm_and_dropout, toy_images
from core.attacks.deepfool import deepfool, deepfool_c2f
from core.attacks.lrp_c2f import lrpc, lrpf
from core.attacks.pgd import pgd, pgd_c2f
from core.explain import relevance

ATTACKS = {
    "LRPC": lambda hc, x: lrpc(hc, x, eps=8 / 255, steps=3).x_adv,
    "LRPF": lambda hc, x: lrpf(hc, x, eps=8 / 255, steps=3).x_adv,
    "DFC": lambda hc, x: deepfool_c2f(hc, x, steps=5).x_adv,
    "PGDF": lambda hc, x: pgd_c2f(hc, x, level="fine", eps=8 / 255, steps=3).x_adv,
    "PGD": lambda hc, x: pgd(hc.coarse, x, torch.arange(len(x)) % 3, eps=8 / 255, steps=3).x_adv,
    "DeepFool": lambda hc, x: deepfool(hc.coarse, x, steps=5).x_adv,
    "LRP map": lambda hc, x: relevance(hc.coarse, x, 0, "lrp"),
    "saliency": lambda hc, x: relevance(hc.coarse, x, 0, "saliency"),
}


@pytest.mark.parametrize("name", ATTACKS)
def test_train_mode_is_used_as_eval_mode_and_restored(name):
    run, x = ATTACKS[name], toy_images(4)
    hc = toy_c2f_with_batchnorm_and_dropout()
    expected = run(hc.eval(), x)
    hc.train()
    dropout = next(m for m in hc.modules() if isinstance(m, torch.nn.Dropout))
    dropout.eval()  # a mix of modes comes back as it was
    state = {k: v.clone() for k, v in hc.state_dict().items()}
    modes = [m.training for m in hc.modules()]
    torch.testing.assert_close(run(hc, x), expected, rtol=0, atol=0)  # not batch statistics, no dropout
    assert [m.training for m in hc.modules()] == modes
    assert all(torch.equal(v, state[k]) for k, v in hc.state_dict().items())  # running statistics untouched

"""The README's "Python API" examples, run as written: what they print and claim holds."""
import re
from pathlib import Path

import torch

from core.attacks.lrp_c2f import lrp_loss
from core.explain import relevance

README = Path(__file__).resolve().parents[1] / "README.md"


def api_examples() -> list[str]:
    section = README.read_text().split("## Python API", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_readme_has_both_examples():
    examples = api_examples()
    assert len(examples) == 2 and "lrpc(hc, x" in examples[0] and "from_flat(" in examples[1]


def test_the_default_model_example_does_what_it_prints(capsys):
    ns: dict = {}
    exec(api_examples()[0], ns)
    hc, x, lrp, dfc, pgdc, fine = (ns[k] for k in ("hc", "x", "lrp", "dfc", "pgdc", "lrp_fine"))
    printed = capsys.readouterr().out.splitlines()
    for r, line in zip((lrp, dfc, pgdc), printed):
        after = hc.decide(r.x_adv).coarse
        assert torch.equal(r.labels["coarse_after"], after)
        assert torch.equal(r.success, after != r.labels["r_org"])
        assert line.startswith(f"{r.name} food -> {hc.hierarchy.coarse_names[after[0]]} ")
    assert lrp.success.all()  # the example shows a fooled image
    assert (lrp.delta.abs().amax() - 10 / 255) <= 1e-6 and 0 <= lrp.x_adv.min() and lrp.x_adv.max() <= 1
    # "as the attack's loss sees it": the README's rules give the loss the attack recorded at x
    r_adv = relevance(hc.coarse, x, lrp.labels["r_adv"], "lrp", **ns["rules"])
    loss = lrp_loss(torch.stack([ns["map_before"], r_adv]), p=2.0)
    assert torch.allclose(loss, lrp.history["lrp_loss"][:1], rtol=1e-4, atol=1e-7)
    assert ns["map_after"].shape == x.shape and not torch.equal(ns["map_after"], ns["map_before"])
    assert torch.equal(fine.labels["coarse_after"][fine.success], fine.labels["r_org"][fine.success])
    assert printed[3] == f"{fine.labels['fine_after']} {fine.labels['coarse_after'] == fine.labels['r_org']}"


def test_the_own_model_example_attacks_that_model():
    ns: dict = {}
    exec(api_examples()[1], ns)
    mine, images, result = ns["mine"], ns["images"], ns["result"]
    assert mine.hierarchy.coarse_names == ("round", "straight")
    logits = mine.flat(images)
    coarse = mine.decide(images).coarse
    # the derived coarse logit of a group is the log-sum-exp of its members' logits
    torch.testing.assert_close(mine(images), torch.stack([logits[:, [0, 2]].logsumexp(1),
                                                          logits[:, [1, 3]].logsumexp(1)], 1))
    assert torch.equal(result.labels["r_org"], coarse)
    assert torch.equal(result.success, mine.decide(result.x_adv).coarse != coarse) and result.success.any()
    assert result.delta.abs().amax() <= 40 / 255 + 1e-6

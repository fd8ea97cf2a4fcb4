"""The C2F study: the poster's table from real attack runs, its layouts, and its cache."""
import pytest
import torch

from core.cache import ResultCache
from core.data.mnist import mnist_split
from core.models import load
from core.studies import c2f as study


@pytest.fixture(scope="module")
def mnist():
    loaded = load("mnist_cnn", hierarchy="mnist_c2f", device="cpu")
    return loaded, mnist_split("test")[0][:4]


def test_table_has_the_posters_rows_and_columns_and_consistent_figures(mnist, tmp_path, attack_calls):
    loaded, x = mnist
    calls = attack_calls
    config = study.StudyConfig(level="coarse", eps_255=(40.0,), lrp_steps=10, deepfool_steps=20, pgd_steps=10)
    digests = [str(i) for i in range(4)]
    cache = ResultCache(tmp_path)
    result = study.evaluate(loaded.model, x, config, image_names=digests, model_id=loaded.info.model_id,
                            image_digests=digests, cache=cache, batch_size=2)
    table = result.table()
    assert list(table) == ["rho_2", "rho_1", "rho_inf", "fooling_pct"]
    assert list(table["rho_2"]) == ["LRPC eps=40", "DFC", "PGDC"]
    for column in result.columns:
        success = column.result.success
        assert column.figures["fooling_pct"] == pytest.approx(100 * success.float().mean().item())
        if success.any():
            rho = (column.result.delta.flatten(1).abs().amax(1) / x.flatten(1).amax(1))[success].mean()
            assert column.figures["rho_inf"] == pytest.approx(rho.item(), rel=1e-5)
    lrp = result.columns[0]
    assert (lrp.result.delta.abs() <= 40 / 255 + 1e-6).all()
    assert len(calls) == 3 * 2  # three columns, two chunks of two images
    again = study.evaluate(loaded.model, x, config, image_names=digests, model_id=loaded.info.model_id,
                           image_digests=digests, cache=cache, batch_size=2)
    assert len(calls) == 6  # everything from the cache
    assert torch.equal(again.columns[0].result.x_adv, lrp.result.x_adv)


def test_text_and_markdown_layouts_show_ours_beside_the_poster(mnist):
    loaded, x = mnist
    config = study.StudyConfig(level="fine", attacks=("pgd",), pgd_steps=3)
    result = study.evaluate(loaded.model, x, config, image_names=["a", "b", "c", "d"])
    text = result.format()
    assert "PGDF" in text and "0.0078" in text and "95.7" in text  # the poster's PGDF column
    markdown = result.format(markdown=True).splitlines()
    tables = [line for line in markdown if line.startswith("| rho_adv^2")]
    assert len(tables) == 2 and markdown[1].startswith("| Algorithm | PGDF |")


def test_bad_configurations_are_refused():
    from core.errors import InputError

    with pytest.raises(InputError):
        study.StudyConfig(level="middle")
    with pytest.raises(InputError):
        study.StudyConfig(attacks=("cw",))
    with pytest.raises(InputError):
        study.StudyConfig(eps_255=(300.0,))
    with pytest.raises(InputError, match="signed_inputs"):
        study.StudyConfig(lrp_signed_inputs="literal")

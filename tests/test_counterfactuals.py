"""S-CFE, DCFE and CEM: the proximal operators against brute force, the counterfactuals against closed forms
and exhaustive searches, the actionable set's locks and one-sided bounds, the figures by hand."""
import itertools

import numpy as np
import pytest
import torch
from torch import nn

from core.counterfactuals import metrics, proximal
from core.counterfactuals.actionable import ActionableSet
from core.counterfactuals.cem import cem
from core.counterfactuals.dcfe import dcfe
from core.counterfactuals.densities import GMM, KDE, KNN
from core.counterfactuals.scfe import scfe
from core.data.tabular import tabular_dataset
from core.errors import InputError
from core.models import TabularClassifier, load
from tests.devices import DEVICES


def _boxes(gen, n, d):
    w = torch.randn(n, d, generator=gen, dtype=torch.float64) * 2
    lo = -torch.rand(n, d, generator=gen, dtype=torch.float64) * 1.5  # each box holds 0
    hi = torch.rand(n, d, generator=gen, dtype=torch.float64) * 1.5
    return w, lo, hi


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_sparse_box_projection_is_the_nearest_point_of_every_subset(m):
    w, lo, hi = _boxes(torch.Generator().manual_seed(m), 40, 5)
    p = proximal.project_sparse_box(w, lo, hi, m)
    assert ((p != 0).sum(1) <= m).all() and (p >= lo).all() and (p <= hi).all()
    for row in range(len(w)):
        best = min(float((torch.where(torch.isin(torch.arange(5), torch.tensor(s, dtype=torch.long)),
                                      w[row].clamp(lo[row], hi[row]), torch.zeros(5, dtype=w.dtype))
                          - w[row]).pow(2).sum())
                   for k in range(m + 1) for s in itertools.combinations(range(5), k))
        assert float((p[row] - w[row]).pow(2).sum()) == pytest.approx(best, abs=1e-12)


def test_hard_threshold_minimises_eq3s_prox_over_every_subset():
    w, lo, hi = _boxes(torch.Generator().manual_seed(7), 40, 5)
    alpha, beta = 0.5, 0.3
    p = proximal.hard_threshold(w, lo, hi, alpha, beta)

    def value(u, row):
        return float((u - w[row]).pow(2).sum() / (2 * alpha) + beta * (u != 0).sum())

    for row in range(len(w)):
        best = min(value(torch.where(torch.isin(torch.arange(5), torch.tensor(s, dtype=torch.long)),
                                     w[row].clamp(lo[row], hi[row]), torch.zeros(5, dtype=w.dtype)), row)
                   for k in range(6) for s in itertools.combinations(range(5), k))
        assert value(p[row], row) == pytest.approx(best, abs=1e-12)


def test_soft_threshold_box_is_the_elastic_net_prox_on_a_grid():
    w, lo, hi = _boxes(torch.Generator().manual_seed(3), 20, 1)
    p = proximal.soft_threshold_box(w, lo, hi, 0.5, 0.4)
    grid = torch.linspace(-1.5, 1.5, 30001, dtype=torch.float64)
    for row in range(len(w)):
        inside = grid[(grid >= lo[row]) & (grid <= hi[row])]
        best = inside[((inside - w[row]).pow(2) / 1.0 + 0.4 * inside.abs()).argmin()]
        assert float(p[row]) == pytest.approx(float(best), abs=2e-4)


def _linear(device, d=4, seed=0):
    """A linear two-class model on features with wide ranges, unit statistics."""
    torch.manual_seed(seed)
    net = nn.Linear(d, 2).double()
    model = TabularClassifier(net, (0.0,) * d, (1.0,) * d).double().to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    space = ActionableSet(tuple(f"f{i}" for i in range(d)), (-50.0,) * d, (50.0,) * d, (0.0,) * d, (1.0,) * d)
    return model, space


@pytest.mark.parametrize("device", DEVICES)
def test_on_a_linear_model_the_distance_meets_the_closed_form_minimum(device):
    model, space = _linear(device)
    x = torch.randn(16, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).to(device)
    with torch.no_grad():
        logits = model(x)
    t = 1 - logits.argmax(1)
    a = (model.net.weight[1] - model.net.weight[0]) * torch.where(t == 1, 1.0, -1.0)[:, None].to(x)  # d margin / dz
    gap = -(logits.gather(1, t[:, None]) - logits.gather(1, (1 - t)[:, None])).squeeze(1)  # > 0: how far from t
    kappa = 0.1
    dense = scfe(model, x, actionable=space, m=4, kappa=kappa, steps=150, search_steps=12)
    exact = (gap + kappa) / a.norm(dim=1)  # min ||w|| with a.w >= gap + kappa
    d = metrics.l2(x, dense.x_adv)
    assert dense.success.all()
    assert (d >= gap / a.norm(dim=1) - 1e-9).all() and (d <= exact * 1.05).all()  # at least the boundary's distance
    one = scfe(model, x, actionable=space, m=1, kappa=kappa, steps=150, search_steps=12)
    exact_one = ((gap + kappa)[:, None] / a.abs()).amin(1)  # the best single feature
    assert one.success.all() and (metrics.l0(x, one.x_adv) == 1).all()
    assert (metrics.l2(x, one.x_adv) <= exact_one * 1.05).all()


@pytest.fixture(scope="module")
def wine():
    loaded = load("wine_mlp", device="cpu")
    data = tabular_dataset("wine")
    space = ActionableSet.of(loaded.info.input)
    x, y = data.split("train")  # the study's table runs on test rows; the tests on train rows
    return loaded.model, space, x, y


def test_wine_with_m_2_is_valid_and_changes_at_most_2_features(wine):
    model, space, x, y = wine
    kept = x.clone()
    result = scfe(model, x, actionable=space, density=KNN(space.to_z(x), y), m=2, tau=0.1)
    assert metrics.validity(result.success) >= 99.0
    assert (metrics.l0(x, result.x_adv) <= 2).all()
    assert torch.equal(x, kept)  # inputs not mutated


def test_wine_counterfactuals_near_the_exhaustive_search_over_feature_pairs(wine):
    model, space, x, y = wine
    rows = x[:6]
    result = scfe(model, rows, actionable=space, m=2, tau=0.0)
    low, high = torch.tensor(space.low), torch.tensor(space.high)
    grid = torch.linspace(0, 1, 41)
    for r in range(len(rows)):
        t = result.labels["target"][r]
        best = float("inf")
        for i, j in itertools.combinations(range(rows.shape[1]), 2):
            ys = rows[r].repeat(41 * 41, 1)
            ys[:, i] = (low[i] + grid * (high[i] - low[i])).repeat_interleave(41)
            ys[:, j] = (low[j] + grid * (high[j] - low[j])).repeat(41)
            with torch.no_grad():
                ok = model(ys).argmax(1) == t
            if ok.any():
                best = min(best, float(metrics.l2(space.to_z(rows[r:r + 1]), space.to_z(ys[ok])).min()))
        found = float(metrics.l2(space.to_z(rows[r:r + 1]), space.to_z(result.x_adv[r:r + 1])))
        assert result.success[r] and found <= best * 1.25, (r, found, best)


@pytest.fixture(scope="module")
def housing():
    loaded = load("housing_mlp", device="cpu")
    data = tabular_dataset("housing")
    x, y = data.split("train")
    return loaded, x[:24], y, x


@pytest.mark.parametrize("method", ["scfe", "dcfe", "cem"])
def test_locked_features_never_change_and_one_sided_bounds_hold(housing, method):
    loaded, rows, y, x_train = housing
    space = ActionableSet.of(loaded.info.input, locked=("rm", "lstat"), increase=("age",), decrease=("crim", "tax"))
    z_train = space.to_z(x_train)
    run = {"scfe": lambda: scfe(loaded.model, rows, actionable=space, m=3, steps=40, search_steps=5),
           "dcfe": lambda: dcfe(loaded.model, rows, actionable=space, density=GMM(z_train, y), steps=40,
                                search_steps=5),
           "cem": lambda: cem(loaded.model, rows, actionable=space, steps=40, search_steps=5)}[method]
    kept = rows.clone()
    cf = run().x_adv
    names = space.names
    for f in ("rm", "lstat"):
        assert torch.equal(cf[:, names.index(f)], rows[:, names.index(f)])
    assert (cf[:, names.index("age")] >= rows[:, names.index("age")]).all()
    assert (cf[:, names.index("crim")] <= rows[:, names.index("crim")]).all()
    assert (cf[:, names.index("tax")] <= rows[:, names.index("tax")]).all()
    low, high = torch.tensor(space.low), torch.tensor(space.high)
    assert ((cf >= low - 1e-4) & (cf <= high + 1e-4)).all()
    assert torch.equal(rows, kept)
    changed = (cf != rows).any(0)
    assert changed.sum() >= 3  # the methods did move the free features


def test_unknown_or_doubly_named_features_are_refused(housing):
    loaded = housing[0]
    with pytest.raises(InputError, match="'rooms'"):
        ActionableSet.of(loaded.info.input, locked=("rooms",))
    with pytest.raises(InputError, match="'age'"):
        ActionableSet.of(loaded.info.input, locked=("age",), increase=("age",))
    space = ActionableSet.of(loaded.info.input)
    with pytest.raises(InputError, match="ranges"):
        scfe(loaded.model, torch.full((1, 12), 1e6), actionable=space)


def test_lof_by_hand():
    train = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [3.0, 3.0]], dtype=torch.float64)
    k = 2
    d = torch.cdist(train, train)

    def knn(p_dist):  # indices of the k nearest and the k-distance
        order = p_dist.argsort()[:k]
        return order, p_dist[order].max()

    kdist = torch.stack([knn(torch.cat([d[i][:i], torch.tensor([np.inf]), d[i][i + 1:]]).double())[1]
                         for i in range(4)])
    lrd_train = []
    for i in range(4):
        di = d[i].clone()
        di[i] = np.inf
        near, _ = knn(di)
        lrd_train.append(1 / torch.maximum(kdist[near], di[near]).mean())
    q = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    dq = torch.cdist(q, train)[0]
    near, _ = knn(dq)
    lrd_q = 1 / torch.maximum(kdist[near], dq[near]).mean()
    expected = torch.stack([lrd_train[i] for i in near]).mean() / lrd_q
    lof = metrics.LOF(train, torch.zeros(4, dtype=torch.long), n_neighbors=k)
    assert float(lof(q, torch.zeros(1, dtype=torch.long))) == pytest.approx(float(expected), rel=1e-9)


def test_densities_by_hand_and_differentiable():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, generator=gen, dtype=torch.float64)
    y = torch.arange(40) % 2
    kde = KDE(x, y)
    h = kde.bandwidth[1]
    p = torch.randn(5, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    pts = x[y == 1]
    by_hand = torch.log(torch.exp(-torch.cdist(p, pts).pow(2) / (2 * h * h)).mean(1) / (2 * np.pi * h * h) ** 1.5)
    q = kde.bind(p.detach(), torch.ones(5, dtype=torch.long))(p)
    assert torch.allclose(q, by_hand)
    q.sum().backward()
    assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    from sklearn.mixture import GaussianMixture

    gmm = GMM(x, y, components=2)
    sk = GaussianMixture(2, covariance_type="full", random_state=0, reg_covar=1e-3).fit(x[y == 0].numpy())
    q = gmm.bind(p.detach(), torch.zeros(5, dtype=torch.long))(p.detach())
    assert np.allclose(q.numpy(), sk.score_samples(p.detach().numpy()))


@pytest.mark.parametrize("device", DEVICES)
def test_batched_rows_equal_rows_one_at_a_time(device):
    model, space = _linear(device, seed=3)
    x = torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(5)).to(device)
    together = scfe(model, x, actionable=space, m=2, steps=30, search_steps=4).x_adv
    alone = torch.cat([scfe(model, x[i:i + 1], actionable=space, m=2, steps=30, search_steps=4).x_adv
                       for i in range(4)])
    assert torch.allclose(together, alone, atol=1e-9)

"""Coarse-to-fine hierarchy: the shipped ImageNet hierarchy and the derived/assembled classifiers."""
import json
import re

import pytest
import torch
from torch import nn

from core.errors import InputError
from core.explain import relevance
from core.models.hierarchy import HierarchicalClassifier, Hierarchy
from core.models.wrapper import ImageClassifier

POSTER_COARSE = ("fish", "bird", "reptile", "clothes", "food", "vehicle", "electrical device", "dog")


def test_imagenet_hierarchy_has_the_posters_coarse_classes_and_valid_disjoint_members():
    h = Hierarchy.named("imagenet_c2f")
    assert h.coarse_names == POSTER_COARSE
    members = [i for g in h.groups for i in g]
    assert all(0 <= i < 1000 for i in members)
    assert len(members) == len(set(members)), "a class is in two groups"
    assert all(len(g) == len(n) > 0 for g, n in zip(h.groups, h.fine_names))
    dog = h.groups[POSTER_COARSE.index("dog")]
    assert 934 not in dog and 207 in dog  # hotdog is food, golden retriever a dog
    assert 1 in h.groups[0] and 285 not in members  # goldfish is a fish, Egyptian cat in no group


def test_validate_rejects_overlap_repeats_and_bad_indices():
    with pytest.raises(InputError, match="Hierarchy 'h': classes \\[1\\] appear in two coarse"):
        Hierarchy("h", ("a", "b"), ((0, 1), (1, 2)), (("x", "y"), ("y", "z"))).validate(3)
    with pytest.raises(InputError, match="outside"):
        Hierarchy("h", ("a",), ((0, 5),), (("x", "y"),)).validate(3)
    with pytest.raises(InputError, match="coarse class 'a' lists classes \\[0\\] twice"):  # C_a would count it twice
        Hierarchy("h", ("a", "b"), ((0, 0, 1), (2,)), (("x", "x", "y"), ("z",))).validate(3)
    with pytest.raises(InputError, match="names two coarse classes 'a'"):
        Hierarchy("h", ("a", "a"), ((0, 1), (2,)), (("x", "y"), ("z",))).validate(3)


def test_validate_rejects_a_hierarchy_made_for_another_number_of_classes():
    mnist = Hierarchy.named("mnist_c2f")  # digits 0-9: every index is also a valid ImageNet class
    assert mnist.num_classes == 10
    mnist.validate(10)
    with pytest.raises(InputError, match="groups the classes of a 10-class model.*fit: imagenet_c2f"):
        mnist.validate(1000)
    Hierarchy("h", ("a",), ((0, 1),), (("x", "y"),)).validate(1000)  # a hand-made one that says nothing


def write_hierarchy(path, coarse, name="parity"):
    path.write_text(json.dumps({"name": name, "num_classes": 10, "coarse": coarse}))
    return path


def test_a_hierarchy_file_of_ones_own_is_read_checked_and_told_apart_from_a_namesake(tmp_path):
    parity = [{"name": "even", "members": [0, 2, 4, 6, 8], "member_names": list("02468")},
              {"name": "odd", "members": [1, 3, 5, 7, 9], "member_names": list("13579")}]
    own = Hierarchy.named(str(write_hierarchy(tmp_path / "parity.json", parity)))
    assert own.coarse_names == ("even", "odd") and own.groups[1] == (1, 3, 5, 7, 9) and own.num_classes == 10
    namesake = Hierarchy.named(str(write_hierarchy(tmp_path / "other.json", parity[::-1])))
    assert namesake.name == own.name and namesake.digest != own.digest  # caches key on the content
    assert Hierarchy.named("mnist_c2f").digest == Hierarchy.named("mnist_c2f").digest
    (tmp_path / "broken.json").write_text("{not json")
    for path, message in ((tmp_path / "broken.json", "broken.json is not a hierarchy file"),
                          (write_hierarchy(tmp_path / "one.json", parity[:1]), "at least 2 coarse classes"),
                          (write_hierarchy(tmp_path / "names.json", [parity[0], dict(parity[1], member_names=["1"])]),
                           "'odd' has 5 members but 1 member names"),
                          (tmp_path / "missing.json", "No hierarchy file at"),
                          (tmp_path, "is a folder; give the hierarchy file in it")):
        with pytest.raises(InputError, match=message):
            Hierarchy.named(str(path))
    with pytest.raises(InputError, match="or give the path of a hierarchy file"):
        Hierarchy.named("parity")


@pytest.mark.parametrize("members, names, why", [
    ([0, 2.7, 4, 6, 8], list("02468"), "a member index must be a JSON integer, got 2.7"),
    ([0, True, 4, 6, 8], list("02468"), "a member index must be a JSON integer, got True"),
    (["0", 2, 4, 6, 8], list("02468"), "a member index must be a JSON integer, got '0'"),
    ([0, 2, 4, 6, 8], "02468", "members and member_names must be JSON lists, got '02468'"),
    ([0, 2, 4, 6, 8], [0, 2, 4, 6, 8], "a member name must be a JSON string, got 0"),
])
def test_a_hierarchy_file_takes_integers_and_strings_as_they_are_written(tmp_path, members, names, why):
    """Nothing is converted: 2.7 is not class 2, ``true`` not class 1, "02468" not five names."""
    coarse = [{"name": "even", "members": members, "member_names": names},
              {"name": "odd", "members": [1, 3, 5, 7, 9], "member_names": list("13579")}]
    with pytest.raises(InputError, match=re.escape(f"parity.json is not a hierarchy file (TypeError: {why})")):
        Hierarchy.named(str(write_hierarchy(tmp_path / "parity.json", coarse)))


def test_a_hierarchy_file_too_deep_infinite_or_huge_gets_a_message(tmp_path, monkeypatch):
    deep, infinite, huge = tmp_path / "deep.json", tmp_path / "infinite.json", tmp_path / "huge.json"
    deep.write_text('{"coarse": ' + "[" * 100_000 + "]" * 100_000 + "}")
    infinite.write_text('{"coarse": [{"name": "a", "members": [0, Infinity], "member_names": ["0", "1"]}]}')
    huge.write_text(" " * 300_000 + '{"coarse": []}')
    monkeypatch.setattr("core.models.hierarchy.MAX_FILE_BYTES", 300_000)
    for path, why in ((deep, "RecursionError"), (infinite, "got inf"), (huge, "300,014 bytes, over the 300,000")):
        with pytest.raises(InputError, match=f"{path.name} is not a hierarchy file .*{why}"):
            Hierarchy.named(str(path))


def toy_flat(num_classes=7, seed=0) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 16), nn.ReLU(), nn.Linear(16, num_classes))
    return ImageClassifier(net, (0.5,) * 3, (0.5,) * 3).eval()


TOY = Hierarchy("toy", ("a", "b", "c"), ((0, 3), (1, 4, 5), (6,)), (("0", "3"), ("1", "4", "5"), ("6",)))


def test_coarse_argmax_is_the_group_with_the_largest_summed_member_probability():
    hc = HierarchicalClassifier.from_flat(toy_flat(), TOY, 7)
    x = torch.rand(64, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        p = hc.flat(x).softmax(1)
        summed = torch.stack([p[:, list(g)].sum(1) for g in TOY.groups], 1)
        decision = hc.decide(x)
    assert torch.equal(decision.coarse, summed.argmax(1))
    # coarse probabilities are the group sums renormalised over the member classes
    torch.testing.assert_close(decision.coarse_probs, summed / summed.sum(1, keepdim=True))


def test_fine_decision_is_the_best_member_of_the_chosen_group():
    hc = HierarchicalClassifier.from_flat(toy_flat(), TOY, 7)
    x = torch.rand(32, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        z = hc.flat(x)
        d = hc.decide(x)
    for n in range(32):
        group = list(TOY.groups[int(d.coarse[n])])
        assert int(d.fine_class[n]) == group[int(z[n, group].argmax())]
        assert group[int(d.fine[n])] == int(d.fine_class[n])


def test_outside_names_the_images_whose_top_class_is_in_no_group():
    hc = HierarchicalClassifier.from_flat(toy_flat(), TOY, 7)  # class 2 belongs to no group of TOY
    x = torch.rand(64, 3, 4, 4, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        top = hc.flat(x).argmax(1)
    assert (top == 2).any() and (top != 2).any()
    assert torch.equal(hc.outside(x), torch.where(top == 2, 2, -1))
    from core.studies.c2f import outside_hierarchy

    names, classes = [f"im{i}" for i in range(64)], [f"class{k}" for k in range(7)]
    expected = {f"im{i}": "class2" for i in (top == 2).nonzero().flatten().tolist()}
    assert outside_hierarchy(hc, x, names, classes, batch_size=5) == expected  # in chunks of 5
    assembled = HierarchicalClassifier.assembled(toy_flat(3, seed=1), [toy_flat(len(g)) for g in TOY.groups], TOY)
    assert (assembled.outside(x) == -1).all()  # no flat classes


def test_heads_are_single_output_modules_that_explainers_accept():
    hc = HierarchicalClassifier.from_flat(toy_flat(), TOY, 7)
    x = torch.rand(3, 3, 4, 4)
    groups = torch.tensor([0, 1, 2])
    fine = hc.fine_head(groups)
    out = fine(x)
    assert out.shape == (3, 3)
    assert torch.isinf(out[0, 2]) and torch.isinf(out[2, 1:]).all()  # padding past M_i
    r_coarse = relevance(hc.coarse, x, 1, "lrp", composite="zplus_zbox", init="logit")
    r_fine = relevance(fine, x, 0, "lrp", composite="zplus_zbox")
    assert r_coarse.shape == r_fine.shape == x.shape


def test_assembled_classifier_routes_each_image_to_its_groups_fine_network():
    coarse = toy_flat(3, seed=1)
    fines = [toy_flat(len(g), seed=10 + i) for i, g in enumerate(TOY.groups)]
    hc = HierarchicalClassifier.assembled(coarse, fines, TOY)
    x = torch.rand(16, 3, 4, 4, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        d = hc.decide(x)
        for n in range(16):
            r = int(coarse(x[n : n + 1]).argmax())
            assert int(d.coarse[n]) == r
            assert int(d.fine[n]) == int(fines[r](x[n : n + 1]).argmax())
    with pytest.raises(InputError, match="one fine network"):
        HierarchicalClassifier.assembled(coarse, fines[:2], TOY)


def test_the_committed_imagenet_hierarchy_is_what_the_script_generates(tmp_path):
    """The JSON in assets is reproducible from WordNet with the committed script."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    wordnet = Path("/usr/share/wordnet")
    if not (wordnet / "data.noun").is_file():  # make test installs it (scripts/system_deps.sh)
        pytest.fail("Debian's wordnet-base is not installed: apt-get install wordnet-base (make test does)")
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "c2f.json"
    subprocess.run([sys.executable, "scripts/make_imagenet_c2f.py", "--out", str(out)], cwd=root, check=True,
                   capture_output=True, timeout=300)
    generated = json.loads(out.read_text())
    committed = json.loads((root / "assets/hierarchies/imagenet_c2f.json").read_text())
    # the provenance names the versions that made each file (torchvision 0.29.1 or 0.29.2, ...): what must
    # match is the grouping, and that the same sources were used
    generated_source, committed_source = generated.pop("source"), committed.pop("source")
    assert generated == committed
    assert _unversioned(generated_source) == _unversioned(committed_source)


def _unversioned(source: dict) -> dict:
    """The provenance without its command line and version numbers (digits, dots, colons, dashes)."""
    import re

    return {k: re.sub(r"\d[\d.:-]*", "#", v) for k, v in source.items() if k != "command"}

"""Coarse-to-fine (C2F) classifiers, as in the LRP-attack poster (seed 000, "C2F Model Formulation").

A hierarchy has M coarse classes; coarse class i owns M_i fine classes. The coarse classifier is
``C(x) = argmax_i C_i(x)`` and the i-th fine classifier ``F^i(x) = argmax_j F^i_j(x)``.

``HierarchicalClassifier.from_flat`` derives both from one flat classifier with logits ``z``:
``C_i(x) = log sum_{k in group i} exp z_k`` (so ``argmax_i C_i`` is the group with the largest summed
member probability) and ``F^i_j(x) = z_{group_i[j]}``. ``HierarchicalClassifier.assembled`` takes a
separate coarse network and one fine network per coarse class, as the poster trains them.
``coarse`` and ``fine_head(groups)`` are single-output modules, so zennit and captum attribute them.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch
from torch import nn

from core.errors import InputError
from core.validate import has_json_type

HIERARCHY_DIR = Path(__file__).resolve().parents[2] / "assets" / "hierarchies"
MAX_FILE_BYTES = 16_000_000  # the shipped ImageNet hierarchy has 23 kB


def _typed(value, kind: type, what: str, optional: bool = False):
    """``value`` if it is a JSON value of type ``kind`` (a JSON integer for ``int``, not a float or a
    boolean); ``TypeError`` naming ``what`` otherwise."""
    if has_json_type(value, (kind, type(None)) if optional else (kind,)):
        return value
    raise TypeError(f"{what} must be a JSON {'integer' if kind is int else 'string'}, got {value!r}")


def _listed(value) -> list:
    """``value`` if it is a JSON list; ``TypeError`` otherwise (a string would be read letter by letter)."""
    if isinstance(value, list):
        return value
    raise TypeError(f"members and member_names must be JSON lists, got {value!r}")


@dataclass(frozen=True)
class Hierarchy:
    """Coarse class names, and for each coarse class its member indices into the flat classes."""

    name: str
    coarse_names: tuple[str, ...]
    groups: tuple[tuple[int, ...], ...]
    fine_names: tuple[tuple[str, ...], ...]
    num_classes: int | None = None  # the flat classifier it was made for, where its file says so

    @classmethod
    def from_file(cls, path: str | Path) -> Hierarchy:
        """A hierarchy file: ``{"name", "num_classes" (optional), "coarse": [{"name", "members": [flat
        class indices], "member_names"}, ...]}`` (the format of assets/hierarchies)."""
        path = Path(path)
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ValueError(f"{path.stat().st_size:,} bytes, over the {MAX_FILE_BYTES:,} a hierarchy file "
                                 "may have")
            data = json.loads(path.read_text())
            coarse = data["coarse"]
            hierarchy = cls(
                name=_typed(data.get("name", path.stem), str, "name"),
                coarse_names=tuple(_typed(c["name"], str, "a coarse class's name") for c in coarse),
                groups=tuple(tuple(_typed(i, int, "a member index") for i in _listed(c["members"])) for c in coarse),
                fine_names=tuple(tuple(_typed(n, str, "a member name") for n in _listed(c["member_names"]))
                                 for c in coarse),
                num_classes=_typed(data.get("num_classes"), int, "num_classes", optional=True),
            )
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, RecursionError) as exc:
            raise InputError(f"{path.name} is not a hierarchy file ({type(exc).__name__}: {exc}); see "
                             "assets/hierarchies/mnist_c2f.json for the format.") from exc
        if len(hierarchy.groups) < 2:
            raise InputError(f"{path.name}: a hierarchy needs at least 2 coarse classes.")
        for name, members, names in zip(hierarchy.coarse_names, hierarchy.groups, hierarchy.fine_names):
            if len(members) != len(names):
                raise InputError(f"{path.name}: coarse class {name!r} has {len(members)} members but "
                                 f"{len(names)} member names.")
        return hierarchy

    @classmethod
    def named(cls, name: str) -> Hierarchy:
        """A hierarchy shipped in assets/hierarchies (e.g. ``imagenet_c2f``), or a hierarchy file's path."""
        path = HIERARCHY_DIR / f"{name}.json"
        if not path.is_file():
            own = Path(name).expanduser()
            if own.is_dir():
                raise InputError(f"{own} is a folder; give the hierarchy file in it.")
            if own.suffix == ".json" or own.is_file():
                if not own.is_file():
                    raise InputError(f"No hierarchy file at {own}.")
                return cls.from_file(own)
            known = sorted(p.stem for p in HIERARCHY_DIR.glob("*.json"))
            raise InputError(f"Unknown hierarchy {name!r}; shipped hierarchies: {', '.join(known)}, or give the path "
                             "of a hierarchy file.")
        return cls.from_file(path)

    def validate(self, num_classes: int) -> None:
        """The hierarchy was made for a flat classifier with ``num_classes`` classes (where its file says
        for how many), every member index is a valid flat class, no class is in two groups or twice in one,
        and no two coarse classes share a name."""
        def misfit(why: str) -> InputError:
            fitting = ", ".join(shipped_hierarchies(num_classes)) or "none"
            return InputError(f"Hierarchy {self.name!r} does not fit a model with {num_classes} classes: {why}. "
                              f"Shipped hierarchies that fit: {fitting}.")

        if self.num_classes is not None and self.num_classes != num_classes:
            raise misfit(f"it groups the classes of a {self.num_classes}-class model")
        named = [n for n, k in Counter(self.coarse_names).items() if k > 1]
        if named:
            raise InputError(f"Hierarchy {self.name!r} names two coarse classes {named[0]!r}.")
        seen: set[int] = set()
        for name, group in zip(self.coarse_names, self.groups):
            if not group:
                raise InputError(f"Hierarchy {self.name!r}: coarse class {name!r} has no members.")
            bad = [i for i in group if not 0 <= i < num_classes]
            if bad:
                raise misfit(f"coarse class {name!r} has indices outside 0..{num_classes - 1} ({bad[:5]})")
            repeated = sorted(i for i, k in Counter(group).items() if k > 1)
            if repeated:  # its coarse logit would count the class twice
                raise InputError(f"Hierarchy {self.name!r}: coarse class {name!r} lists classes {repeated[:5]} twice.")
            twice = seen.intersection(group)
            if twice:
                raise InputError(f"Hierarchy {self.name!r}: classes {sorted(twice)[:5]} appear in two coarse groups.")
            seen.update(group)

    @property
    def num_coarse(self) -> int:
        return len(self.groups)

    @cached_property
    def digest(self) -> str:
        """Short hash of the grouping and its names: two files with one name but other groups differ."""
        content = json.dumps([self.coarse_names, self.groups, self.fine_names, self.num_classes])
        return hashlib.sha256(content.encode()).hexdigest()[:12]


def shipped_hierarchies(num_classes: int | None = None) -> list[str]:
    """Names of the hierarchies in assets/hierarchies (for ``Hierarchy.named``); with ``num_classes``,
    only those whose member indices refer to a flat classifier with that many classes."""
    names = []
    for path in sorted(HIERARCHY_DIR.glob("*.json")):
        if num_classes is None or Hierarchy.from_file(path).num_classes == num_classes:
            names.append(path.stem)
    return names


def padded_groups(groups: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Member indices (M, max M_i) padded with 0, and the mask of real members."""
    width = max(len(g) for g in groups)
    index = torch.zeros(len(groups), width, dtype=torch.long)
    mask = torch.zeros(len(groups), width, dtype=torch.bool)
    for i, g in enumerate(groups):
        index[i, : len(g)] = torch.as_tensor(list(g), dtype=torch.long)
        mask[i, : len(g)] = True
    return index, mask


class GroupLogSumExp(nn.Module):
    """Coarse logits ``C_i = logsumexp_{k in group i} z_k`` from flat logits ``z`` (N, K) -> (N, M)."""

    def __init__(self, index: torch.Tensor, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("index", index)
        self.register_buffer("mask", mask)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        members = z[:, self.index].masked_fill(~self.mask, float("-inf"))  # (N, M, max M_i)
        return torch.logsumexp(members, dim=-1)


class GroupMembers(nn.Module):
    """Fine logits of one group per image: ``z[n, group_{g_n}]``, padded with -inf to (N, max M_i)."""

    def __init__(self, index: torch.Tensor, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("index", index)  # (N, max M_i): the rows of the images' groups
        self.register_buffer("mask", mask)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z.gather(1, self.index).masked_fill(~self.mask, float("-inf"))


class AssembledFine(nn.Module):
    """Fine logits from separate fine networks, each image through the network of its own group,
    padded with -inf to (N, max M_i). Every network runs, on no images where its group has none, so
    the control flow does not depend on the data and ``torch.fx`` traces the module (the LRP graph
    engine finds each network's input layer)."""

    def __init__(self, fines: nn.ModuleList, groups: torch.Tensor, sizes: Sequence[int]):
        super().__init__()
        self.fines = fines
        self.register_buffer("groups", groups)
        self.sizes = tuple(sizes)  # M_i, the logits of fine network i
        self.width = max(self.sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts, rows = [], []
        for g, (net, size) in enumerate(zip(self.fines, self.sizes)):
            r = (self.groups == g).nonzero().squeeze(1)
            logits = net(x[r])
            torch._assert(logits.shape[1] == size, f"Fine network {g} must give {size} logits, one per member "
                                                   f"of coarse class {g}.")
            parts.append(nn.functional.pad(logits, (0, self.width - size), value=float("-inf")))
            rows.append(r)
        return torch.cat(parts)[torch.cat(rows).argsort()]


@dataclass(frozen=True)
class C2FDecision:
    """Per-image coarse and fine decisions with their probabilities (softmax within each level)."""

    coarse: torch.Tensor  # (N,) coarse index r = C(x)
    coarse_prob: torch.Tensor  # (N,)
    coarse_probs: torch.Tensor  # (N, M)
    fine: torch.Tensor  # (N,) index j = F^r(x) within group r
    fine_prob: torch.Tensor  # (N,)
    fine_class: torch.Tensor  # (N,) flat class index of the fine decision (derived models), else -1


class HierarchicalClassifier(nn.Module):
    """C2F classifier: ``forward`` gives coarse logits; ``fine_head(groups)`` the fine logits."""

    def __init__(self, hierarchy: Hierarchy, coarse: nn.Module, flat: nn.Module | None, fines: nn.ModuleList | None):
        super().__init__()
        self.hierarchy = hierarchy
        self.coarse = coarse
        self.flat = flat
        self.fines = fines
        index, mask = padded_groups(hierarchy.groups)
        self.register_buffer("member_index", index)
        self.register_buffer("member_mask", mask)

    @classmethod
    def from_flat(cls, flat: nn.Module, hierarchy: Hierarchy, num_classes: int) -> HierarchicalClassifier:
        """Derive C (log-sum-exp of member logits) and F^i (member logits) from a flat classifier."""
        hierarchy.validate(num_classes)
        index, mask = padded_groups(hierarchy.groups)
        return cls(hierarchy, nn.Sequential(flat, GroupLogSumExp(index, mask)), flat, None)

    @classmethod
    def assembled(cls, coarse: nn.Module, fines: Sequence[nn.Module], hierarchy: Hierarchy) -> HierarchicalClassifier:
        """Separate coarse network (M logits) and fine networks (M_i logits each), as in the poster."""
        if len(fines) != hierarchy.num_coarse:
            raise InputError(f"Need one fine network per coarse class ({hierarchy.num_coarse}), got {len(fines)}.")
        return cls(hierarchy, coarse, None, nn.ModuleList(fines))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.coarse(x)

    def fine_head(self, groups: torch.Tensor) -> nn.Module:
        """Single-output module ``x -> F^{g_n}(x)`` for a batch whose image n belongs to group g_n."""
        groups = torch.as_tensor(groups, dtype=torch.long, device=self.member_index.device).reshape(-1)
        if self.flat is not None:
            return nn.Sequential(self.flat, GroupMembers(self.member_index[groups], self.member_mask[groups]))
        return AssembledFine(self.fines, groups, [len(g) for g in self.hierarchy.groups])

    def logits(self, x: torch.Tensor, groups: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Coarse logits (N, M) and fine logits of ``groups`` (default: the predicted coarse class)."""
        if self.flat is not None:
            z = self.flat(x)
            coarse = self.coarse[1](z)
            g = coarse.argmax(1) if groups is None else groups
            return coarse, GroupMembers(self.member_index[g], self.member_mask[g])(z)
        coarse = self.coarse(x)
        g = coarse.argmax(1) if groups is None else groups
        return coarse, self.fine_head(g)(x)

    @torch.no_grad()
    def outside(self, x: torch.Tensor) -> torch.Tensor:
        """Flat top-1 class of each image where it belongs to no coarse class, else -1 (always -1 for
        assembled classifiers, which have no flat classes). Such an image's coarse class is just the
        strongest group."""
        if self.flat is None:
            return torch.full((x.shape[0],), -1, dtype=torch.long, device=x.device)
        top = self.flat(x).argmax(1)
        return top.masked_fill(torch.isin(top, self.member_index[self.member_mask]), -1)

    @torch.no_grad()
    def decide(self, x: torch.Tensor) -> C2FDecision:
        """Coarse decision ``r = C(x)``, then the fine decision ``F^r(x)`` of that coarse class."""
        coarse, fine = self.logits(x)
        cp, fp = coarse.softmax(1), fine.softmax(1)
        r, j = cp.argmax(1), fp.argmax(1)
        fine_class = self.member_index[r, j] if self.flat is not None else torch.full_like(r, -1)
        return C2FDecision(r, cp.gather(1, r[:, None])[:, 0], cp, j, fp.gather(1, j[:, None])[:, 0], fine_class)

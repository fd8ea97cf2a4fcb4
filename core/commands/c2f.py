"""``python -m core c2f-eval``: the LRP poster's Table 1 or 2 (LRPC/LRPF, DeepFool, PGD on a C2F model)
on a set of images, printed beside the poster's, with the per-image details as JSON (and NPZ).

The study's settings and their defaults are ``core.studies.c2f.StudyConfig``'s: each is a flag."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from core.commands.files import check_writable, write_atomically
from core.commands.flags import add_settings, count, settings_from
from core.commands.images import add_image_flags, image_source, open_images
from core.commands.progress import progress_bar
from core.errors import InputError

NAME = "c2f-eval"
HELP = "LRP poster's Table 1/2: LRP, DeepFool and PGD on a C2F model"
OUT = "c2f_results.json"


def arguments(parser) -> None:
    from core.studies import c2f as study

    add_image_flags(parser, study.DEFAULT_DIGITS)
    parser.add_argument("--hierarchy", help="a shipped hierarchy (assets/hierarchies) or the path of a JSON file in "
                                            "their format (default: the first shipped one that fits the model: "
                                            "imagenet_c2f, or mnist_c2f for mnist_cnn)")
    add_settings(parser, study.StudyConfig)
    parser.add_argument("--batch-size", type=count, default=study.BATCH_SIZE,
                        help="images attacked together (another batch size sums in another order; signed steps can "
                             "amplify that into other perturbations and, rarely, another outcome: compare runs at the "
                             "same batch size)")
    parser.add_argument("--markdown", action="store_true", help="print the tables as markdown")
    parser.add_argument("--out", default=OUT, help="JSON file for the results (missing folders are created)")
    parser.add_argument("--npz", default=None,
                        help="also write an NPZ file: the images (x), their names, and each column's exact adversarial "
                             "images (<column>_x_adv, e.g. lrpc_eps10_x_adv; the perturbation is x_adv - x), success, "
                             "iterations and labels")
    parser.add_argument("--no-cache", action="store_true", help="recompute instead of using the result cache")


def default_hierarchy(model: str) -> str:
    """The first shipped hierarchy that fits the model's classes (imagenet_c2f, mnist_c2f, ...)."""
    from core.models.registry import fitting_hierarchies

    fitting = fitting_hierarchies(model)
    if not fitting:
        raise InputError(f"No shipped hierarchy (assets/hierarchies) fits {model}; the C2F study needs one.")
    return fitting[0]


def _blank(image) -> bool:
    """An all-black image, reported as skipped: its perceptibility ||eta||_p / ||x||_p is undefined."""
    from core.metrics import blank_images

    if blank_images(image.tensor).any():
        print(f"skipped {image.source_name}: all black, so rho_p = ||eta||_p / ||x||_p is undefined", file=sys.stderr)
        return True
    return False


NAMED_OUTSIDE = 10  # images outside the hierarchy named one by one; past that, the first ones and a count


def _note_outside(outside: dict[str, str], hierarchy: str) -> None:
    """Say which images' top-1 class is in no coarse class (each is attacked in its strongest group)."""
    if len(outside) <= NAMED_OUTSIDE:
        for name, top in outside.items():
            print(f"note: the top-1 class of {name} ({top}) belongs to no coarse class of {hierarchy}; it is "
                  "attacked in the strongest group", file=sys.stderr)
        return
    named = ", ".join(f"{name} ({top})" for name, top in list(outside.items())[:NAMED_OUTSIDE])
    print(f"note: the top-1 classes of {len(outside)} images belong to no coarse class of {hierarchy}; each is "
          f"attacked in its strongest group: {named} and {len(outside) - NAMED_OUTSIDE} more (all in the JSON, "
          "top1_outside_hierarchy)", file=sys.stderr)


def run(args) -> int:
    import torch

    from core.cache import ResultCache
    from core.models import load
    from core.provenance import provenance
    from core.serialize import dumps
    from core.studies import c2f_claims
    from core.studies.c2f import DEFAULT_DIGITS, StudyConfig, evaluate, outside_hierarchy

    config = settings_from(args, StudyConfig)  # checked before anything is loaded
    out, npz = Path(args.out), None if args.npz is None else Path(args.npz)
    check_writable(out, example=OUT)  # before the run, not after minutes of it
    if npz is not None:
        if npz.resolve() == out.resolve():
            raise InputError(f"--npz and --out name the same file ({out}); give them different names.")
        check_writable(npz, "--npz", "c2f_results.npz")
    for caveat in config.caveats():
        print(f"note: {caveat}", file=sys.stderr)
    loaded = load(args.model, weights_path=args.weights, hierarchy=args.hierarchy or default_hierarchy(args.model))
    info = loaded.info
    source = image_source(args.images, info, DEFAULT_DIGITS)
    images = [im for im in open_images(source, info) if not _blank(im)]
    if not images:
        raise InputError(f"No image in {source} can be attacked.")
    x = torch.cat([im.tensor for im in images]).to(loaded.device)
    names = [im.source_name or "?" for im in images]
    outside = outside_hierarchy(loaded.model, x, names, info.class_names, args.batch_size)
    _note_outside(outside, info.hierarchy.name)
    started = time.perf_counter()
    with progress_bar() as progress:
        result = evaluate(loaded.model, x, config, image_names=names,
                          model_id=info.model_id, image_digests=[im.digest for im in images],
                          cache=None if args.no_cache else ResultCache(), batch_size=args.batch_size,
                          progress=progress)
    print(result.format(markdown=args.markdown))
    claims = c2f_claims.check(result)
    fields = c2f_claims.report_fields(result, info.hierarchy.coarse_names, claims)
    print("images per coarse class (the model's, before the attacks): "
          + ", ".join(f"{name} {k}" for name, k in fields["images_per_coarse_class"].items()))
    print(c2f_claims.text(claims))
    report = (result.to_dict() | provenance(info, loaded.device)
              | {"seconds": time.perf_counter() - started, "top1_outside_hierarchy": outside} | fields)
    rerun = "the attacks are cached, so a rerun takes seconds" if not args.no_cache else ""
    write_atomically(out, dumps(report).encode(), rerun=rerun)
    print(f"wrote {out}")
    if npz is not None:
        write_atomically(npz, result.npz(x), "--npz", rerun)
        print(f"wrote {npz}")
    return 0

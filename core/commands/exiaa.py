"""``python -m core exiaa-eval``: the eXIAA paper's Table 1 (the attack and its Gaussian baseline over alpha x
top-k, for saliency, integrated gradients and DeepLIFT SHAP) on a set of images with a pool of attack
images, printed beside the paper's, with every image's figures as JSON; ``--figure5`` adds Figure 5 (the
running-up class against every other class as the attack image's class).

The study's settings and their defaults are ``core.studies.exiaa.StudyConfig``'s: each is a flag."""
from __future__ import annotations

import time
from pathlib import Path

from core.commands.files import check_writable, write_atomically
from core.commands.flags import add_settings, count, settings_from
from core.commands.images import add_image_flags, image_source, open_images, open_pool
from core.commands.progress import progress_bar

NAME = "exiaa-eval"
HELP = "eXIAA paper's Table 1: the black-box injection attack on explanations and its Gaussian baseline"
OUT = "exiaa_results.json"


def arguments(parser) -> None:
    from core.studies import exiaa as study

    add_image_flags(parser, study.DEFAULT_DIGITS)
    parser.add_argument("--pool", help="the attack images' pool: a folder of images (e.g. ../shared/imagenet-sample), "
                                       "'gallery', or 'mnist' for the 5,000 bundled digits (default: gallery, or "
                                       "mnist for a digit model); an attacked image in it is left out of its own "
                                       "candidates")
    add_settings(parser, study.StudyConfig)
    parser.add_argument("--figure5", action="store_true",
                        help="also attack with every class other than the prediction, by rank, to compare the "
                             f"running-up class with the others (Figure 5; models of at most "
                             f"{study.MAX_RANKED_CLASSES} classes)")
    parser.add_argument("--batch-size", type=count, default=study.BATCH_SIZE,
                        help="images per predict or explain call (another batch size can move the last digits)")
    parser.add_argument("--markdown", action="store_true", help="print the tables as markdown")
    parser.add_argument("--out", default=OUT, help="JSON file for the results (missing folders are created)")
    parser.add_argument("--no-cache", action="store_true", help="recompute instead of using the result cache")


def run(args) -> int:
    import torch

    from core.cache import ResultCache
    from core.data import takes_digits
    from core.explain.explanation import classifier
    from core.models import load
    from core.provenance import provenance
    from core.serialize import dumps
    from core.studies.exiaa import (
        DEFAULT_DIGITS,
        StudyConfig,
        claims,
        claims_text,
        evaluate,
        evaluate_ranks,
        rank_curves,
    )

    config = settings_from(args, StudyConfig)  # checked before anything is loaded
    out = Path(args.out)
    check_writable(out, example=OUT)
    loaded = load(args.model, weights_path=args.weights)
    info = loaded.info
    digits = takes_digits(info.input)
    images = open_images(image_source(args.images, info, DEFAULT_DIGITS), info)
    pool = open_pool(args.pool or ("mnist" if digits else "gallery"), info)
    x = torch.cat([im.tensor for im in images]).to(loaded.device)
    options = {"image_names": [im.source_name or "?" for im in images], "image_digests": [im.digest for im in images],
               "model_id": info.model_id, "cache": None if args.no_cache else ResultCache(),
               "batch_size": args.batch_size}
    started = time.perf_counter()
    with progress_bar() as progress:
        result = evaluate(classifier(loaded), x, config, pool, class_names=info.class_names, progress=progress,
                          **options)
    print(result.format(markdown=args.markdown))
    report = result.to_dict() | provenance(info, loaded.device)
    if args.figure5:
        with progress_bar() as progress:
            ranked = evaluate_ranks(classifier(loaded), x, config, pool, class_names=info.class_names,
                                    progress=progress, **options)
        report["figure5"] = {m: {k: v.tolist() for k, v in rank_curves(ranked, m).items()} for m in config.methods}
        print(figure5_text(report["figure5"], config))
    report["claims"] = {m: claims(report["means"][m], config.top_ks, report.get("figure5", {}).get(m))
                        for m in config.methods}
    for m, checked in report["claims"].items():
        print(f"The paper's claims, {m}:\n{claims_text(checked, config.alphas)}")
    report["seconds"] = time.perf_counter() - started
    write_atomically(out, dumps(report).encode(), rerun="the grids are cached, so a rerun takes seconds"
                     if not args.no_cache else "")
    print(f"wrote {out}")
    return 0


def figure5_text(curves: dict, config) -> str:
    """Figure 5 as text: per method and alpha, the running-up class's explanation change % over top-k beside
    the other classes' mean."""
    lines = ["Figure 5: explanation change % with the running-up class / the mean of the other classes"]
    for method, c in curves.items():
        lines.append(f"{method}  (top-k: {', '.join(f'{k:g}' for k in config.top_ks)})")
        for i, alpha in enumerate(config.alphas):
            cells = "  ".join(f"{r:.1f}/{o:.1f}" for r, o in zip(c["running_up"][i], c["others"][i]))
            lines.append(f"  alpha {alpha:g}: {cells}")
    return "\n".join(lines)

"""``python -m core gse-eval``: the GSE talk's Table 1 (untargeted) or Table 2 (targeted, the mean over target
labels) for GSE, StrAttack and FWnucl on a set of images, printed beside the talk's rows, with the
interpretability score of Figure 2 and every run as JSON.

Labels: MNIST digits carry theirs; a file named like the ImageNet sample's (``III_nXXXXXXXX_name.JPEG``) has
the class ``III``; only images the model classifies correctly are attacked. Images without a label are
attacked at the model's decision. The study's settings and their defaults are
``core.studies.gse.StudyConfig``'s: each is a flag."""
from __future__ import annotations

import re
import time
from pathlib import Path

from core.commands.files import check_writable, write_atomically
from core.commands.flags import add_settings, count, settings_from
from core.commands.images import add_image_flags, image_source, open_images
from core.commands.progress import progress_bar

NAME = "gse-eval"
HELP = "GSE talk's Tables 1/2: GSE, StrAttack and FWnucl (ASR, ACP, ANC, l2, d_2,0, time, IS)"
OUT = "gse_results.json"
INDEXED = re.compile(r"^(\d{3})_n\d{8}_")  # the ImageNet sample's file names carry the class index


def arguments(parser) -> None:
    from core.studies import gse as study

    add_image_flags(parser, study.DEFAULT_DIGITS)
    add_settings(parser, study.StudyConfig)
    parser.add_argument("--limit", type=count, help="attack only the first N images of --images")
    parser.add_argument("--batch-size", type=count, default=study.BATCH_SIZE,
                        help="images per attack call (GSE and FWnucl drop images as they succeed)")
    parser.add_argument("--markdown", action="store_true", help="print the tables as markdown")
    parser.add_argument("--out", default=OUT, help="JSON file for the results (missing folders are created)")
    parser.add_argument("--no-cache", action="store_true", help="recompute instead of using the result cache")


def image_label(image) -> int | None:
    """An image's class: a bundled MNIST digit's label, the index in an ImageNet-sample file name, else None."""
    from core.data.mnist import digit_label

    name = image.source_name or ""
    if name.startswith("mnist_test_"):
        return digit_label(int(name.rsplit("_", 1)[1]))
    found = INDEXED.match(Path(name).name)
    return int(found.group(1)) if found else None


def run(args) -> int:
    import torch

    from core.cache import ResultCache
    from core.explain.explanation import classifier
    from core.models import load
    from core.provenance import provenance
    from core.serialize import dumps
    from core.studies.gse import DEFAULT_DIGITS, StudyConfig, evaluate

    config = settings_from(args, StudyConfig)  # checked before anything is loaded
    out = Path(args.out)
    check_writable(out, example=OUT)
    loaded = load(args.model, weights_path=args.weights)
    info = loaded.info
    images = open_images(image_source(args.images, info, DEFAULT_DIGITS), info)
    images = images[: args.limit] if args.limit else images
    found = [image_label(im) for im in images]
    labels = torch.tensor(found) if all(v is not None for v in found) else None
    x = torch.cat([im.tensor for im in images]).to(loaded.device)
    started = time.perf_counter()
    with progress_bar() as progress:
        result = evaluate(classifier(loaded), x, labels, config, image_names=[im.source_name or "?" for im in images],
                          image_digests=[im.digest for im in images], model_id=info.model_id,
                          cache=None if args.no_cache else ResultCache(), batch_size=args.batch_size,
                          progress=progress)
    print(result.format(markdown=args.markdown))
    report = result.to_dict() | provenance(info, loaded.device) | {"seconds": time.perf_counter() - started}
    write_atomically(out, dumps(report).encode(), rerun="the attacks are cached, so a rerun takes seconds"
                     if not args.no_cache else "")
    print(f"wrote {out}")
    return 0

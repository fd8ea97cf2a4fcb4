"""``python -m core attributes-eval``: the attributes paper's figures (Figure 4's accuracies, Figures 5 and 7's
attribute distances, Figure 9's robust ratio) for a standard and an adversarially trained model, on the
bundled digits (measured attributes) or on a dataset of your own, printed as tables and written as JSON.

The study's settings and their defaults are ``core.studies.attributes.StudyConfig``'s: each is a flag."""
from __future__ import annotations

from pathlib import Path

from core.commands.files import check_writable, write_atomically
from core.commands.flags import add_settings, settings_from
from core.commands.progress import progress_bar

NAME = "attributes-eval"
HELP = "attributes paper's figures: accuracy of general and attribute-based classifiers under I-FGSM, d1/d2, R"
OUT = "attributes_results.json"


def arguments(parser) -> None:
    from core.attributes.datasets import LAYOUTS
    from core.studies import attributes as study

    parser.add_argument("--model", default="mnist_cnn", help="the standard model (a model of `python -m core models`)")
    parser.add_argument("--weights", help="local state-dict file for --model")
    parser.add_argument("--robust", help="the adversarially trained model (e.g. mnist_cnn_robust); without it, "
                                         "Figures 7 and 9 are left out")
    parser.add_argument("--robust-weights", help="local state-dict file for --robust")
    parser.add_argument("--dataset", choices=LAYOUTS, help="your own data instead of the digits: its layout")
    parser.add_argument("--root", help="the dataset's folder (ImageFolder: one folder per class)")
    parser.add_argument("--csv", help="ImageFolder: the class-attribute CSV (class,<attribute>,...)")
    parser.add_argument("--per-class", type=int, default=None, help="at most this many images per class")
    add_settings(parser, study.StudyConfig)
    parser.add_argument("--markdown", action="store_true", help="print the tables as markdown")
    parser.add_argument("--out", default=OUT, help="JSON file for the results (missing folders are created)")
    parser.add_argument("--npz", help="also write the exact adversarial images and every answer to this NPZ file")
    parser.add_argument("--no-cache", action="store_true", help="recompute instead of using the result cache")


def _subject(role, name, weights, data, dataset):
    from core.explain.explanation import classifier
    from core.models import load
    from core.studies.attributes import Subject, on_dataset

    loaded = load(name, weights_path=weights)
    model = classifier(loaded)
    if dataset is None:
        return Subject(role, model, loaded.info.model_id), loaded
    return on_dataset(role, model, loaded.info.model_id, data), loaded


def run(args) -> int:
    from core.attributes.datasets import load_dataset
    from core.cache import ResultCache
    from core.data import takes_digits
    from core.errors import InputError
    from core.models import load
    from core.provenance import provenance
    from core.serialize import dumps
    from core.studies.attributes import StudyConfig, dataset_data, digit_data, evaluate

    config = settings_from(args, StudyConfig)  # checked before anything is loaded
    out = Path(args.out)
    check_writable(out, example=OUT)
    if args.npz:
        check_writable(Path(args.npz), "--npz", "attributes_results.npz")
    if args.dataset is None:
        if not takes_digits(load(args.model, weights_path=args.weights).info.input):
            raise InputError(f"{args.model} does not take the 28x28 digits; give --dataset and --root for your data.")
        data, dataset = digit_data(config.n), None
    else:
        if args.root is None:
            raise InputError("--dataset needs --root, the dataset's folder.")
        info = load(args.model, weights_path=args.weights).info
        loading = {"size": info.input.size, "channels": info.input.channels,
                   "crop_fraction": info.input.crop_fraction, "per_class": args.per_class}
        dataset = load_dataset(args.dataset, args.root, args.csv, **loading)
        data = dataset_data(dataset, config.n)
    standard, loaded = _subject("standard", args.model, args.weights, data, dataset)
    robust = _subject("robust", args.robust, args.robust_weights, data, dataset)[0] if args.robust else None
    with progress_bar() as progress:
        result = evaluate(standard, data, config, robust=robust, cache=None if args.no_cache else ResultCache(),
                          progress=progress)
    print(result.format(markdown=args.markdown))
    report = result.to_dict() | provenance(loaded.info, loaded.device)
    if dataset is not None:
        report["dataset"] = dataset.to_dict()
    write_atomically(out, dumps(report).encode(), rerun="the attacks are cached, so a rerun takes seconds"
                     if not args.no_cache else "")
    print(f"wrote {out}")
    if args.npz:
        write_atomically(Path(args.npz), result.npz(data.test_x), "--npz")
        print(f"wrote {args.npz}")
    return 0

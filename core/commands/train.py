"""``python -m core train NAME``: retrains one of the project's own small models."""
from __future__ import annotations

NAME = "train"
HELP = "train one of the project's own small models"


def arguments(parser) -> None:
    parser.add_argument("name", choices=["mnist_cnn", "housing_mlp", "wine_mlp", "cancer_mlp"])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="folder for weights and card (default assets/models)")


def run(args) -> int:
    if args.name.endswith("_mlp"):  # the S-CFE study's tabular MLPs (core.models.tabular_training)
        from core.models.tabular_training import train_tabular

        return train_tabular(args.name, epochs=args.epochs, seed=args.seed, out_dir=args.out)
    from core.models.training import train_and_save

    return train_and_save(args.name, epochs=args.epochs, seed=args.seed, out_dir=args.out)

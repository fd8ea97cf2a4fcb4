"""``python -m core train NAME``: retrains one of the project's own small models.

``mnist_cnn_robust`` is adversarially trained (eq. 2 of the attributes paper) against PGD; every card records
the test accuracy under I-FGSM (eq. 1) at eps 0.01 / 0.06 / 0.12."""
from __future__ import annotations

NAME = "train"
HELP = "train one of the project's own small models"


def arguments(parser) -> None:
    parser.add_argument("name", choices=["mnist_cnn", "mnist_cnn_robust", "housing_mlp", "wine_mlp", "cancer_mlp"])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="folder for weights and card (default assets/models)")


def run(args) -> int:
    if args.name.endswith("_mlp"):  # the S-CFE study's tabular MLPs (core.models.tabular_training)
        from core.models.tabular_training import train_tabular

        return train_tabular(args.name, epochs=args.epochs, seed=args.seed, out_dir=args.out)
    from core.attacks.ifgsm import ifgsm
    from core.attacks.pgd import pgd
    from core.models.training import TRAINABLE, train_and_save

    config = TRAINABLE[args.name]

    def adversary(model, x, y, seed):
        return pgd(model, x, y, eps=config.adv_eps, steps=config.adv_steps, random_start=True, seed=seed).x_adv

    def attack(model, x, y, eps):
        return ifgsm(model, x, y, eps=eps).x_adv

    return train_and_save(args.name, epochs=args.epochs, seed=args.seed, out_dir=args.out, adversary=adversary,
                          attack=attack)

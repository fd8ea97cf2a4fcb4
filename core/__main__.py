"""The command line: ``python -m core STUDY ...``. Run ``python -m core --help`` for the list."""
from __future__ import annotations

import argparse
import sys

from core import commands
from core.errors import InputError, UnsupportedError, WeightsUnavailableError


class _WithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's help ends with its default, where it has one to show (not None, not an off flag)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def count(text: str) -> int:
    """An argument type for counts (steps, candidates, batch size): an integer of at least 1, so that
    argparse's message names the option."""
    value = int(text)  # a ValueError becomes argparse's "invalid count value"
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list every model and whether its weights are available offline")
    p.add_argument("--download", metavar="NAME", help="fetch a torchvision model's weights into torchvision's cache")
    p.set_defaults(run=commands.models)

    p = sub.add_parser("explain", help="relevance map of one image: heatmap PNG, NPZ and JSON")
    p.add_argument("--model", default="efficientnet_lite0")
    p.add_argument("--weights", help="local state-dict file to use instead of the default weights")
    p.add_argument("--image", required=True, help="image file, or a gallery name (chelsea, coffee, ...)")
    p.add_argument("--method", default="lrp", help="lrp, saliency, integrated_gradients or deeplift_shap")
    p.add_argument("--target", type=int, help="class index to explain (default: the top-1 prediction)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="method parameter, e.g. composite=zplus_zbox or n_steps=32 (repeatable)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--no-cache", action="store_true", help="recompute instead of using the result cache")
    p.set_defaults(run=commands.explain)

    p = sub.add_parser("c2f-eval", help="LRP poster's Table 1/2: LRP, DeepFool and PGD on a C2F model",
                       formatter_class=_WithDefaults)
    p.add_argument("--model", default="efficientnet_lite0", help="a model of `python -m core models`")
    p.add_argument("--weights", help="local state-dict file to use instead of the default weights")
    p.add_argument("--hierarchy", help="a shipped hierarchy (assets/hierarchies) or the path of a JSON file in their "
                                       "format (default: the first shipped one that fits the model: imagenet_c2f, "
                                       "or mnist_c2f for mnist_cnn)")
    p.add_argument("--images",  # mnist:20: core.studies.c2f.DEFAULT_DIGITS (not imported: torch)
                   help="folder of images, one image file, 'gallery' for the bundled photos, or 'mnist:N' for the first "
                        "N bundled MNIST test digits (default: gallery, or mnist:20 for a model of MNIST digits such "
                        "as mnist_cnn)")
    p.add_argument("--level", choices=["coarse", "fine"], default="coarse",
                   help="coarse: LRPC, DFC, PGDC (Table 1); fine: LRPF, DFF, PGDF, keeping the coarse class (Table 2)")
    p.add_argument("--attacks", nargs="+", choices=["lrp", "deepfool", "pgd"], default=["lrp", "deepfool", "pgd"],
                   help="the table's columns")
    p.add_argument("--eps", nargs="+", type=float, default=[10, 20, 40], help="LRP budgets, 0-255 scale")
    p.add_argument("--lrp-steps", type=count, default=20, help="LRP attack steps (all taken unless --lrp-early-stop)")
    p.add_argument("--lrp-alpha", type=float, default=None,
                   help="LRP step size, 0-255 scale (default: 2.5 eps / steps)")
    p.add_argument("--lrp-early-stop", action="store_true",
                   help="stop each image's LRP attack at its first success instead of taking every step")
    p.add_argument("--lrp-p", type=float, default=2.0, help="norm order p of the LRP loss")
    p.add_argument("--lrp-step", choices=["sign", "scaled"], default="sign",
                   help="LRP attack step: sign(grad) or grad / max|grad|")
    p.add_argument("--lrp-signed-inputs", choices=["split", "as_written"], default="split",  # rules.SIGNED_INPUTS
                   help="z+ on hidden inputs that can be negative: split (zennit's rule) or as_written (the "
                        "poster's formula taken literally; see core.explain.lrp)")
    p.add_argument("--lrp-init", choices=["logit", "onehot"], default="logit",  # lrp.INITS
                   help="output relevance R^L of the LRP maps the attack's loss is of: the target's logit, or 1 "
                        "(the poster's delta_ic)")
    p.add_argument("--deepfool-steps", type=count, default=50, help="most DeepFool steps")
    p.add_argument("--deepfool-overshoot", type=float, default=0.02, help="DeepFool's overshoot")
    p.add_argument("--deepfool-candidates", type=count, default=10,
                   help="classes other than the original one that DeepFool considers: the top ones at the start "
                        "(the reference code's num_classes, which counts the original, is this plus 1)")
    p.add_argument("--deepfool-crossing", type=float, default=1e-4,  # core.attacks.deepfool.CROSSING
                   help="how far past the linearised boundary each DeepFool step reaches (the reference code's "
                        "1e-4; 0: the paper's Algorithm 1)")
    p.add_argument("--pgd-eps", type=float, default=10.0, help="PGD budget, 0-255 scale")
    p.add_argument("--pgd-alpha", type=float, default=1.0, help="PGD step size, 0-255 scale")
    p.add_argument("--pgd-steps", type=count, default=20, help="most PGD steps; it stops at its first success")
    p.add_argument("--pgd-random-start", action="store_true",
                   help="start PGD at a uniformly random point of its budget's ball (seeded) instead of the image")
    p.add_argument("--over", choices=["success", "all"], default="success",
                   help="images the perceptibility mean runs over")
    p.add_argument("--batch-size", type=count, default=4,  # core.studies.c2f.BATCH_SIZE (not imported: torch)
                   help="images attacked together (another batch size sums in another order; signed steps can "
                        "amplify that into other perturbations and, rarely, another outcome: compare runs at the "
                        "same batch size)")
    p.add_argument("--markdown", action="store_true", help="print the tables as markdown")
    p.add_argument("--out", default="c2f_results.json",
                   help="JSON file for the results (missing folders are created)")
    p.add_argument("--npz", default=None,
                   help="also write an NPZ file: the images (x), their names, and each column's exact adversarial "
                        "images (<column>_x_adv, e.g. lrpc_eps10_x_adv; the perturbation is x_adv - x), success, "
                        "iterations and labels")
    p.add_argument("--no-cache", action="store_true", help="recompute instead of using the result cache")
    p.set_defaults(run=commands.c2f_eval)

    p = sub.add_parser("train", help="train one of the project's own small models")
    p.add_argument("name", choices=["mnist_cnn"])
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="folder for weights and card (default assets/models)")
    p.set_defaults(run=commands.train)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except (InputError, UnsupportedError, WeightsUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as exc:  # numpy's MemoryError; torch's "out of memory" is a RuntimeError
        said = str(exc).strip()
        if isinstance(exc, RuntimeError) and "out of memory" not in said and "can't allocate memory" not in said:
            raise
        print(f"error: out of memory ({said.splitlines()[0][:200] if said else type(exc).__name__}). Ask for less "
              "at once: a smaller --batch-size (c2f-eval), or fewer n_steps, an internal_batch_size or fewer "
              "n_baselines (explain).", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: no output written (results computed so far stay in the result cache)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``python -m core models``: every model, and whether its weights are available offline."""
from __future__ import annotations

from core.errors import InputError

NAME = "models"
HELP = "list every model and whether its weights are available offline"


def arguments(parser) -> None:
    parser.add_argument("--download", metavar="NAME",
                        help="fetch a torchvision model's weights into torchvision's cache")


def run(args) -> int:
    from core.models import availability
    from core.models.registry import spec

    if args.download:
        s = spec(args.download)
        if s.download is None:
            raise InputError(f"{args.download} ships with the project; nothing to download.")
        print(f"downloaded {s.download()}")
    print(f"{'model':<20} {'offline':<8} description")
    for row in availability():
        print(f"{row['name']:<20} {'yes' if row['offline'] else 'no':<8} {row['description']}")
    return 0

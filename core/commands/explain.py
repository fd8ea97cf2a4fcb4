"""``python -m core explain``: the relevance map of one image, as a heatmap PNG, an NPZ and a JSON report."""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from core.commands.images import open_image
from core.errors import InputError

NAME = "explain"
HELP = "relevance map of one image: heatmap PNG, NPZ and JSON"


def arguments(parser) -> None:
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--weights", help="local state-dict file to use instead of the default weights")
    parser.add_argument("--image", required=True, help="image file, or a gallery name (chelsea, coffee, ...)")
    parser.add_argument("--method", default="lrp", help="lrp, saliency, integrated_gradients or deeplift_shap")
    parser.add_argument("--target", type=int, help="class index to explain (default: the top-1 prediction)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="method parameter, e.g. composite=zplus_zbox or n_steps=32 (repeatable)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--no-cache", action="store_true", help="recompute instead of using the result cache")


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``["n_steps=32", "composite=zplus_zbox"]`` -> ``{"n_steps": 32, "composite": "zplus_zbox"}``."""
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise InputError(f"Parameters are NAME=VALUE, got {pair!r}.")
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    return params


def run(args) -> int:
    from core.cache import ResultCache
    from core.explain.explanation import explain as run_explain
    from core.models import load, top_k

    out = Path(args.out)
    if out.exists() and not out.is_dir():  # before the work, not after it
        raise InputError(f"--out {out} is a file; give a folder for the explanation's files.")
    started = time.perf_counter()
    loaded = load(args.model, weights_path=args.weights)
    info = loaded.info
    image = open_image(args.image, **info.input.loading())
    load_seconds = time.perf_counter() - started
    predictions = top_k(loaded.model, image.tensor.to(loaded.device), info.class_names, k=5)[0]
    cache = None if args.no_cache else ResultCache()
    params = parse_params(args.param)
    explanation = run_explain(loaded, image, args.method, args.target, params, cache)
    stem = explain_stem(image.source_name, args.method, explanation.target, params)
    files = explanation.files(predictions, timings={"load_seconds": load_seconds,
                                                    "total_seconds": time.perf_counter() - started})
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (out / f"{stem}_{name}").write_bytes(data)
    except OSError as exc:
        raise InputError(f"Cannot write the explanation's files to --out {out}: {exc}") from exc
    top = predictions[0]
    print(f"top-1: {top.name} ({top.probability:.1%}); explained class {explanation.target} "
          f"({explanation.target_name}) with {args.method} in {explanation.seconds:.2f}s"
          f"{' (cached)' if explanation.cached else ''}")
    for name in files:
        print(f"wrote {out / f'{stem}_{name}'}")
    return 0


def explain_stem(source_name: str | None, method: str, target: int, params: dict[str, Any]) -> str:
    """How ``explain`` names its files: the image (``cat.png`` -> ``cat-png``, so ``cat.jpg`` differs; a
    gallery name as it is), the method, the class, and a digest of any ``--param``. Another image, class or
    parameter so gets other files; the same request writes the same files again."""
    image = Path(source_name or "image")
    name = f"{image.stem}-{image.suffix[1:]}" if image.suffix else image.name
    stem = f"{name}_{method}_class{target}"
    if params:
        stem += "_" + hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    return stem

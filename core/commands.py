"""Implementations of the command-line studies (``python -m core ...``); parsing is in __main__."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.serialize import dumps


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


def open_image(spec: str, **kwargs):
    """An image file, or a gallery photo by name."""
    from core.data import gallery_names, load_gallery, load_image

    if Path(spec).is_file():
        return load_image(spec, **kwargs)
    if spec in gallery_names():
        return load_gallery(spec, **kwargs)
    raise InputError(f"{spec!r} is neither an image file nor a gallery name ({', '.join(gallery_names())}).")


def models(args) -> int:
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


def explain(args) -> int:
    from core.cache import ResultCache
    from core.explain.explanation import explain as run_explain
    from core.models import load, top_k

    out = Path(args.out)
    if out.exists() and not out.is_dir():  # before the work, not after it
        raise InputError(f"--out {out} is a file; give a folder for the explanation's files.")
    started = time.perf_counter()
    loaded = load(args.model, weights_path=args.weights)
    info = loaded.info
    image = open_image(args.image, size=info.input_size, crop_fraction=info.crop_fraction, channels=info.channels)
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


MNIST_SOURCE = "mnist:"  # --images mnist:N, the first N bundled MNIST test digits


def open_images(spec: str, info) -> list:
    """All images of a folder (sorted by name), one image file, the gallery when ``spec`` is 'gallery', or
    the first N bundled MNIST test digits when it is 'mnist:N' (for a model that takes them), each loaded
    for the input of the model ``info`` (a ``ModelInfo``) describes."""
    from core.data import gallery_names, load_digits, load_gallery, load_image

    kwargs = {"size": info.input_size, "crop_fraction": info.crop_fraction, "channels": info.channels}
    if spec == "gallery":
        return [load_gallery(name, **kwargs) for name in gallery_names()]
    folder = Path(spec)
    if spec.startswith(MNIST_SOURCE) and not folder.exists():
        count = spec[len(MNIST_SOURCE):]
        if not count.isdigit():
            raise InputError(f"--images {spec}: give the number of MNIST test digits, e.g. {MNIST_SOURCE}20.")
        if not info.takes_mnist_digits:
            raise InputError("MNIST digits are 28x28 grayscale images; this model takes "
                             f"{info.input_size}x{info.input_size} images with {info.channels} channels.")
        return load_digits(int(count))
    if folder.is_file():
        return [load_image(folder, **kwargs)]
    if not folder.is_dir():
        raise InputError(f"{spec} is neither a folder of images, an image file, 'gallery', nor "
                         f"'{MNIST_SOURCE}N' (the first N MNIST test digits).")
    images, seen = [], {}
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        if path.resolve() in seen:  # a link to a file already taken: the same image, counted once
            print(f"skipped {path.name}: the same file as {seen[path.resolve()]}", file=sys.stderr)
            continue
        seen[path.resolve()] = path.name
        try:
            images.append(load_image(path, **kwargs))
        except InputError as exc:
            print(f"skipped {path.name}: {exc}", file=sys.stderr)
    if not images:
        raise InputError(f"No readable images in {folder}.")
    return images


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


def _check_writable(out: Path, flag: str = "--out", example: str = "c2f_results.json") -> None:
    """``out`` (given as ``flag``) can be written: its missing folders can be created and a file there
    opened. What the check made (folders, the file) is removed again, so a run refused later leaves
    nothing behind."""
    if out.is_dir():
        raise InputError(f"{flag} {out} is a folder; give a file name such as {out / example}.")
    existed = out.exists() or out.is_symlink()  # a dangling link is the user's: never removed
    missing = [folder for folder in out.parents if not folder.exists()]  # innermost first
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a"):
            pass
    except OSError as exc:
        raise InputError(f"Cannot write {flag} {out}: {exc}") from exc
    finally:
        if not existed and out.exists():
            out.unlink()
        for folder in missing:
            with contextlib.suppress(OSError):  # never hides the error that brought us here
                folder.rmdir()


def c2f_eval(args) -> int:
    import torch
    from tqdm import tqdm

    from core.cache import ResultCache
    from core.models import load
    from core.provenance import provenance
    from core.studies.c2f import DEFAULT_DIGITS, StudyConfig, evaluate, outside_hierarchy

    config = StudyConfig(level=args.level, attacks=tuple(args.attacks), eps_255=tuple(args.eps),
                         lrp_steps=args.lrp_steps, lrp_p=args.lrp_p, lrp_step_rule=args.lrp_step,
                         lrp_signed_inputs=args.lrp_signed_inputs, lrp_init=args.lrp_init,
                         lrp_alpha_255=args.lrp_alpha, lrp_early_stop=args.lrp_early_stop,
                         deepfool_steps=args.deepfool_steps, deepfool_overshoot=args.deepfool_overshoot,
                         deepfool_candidates=args.deepfool_candidates, deepfool_crossing=args.deepfool_crossing,
                         pgd_eps_255=args.pgd_eps,
                         pgd_alpha_255=args.pgd_alpha, pgd_steps=args.pgd_steps,
                         pgd_random_start=args.pgd_random_start, over=args.over)  # checked before anything is loaded
    out, npz = Path(args.out), None if args.npz is None else Path(args.npz)
    _check_writable(out)  # before the run, not after minutes of it
    if npz is not None:
        if npz.resolve() == out.resolve():
            raise InputError(f"--npz and --out name the same file ({out}); give them different names.")
        _check_writable(npz, "--npz", "c2f_results.npz")
    for caveat in config.caveats():
        print(f"note: {caveat}", file=sys.stderr)
    loaded = load(args.model, weights_path=args.weights, hierarchy=args.hierarchy or default_hierarchy(args.model))
    info = loaded.info
    source = args.images or (f"{MNIST_SOURCE}{DEFAULT_DIGITS}" if info.takes_mnist_digits else "gallery")
    images = [im for im in open_images(source, info) if not _blank(im)]
    if not images:
        raise InputError(f"No image in {source} can be attacked.")
    x = torch.cat([im.tensor for im in images]).to(loaded.device)
    names = [im.source_name or "?" for im in images]
    outside = outside_hierarchy(loaded.model, x, names, info.class_names, args.batch_size)
    for name, top in outside.items():
        print(f"note: the top-1 class of {name} ({top}) belongs to no coarse class of {info.hierarchy.name}; it is "
              "attacked in the strongest group", file=sys.stderr)
    started = time.perf_counter()
    with tqdm(total=1000, unit="", bar_format="{l_bar}{bar}| {elapsed} elapsed, about {remaining} left",
              mininterval=0.1 if sys.stderr.isatty() else 10) as bar:  # a log file gets a line per 10 s
        def progress(fraction: float, message: str) -> None:
            bar.set_description(message[:60], refresh=False)  # drawn by update, at most every mininterval
            bar.update(int(fraction * 1000) - bar.n)

        result = evaluate(loaded.model, x, config, image_names=names,
                          model_id=info.model_id, image_digests=[im.digest for im in images],
                          cache=None if args.no_cache else ResultCache(), batch_size=args.batch_size,
                          progress=progress)
    print(result.format(markdown=args.markdown))
    report = result.to_dict() | provenance(info, loaded.device) | {"seconds": time.perf_counter() - started}
    rerun = "the attacks are cached, so a rerun takes seconds" if not args.no_cache else ""
    _write_atomically(out, dumps(report).encode(), rerun=rerun)
    print(f"wrote {out}")
    if npz is not None:
        _write_atomically(npz, result.npz(x), "--npz", rerun)
        print(f"wrote {npz}")
    return 0


def _write_atomically(out: Path, data: bytes, flag: str = "--out", rerun: str = "") -> None:
    """``data`` to ``out`` (a link: to its target; given as ``flag``) through a temporary file beside it, so
    a failed write (a full disk) leaves an earlier file there whole; a device or pipe is written as it
    is. A failure becomes an ``InputError`` (``rerun``: what a rerun costs)."""
    target = out.resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and not target.is_file():
            target.write_bytes(data)
        else:
            partial = target.with_name(f".{target.name}.partial")
            try:
                partial.write_bytes(data)
                os.replace(partial, target)
            finally:
                with contextlib.suppress(OSError):  # gone after the replace
                    partial.unlink()
    except OSError as exc:
        raise InputError(f"Cannot write {flag} {out}: {exc}" + (f" ({rerun})." if rerun else ".")) from exc


def train(args) -> int:
    from core.models.training import train_and_save

    return train_and_save(args.name, epochs=args.epochs, seed=args.seed, out_dir=args.out)

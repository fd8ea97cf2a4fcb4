"""The eXIAA page's one attack: run it (``core.studies.exiaa_view.attack_one``, after the pool's cached pass)
and draw it in the compact grid, one row each for the original, the attack image, eXIAA's corrupted image and
the Gaussian baseline's; then the figures of both, the queries and the downloads."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from core.data import LoadedImage
from core.data.pools import Pool
from core.explain.explanation import classifier
from core.explain.heatmap import ColourScale, heatmap, map_png, png_bytes
from core.models import LoadedModel
from core.serialize import dumps
from core.studies.exiaa import black_box, pool_pass
from core.studies.exiaa_view import WHO, SingleAttack, attack_one
from core.studies.runner import sub_progress
from dashboard.exiaa.settings import AttackSettings
from dashboard.widgets.downloads import download_buttons, name_stem, zip_bytes
from dashboard.widgets.explainers import METHOD_LABELS
from dashboard.widgets.grid import GridRow, MapCell, Picture, draw_grid
from dashboard.widgets.state import result_cache

COLUMNS = ["image", "explanation", "injected entries<br>(mask)", "difference from x<br>amplified",
           "explanation change<br>after − before"]
FIGURE_NAMES = {"change_pct": "explanation change (%)", "ssim": "SSIM", "confidence_pct": "confidence change (points)",
                "class_changed": "class changed"}


@dataclass(frozen=True)
class Shown:
    """The last attack of a session: what it ran on (``context``), the attack, the pool and its pass."""

    context: tuple
    attack: SingleAttack
    pool: str
    pool_from_cache: bool
    skipped: tuple[str, ...]


def run_attack(loaded: LoadedModel, image: LoadedImage, pool: Pool, settings: AttackSettings, context: tuple,
               progress) -> Shown:
    """The pool's probabilities (from the cache after the first time), then the attack and its baseline."""
    model = classifier(loaded)
    x = image.tensor.to(loaded.device)
    predict, _ = black_box(model, settings.method, {})  # the predict the attack itself uses
    passed = pool_pass(predict, pool, x.shape[1:], model_id=loaded.info.model_id, cache=result_cache(),
                       progress=sub_progress(progress, 0.0, 0.7, "pool: "))
    progress(0.7, f"the attack and its baseline ({METHOD_LABELS[settings.method]})")
    attack = attack_one(model, x, image.digest, passed, settings.method, settings.alpha, settings.top_k)
    return Shown(context, attack, pool.description, passed.from_cache, passed.skipped)


def _picture(chw: np.ndarray) -> np.ndarray:
    """An image (C, H, W) in [0, 1] as uint8 (H, W, 3) or (H, W)."""
    pixels = np.round(np.clip(chw, 0, 1) * 255).astype(np.uint8)
    return pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0)


def _mask(mask: np.ndarray) -> np.ndarray:
    """The injected entries (C, H, W) as a picture: white where every channel of a pixel is injected, a colour
    where some are (RGB: the injected channels), black where none is."""
    return _picture(mask.astype(np.float64))


def _span(scale: ColourScale) -> str:
    return f"±{scale.limit:.2g}" if scale.signed else f"0 to {scale.limit:.2g}"


def grid_rows(shown: Shown, names, percentile: float) -> list[GridRow]:
    """The four rows: x, x̄, x̂ (eXIAA), x̃ (the baseline)."""
    a = shown.attack
    scales = a.scales(percentile)
    z, z_bar = heatmap(a.z[None])[0], heatmap(a.z_bar[None])[0]
    rows = [GridRow([Picture(_picture(a.x), "x"), MapCell(z, scales["z"], f"explanation of {names[a.y_star]}"),
                     None, None, None],
                    f"**Original x** · y* = **{names[a.y_star]}** {a.p_star:.1%}  \n"
                    f"running-up class y_r: {names[a.y_r]} {a.p_r:.1%}  \n"
                    f"explanation of y* {_span(scales['z'])} (the corrupted images' scale too)"),
            GridRow([Picture(_picture(a.x_bar), f"x̄: {a.attack_name}"),
                     MapCell(z_bar, scales["z_bar"], f"explanation of x̄ for {names[a.y_r]}"),
                     Picture(_mask(a.corrupted["ours"].mask), "injected entries I_k"), None, None],
                    f"**Attack image x̄** · {a.attack_name}  \n"
                    + ("predicted as y_r ✓" if a.in_class else
                       ":orange[not predicted as y_r: the pool has no such image; the one with the highest "
                       f"p({names[a.y_r]}) was taken]")
                    + f"  \nI_k: {a.entries:,} of its {a.positives:,} positive entries (top-k {a.top_k:g}) · "
                      f"explanation for y_r {_span(scales['z_bar'])}")]
    for who, label in WHO.items():
        c = a.corrupted[who]
        picture, factor = a.difference(who)
        cells = [Picture(_picture(c.image), f"{label}"), MapCell(heatmap(c.relevance[None])[0], scales[who],
                                                                  f"explanation of {names[c.y_hat]} after {label}"),
                 Picture(_mask(c.mask), f"entries changed by {label}"), Picture(picture, f"difference ×{factor:,.3g}"),
                 MapCell(a.change(who), scales[f"{who}_change"], f"change of the explanation, {label}")]
        f = c.figures
        moved = "" if c.y_hat == a.y_star else f" :orange[(was {names[a.y_star]})]"
        rows.append(GridRow(cells, f"**{label}** {'x̂' if who == 'ours' else 'x̃'} · α {a.alpha:g} · "
                                   f"predicted **{names[c.y_hat]}**{moved}  \n"
                                   f"change {f['change_pct']:.1f} % · SSIM {f['ssim']:.3f} · "
                                   f"Δconf {f['confidence_pct']:.2f} pts  \n"
                                   f"difference ×{factor:,.3g} · change {_span(scales[f'{who}_change'])}"))
    return rows


def figures_frame(attack: SingleAttack, names) -> pd.DataFrame:
    """The figures of eXIAA and of the baseline, one row each."""
    rows = {label: {FIGURE_NAMES[k]: (bool(v) if k == "class_changed" else v) for k, v in c.figures.items()}
            | {"predicted": names[c.y_hat]} for who, label in WHO.items() for c in [attack.corrupted[who]]}
    return pd.DataFrame(rows).T


def queries_text(shown: Shown) -> str:
    q = shown.attack.queries
    pool = ("its probabilities came from the cache (0 queries)" if shown.pool_from_cache
            else f"{q['pool']:,.0f} pool images predicted once (cached for the next image)")
    return (f"**Queries of the attack** (black box: probabilities and explanations only): predict {q['predict']:g} "
            f"images (x, then x̂) · explain {q['explain']:g} (x̄) · pool ({shown.pool}): {pool}. The explanations of "
            "x and of the corrupted images are the page's measurements, not the attack's.")


def files(shown: Shown, names, percentile: float, stem: str) -> dict[str, bytes]:
    """The maps as PNGs (on the page's scales) in a ZIP, and the attack's figures as JSON."""
    a = shown.attack
    scales = a.scales(percentile)
    maps = {"explanation_x.png": map_png(heatmap(a.z[None])[0], scales["z"], f"E(x; {names[a.y_star]})"),
            "explanation_attack_image.png": map_png(heatmap(a.z_bar[None])[0], scales["z_bar"],
                                                    f"E(x_bar; {names[a.y_r]})"),
            "attack_image.png": png_bytes(_picture(a.x_bar)), "mask.png": png_bytes(_mask(a.corrupted["ours"].mask))}
    for who, c in a.corrupted.items():
        maps[f"{who}_image.png"] = png_bytes(_picture(c.image))
        maps[f"{who}_explanation.png"] = map_png(heatmap(c.relevance[None])[0], scales[who], f"after {WHO[who]}")
        maps[f"{who}_change.png"] = map_png(a.change(who), scales[f"{who}_change"], f"change, {WHO[who]}")
    report = a.to_dict(names) | {"pool": shown.pool, "pool_skipped": list(shown.skipped), "image": stem,
                                 "scales": {k: s.to_dict() for k, s in scales.items()}}
    return {"maps.zip": zip_bytes(maps), "attack.json": dumps(report).encode()}


def draw(shown: Shown, image: LoadedImage, names, percentile: float) -> None:
    """The grid, the figures of both, the queries and the downloads."""
    a = shown.attack
    st.caption(f"{METHOD_LABELS[a.method]} · α {a.alpha:g} · top-k {a.top_k:g} · pool: {shown.pool} · "
               f"{a.seconds:.1f} s")
    draw_grid(COLUMNS, grid_rows(shown, names, percentile), key="exiaa_grid")
    st.caption("Maps: red for the class, blue against it (saliency has no sign: white to red). x̂'s and x̃'s "
               "explanations are on the original's scale, so what moved shows against it; each change map on its "
               "own. The mask: black = untouched, white = all channels of a pixel injected, a colour = those "
               "channels. The difference: grey = unchanged.")
    for why in shown.skipped:
        st.caption(f":orange[Pool image left out: {why}]")
    st.dataframe(figures_frame(a, names), key="exiaa_figures",
                 column_config={FIGURE_NAMES["change_pct"]: st.column_config.NumberColumn(format="%.2f"),
                                FIGURE_NAMES["ssim"]: st.column_config.NumberColumn(format="%.4f"),
                                FIGURE_NAMES["confidence_pct"]: st.column_config.NumberColumn(format="%.3f")})
    st.markdown(queries_text(shown))
    stem = name_stem(image.source_name)
    st.caption("Downloads: the maps as PNGs (each with its colour bar) in a ZIP; the attack's figures as JSON.")
    with st.container(horizontal=True):
        download_buttons(files(shown, names, percentile, stem), f"exiaa_{stem}_{a.method}", key="exiaa_dl")

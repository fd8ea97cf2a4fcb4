"""Attributes measured on the digit images themselves, each with where it lies on the image.

After Morpho-MNIST (Castro et al., JMLR 2019), written anew: an image (N, 1, H, W) in [0, 1] is upscaled
``scale`` times (bicubic) and thresholded at ``threshold`` of its own range (min + t (max - min)); its
skeleton is the Zhang-Suen thinning of that binary digit with spurs shorter than ``spur_length`` pruned
(peeled from their ends, the long branches regrown along the skeleton: Gonzalez and Woods' pruning;
Morpho-MNIST's medial axis keeps every spur, which would count as stroke ends), its distance map the
Euclidean distance of each digit pixel to the background. Lengths are in pixels of the input grid.

- area: digit pixels / scale^2 (px^2); length: the skeleton's edges, 1 per straight and sqrt(2) per
  diagonal neighbour pair, / scale (px); thickness: 2 mean(distance map on the skeleton) / scale (px).
- slant: ``atan(-mu11 / mu02)`` of the upscaled intensities' central moments, in degrees (positive: the
  top leans right, as in "/"); width and height: of the bounding parallelogram at that shear, the
  sheared horizontal and the vertical extent between the ``bound_fraction`` / 2 and 1 - ``bound_fraction``
  / 2 quantiles of the intensity mass (each pixel's mass spread over its width), / scale (px).
- holes: background components (4-connected) not joined to the border, of at least ``min_hole_area``
  px^2; upper and lower hole area: the vertical position of the holes, as their area above and below the
  middle of the parallelogram's height (px^2).
- endpoints and junctions: skeleton pixels whose crossing number (0-to-1 changes around the 8
  neighbours) is 1, and clusters of those where it is at least 3, on the pruned skeleton.

Each attribute's location mask on the input grid (N, K, H, W): the skeleton for length and thickness, the
digit for area, the bounding parallelogram (cells whose centre is inside) for slant, width and height, the
hole pixels, and the endpoints and junctions with their neighbouring cells; a cell belongs to a mask where
any of its upscaled pixels does. Skeletons, distance maps and components are scipy's and scikit-image's,
computed on the CPU over a mosaic of a chunk of images (one call per chunk, not per image).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from skimage.morphology import skeletonize

from core.errors import InputError
from core.validate import check_count, check_images, check_number

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Attribute:
    """A measured attribute: its key, its label on the page, its unit and what it is, in a sentence."""

    key: str
    label: str
    unit: str
    definition: str
    mask: str  # where its location mask lies


ATTRIBUTES = (
    Attribute("area", "area", "px²", "How much ink the digit has: its pixels above the threshold.", "the digit"),
    Attribute("length", "stroke length", "px", "How long the pen's path is: the length of the digit's skeleton.",
              "the skeleton"),
    Attribute("thickness", "thickness", "px", "How wide the stroke is: twice the mean distance from the skeleton "
              "to the background.", "the skeleton"),
    Attribute("slant", "slant", "°", "How far the digit leans right (positive) or left: the shear angle of its "
              "intensity moments.", "the bounding parallelogram"),
    Attribute("width", "width", "px", "How wide the digit is along its slant: the bounding parallelogram's "
              "width.", "the bounding parallelogram"),
    Attribute("height", "height", "px", "How tall the digit is: the bounding parallelogram's height.",
              "the bounding parallelogram"),
    Attribute("holes", "holes", "count", "How many closed loops the digit has: background regions enclosed by "
              "the stroke.", "the holes"),
    Attribute("upper_hole", "upper hole area", "px²", "How much of its enclosed background lies in the upper "
              "half of the digit (a 9's loop, the top of an 8).", "the holes' upper part"),
    Attribute("lower_hole", "lower hole area", "px²", "How much of its enclosed background lies in the lower "
              "half of the digit (a 6's loop, the bottom of an 8).", "the holes' lower part"),
    Attribute("endpoints", "stroke ends", "count", "How many free stroke ends the digit has: skeleton pixels with "
              "one neighbouring branch.", "the stroke ends"),
    Attribute("junctions", "junctions", "count", "How many places strokes meet or cross: skeleton points with "
              "three or more branches.", "the junctions"),
)
NAMES = tuple(a.key for a in ATTRIBUTES)
INDEX = {name: i for i, name in enumerate(NAMES)}
_NEIGHBOURS = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))  # clockwise from north


@dataclass(frozen=True)
class MorphoSettings:
    """How the digits are measured (see the module docstring); Morpho-MNIST's scale, threshold and bound
    fraction, our spur length and smallest hole (both in pixels of the input grid)."""

    scale: int = 4
    threshold: float = 0.5
    bound_fraction: float = 0.02
    spur_length: float = 3.0
    min_hole_area: float = 1.0

    def __post_init__(self):
        check_count("The upscaling factor", self.scale, 1)
        check_number("The threshold", self.threshold, "in (0, 1)", lambda t: 0 < t < 1)
        check_number("The bound fraction", self.bound_fraction, "in [0, 1)", lambda f: 0 <= f < 1)
        check_number("The spur length", self.spur_length, "at least 0", lambda s: 0 <= s < math.inf)
        check_number("The smallest hole area", self.min_hole_area, "at least 0", lambda a: 0 <= a < math.inf)


@dataclass(frozen=True)
class Measurements:
    """``values`` (N, K) in each attribute's unit (``ATTRIBUTES``' order) and ``masks`` (N, K, H, W) bool."""

    values: torch.Tensor
    masks: torch.Tensor

    @property
    def present(self) -> torch.Tensor:
        """(N, K) bool: the attribute has a location on the image (a hole to point at, an end, ...)."""
        return self.masks.flatten(2).any(2)

    def __getitem__(self, rows) -> Measurements:
        return Measurements(self.values[rows], self.masks[rows])


def measure(x: torch.Tensor, settings: MorphoSettings = MorphoSettings(), *, chunk: int = 128,
            progress: Progress | None = None) -> Measurements:
    """Every attribute of ``ATTRIBUTES`` and its mask for each grayscale image of ``x`` (N, 1, H, W) in [0, 1];
    the results on ``x``'s device. A blank image (one value everywhere) has no digit and is refused."""
    check_images(x)
    if x.shape[1] != 1:
        raise InputError(f"The attributes are measured on grayscale digits (N, 1, H, W); got {x.shape[1]} channels.")
    check_count("The chunk size", chunk, 1)
    flat = x.detach().flatten(1)
    blank = (flat.amax(1) - flat.amin(1)) <= 1e-6
    if bool(blank.any()):
        shown = ", ".join(str(i) for i in blank.nonzero().flatten()[:10].tolist())
        raise InputError(f"Image(s) {shown} of the batch are blank (one value everywhere): there is no digit to "
                         "measure.")
    cpu = x.detach().cpu().float()
    values, masks = [], torch.zeros(*cpu.shape[:1], len(ATTRIBUTES), *cpu.shape[2:], dtype=torch.bool)
    for start in range(0, len(cpu), chunk):
        part = cpu[start: start + chunk]
        (top, bottom), (left, right) = (_inked(part, dim) for dim in (2, 3))
        measured, bounds = _measure_chunk(part[:, :, top:bottom, left:right], settings)
        values.append(measured.values)
        masks[start: start + chunk, :, top:bottom, left:right] = measured.masks
        bounds[:, 1:] += torch.tensor([top, top, top, left, left], dtype=torch.float32)  # back on the whole grid
        box = _parallelogram(bounds, *cpu.shape[2:])
        for name in ("slant", "width", "height"):
            masks[start: start + chunk, INDEX[name]] = box
        if progress is not None:
            progress(min(start + chunk, len(cpu)) / len(cpu), f"measured {min(start + chunk, len(cpu))} of {len(cpu)}")
    return Measurements(torch.cat(values).to(x.device), masks.to(x.device))


def _inked(x: torch.Tensor, dim: int, margin: int = 2) -> tuple[int, int]:
    """The span of rows (``dim`` 2) or columns (3) where some image of ``x`` is not 0, widened by ``margin``
    cells of zeros (all bicubic upscaling reads) within the grid: measuring the crop measures the images."""
    inked = (x != 0).any(0).any(0).any(3 - dim).nonzero().flatten()
    size = x.shape[dim]
    if inked.numel() == 0:
        return 0, size
    return max(int(inked[0]) - margin, 0), min(int(inked[-1]) + 1 + margin, size)


def _measure_chunk(x: torch.Tensor, s: MorphoSettings) -> tuple[Measurements, torch.Tensor]:
    n, _, height, width = x.shape
    k = s.scale
    up = F.interpolate(x, scale_factor=k, mode="bicubic", align_corners=False).clamp(0, 1)[:, 0] if k > 1 else x[:, 0]
    low, high = up.amin((1, 2), keepdim=True), up.amax((1, 2), keepdim=True)
    digit = F.pad(up >= low + s.threshold * (high - low), (1, 1, 1, 1))  # a background frame around each image
    gray = F.pad(up, (1, 1, 1, 1))
    rows, cols = digit.shape[1:]
    mosaic = digit.reshape(n * rows, cols).numpy()  # the images stacked, each in its own frame
    skeleton = Skeleton(skeletonize(mosaic), n, round(s.spur_length * k))
    distance = ndimage.distance_transform_edt(mosaic).ravel()

    shear, middle = _shear(gray)
    grid_y = torch.arange(rows, dtype=torch.float32)[:, None] + 0.5  # pixel centres, in the framed image
    grid_x = torch.arange(cols, dtype=torch.float32)[None, :] + 0.5
    half = s.bound_fraction / 2
    quantiles = torch.tensor([half, 1 - half])
    sheared = grid_x - shear[:, None, None] * (grid_y - middle[:, None, None])
    left, right = _spread_quantiles(sheared.flatten(1) - 0.5, gray.flatten(1), quantiles).unbind(1)
    top, bottom = _spread_quantiles(grid_y.expand(n, rows, 1)[..., 0] - 0.5, gray.sum(2), quantiles).unbind(1)
    holes, hole_count = _holes(mosaic, n, rows, round(s.min_hole_area * k * k))
    upper = holes & (grid_y < ((top + bottom) / 2)[:, None, None])

    values = torch.stack([
        digit.flatten(1).sum(1) / k ** 2,
        skeleton.length() / k,
        2 * skeleton.per_image(distance[skeleton.final]) / skeleton.per_image().clamp_min(1) / k,
        torch.rad2deg(torch.atan(-shear)),
        (right - left) / k,
        (bottom - top) / k,
        hole_count,
        upper.flatten(1).sum(1) / k ** 2,
        (holes & ~upper).flatten(1).sum(1) / k ** 2,
        skeleton.per_image(np.ones(len(skeleton.ends)), skeleton.ends),
        _clusters(skeleton.mosaic(skeleton.junctions), n, rows),
    ], 1).float()

    def on_grid(hires: torch.Tensor) -> torch.Tensor:  # (n, rows, cols) -> (n, H, W): any upscaled pixel
        return hires[:, 1:-1, 1:-1].reshape(n, height, k, width, k).any(4).any(2)

    def around(cells: torch.Tensor) -> torch.Tensor:  # with the neighbouring cells
        return F.max_pool2d(cells[:, None].float(), 3, stride=1, padding=1)[:, 0].bool()

    bones, hole_cells = on_grid(skeleton.image(skeleton.final)), on_grid(holes)
    nothing = torch.zeros_like(bones)  # the parallelogram's cells are drawn on the whole grid by ``measure``
    masks = torch.stack([on_grid(digit), bones, bones, nothing, nothing, nothing, hole_cells, on_grid(upper),
                         on_grid(holes & ~upper), around(on_grid(skeleton.image(skeleton.tips))),
                         around(on_grid(skeleton.image(skeleton.junctions)))], 1)
    on_input = torch.stack([shear, middle, top, bottom, left, right], 1)
    on_input[:, 1:] = (on_input[:, 1:] - 1) / k  # framed upscaled pixels -> cells of the (cropped) input grid
    return Measurements(values, masks), on_input


def _parallelogram(bounds: torch.Tensor, height: int, width: int, slack: float = 1e-4) -> torch.Tensor:
    """(n, H, W): the cells whose centre lies in the bounding parallelogram ``bounds`` (n, 6): shear, centroid
    row, top, bottom, left and right on the input grid (left and right along the sheared rows). A centre on
    an edge, to rounding, is inside."""
    shear, middle, top, bottom, left, right = (b[:, None, None] for b in bounds.unbind(1))
    y = torch.arange(height, dtype=torch.float32)[:, None] + 0.5
    x = torch.arange(width, dtype=torch.float32)[None, :] + 0.5
    along = x - shear * (y - middle)
    return (y >= top - slack) & (y <= bottom + slack) & (along >= left - slack) & (along <= right + slack)


def _crossing_table() -> np.ndarray:
    """The crossing number of each of the 256 patterns of 8 neighbours (bit i: neighbour i of ``_NEIGHBOURS``):
    how often the neighbours change from background to skeleton, going round."""
    bits = (np.arange(256)[:, None] >> np.arange(8)[None, :]) & 1
    return ((1 - bits) * np.roll(bits, -1, axis=1)).sum(1)


_CROSSINGS = _crossing_table()


class Skeleton:
    """The pruned skeleton of a mosaic of ``n`` framed images (``thin``: their thinned digits, (n * rows,
    cols)), as flat pixel indices: ``peeled`` (every branch peeled ``spur`` pixels from its free end, so
    spurs vanish), ``final`` (the surviving branches regrown along ``thin``), ``tips`` (the regrown
    branches' free ends), ``ends`` (the peeled skeleton's free ends, one per branch) and ``junctions``
    (pixels of ``peeled`` where three or more branches meet). An image whose skeleton would vanish whole
    (a dot, a short dash) keeps its thinned digit unpruned. Neighbours are index offsets: the frames keep
    them inside their image."""

    def __init__(self, thin: np.ndarray, n: int, spur: int):
        self.n, self.shape = n, thin.shape
        self.plane = thin.size // n
        cols = thin.shape[1]
        self._offsets = np.array([dy * cols + dx for dy, dx in _NEIGHBOURS])
        flat = thin.ravel()
        everything = np.flatnonzero(flat)
        on = flat.copy()
        peeled = everything
        for _ in range(spur):
            gone = self._crossings(on, peeled) <= 1
            if not gone.any():
                break
            on[peeled[gone]] = False
            peeled = peeled[~gone]
        grown = np.zeros_like(flat)
        grown[peeled[self._crossings(on, peeled) == 1]] = True
        for _ in range(spur):
            grown[everything[grown[everything[:, None] + self._offsets].any(1)]] = True
        survives = np.bincount(peeled // self.plane, minlength=n) > 0
        unpruned = ~survives[everything // self.plane]
        on[everything[unpruned]] = True
        self.peeled = np.flatnonzero(on)
        final_on = on | grown
        self.final = np.flatnonzero(final_on)
        ends = self.final[self._crossings(final_on, self.final) == 1]
        self.tips = ends[grown[ends] | ~survives[ends // self.plane]]
        crossings = self._crossings(on, self.peeled)
        self.ends, self.junctions = self.peeled[crossings == 1], self.peeled[crossings >= 3]

    def _crossings(self, on: np.ndarray, at: np.ndarray) -> np.ndarray:
        """The crossing number of the pixels ``at`` in the skeleton ``on`` (a flat bool mosaic)."""
        code = (on[at[:, None] + self._offsets].astype(np.int64) << np.arange(8)).sum(1)
        return _CROSSINGS[code]

    def per_image(self, weights: np.ndarray | None = None, at: np.ndarray | None = None) -> torch.Tensor:
        """(n,): the sum of ``weights`` (default 1) over the pixels ``at`` (default ``final``) of each image."""
        at = self.final if at is None else at
        return torch.from_numpy(np.bincount(at // self.plane, weights, minlength=self.n)).float()

    def length(self) -> torch.Tensor:
        """(n,): 1 per horizontally or vertically neighbouring pair of ``final`` pixels, sqrt(2) per diagonal one."""
        on = self.mosaic(self.final).ravel()
        cols = self.shape[1]
        weight = sum(w * on[self.final + off] for off, w in ((1, 1.0), (cols, 1.0), (cols - 1, math.sqrt(2)),
                                                               (cols + 1, math.sqrt(2))))
        return self.per_image(weight)

    def mosaic(self, at: np.ndarray) -> np.ndarray:
        """The pixels ``at`` as a bool mosaic (n * rows, cols)."""
        on = np.zeros(self.shape, dtype=bool)
        on.ravel()[at] = True
        return on

    def image(self, at: np.ndarray) -> torch.Tensor:
        """The pixels ``at`` as a bool tensor (n, rows, cols)."""
        return torch.from_numpy(self.mosaic(at)).reshape(self.n, -1, self.shape[1])


def _shear(gray: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, the horizontal shear ``mu11 / mu02`` of the intensities and their centroid row (pixel centres)."""
    n, rows, cols = gray.shape
    y = torch.arange(rows, dtype=torch.float32)[:, None] + 0.5
    x = torch.arange(cols, dtype=torch.float32)[None, :] + 0.5
    mass = gray.flatten(1).sum(1)
    cy = (gray * y).flatten(1).sum(1) / mass
    cx = (gray * x).flatten(1).sum(1) / mass
    dy, dx = y - cy[:, None, None], x - cx[:, None, None]
    mu11 = (gray * dx * dy).flatten(1).sum(1) / mass
    mu02 = (gray * dy * dy).flatten(1).sum(1) / mass
    return mu11 / mu02.clamp_min(1e-12), cy


def _spread_quantiles(starts: torch.Tensor, weights: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """(n, Q): the quantiles ``q`` of the mass ``weights`` (n, P), each value's weight spread evenly over
    [start, start + 1) (a pixel's width). The mass is split exactly onto unit bins (a histogram, no sort) and the
    cumulative mass interpolated linearly inside a bin: exact where the starts are whole numbers (rows), within
    a fraction of one upscaled pixel elsewhere (the sheared columns)."""
    origin = torch.floor(starts.min())
    offset = starts - origin
    bins = offset.floor()
    frac, bins = offset - bins, bins.long()
    hist = torch.zeros(len(starts), int(bins.max()) + 2, dtype=weights.dtype)
    hist.scatter_add_(1, bins, weights * (1 - frac)).scatter_add_(1, bins + 1, weights * frac)
    cumulative = hist.cumsum(1)
    target = q[None, :] * cumulative[:, -1:]
    k = torch.searchsorted(cumulative, target).clamp(max=hist.shape[1] - 1)
    at = hist.gather(1, k)
    inside = ((target - (cumulative.gather(1, k) - at)) / at.clamp_min(1e-12)).clamp(0, 1)
    return origin + k + inside


def _holes(mosaic: np.ndarray, n: int, rows: int, smallest: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The hole pixels (n, rows, cols) and the number of holes per image: 4-connected background components of
    the mosaic other than the one joining every image's frame, of at least ``smallest`` pixels."""
    labels, count = ndimage.label(~mosaic)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    keep = sizes >= max(smallest, 1)
    keep[0] = keep[labels[0, 0]] = False  # the digits, and the background outside them
    hole = keep[labels]
    first_rows = np.array([sl[0].start for sl in ndimage.find_objects(labels)], dtype=np.int64)
    per_image = np.bincount(first_rows[keep[1:]] // rows, minlength=n)
    return torch.from_numpy(hole).reshape(n, rows, -1), torch.from_numpy(per_image).float()


def _clusters(pixels: np.ndarray, n: int, rows: int) -> torch.Tensor:
    """The number of 8-connected clusters of ``pixels`` (a mosaic of n images of ``rows`` rows) per image."""
    labels, _ = ndimage.label(pixels, structure=np.ones((3, 3), dtype=bool))
    first_rows = np.array([sl[0].start for sl in ndimage.find_objects(labels)], dtype=np.int64)
    return torch.from_numpy(np.bincount(first_rows // rows, minlength=n)).float()

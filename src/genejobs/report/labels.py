"""Where to put gene labels on a scatter so that no two overlap (pure layout, no statistics).

Used by the interactive volcano (Plotly annotations, offsets in pixels) and the
static one (matplotlib annotations): both fix their axis ranges, so a point's
pixel position is known before drawing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Candidate label centres relative to the point, in half label widths / heights plus a gap.
_OFFSETS = ((1, 1), (-1, 1), (1, -1), (-1, -1), (0, 2), (0, -2), (1.5, 2.5), (-1.5, 2.5), (0, 4))


@dataclass(frozen=True)
class Label:
    index: int  # into the candidates given
    text: str
    dx: float  # label offset from the point, pixels, right positive
    dy: float  # pixels, up positive


def _box(cx: float, cy: float, text: str, font_px: float) -> tuple[float, float, float, float]:
    w, h = 0.62 * font_px * len(text) + 4, 1.3 * font_px
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def _overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(
    xs: Iterable[float],
    ys: Iterable[float],
    texts: Iterable[str],
    *,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    size_px: tuple[float, float],
    font_px: float = 11,
    max_labels: int = 12,
) -> list[Label]:
    """Greedy placement in the given (priority) order; a label that fits nowhere is left out.

    Labels avoid each other and the labelled points themselves, and stay in the plot.
    """
    width, height = size_px
    sx = width / max(x_range[1] - x_range[0], 1e-12)
    sy = height / max(y_range[1] - y_range[0], 1e-12)
    points = [((x - x_range[0]) * sx, (y - y_range[0]) * sy) for x, y in zip(xs, ys, strict=True)]
    taken = [(px - 3, py - 3, px + 3, py + 3) for px, py in points]
    out: list[Label] = []
    for i, ((px, py), text) in enumerate(zip(points, texts, strict=True)):
        if len(out) >= max_labels:
            break
        x0, y0, x1, y1 = _box(0, 0, text, font_px)
        for fx, fy in _OFFSETS:
            dx, dy = fx * (x1 + 4), fy * (y1 + 4)
            box = _box(px + dx, py + dy, text, font_px)
            inside = box[0] >= 0 and box[2] <= width and box[1] >= 0 and box[3] <= height
            if inside and not any(_overlaps(box, t) for t in taken):
                taken.append(box)
                out.append(Label(i, text, dx, dy))
                break
    return out

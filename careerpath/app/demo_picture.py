"""The pathway picture shown beside each answer: a timeline of the steps (courses and job moves)
with the share of the goal's skills held after each, drawn with Pillow directly (labels rendered
once and reused; docs/performance.md)."""

from __future__ import annotations

_BLUE, _GREEN = (47, 111, 222), (26, 154, 92)
_FONTS: dict[int, object] = {}
_LABELS: dict[tuple[str, int], object] = {}  # rendered text, by text and size


def _font(size: int):
    """Pillow's bundled font at ``size`` px (made once per size: loading it is the slow part)."""
    from PIL import ImageFont

    if size not in _FONTS:
        _FONTS[size] = ImageFont.load_default(size=size)
    return _FONTS[size]


def _label(text: str, size: int):
    """``text`` rendered once as a grey-level mask (FreeType takes about 1 ms a string; course
    titles, step numbers and ticks recur from answer to answer)."""
    from PIL import Image, ImageDraw

    key = (text, size)
    mask = _LABELS.get(key)
    if mask is None:
        font = _font(size)
        left, top, right, bottom = font.getbbox(text, anchor="lt")
        mask = Image.new("L", (max(1, right), max(1, bottom)))
        ImageDraw.Draw(mask).text((0, 0), text, fill=255, font=font, anchor="lt")
        if len(_LABELS) > 4096:
            _LABELS.clear()
        _LABELS[key] = mask
    return mask


def _write(draw, xy: tuple[int, int], text: str, size: int, fill, anchor: str) -> None:
    """``text`` at ``xy``; ``anchor``: l/m/r (horizontal) then t/m (vertical), as Pillow's."""
    mask = _label(text, size)
    x, y = xy
    x -= {"l": 0, "m": mask.width // 2, "r": mask.width}[anchor[0]]
    y -= {"t": 0, "m": mask.height // 2}[anchor[1]]
    draw.bitmap((x, y), mask, fill=fill)


def pathway_image(path: dict):
    """A timeline of the pathway (courses and job moves, goal coverage) as a PIL image: one bar per
    step, as long as the share of the goal's skills held after it, labelled with the step.

    Drawn with Pillow directly, labels rendered once and reused: a few ms on one core, where
    matplotlib took about 0.4 s, most of the time of a demo answer (docs/performance.md)."""
    from PIL import Image, ImageDraw

    steps = path["steps"]
    goal = path["goal"]["title"]
    row, top, left, right, bottom = 40, 34, 34, 16, 52
    width = 630
    height = top + row * len(steps) + bottom
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    plot_w = width - left - right
    _write(draw, (width // 2, 10), f"Pathway to {goal}"[:90], 13, "black", "mt")
    y0, y1 = top, top + row * len(steps)
    draw.rectangle((left, y0, left + plot_w, y1), outline=(90, 90, 90))
    for k in range(6):  # x axis: share of the goal's skills, 0 to 1
        x = left + round(plot_w * k / 5)
        draw.line((x, y1, x, y1 + 4), fill=(90, 90, 90))
        _write(draw, (x, y1 + 6), f"{k / 5:.1f}", 11, "black", "mt")
    axis = f"share of {goal}'s skills covered after each step"[:100]
    _write(draw, (left + plot_w // 2, y1 + 24), axis, 11, "black", "mt")
    for i, s in enumerate(steps):
        yc = y0 + row * i + row // 2
        share = min(max(float(s["goal_coverage"]), 0.02), 1.0)
        color = _BLUE if s["kind"] == "course" else _GREEN
        draw.rectangle((left + 1, yc - 13, left + round(plot_w * share), yc + 13), fill=color)
        _write(draw, (left - 6, yc), str(i + 1), 11, "black", "rm")
        label = ("course: " if s["kind"] == "course" else "move: ") + s["title"]
        label += f"  ({s['hours']:g} h)" if s["hours"] else ""
        ink = "white" if share > 0.5 else "black"
        _write(draw, (left + 7, yc), label[:70], 11, ink, "lm")
    return img

"""The speed / quality picture: % of the reference model's F1 kept against how many times faster than it (with the
paper's student marked), beside absolute F1 against questions per second.

Points come in as `{name: (f1, questions_per_second, ...)}`, the reference (the teacher) first, so a caller plots
the scores it reports. Labels are placed by `place_labels`: each tries offsets around its point, nearest first, and
takes the first whose box stays inside the axes and clear of every point and every label placed before it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

# SpanishTinyRoBERTa (Bazaga, Liò & Micklem, arXiv 2312.04193): its student keeps 80.52 of the teacher's 87.50 F1
# (92%) at 4.2x the teacher's speed.
PAPER_POINT = ("SpanishTinyRoBERTa (paper)", 4.2, 92.0)

MARKER_PX = 9.0  # half the drawn marker's size in pixels at the figure's dpi, plus a margin
_DIRECTIONS = [(1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1)]
_ALIGN = {-1: "right", 0: "center", 1: "left"}
_VALIGN = {-1: "top", 0: "center", 1: "bottom"}


@dataclass
class Label:
    """A text to put near the data point (x, y) of an axes."""

    x: float
    y: float
    text: str
    color: str = "black"


def nice_log_ticks(lo: float, hi: float, max_ticks: int = 7) -> list[float]:
    """Round numbers between lo and hi for a log axis: the densest of 1-2-5 style sequences giving at most
    `max_ticks` (and at least two) ticks, so labels are plain numbers that do not crowd."""
    if not (0 < lo < hi and math.isfinite(hi)):
        raise ValueError(f"a log axis needs 0 < lo < hi, got {lo}, {hi}")
    sequences = ([1, 1.5, 2, 3, 4, 5, 7], [1, 2, 3, 5], [1, 2, 5], [1, 3], [1])
    ticks: list[float] = []
    for mantissas in sequences:
        ticks = [m * 10.0**e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
                 for m in mantissas]
        ticks = [t for t in ticks if lo <= t <= hi]
        if len(ticks) <= max_ticks:
            break
    if len(ticks) < 2:  # a narrow range: the two ends, rounded to two significant digits
        ticks = sorted({float(f"{lo * 1.01:.2g}"), float(f"{hi * 0.99:.2g}")})
    step = max(1, math.ceil(len(ticks) / max_ticks))
    return ticks[::step]


def _plain(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def set_log_axis(axis, lo: float, hi: float, suffix: str = "") -> None:
    """A log-scale x or y axis from lo to hi with plain-number major labels and unlabelled minor ticks."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    axis.set_major_locator(FixedLocator(nice_log_ticks(lo, hi)))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: _plain(v) + suffix))
    axis.set_minor_formatter(NullFormatter())


def _overlap(a, b, pad: float = 2.0) -> bool:
    return a.x0 < b.x1 + pad and b.x0 < a.x1 + pad and a.y0 < b.y1 + pad and b.y0 < a.y1 + pad


def point_boxes(ax, points: Sequence[tuple[float, float]], radius: float = MARKER_PX):
    """The pixel boxes the markers of `points` cover on `ax`."""
    from matplotlib.transforms import Bbox

    boxes = []
    for x, y in points:
        px, py = ax.transData.transform((x, y))
        boxes.append(Bbox([[px - radius, py - radius], [px + radius, py + radius]]))
    return boxes


def label_box(ann, renderer):
    """The pixel box of an annotation's framed text (its leader line left out)."""
    ann.update_positions(renderer)
    ann.update_bbox_position_size(renderer)
    return ann.get_bbox_patch().get_window_extent(renderer)


def _inside(px: float, py: float, box, pad: float = 1.0) -> bool:
    return box.x0 - pad <= px <= box.x1 + pad and box.y0 - pad <= py <= box.y1 + pad


def _crosses(a, b) -> bool:
    """Whether segments a = (p, q) and b = (r, s) cross."""

    def turn(o, p, q):
        return (p[0] - o[0]) * (q[1] - o[1]) - (p[1] - o[1]) * (q[0] - o[0])

    (p, q), (r, s) = a, b
    return turn(p, q, r) * turn(p, q, s) < 0 and turn(r, s, p) * turn(r, s, q) < 0


def _leader(point, box) -> tuple:
    """The leader line from a point to its label, as drawn: towards the box's centre, up to the box's edge."""
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    steps = [i / 20 for i in range(21)]
    outside = [t for t in steps if not _inside(point[0] + t * (cx - point[0]), point[1] + t * (cy - point[1]), box, 0)]
    t = max(outside, default=0.0)
    return point, (point[0] + t * (cx - point[0]), point[1] + t * (cy - point[1]))


def _clear(box, leader, area, marks, boxes, leaders) -> bool:
    """A candidate label box and its leader: inside `area`, the box over no marker, label or leader, the leader
    through no other marker or label and crossing no other leader."""
    if not (area.x0 + 2 <= box.x0 and box.x1 <= area.x1 - 2 and area.y0 + 2 <= box.y0 and box.y1 <= area.y1 - 2):
        return False
    if any(_overlap(box, other) for other in [*marks, *boxes]):
        return False
    x0, y0 = leader[0]
    samples = _samples(leader)
    if any(_inside(x, y, box) for other_leader in leaders for x, y in _samples(other_leader)):
        return False
    own = [m for m in marks if _inside(x0, y0, m, 0)]
    obstacles = [m for m in marks if m not in own] + list(boxes)
    if any(_inside(x, y, other, 0) for x, y in samples[1:] for other in obstacles):
        return False
    return not any(_crosses(leader, other) for other in leaders)


def _samples(segment, n: int = 12) -> list[tuple[float, float]]:
    (x0, y0), (x1, y1) = segment
    return [(x0 + t / n * (x1 - x0), y0 + t / n * (y1 - y0)) for t in range(n + 1)]


def place_labels(ax, labels: Sequence[Label], obstacles: Sequence[tuple[float, float]], renderer,
                 fontsize: float = 8.5) -> list:
    """Annotate each label's point on `ax`: offsets at growing distances in eight directions, the first whose box
    lies inside the axes and overlaps no point of `obstacles` and no label already placed, with a leader line that
    passes through no other point or label and crosses no other leader. Returns the annotations; raises
    ValueError when a label fits nowhere (the caller widens the axes and tries again)."""
    area = ax.get_window_extent(renderer)
    marks = point_boxes(ax, obstacles)
    boxes, leaders, placed = [], [], []
    for label in labels:
        ann = ax.annotate(label.text, (label.x, label.y), xytext=(0, 0), textcoords="offset points",
                          fontsize=fontsize, color=label.color, zorder=4, multialignment="left",
                          bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "#cccccc", "alpha": 0.95},
                          arrowprops={"arrowstyle": "-", "color": "#999999", "lw": 0.7, "shrinkA": 0, "shrinkB": 5})
        point = tuple(ax.transData.transform((label.x, label.y)))
        for distance, (dx, dy) in ((d, v) for d in (7, 14, 24, 38, 56) for v in _DIRECTIONS):
            ann.xyann = (dx * distance, dy * distance)
            ann.set_horizontalalignment(_ALIGN[dx])
            ann.set_verticalalignment(_VALIGN[dy])
            box = label_box(ann, renderer)
            leader = _leader(point, box)
            if _clear(box, leader, area, marks, boxes, leaders):
                break
        else:
            for a in [*placed, ann]:
                a.remove()
            raise ValueError(f"no room for the label {label.text!r}")
        boxes.append(box)
        leaders.append(leader)
        placed.append(ann)
    return placed


def _padded(lo: float, hi: float, widen: float, log: bool) -> tuple[float, float]:
    if log:
        span = math.log10(hi / lo) if hi > lo else 0.3
        pad = max(span, 0.3) * widen
        return lo / 10**pad, hi * 10**pad
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    return lo - span * widen, hi + span * widen



@dataclass
class _Panel:
    """One axes, its points (x, y), their labels and how far its limits are widened around the points."""

    ax: object
    xs: list
    ys: list
    labels: list
    xsuffix: str = ""
    widen: float = 0.12
    placed: list = field(default_factory=list)

    def set_limits(self) -> None:
        xlo, xhi = _padded(min(self.xs), max(self.xs), self.widen, log=True)
        self.ax.set_xscale("log")
        self.ax.set_xlim(xlo, xhi)
        set_log_axis(self.ax.xaxis, xlo, xhi, self.xsuffix)
        self.ax.set_ylim(*_padded(min(self.ys), max(self.ys), 2 * self.widen, log=False))

    def place(self, renderer) -> None:
        """Every label placed, the limits widened step by step until they all fit."""
        for a in self.placed:
            a.remove()
        for _ in range(6):
            self.set_limits()
            try:
                self.placed = place_labels(self.ax, self.labels, list(zip(self.xs, self.ys)), renderer)
                return
            except ValueError:
                self.widen *= 1.6
        raise _LabelsDoNotFit("the plot's labels do not fit")


def _ratio_panel(ax, rows: list[tuple[str, float, float]], ref: str, paper: bool, bare: bool = False) -> _Panel:
    _, ref_f1, ref_qps = rows[0]
    xs = [q / ref_qps for _, _, q in rows]
    ys = [100 * f / ref_f1 for _, f, _ in rows]
    labels = [Label(x, y, n if bare else f"{n}\n{y:.0f}% at {x:.1f}x") for (n, _, _), x, y in zip(rows, xs, ys)]
    ax.scatter(xs, ys, s=60, color="#1f77b4", zorder=3)
    if paper:
        name, px, py = PAPER_POINT
        ax.scatter([px], [py], s=110, marker="*", color="#d62728", zorder=3)
        labels.append(Label(px, py, f"{name}\n{py:.0f}% at {px:.1f}x", color="#d62728"))
        xs, ys = [*xs, px], [*ys, py]
    ax.axhline(100, color="#888888", lw=0.8, ls="--", zorder=1)
    ax.set_xlabel(f"x faster than {ref} (log scale)")
    ax.set_ylabel(f"% of {ref}'s F1 kept")
    ax.set_title("quality kept against speed-up", fontsize=10)
    return _Panel(ax, xs, ys, labels, "x")


def _absolute_panel(ax, rows: list[tuple[str, float, float]], speed_note: str, bare: bool = False) -> _Panel:
    qs = [q for _, _, q in rows]
    fs = [f for _, f, _ in rows]
    ax.scatter(qs, fs, s=60, color="#1f77b4", zorder=3)
    ax.set_xlabel("questions per second" + (f" ({speed_note})" if speed_note else "") + ", log scale")
    ax.set_ylabel("F1 (official)")
    ax.set_title("absolute F1 and speed", fontsize=10)
    return _Panel(ax, qs, fs, [Label(q, f, n if bare else f"{n}\n{f:.1f} F1, {_plain(q)} q/s") for (n, f, q) in rows])


def speed_quality_figure(points: Mapping[str, Sequence[float]], *, title: str = "", speed_note: str = "",
                         paper: bool = True):
    """The two-panel figure for `points` = {name: (f1, questions_per_second, ...)}; the first entry is the
    reference (the teacher) that the left panel's ratios are taken against. Points without a speed are left out.
    The left panel is drawn only when the reference's F1 is above 0. When the names do not fit beside their
    points, the points are numbered and the title carries the key."""
    try:
        return _speed_quality_figure(points, title=title, speed_note=speed_note, paper=paper)
    except _LabelsDoNotFit:
        import textwrap

        import matplotlib.pyplot as plt

        plt.close("all")
        names = list(points)
        key = "  ".join(f"{i + 1}: {name}" for i, name in enumerate(names))
        numbered = {str(i + 1): points[name] for i, name in enumerate(names)}
        ref = "the teacher" if names[0] == "teacher" else names[0]
        return _speed_quality_figure(numbered, title="\n".join([title, *textwrap.wrap(key, 150)]),
                                     speed_note=speed_note, paper=paper, ref=ref, bare=True)


class _LabelsDoNotFit(ValueError):
    pass


def _speed_quality_figure(points, *, title: str, speed_note: str, paper: bool, ref: str | None = None,
                          bare: bool = False):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(name, float(p[0]), float(p[1])) for name, p in points.items()
            if p[1] is not None and p[0] is not None]
    if not rows:
        raise ValueError("nothing to plot: no model has both an F1 and a speed")
    for name, f1, qps in rows:
        if not (qps > 0 and math.isfinite(qps) and math.isfinite(f1)):
            raise ValueError(f"{name}: questions/s must be a positive number and F1 finite, got {qps}, {f1}")
    ratios = rows[0][1] > 0
    fig, axes = plt.subplots(1, 2 if ratios else 1, figsize=(12, 5.2) if ratios else (6.5, 5.2), dpi=110)
    axes = list(axes) if ratios else [axes]
    fig.suptitle(title, fontsize=11)
    ref = ref or ("the teacher" if rows[0][0] == "teacher" else rows[0][0])
    panels = [_ratio_panel(axes[0], rows, ref, paper, bare)] if ratios else []
    panels.append(_absolute_panel(axes[-1], rows, speed_note, bare))
    for panel in panels:
        panel.ax.grid(True, which="major", alpha=0.35)
        panel.ax.grid(True, which="minor", alpha=0.12)
        panel.set_limits()
    # Labels are placed in the pixels they are drawn at, so after the layout; widened limits change the tick
    # labels' width, hence the layout: then lay out and place again.
    renderer = fig.canvas.get_renderer()
    for _ in range(3):
        fig.tight_layout()
        before = [p.widen for p in panels]
        for panel in panels:
            panel.place(renderer)
        if [p.widen for p in panels] == before:
            break
    return fig


def plot_speed_quality(points: Mapping[str, Sequence[float]], path: str | os.PathLike, **kwargs) -> None:
    """Write `speed_quality_figure(points, **kwargs)` to `path` (PNG)."""
    import matplotlib.pyplot as plt

    fig = speed_quality_figure(points, **kwargs)
    fig.savefig(path)
    plt.close(fig)

"""The speed / quality plot rendered to PNG: points where the scores put them, labels clear of each other and of
every point, plain tick labels that do not overlap."""

from __future__ import annotations

import math
import random

import pytest

pytest.importorskip("matplotlib")

from destila.bench.plot import PAPER_POINT, nice_log_ticks, speed_quality_figure  # noqa: E402


def _render(points, tmp_path, **kwargs):
    fig = speed_quality_figure(points, **kwargs)
    path = tmp_path / "plot.png"
    fig.savefig(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return fig, fig.canvas.get_renderer()


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _marker_boxes(ax):
    """Pixel boxes of every drawn marker, from the scatter's own offsets and sizes."""
    from matplotlib.transforms import Bbox

    dpi = ax.figure.dpi
    boxes = []
    for coll in ax.collections:
        radius = math.sqrt(coll.get_sizes()[0]) / 2 * dpi / 72
        for x, y in coll.get_offsets():
            px, py = ax.transData.transform((x, y))
            boxes.append(Bbox([[px - radius, py - radius], [px + radius, py + radius]]))
    return boxes


def _label_boxes(ax, renderer):
    boxes = []
    for ann in ax.texts:
        ann.update_positions(renderer)
        ann.update_bbox_position_size(renderer)
        boxes.append(ann.get_bbox_patch().get_window_extent(renderer))
    return boxes


def _check_readable(fig, renderer):
    for ax in fig.axes:
        labels = _label_boxes(ax, renderer)
        markers = _marker_boxes(ax)
        area = ax.get_window_extent(renderer)
        assert labels, "every point is labelled"
        for i, box in enumerate(labels):
            assert area.x0 <= box.x0 and box.x1 <= area.x1 and area.y0 <= box.y0 and box.y1 <= area.y1
            assert not any(_overlap(box, other) for other in labels[i + 1:]), ax.texts[i].get_text()
            assert not any(_overlap(box, m) for m in markers), ax.texts[i].get_text()
        for axis in (ax.xaxis, ax.yaxis):
            ticks = [t for t in axis.get_ticklabels(which="both") if t.get_visible() and t.get_text()]
            assert len(ticks) >= 2
            assert not any("$" in t.get_text() or "10^" in t.get_text() for t in ticks)
            boxes = [t.get_window_extent(renderer) for t in ticks]
            assert not any(_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), \
                [t.get_text() for t in ticks]
        assert not [t for t in ax.xaxis.get_ticklabels(minor=True) if t.get_text()]


def test_points_sit_at_the_given_scores_and_labels_stay_clear(tmp_path):
    points = {"teacher": (55.24, 12.1), "student": (44.97, 38.7), "label-only student": (43.1, 39.5),
              "student exported": (44.94, 41.0)}
    fig, renderer = _render(points, tmp_path, title="t")
    ratio_ax, abs_ax = fig.axes
    ours, paper = ratio_ax.collections
    expected = [(q / 12.1, 100 * f / 55.24) for f, q in points.values()]
    assert ours.get_offsets().ravel().tolist() == pytest.approx([v for xy in expected for v in xy])
    assert paper.get_offsets().tolist() == [[PAPER_POINT[1], PAPER_POINT[2]]]
    assert paper.get_sizes()[0] != ours.get_sizes()[0]  # drawn in its own style
    assert abs_ax.collections[0].get_offsets().ravel().tolist() == pytest.approx([v for f, q in points.values()
                                                                                for v in (q, f)])
    texts = [t.get_text() for t in ratio_ax.texts]
    assert any(t.startswith("SpanishTinyRoBERTa") and "92% at 4.2x" in t for t in texts)
    assert "student\n81% at 3.2x" in texts
    assert ratio_ax.get_xlabel().startswith("x faster than the teacher")
    assert ratio_ax.get_ylabel() == "% of the teacher's F1 kept"
    _check_readable(fig, renderer)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_crowded_and_spread_points_stay_readable(tmp_path, seed):
    rng = random.Random(seed)
    points = {"teacher": (60.0, 10.0)}
    for i in range(5):
        points[f"model {i}"] = (rng.uniform(30, 62), 10.0 * 10 ** rng.uniform(0.1, 1.6))
    fig, renderer = _render(points, tmp_path)
    _check_readable(fig, renderer)


def test_a_reference_scoring_zero_gets_only_the_absolute_panel(tmp_path):
    fig, renderer = _render({"a": (0.0, 5.0), "b": (0.0, 9.0)}, tmp_path)
    assert len(fig.axes) == 1 and fig.axes[0].get_ylabel() == "F1 (official)"
    _check_readable(fig, renderer)


def test_bad_points_are_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="student: questions/s"):
        speed_quality_figure({"teacher": (50.0, 10.0), "student": (40.0, 0.0)})
    with pytest.raises(ValueError, match="nothing to plot"):
        speed_quality_figure({"teacher": (50.0, None)})


@pytest.mark.parametrize(("lo", "hi"), [(0.8, 14.0), (9.0, 160.0), (0.9, 4.6), (30.0, 36.0), (0.5, 2000.0)])
def test_log_ticks_are_round_few_and_in_range(lo, hi):
    ticks = nice_log_ticks(lo, hi)
    assert 2 <= len(ticks) <= 7
    assert all(lo <= t <= hi for t in ticks) and ticks == sorted(ticks)
    assert all(float(f"{t:.2g}") == t for t in ticks)


def test_names_too_long_to_fit_are_numbered_with_a_key(tmp_path):
    # compression.py's bench: nine models with long names close together (what made the labels not fit)
    points = {"teacher": (55.24, 18.0), "layers-3-6-9-12": (37.48, 50.8), "layers-2-4-6-8-10-12": (46.49, 35.5),
              "width-12": (46.70, 60.0), "depth-width": (45.00, 58.9), "width-12-labels": (48.30, 61.0),
              "width-12-labels-first": (45.39, 60.5), "width-12-steps": (46.1, 59.5),
              "a much longer name for one more pruned student": (46.3, 60.2)}
    fig, renderer = _render(points, tmp_path, title="compression")
    ratio_ax, _ = fig.axes
    texts = [t.get_text() for t in ratio_ax.texts]
    assert "2" in texts and not any(t.startswith("layers-3-6-9-12") for t in texts)
    title = fig._suptitle.get_text()
    assert "1: teacher" in title and "9: a much longer name" in title
    assert ratio_ax.get_xlabel().startswith("x faster than the teacher")
    _check_readable(fig, renderer)

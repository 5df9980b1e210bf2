"""Small bar charts as inline SVG: plain templates, no script, no library.

Every label is escaped; values are numbers formatted here. A chart with nothing
to draw says so in words instead of drawing empty axes.
"""

from __future__ import annotations

from html import escape
from typing import Callable, Sequence

Bar = tuple[str, "float | None", str]      # label, value (None: not known), colour


def fmt_tokens(v: float) -> str:
    return f"{v / 1000:.1f}k" if v >= 10000 else f"{int(v)}"


def fmt_cost(v: float) -> str:
    return f"${v:.4f}" if v < 1 else f"${v:.2f}"


def fmt_seconds(v: float) -> str:
    return f"{v:.1f}s" if v < 600 else f"{v / 60:.0f}m"


def horizontal(title: str, bars: Sequence[Bar], fmt: Callable[[float], str]) -> str:
    """One bar per row (agents): label left, bar, value right."""
    if not bars or not any((v or 0) > 0 for _, v, _ in bars):
        return _empty(title)
    top = max(v or 0 for _, v, _ in bars) or 1.0
    row, label_w, bar_w, value_w = 22, 96, 128, 58
    width, height = label_w + bar_w + value_w, 26 + row * len(bars)
    out = [_open(title, width, height), _title(title)]
    for i, (label, known, color) in enumerate(bars):
        y = 24 + i * row
        value = known or 0.0
        shown = fmt(value) if known is not None else "—"
        w = max(1.0, bar_w * value / top) if value > 0 else 0
        out.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" class="lbl">'
                   f'{escape(_short(label, 14))}</text>'
                   f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 7}" '
                   f'fill="{escape(color)}" rx="2"><title>{escape(label)}: '
                   f'{escape(shown)}</title></rect>'
                   f'<text x="{label_w + w + 5:.1f}" y="{y + 14}" class="val">'
                   f'{escape(shown)}</text>')
    out.append("</svg>")
    return "".join(out)


def columns(title: str, bars: Sequence[Bar], fmt: Callable[[float], str]) -> str:
    """One column per round; long runs get thinner columns and fewer labels."""
    if not bars or not any((v or 0) > 0 for _, v, _ in bars):
        return _empty(title)
    top = max(v or 0 for _, v, _ in bars) or 1.0
    col = max(3, min(28, 420 // max(1, len(bars))))
    plot_h, left = 110, 48
    width, height = max(170, left + col * len(bars) + 10), plot_h + 52
    every = max(1, len(bars) // 12)
    out = [_open(title, width, height), _title(title),
           f'<text x="{left - 4}" y="30" text-anchor="end" class="val">{escape(fmt(top))}</text>',
           f'<line x1="{left}" y1="{24 + plot_h}" x2="{width - 6}" y2="{24 + plot_h}" '
           'class="axis"/>']
    for i, (label, known, color) in enumerate(bars):
        value = known or 0.0
        h = max(1.0, plot_h * value / top) if value > 0 else 0
        x = left + i * col
        out.append(f'<rect x="{x + 1}" y="{24 + plot_h - h:.1f}" width="{col - 2}" '
                   f'height="{h:.1f}" fill="{escape(color)}"><title>{escape(label)}: '
                   f'{escape(fmt(value) if known is not None else "—")}</title></rect>')
        if i % every == 0:
            out.append(f'<text x="{x + col / 2:.1f}" y="{24 + plot_h + 14}" '
                       f'text-anchor="middle" class="lbl">{escape(_short(label, 6))}</text>')
    out.append(f'<text x="{left}" y="{height - 4}" class="lbl">round</text></svg>')
    return "".join(out)


def _open(title: str, width: int, height: int) -> str:
    # inline in HTML: no xmlns needed, so the page names no URL at all
    return (f'<svg class="chart" role="img" '
            f'aria-label="{escape(title)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">')


def _title(title: str) -> str:
    return f'<text x="0" y="14" class="ttl">{escape(title)}</text>'


def _empty(title: str) -> str:
    return f'<div class="chart empty"><b>{escape(title)}</b><br>nothing recorded</div>'


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"

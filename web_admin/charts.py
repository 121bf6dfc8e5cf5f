"""Charts drawn on the Pi as SVG markup (no script, no third-party asset): every label escaped, every chart with
a text alternative for screen readers."""
from __future__ import annotations

from datetime import datetime, time

from markupsafe import Markup, escape


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def activity(queries: list[int], blocked: list[int], label: str) -> Markup:
    """24 hourly bars: every query, with the blocked part over it."""
    w, h, top, left = 480, 120, 8, 4
    peak = max([1, *queries, *blocked])
    bw = (w - left) / 24
    parts = [f'<svg class="chart" viewBox="0 0 {w} {h + 18}" role="img" aria-label="{escape(label)}">']
    for i in range(24):
        q, b = (queries[i] if i < len(queries) else 0), (blocked[i] if i < len(blocked) else 0)
        qh, bh = (h - top) * q / peak, (h - top) * b / peak
        x = left + i * bw
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{h - qh:.1f}" width="{bw - 2:.1f}" height="{qh:.1f}">'
                     f'<title>{i:02d}:00 — {q}</title></rect>')
        if b:
            parts.append(f'<rect class="bar blocked" x="{x:.1f}" y="{h - bh:.1f}" width="{bw - 2:.1f}" '
                         f'height="{bh:.1f}"><title>{i:02d}:00 — {b}</title></rect>')
        if i % 3 == 0:
            parts.append(f'<text x="{x:.1f}" y="{h + 14}">{i:02d}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def week(windows, day_names: list[str], now: datetime | None, label: str) -> Markup:
    """A week of schedule windows, one row per day. A window past midnight is drawn on the evening it belongs to,
    running to the row's end, with its morning part on the next day's row."""
    rw, rh, left, pad = 560, 22, 44, 4
    width = left + rw
    height = rh * 7 + 18
    px = rw / (24 * 60)
    parts = [f'<svg class="week" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">']
    for d in range(7):
        y = 14 + d * rh
        parts.append(f'<text x="0" y="{y + rh - 8}">{escape(day_names[d])}</text>')
        parts.append(f'<rect x="{left}" y="{y + pad / 2}" width="{rw}" height="{rh - pad}" fill="#f6efe8"/>')
    for hh in range(0, 25, 6):
        shift = 0 if hh == 0 else (14 if hh == 24 else 7)      # keep "24" inside the drawing
        parts.append(f'<text x="{left + hh * 60 * px - shift:.1f}" y="10">{hh:02d}</text>')
    for w in windows:
        s, e = _minutes(w.start), _minutes(w.end)
        cls = "win everything" if w.everything else "win"
        for d in sorted(w.days):
            spans = [(d, s, e)] if e > s else [(d, s, 24 * 60), ((d + 1) % 7, 0, e)]
            for day, a, b in spans:
                if b <= a:
                    continue
                y = 14 + day * rh + pad / 2
                parts.append(f'<rect class="{cls}" x="{left + a * px:.1f}" y="{y}" width="{(b - a) * px:.1f}" '
                             f'height="{rh - pad}" rx="3"><title>{escape(w.name)} '
                             f'{w.start:%H:%M}–{w.end:%H:%M}</title></rect>')
    if now is not None:
        y = 14 + now.weekday() * rh
        x = left + (now.hour * 60 + now.minute) * px
        parts.append(f'<line class="nowline" x1="{x:.1f}" x2="{x:.1f}" y1="{y}" y2="{y + rh}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))

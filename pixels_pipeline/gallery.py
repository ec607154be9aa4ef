"""Contact sheets and a static HTML gallery of thumbnails (pure: Pillow and strings)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from pixels_pipeline.dicom.png import encode_png


@dataclass(frozen=True)
class GalleryEntry:
    """One thumbnail and what the gallery shows under it: the row id (the table has the
    row's path; names of files and folders can be PHI), modality and SOP Instance UID."""

    png: bytes
    row_id: str
    modality: str | None
    sop_instance_uid: str | None


def contact_sheet(pngs: Sequence[bytes], *, cell: int = 128, columns: int = 8) -> bytes:
    """One PNG with the thumbnails on a dark grid, each fitted into a ``cell`` square."""
    if not pngs:
        raise ValueError("a contact sheet needs at least one image")
    cols = min(columns, len(pngs))
    rows = -(-len(pngs) // cols)
    pad = 4
    sheet = Image.new("RGB", (cols * (cell + pad) + pad, rows * (cell + pad) + pad), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for i, data in enumerate(pngs):
        x = pad + (i % cols) * (cell + pad)
        y = pad + (i // cols) * (cell + pad)
        with Image.open(io.BytesIO(data)) as img:
            tile = img.convert("RGB")
            tile.thumbnail((cell, cell))
            draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=(0, 0, 0))
            sheet.paste(tile, (x + (cell - tile.width) // 2, y + (cell - tile.height) // 2))
    # ISA-L deflate (dicom.png): Pillow's optimize=True took 2.5 s for a 500-image sheet
    return encode_png(np.asarray(sheet))


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def gallery_html(entries: Sequence[GalleryEntry], *, title: str) -> str:
    """A self-contained HTML page (images inlined) listing row id, modality and SOP UID."""
    cards = "\n".join(
        f'<figure id="{html.escape(e.row_id)}">'
        f'<img src="{data_uri(e.png)}" alt="row {html.escape(e.row_id)}">'
        f"<figcaption><b>{html.escape(e.modality or '?')}</b> "
        f"<code>{html.escape(e.row_id)}</code><br>"
        f"<small>{html.escape(e.sop_instance_uid or '')}</small></figcaption>"
        "</figure>"
        for e in entries
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ background:#111; color:#ddd; font:14px system-ui, sans-serif; margin:1.5em; }}
main {{ display:grid; grid-template-columns:repeat(auto-fill, minmax(200px, 1fr)); gap:12px; }}
figure {{ margin:0; background:#000; padding:8px; border-radius:6px; }}
img {{ display:block; margin:auto; max-width:100%; image-rendering:auto; }}
figcaption {{ margin-top:6px; overflow-wrap:anywhere; }}
small {{ color:#888; }}
</style></head>
<body><h1>{html.escape(title)}</h1><p>{len(entries)} images</p>
<main>
{cards}
</main></body></html>
"""


def preview_markdown(pngs: Sequence[bytes], *, cell: int = 96, columns: int = 6) -> str:
    """Markdown for the Dagster UI: an inline contact sheet (only markdown shows images)."""
    return f"![contact sheet]({data_uri(contact_sheet(pngs, cell=cell, columns=columns))})"

"""The embedded report fonts: DejaVu Sans and Sans Mono, checked against pinned SHA-256s."""

from __future__ import annotations

import hashlib
import importlib.util
import io
from functools import cache
from pathlib import Path
from typing import Any

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from reports.errors import ReportError
from reports.glyphs import FONT, FONT_BOLD, FONT_ITALIC, FONT_MONO

__all__ = [
    "FONT",
    "FONT_BOLD",
    "FONT_FILES",
    "FONT_ITALIC",
    "FONT_MONO",
    "FONT_SOURCE",
    "font_directory",
    "register_fonts",
]

FONT_SOURCE = "matplotlib (mpl-data/fonts/ttf), DejaVu fonts 2.35"
"""Where the files come from: the matplotlib wheel, whose DejaVu files have been the same
bytes since at least 3.8. The PDF embeds subsets of them, so their bytes shape the output:
each file must match its pinned hash exactly, whatever its source."""

FONT_FILES: dict[str, tuple[str, str]] = {
    FONT: ("DejaVuSans.ttf",
           "3fdf69cabf06049ea70a00b5919340e2ce1e6d02b0cc3c4b44fb6801bd1e0d22"),
    FONT_BOLD: ("DejaVuSans-Bold.ttf",
                "b184b89e3c1075f22f6b71575b6fc20d4972b3cfd3b23322ca6fd596dcaef167"),
    FONT_ITALIC: ("DejaVuSans-Oblique.ttf",
                  "ccdf74b350f11fd3dd5774de50e5e6346a1a5da1f5b7d5fb83590665e97a5213"),
    FONT_MONO: ("DejaVuSansMono.ttf",
                "602ec86b8948cfcd956482fe64f94c36c867770149ef2f791d4613f443bcecb3"),
}
"""Font name -> (file name, SHA-256 of the file)."""


def font_directory() -> Path:
    """matplotlib's font folder, found without importing matplotlib (and numpy with it)."""
    spec = importlib.util.find_spec("matplotlib")
    places = list(spec.submodule_search_locations or []) if spec else []
    if not places:
        raise ReportError("the report fonts come from the matplotlib package, which is not "
                          "installed (pip install 'matplotlib>=3.8')")
    return Path(places[0]) / "mpl-data" / "fonts" / "ttf"


def _checked(name: str, folder: Path) -> bytes:
    """The bytes of one font file, refused unless they match the pinned SHA-256."""
    file_name, expected = FONT_FILES[name]
    path = folder / file_name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReportError(f"report font {file_name} not found in {folder}: {exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ReportError(f"report font {path} has SHA-256 {actual}, expected {expected}: "
                          "reports would not render byte for byte; install a matplotlib whose "
                          "DejaVu files match (3.8 to 3.11 do)")
    return data


@cache
def register_fonts() -> frozenset[int]:
    """Register the four fonts with ReportLab (once); the code points all four can draw."""
    folder = font_directory()
    coverage: frozenset[int] | None = None
    for name in FONT_FILES:
        # asciiReadable: ASCII keeps its own codes in subset 0 (page.py relies on it).
        font = TTFont(name, io.BytesIO(_checked(name, folder)), asciiReadable=1)
        pdfmetrics.registerFont(font)
        chars = frozenset(font.face.charToGlyph)
        coverage = chars if coverage is None else coverage & chars
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT_ITALIC,
                                  boldItalic=FONT_BOLD)
    pdfmetrics.registerFontFamily(FONT_MONO, normal=FONT_MONO, bold=FONT_MONO,
                                  italic=FONT_MONO, boldItalic=FONT_MONO)
    return coverage or frozenset()


def width_data() -> str:
    """The source of reports/glyph_widths.py, from the registered fonts
    (regenerate with ``python -m reports.fonts > reports/glyph_widths.py``)."""
    import base64
    import struct
    import zlib

    coverage = sorted(register_fonts())
    faces = [pdfmetrics.getFont(name).face for name in FONT_FILES]
    upem = int(faces[0].unitsPerEm)
    n = len(coverage)

    def units(face: Any, cp: int) -> int:
        return round(float(face.charWidths.get(cp, face.defaultWidth)) * upem / 1000)

    blob = struct.pack(f"<{n}I", *coverage) + b"".join(
        struct.pack(f"<{n}H", *(units(f, cp) for cp in coverage)) for f in faces)
    text = base64.b64encode(zlib.compress(blob, 9)).decode("ascii")
    rows = "\n".join(f'    "{text[i:i + 92]}"' for i in range(0, len(text), 92))
    defaults = ",\n                 ".join(
        f'"{name}": {units(f, -1)}' for name, f in zip(FONT_FILES, faces, strict=True))
    order = ", ".join(f'"{name}"' for name in FONT_FILES)
    head = open(__file__.replace("fonts.py", "glyph_widths.py"), encoding="utf-8").read()
    doc = head[:head.index("from __future__")]
    return (f"{doc}from __future__ import annotations\n\nFONT_ORDER = ({order})\n"
            f"UNITS_PER_EM = {upem}\nDEFAULT_UNITS = {{{defaults}}}\nCOUNT = {len(coverage)}\n"
            f"BLOB = (\n{rows}\n)\n")


if __name__ == "__main__":
    print(width_data(), end="")

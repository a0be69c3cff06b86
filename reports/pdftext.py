"""A strict, fast text extractor for the PDFs reports/page.py draws; it refuses anything else.

Pure (pypdf for object access only, no ReportLab). It reads each page's content stream with
one compiled regex and the few operators the renderer writes, decoding every shown string
with its font's ToUnicode map. It fails closed: whatever could paint text or an image it does
not read (an XObject, an inline image, a Type3 font, a font without ToUnicode, an operator the
renderer never writes, an annotation with an appearance) makes it raise ReportError naming the
page and the construct, so a PDF cannot show text that the text check does not see.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from pypdf import PageObject, PdfReader
from pypdf.generic import ArrayObject, DictionaryObject

from reports.errors import ReportError

__all__ = ["page_text", "page_texts"]

_GRAPHICS = frozenset({
    b"q", b"Q", b"cm", b"w", b"J", b"j", b"M", b"d", b"ri", b"i",
    b"m", b"l", b"c", b"v", b"y", b"h", b"re",
    b"S", b"s", b"f", b"F", b"f*", b"B", b"B*", b"b", b"b*", b"n", b"W", b"W*",
    b"g", b"G", b"rg", b"RG", b"k", b"K",
    b"BT", b"ET", b"Tm", b"Td", b"TD", b"T*", b"TL", b"Tc", b"Tw", b"Tz", b"Ts",
})
"""Operators that paint no text and select no font: the text they leave is the text shown."""

_WS = rb"[ \t\r\n\f\x00]"
_END = rb"(?=[ \t\r\n\f\x00\[\]()<>/%]|\Z)"
_NUM = rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)"
_OPS = b"|".join(re.escape(op) for op in sorted(_GRAPHICS, key=len, reverse=True))
_NAME = rb"/[^ \t\r\n\f\x00()<>\[\]{}/%]*"
_LEAF = rb"(?:[^()\\]|\\.)*"
_STR = rb"\((?:[^()\\]|\\.|\((?:[^()\\]|\\.|\(" + _LEAF + rb"\))*\))*\)"
_TOKEN = re.compile(
    rb"(?P<skip>(?:" + _WS + rb"+|%[^\r\n]*|[\[\]]|(?:" + _NUM + rb"|" + _OPS + rb")" + _END
    + rb")+)"
    rb"|(?P<font>(?P<fname>" + _NAME + rb")" + _WS + rb"+" + _NUM + _WS + rb"+Tf)" + _END
    + rb"|(?P<show>(?P<text>" + _STR + rb")" + _WS + rb"*Tj)" + _END
    + rb"|(?P<op>[A-Za-z'\"][A-Za-z0-9*'\"]*)"
    rb"|(?P<num>" + _NUM + rb")"
    rb"|(?P<name>" + _NAME + rb")"
    rb"|(?P<str>" + _STR + rb")"
    rb"|(?P<hex><[0-9A-Fa-f \t\r\n\f\x00]*>)"
    rb"|(?P<bad>.)", re.DOTALL)
"""Runs of graphics operators and their operands, a font selected, a string shown, or one
token; literal strings nest parentheses at most three deep (the renderer escapes them)."""

_ESCAPE = re.compile(rb"\\([0-7]{1,3}|\r\n|[\s\S])|\r\n?")
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f",
            b"\r\n": b"", b"\n": b"", b"\r": b""}

_ALPHA = frozenset({"/Type", "/ca", "/CA"})
"""What a graphics state dictionary of ours sets (charts' translucent bars): no font, no mask."""

_REFUSED = {
    b"Do": "an XObject (image or form) is drawn; reports never draw one",
    b"BI": "an inline image is drawn; reports never draw one",
    b"TJ": "text is shown with TJ; reports never write it",
    b"'": "text is shown with '; reports never write it",
    b'"': 'text is shown with "; reports never write it',
    b"Tr": "a text rendering mode is set; reports never set one",
}

_CMAP_HEX = re.compile(rb"<([0-9A-Fa-f]+)>")
_BFCHAR = re.compile(rb"beginbfchar(.*?)endbfchar", re.DOTALL)
_BFRANGE = re.compile(rb"beginbfrange(.*?)endbfrange", re.DOTALL)
_RANGE = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*(<[0-9A-Fa-f]+>|\[[^\]]*\])")


def _unescape(match: re.Match[bytes]) -> bytes:
    body = match.group(1)
    if body is None:
        return b"\n"  # an end of line in a string reads as a line feed
    if body[:1].isdigit():
        return bytes((int(body, 8) & 0xFF,))
    return _ESCAPES.get(body, body)


def _literal(token: bytes) -> bytes:
    body = token[1:-1]
    return _ESCAPE.sub(_unescape, body) if b"\\" in body or b"\r" in body else body


def _hex(token: bytes) -> bytes:
    digits = re.sub(rb"[^0-9A-Fa-f]", b"", token)
    return bytes.fromhex((digits + b"0" * (len(digits) % 2)).decode("ascii"))


def _utf16(hex_digits: bytes) -> str:
    return bytes.fromhex(hex_digits.decode("ascii")).decode("utf-16-be", "surrogatepass")


def _cmap(data: bytes) -> dict[int, str]:
    """The single-byte codes of a ToUnicode CMap (bfchar and bfrange) and their text."""
    codes: dict[int, str] = {}
    for block in _BFCHAR.findall(data):
        pairs = _CMAP_HEX.findall(block)
        for src, dst in zip(pairs[::2], pairs[1::2], strict=True):
            codes[int(src, 16)] = _utf16(dst)
    for block in _BFRANGE.findall(data):
        for lo, hi, dst in _RANGE.findall(block):
            first, last = int(lo, 16), int(hi, 16)
            if dst.startswith(b"["):
                targets = [_utf16(h) for h in _CMAP_HEX.findall(dst)]
            else:
                start = int(dst[1:-1], 16)
                targets = [_utf16(b"%04X" % (start + k)) for k in range(last - first + 1)]
            codes.update(zip(range(first, last + 1), targets, strict=False))
    if any(code > 0xFF for code in codes):
        raise ValueError("a ToUnicode map with codes of more than one byte")
    return codes


class _Font:
    """A simple font's decoder: each byte through its ToUnicode map."""

    def __init__(self, name: str, font: Any) -> None:
        subtype = font.get("/Subtype")
        if subtype != "/TrueType":
            raise ValueError(f"the font {name} is a {str(subtype)[1:]} font; reports embed "
                             "TrueType fonts only")
        if "/ToUnicode" not in font:
            raise ValueError(f"the font {name} has no ToUnicode map; reports embed one")
        cmap: Any = font["/ToUnicode"].get_object()
        codes = _cmap(cmap.get_data())
        self.table = {code: text for code, text in codes.items() if chr(code) != text}
        self.unknown = bytes(c for c in range(256) if c not in codes)
        self.name = name

    def decode(self, raw: bytes) -> str:
        if raw.translate(None, self.unknown) != raw:
            bad = next(c for c in raw if c in self.unknown)
            raise ValueError(f"the font {self.name} maps no text to code 0x{bad:02X}")
        return raw.decode("latin-1").translate(self.table)


_Fonts = dict[int, _Font]


def _resource(page: PageObject, kind: str) -> DictionaryObject:
    resources = page.get("/Resources")
    resources = resources.get_object() if resources is not None else DictionaryObject()
    table = resources.get(kind)
    return table.get_object() if table is not None else DictionaryObject()


def _states(page: PageObject) -> frozenset[bytes]:
    """The page's graphics state dictionaries that only set transparency."""
    return frozenset(name.encode("latin-1") for name, state in _resource(page, "/ExtGState").items()
                     if set(state.get_object()) <= _ALPHA)


def _page_fonts(page: PageObject, fonts: _Fonts) -> Callable[[bytes], _Font]:
    """Look up a page's font by resource name, each font object parsed once per document."""
    table = _resource(page, "/Font")

    page_fonts: dict[bytes, _Font] = {}

    def font(name: bytes) -> _Font:
        if name in page_fonts:
            return page_fonts[name]
        key = name.decode("latin-1")
        if key not in table:
            raise ValueError(f"the font {key} is not in the page's resources")
        ref = table.raw_get(key)
        ident = getattr(ref, "idnum", None) or id(ref)
        if ident not in fonts:
            fonts[ident] = _Font(key, table[key].get_object())
        page_fonts[name] = fonts[ident]
        return fonts[ident]

    return font


def _content(page: PageObject) -> bytes:
    """The page's content streams, decoded and concatenated in order."""
    contents = page.get("/Contents")
    if contents is None:
        return b""
    contents = contents.get_object()
    if isinstance(contents, ArrayObject):
        return b"\n".join(part.get_object().get_data() for part in contents)
    return bytes(contents.get_data())


def _annotations(page: PageObject) -> None:
    for annot in page.get("/Annots") or ():
        annot = annot.get_object()
        rect = [float(x) for x in annot.get("/Rect", (0, 0, 0, 0))]
        if "/AP" in annot and len(rect) == 4 and rect[0] != rect[2] and rect[1] != rect[3]:
            raise ValueError("an annotation draws an appearance; reports draw none")


def _shown(data: bytes, font: Callable[[bytes], _Font], states: frozenset[bytes]
           ) -> Iterator[str]:
    """The text each Tj shows, in stream order."""
    operands: list[re.Match[bytes]] = []
    current: bytes | None = None
    for token in _TOKEN.finditer(data):
        kind = token.lastgroup
        if kind == "skip" and operands and token.group().strip():
            kind = "opaque"  # an operand of what follows: the operator it reaches decides
        elif kind in ("skip", "font", "show"):
            if operands and kind != "skip":
                raise ValueError(f"stray operands before {token.group()[-2:].decode()}")
            if kind == "show":
                if current is None:
                    raise ValueError("a Tj before any Tf")
                yield font(current).decode(_literal(token.group("text")))
            elif kind == "font":
                current = token.group("fname")  # read when it shows text (some show none)
            continue
        if kind != "op":
            if kind == "bad":
                raise ValueError(f"the content stream has a stray {token.group()!r}")
            operands.append(token)
            continue
        op = token.group()
        if op == b"Tj":
            if current is None or len(operands) != 1 or operands[0].lastgroup not in (
                    "str", "hex"):
                raise ValueError("a Tj without a font or a string")
            raw = operands[0].group()
            yield font(current).decode(_literal(raw) if raw[:1] == b"(" else _hex(raw))
        elif op == b"Tf":
            if len(operands) != 2 or operands[0].lastgroup != "name":
                raise ValueError("a Tf without a font name and a size")
            current = operands[0].group()
        elif op == b"gs":
            if len(operands) != 1 or operands[0].group() not in states:
                raise ValueError("a graphics state that does more than set transparency is "
                                 "set; reports set no other")
        elif op not in _GRAPHICS:
            raise ValueError(_REFUSED.get(op, f"the operator {op.decode('latin-1')!r} is "
                                                 "used; reports never write it"))
        operands.clear()


def page_text(page: PageObject, fonts: _Fonts | None = None) -> str:
    """The text a page shows, in stream order; ValueError naming what it cannot read."""
    _annotations(page)
    font = _page_fonts(page, {} if fonts is None else fonts)
    return "".join(_shown(_content(page), font, _states(page)))


def page_texts(reader: PdfReader) -> list[str]:
    """The text of every page (ReportError: "page 3: an XObject ... is drawn; ...")."""
    fonts: _Fonts = {}
    texts = []
    for number, page in enumerate(reader.pages, start=1):
        try:
            texts.append(page_text(page, fonts))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ReportError(f"page {number}: {exc}") from exc
    return texts

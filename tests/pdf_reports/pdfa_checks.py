"""Structural PDF/A-3b checks with pypdf: the rules a report can break, not a full validator."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from typing import Any

from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, StreamObject

NS = {"x": "adobe:ns:meta/", "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
      "pdfaid": "http://www.aiim.org/pdfa/ns/id/", "dc": "http://purl.org/dc/elements/1.1/",
      "xmp": "http://ns.adobe.com/xap/1.0/", "pdf": "http://ns.adobe.com/pdf/1.3/"}
BASE14 = {"Helvetica", "Helvetica-Bold", "Helvetica-Oblique", "Helvetica-BoldOblique", "Courier",
          "Courier-Bold", "Courier-Oblique", "Courier-BoldOblique", "Times-Roman", "Times-Bold",
          "Times-Italic", "Times-BoldItalic", "Symbol", "ZapfDingbats"}
FORBIDDEN_KEYS = {"/JS", "/JavaScript", "/AA", "/Encrypt", "/OPI", "/TR", "/HTP"}
BLEND_MODES = {"/Normal", "/Compatible", "/Multiply", "/Screen", "/Overlay", "/Darken",
               "/Lighten", "/ColorDodge", "/ColorBurn", "/HardLight", "/SoftLight",
               "/Difference", "/Exclusion", "/Hue", "/Saturation", "/Color", "/Luminosity"}


def _references(reader: PdfReader) -> list[IndirectObject]:
    """A reference to every object number the cross-reference table can hold."""
    return [IndirectObject(n, 0, reader) for n in range(1, int(reader.trailer["/Size"]))]


def _walk(obj: Any, seen: set[int], out: list[DictionaryObject]) -> None:
    if isinstance(obj, IndirectObject):
        if obj.idnum in seen:
            return
        seen.add(obj.idnum)
        try:
            obj = obj.get_object()
        except Exception:  # noqa: BLE001 (a free entry)
            return
    if isinstance(obj, DictionaryObject):  # streams are dictionaries too
        out.append(obj)
        for value in obj.values():
            _walk(value, seen, out)
    elif isinstance(obj, ArrayObject):
        for value in obj:
            _walk(value, seen, out)


def _dicts(reader: PdfReader) -> list[DictionaryObject]:
    out: list[DictionaryObject] = []
    seen: set[int] = set()
    _walk(reader.trailer, seen, out)
    for ref in _references(reader):
        _walk(ref, seen, out)
    return out


def _xmp_date(pdf_date: str) -> str:
    m = re.fullmatch(r"D:(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)([+-])(\d\d)'(\d\d)'", pdf_date)
    assert m, pdf_date
    y, mo, d, h, mi, s, sign, th, tm = m.groups()
    return f"{y}-{mo}-{d}T{h}:{mi}:{s}{sign}{th}:{tm}"


def _xmp(reader: PdfReader) -> dict[str, str]:
    meta = reader.trailer["/Root"]["/Metadata"].get_object()
    assert meta["/Type"] == "/Metadata" and meta["/Subtype"] == "/XML"
    root = ET.fromstring(meta.get_data())
    text = {f"{p}:{n}": el.text or "" for p, uri in NS.items()
            for el in root.iter() if el.tag.startswith("{" + uri + "}")
            for n in [el.tag.split("}")[1]]}
    for key, path in (("dc:title", "dc:title/rdf:Alt/rdf:li"),
                      ("dc:creator", "dc:creator/rdf:Seq/rdf:li"),
                      ("dc:description", "dc:description/rdf:Alt/rdf:li")):
        found = root.find(f".//{path}", NS)
        text[key] = found.text or "" if found is not None else ""
    return text


def _info_problems(reader: PdfReader) -> list[str]:
    info = reader.trailer["/Info"].get_object()
    if "/Metadata" not in reader.trailer["/Root"]:
        return ["no XMP metadata"]
    xmp = _xmp(reader)
    problems = []
    if xmp.get("pdfaid:part") != "3" or xmp.get("pdfaid:conformance") != "B":
        problems.append("XMP does not claim PDF/A-3B")
    pairs = {"/Title": "dc:title", "/Author": "dc:creator", "/Subject": "dc:description",
             "/Keywords": "pdf:Keywords", "/Creator": "xmp:CreatorTool",
             "/Producer": "pdf:Producer"}
    for key, prop in pairs.items():
        if key in info and str(info[key]) != xmp.get(prop):
            problems.append(f"Info {key} {str(info[key])!r} != XMP {prop} {xmp.get(prop)!r}")
    for key, prop in (("/CreationDate", "xmp:CreateDate"), ("/ModDate", "xmp:ModifyDate")):
        if key in info and _xmp_date(str(info[key])) != xmp.get(prop):
            problems.append(f"Info {key} does not match XMP {prop}")
    return problems


def _intent_problems(root: DictionaryObject) -> list[str]:
    intents = [i.get_object() for i in root.get("/OutputIntents", [])]
    pdfa = [i for i in intents if i.get("/S") == "/GTS_PDFA1"]
    if len(pdfa) != 1:
        return [f"expected one GTS_PDFA1 output intent, found {len(pdfa)}"]
    profile = pdfa[0]["/DestOutputProfile"].get_object()
    icc = profile.get_data()
    if profile.get("/N") != 3 or icc[36:40] != b"acsp" or icc[16:20] != b"RGB ":
        return ["the output intent's profile is not an RGB ICC profile"]
    return []


def _file_problems(root: DictionaryObject) -> list[str]:
    specs = [s.get_object() for s in root.get("/AF", [])]
    if not specs:
        return ["no associated file (catalog /AF)"]
    problems = []
    for spec in specs:
        stream = spec["/EF"]["/F"].get_object()
        params = stream.get("/Params", {})
        if spec.get("/AFRelationship") not in ("/Data", "/Source", "/Alternative",
                                               "/Supplement", "/Unspecified"):
            problems.append("file spec without a valid /AFRelationship")
        if "/F" not in spec or "/UF" not in spec:
            problems.append("file spec without /F and /UF")
        if stream.get("/Subtype") != "/application/json":
            problems.append(f"embedded file MIME type {stream.get('/Subtype')}")
        if params.get("/Size") != len(stream.get_data()) or "/ModDate" not in params:
            problems.append("embedded file /Params lack a right /Size or a /ModDate")
    return problems


def _font_problems(dicts: list[DictionaryObject]) -> list[str]:
    problems = []
    for d in dicts:
        if d.get("/Type") != "/Font" or d.get("/Subtype") == "/Type0":
            continue
        name = str(d.get("/BaseFont", "")).lstrip("/")
        desc = d.get("/FontDescriptor")
        embedded = desc is not None and any(k in desc.get_object() for k in
                                            ("/FontFile", "/FontFile2", "/FontFile3"))
        if not embedded or name in BASE14:
            problems.append(f"font {name} is not embedded")
        if d.get("/Subtype") == "/TrueType" and "/Encoding" in d:
            problems.append(f"symbolic TrueType font {name} has an /Encoding")
        if "/ToUnicode" not in d:
            problems.append(f"font {name} has no /ToUnicode map")
    return problems


def _object_problems(dicts: list[DictionaryObject]) -> list[str]:
    problems = []
    for d in dicts:
        bad = FORBIDDEN_KEYS & set(d.keys())
        if bad:
            problems.append(f"forbidden keys {sorted(bad)} in {d.get('/Type', 'a dictionary')}")
        if d.get("/S") in ("/JavaScript", "/Launch") or d.get("/Subtype") == "/PS":
            problems.append("a JavaScript or Launch action, or PostScript")
        if d.get("/Type") == "/ExtGState" or {"/ca", "/CA", "/BM", "/SMask"} & set(d.keys()):
            if "/BM" in d and str(d["/BM"]) not in BLEND_MODES:
                problems.append(f"blend mode {d['/BM']}")
            if d.get("/SMask", "/None") != "/None" or d.get("/TR2", "/Default") != "/Default":
                problems.append("ExtGState with a soft mask or transfer function")
        filters = d.get("/Filter") if isinstance(d, StreamObject) else None
        if filters is not None and "/LZWDecode" in str(filters):
            problems.append("an LZW-compressed stream")
        if d.get("/Subtype") in ("/Link", "/Widget", "/Text") and not int(d.get("/F", 0)) & 4:
            problems.append("an annotation without the print flag")
    return problems


def _colour_problems(reader: PdfReader) -> list[str]:
    """DeviceCMYK needs a CMYK output intent; ours is sRGB."""
    for number, page in enumerate(reader.pages, start=1):
        data = page.get_contents().get_data() if page.get_contents() else b""
        if re.search(rb"(?:^|\s)[\d.]+ [\d.]+ [\d.]+ [\d.]+ [kK](?=\s)", data):
            return [f"page {number} uses DeviceCMYK colour"]
    return []


def pdfa_problems(pdf: bytes) -> list[str]:
    """What keeps ``pdf`` from PDF/A-3b as far as these checks see; [] when none."""
    problems = []
    if not re.match(rb"%PDF-1\.[0-7]\r?\n%[\x80-\xff]{4}", pdf):
        problems.append("header or binary comment line missing")
    if not re.search(rb"%%EOF\r?\n?$", pdf):
        problems.append("data after %%EOF")
    reader = PdfReader(io.BytesIO(pdf), strict=True)
    trailer = reader.trailer
    if "/Encrypt" in trailer:
        problems.append("encrypted")
    ids = trailer.get("/ID")
    if not ids or len(ids) != 2:
        problems.append("trailer /ID missing")
    root = trailer["/Root"].get_object()
    dicts = _dicts(reader)
    return (problems + _info_problems(reader) + _intent_problems(root) + _file_problems(root)
            + _font_problems(dicts) + _object_problems(dicts) + _colour_problems(reader))

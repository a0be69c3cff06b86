"""PDF/A-3b plumbing: XMP metadata, an sRGB output intent, the bundle as an associated file."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from xml.sax.saxutils import escape

from reportlab.pdfbase.pdfdoc import (
    PDFArray,
    PDFCatalog,
    PDFDate,
    PDFDictionary,
    PDFName,
    PDFStream,
    PDFString,
)

from reports.errors import ReportError

__all__ = ["PDFA_CONFORMANCE", "PDFA_PART", "SRGB_ICC", "SRGB_ICC_SHA256", "make_archival"]

PDFA_PART, PDFA_CONFORMANCE = 3, "B"
PDF_VERSION = (1, 7)  # PDF/A-3 is built on ISO 32000-1, i.e. PDF 1.7
SRGB_CONDITION = "sRGB IEC61966-2.1"

SRGB_ICC = base64.b64decode(
    "AAACTGxjbXMEQAAAbW50clJHQiBYWVogB9AAAQABAAAAAAAAYWNzcEFQUEwAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAPbWAAEAAAAA0y1sY21zAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAL"
    "ZGVzYwAAAQgAAAA2Y3BydAAAAUAAAABMd3RwdAAAAYwAAAAUY2hhZAAAAaAAAAAsclhZWgAAAcwAAAAUYlhZWgAA"
    "AeAAAAAUZ1hZWgAAAfQAAAAUclRSQwAAAggAAAAgZ1RSQwAAAggAAAAgYlRSQwAAAggAAAAgY2hybQAAAigAAAAk"
    "bWx1YwAAAAAAAAABAAAADGVuVVMAAAAaAAAAHABzAFIARwBCACAAYgB1AGkAbAB0AC0AaQBuAABtbHVjAAAAAAAA"
    "AAEAAAAMZW5VUwAAADAAAAAcAE4AbwAgAGMAbwBwAHkAcgBpAGcAaAB0ACwAIAB1AHMAZQAgAGYAcgBlAGUAbAB5"
    "WFlaIAAAAAAAAPbWAAEAAAAA0y1zZjMyAAAAAAABDEIAAAXe///zJQAAB5MAAP2Q///7of///aIAAAPcAADAblhZ"
    "WiAAAAAAAABvoAAAOPUAAAOQWFlaIAAAAAAAACSfAAAPhAAAtsNYWVogAAAAAAAAYpcAALeHAAAY2XBhcmEAAAAA"
    "AAMAAAACZmYAAPKnAAANWQAAE9AAAApbY2hybQAAAAAAAwAAAACj1wAAVHsAAEzNAACZmgAAJmYAAA9c"
)
"""Little CMS's built-in sRGB profile (ICC v4.4, 588 bytes, "No copyright, use freely"), as
Pillow's ImageCms.createProfile("sRGB") writes it, with the header's creation date (bytes 24-35)
set to 2000-01-01 00:00:00 so that the bytes never change."""
SRGB_ICC_SHA256 = "6f6fe5cc53cd24ceeb7997fb24ce2889fdfb88d88ce4fdc5f8e25e0481294953"

_XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">
<pdfaid:part>{part}</pdfaid:part>
<pdfaid:conformance>{conformance}</pdfaid:conformance>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:format>application/pdf</dc:format>
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title>
<dc:creator><rdf:Seq><rdf:li>{author}</rdf:li></rdf:Seq></dc:creator>
<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{subject}</rdf:li></rdf:Alt></dc:description>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
<xmp:CreatorTool>{creator}</xmp:CreatorTool>
<xmp:CreateDate>{date}</xmp:CreateDate>
<xmp:ModifyDate>{date}</xmp:ModifyDate>
<xmp:MetadataDate>{date}</xmp:MetadataDate>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
<pdf:Producer>{producer}</pdf:Producer>
<pdf:Keywords>{keywords}</pdf:Keywords>
</rdf:Description>
</rdf:RDF>
</x:xmpmeta>
<?xpacket end="r"?>"""


def _xmp_date(date: PDFDate) -> str:
    """The date the Info dictionary carries, in XMP's (ISO 8601) form."""
    year, month, day, hour, minute, second = date.date
    return (f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
            f"{date.dhh:+03d}:{date.dmm:02d}")


def xmp_packet(info: Any, date: PDFDate) -> bytes:
    """XMP metadata repeating the Info dictionary's entries, as PDF/A requires."""
    fields = {key: escape(str(getattr(info, key))) for key in
              ("title", "author", "subject", "creator", "producer", "keywords")}
    return _XMP.format(part=PDFA_PART, conformance=PDFA_CONFORMANCE, date=_xmp_date(date),
                       **fields).encode("utf-8")


def _output_intent(doc: Any) -> PDFDictionary:
    if hashlib.sha256(SRGB_ICC).hexdigest() != SRGB_ICC_SHA256:
        raise ReportError("the embedded sRGB ICC profile does not match its pinned SHA-256")
    profile = PDFStream(PDFDictionary({"N": 3}), SRGB_ICC)
    return PDFDictionary({
        "Type": PDFName("OutputIntent"),
        "S": PDFName("GTS_PDFA1"),
        "OutputConditionIdentifier": PDFString(SRGB_CONDITION),
        "Info": PDFString(SRGB_CONDITION),
        "RegistryName": PDFString("http://www.color.org"),
        "DestOutputProfile": doc.Reference(profile),
    })


def _file_spec(doc: Any, data: bytes, name: str, description: str, date: PDFDate) -> Any:
    """An embedded JSON file, with what PDF/A-3 asks of an associated file."""
    stream = PDFStream(
        PDFDictionary({
            "Type": PDFName("EmbeddedFile"),
            # PDFName leaves "/" unescaped; a MIME subtype name needs it as #2F.
            "Subtype": "/application#2Fjson",
            "Params": PDFDictionary({"Size": len(data), "ModDate": date}),
        }),
        data,
    )
    ref = doc.Reference(stream)
    return doc.Reference(PDFDictionary({
        "Type": PDFName("Filespec"),
        "F": PDFString(name),
        "UF": PDFString(name),
        "Desc": PDFString(description),
        # "Data": the information the document's tables and charts are drawn from.
        "AFRelationship": PDFName("Data"),
        "EF": PDFDictionary({"F": ref, "UF": ref}),
    }))


def make_archival(canv: Any, data: bytes, name: str, description: str) -> None:
    """Make the canvas's document PDF/A-3b, with ``data`` embedded as its associated file.

    Call once, while the first page is drawn: the Info entries are set by then.
    """
    doc = canv._doc
    if not doc.invariant:
        raise ReportError("archival reports are rendered with invariant=1 (fixed dates)")
    date = PDFDate(ts=doc._timeStamp)
    spec = _file_spec(doc, data, name, description, date)
    catalog = doc.Catalog
    # PDFCatalog writes only the keys it lists; these two are newer than ReportLab's list.
    catalog.__NoDefault__ = [*PDFCatalog.__NoDefault__, "OutputIntents", "AF"]
    catalog.AF = PDFArray([spec])
    catalog.Names = PDFDictionary({"EmbeddedFiles": PDFDictionary(
        {"Names": PDFArray([PDFString(name), spec])})})
    catalog.setPageMode("UseAttachments")
    catalog.OutputIntents = PDFArray([_output_intent(doc)])
    metadata = PDFStream(PDFDictionary({"Type": PDFName("Metadata"),
                                        "Subtype": PDFName("XML")}),
                         xmp_packet(doc.info, date))
    catalog.Metadata = doc.Reference(metadata)
    doc._pdfVersion = PDF_VERSION

"""schemathesis hooks for test_openapi.py (loaded through its configuration's `hooks`).

The signing API's upload takes a document's raw bytes as `application/pdf`, a media type
schemathesis cannot make up by itself: it gets real PDFs (one-page documents written by pypdf,
which the API accepts) as often as arbitrary bytes (which it refuses with a problem, never a 500).
"""

from __future__ import annotations

import io

import schemathesis
from hypothesis import strategies as st
from pypdf import PdfWriter


def _pdf(width: int, height: int, title: str) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width, height)
    writer.add_metadata({"/Title": title})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


PDFS = [_pdf(595, 842, "A4"), _pdf(612, 792, "Letter"), _pdf(300, 300, "Überschrift")]

schemathesis.openapi.media_type(
    "application/pdf",
    st.one_of(
        st.sampled_from(PDFS),
        # A PDF cut short or followed by garbage, and bytes that are no PDF at all.
        st.builds(lambda pdf, cut, tail: pdf[:cut] + tail, st.sampled_from(PDFS), st.integers(0, 400), st.binary(max_size=64)),
        st.binary(max_size=2048),
    ),
)

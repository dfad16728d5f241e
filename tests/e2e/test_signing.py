"""The signing API against the real binary, as the README's walk-through uses it: plain HTTP and
JSON (requests, as curl would), the signer's browser through the signing page and the sandbox's
phone page, the signed PDFs checked by pyHanko's command line and by `passerelle sign verify`, and
the events a webhook receives, their signature checked with the issuer's JWKS (joserfc).

The documents are made by pypdf, another producer than the Rust tests' hand-written PDFs. The
signatures are made once, in a module fixture; the validators then run on the results.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
from joserfc import jws
from joserfc.jwk import KeySet
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from harness import HTTP_TIMEOUT, RP_CALLBACK, Browser, Page, query, unique

PYHANKO = Path(sys.executable).parent / "pyhanko"
# Jan Pieter Peeters approves in the sandbox app; the sessions name him by his national number.
JAN_PHONE, JAN_NIN = "+32470000001", "85073001744"
# Marie approves too, but she is not the person the sessions name.
MARIE_PHONE = "+32470000002"


# --------------------------------------------------------------------------------------------
# Documents, made by pypdf
# --------------------------------------------------------------------------------------------


def pypdf_document(title: str, pages: list[str], compress: bool = False) -> bytes:
    """A PDF written by pypdf: one line of Helvetica per page, and a title."""
    writer = PdfWriter()
    helvetica = DictionaryObject(
        {NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"), NameObject("/BaseFont"): NameObject("/Helvetica")}
    )
    for text in pages:
        page = writer.add_blank_page(595, 842)
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): helvetica})})
        content = DecodedStreamObject()
        content.set_data(f"BT /F1 20 Tf 72 760 Td ({text}) Tj ET".encode())
        page.replace_contents(content)
        if compress:
            page.compress_content_streams()
    writer.add_metadata({"/Title": title})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# The API client's side, as curl would do it
# --------------------------------------------------------------------------------------------


def api_token(server, client: dict) -> str:
    r = requests.post(
        f"{server.issuer}/connect/token",
        auth=(client["client_id"], client["client_secret"]),
        data={"grant_type": "client_credentials", "scope": "signicat-api"},
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def sign_api(server, token: str, method: str, path: str, **kw) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
    return requests.request(method, f"{server.base}/sign{path}", headers=headers, timeout=HTTP_TIMEOUT, **kw)


def upload(server, token: str, content: bytes, media_type: str, filename: str) -> dict:
    r = sign_api(
        server,
        token,
        "POST",
        "/documents",
        data=content,
        headers={"Content-Type": media_type, "Content-Disposition": f'attachment; filename="{filename}"'},
    )
    assert r.status_code == 201, r.text
    return r.json()


def session_request(flow: str, documents: list[str], reference: str) -> dict:
    return {
        "title": "Loan agreement",
        "documents": [{"action": "SIGN", "documentId": d} for d in documents],
        "signingSetup": [{"signingFlow": flow, "identityProviders": [{"idpName": "itsme"}]}],
        "signer": {"nationalIdentificationNumber": JAN_NIN},
        "redirectSettings": {"success": RP_CALLBACK, "cancel": RP_CALLBACK, "error": RP_CALLBACK},
        "externalReference": reference,
    }


# --------------------------------------------------------------------------------------------
# The signer's browser
# --------------------------------------------------------------------------------------------


def sign_in_browser(signature_url: str, phone: str) -> tuple[str, str]:
    """Opens the signing link, signs, and types `phone` on the sandbox's phone page; returns the
    signing page's text and where the browser ends: the client's redirect URI, or a page's text."""
    browser = Browser()
    page = browser.get(signature_url)
    assert page.status_code == 200, page.text
    shown = Page(page.text)
    form = next(f for f in shown.forms if "token" in f.inputs)
    assert ("decision", "sign") in form.buttons and ("decision", "decline") in form.buttons
    decided = browser.http.post(
        urljoin(page.url, form.action),
        data={"token": form.inputs["token"], "decision": "sign", "agree": "yes"},
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    )
    assert decided.status_code == 303, decided.text
    phone_page = browser.follow(decided)
    assert not isinstance(phone_page, str) and phone_page.status_code == 200, phone_page
    result = browser.wait_for_rp(browser.submit_phone(phone_page, phone))
    return shown.text, result if isinstance(result, str) else Page(result.text).text


# --------------------------------------------------------------------------------------------
# The client's webhook: a tiny HTTP server that keeps what it receives
# --------------------------------------------------------------------------------------------


@dataclass
class Webhook:
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self, session_id: str) -> list[str]:
        with self.lock:
            bodies = [json.loads(body) for _, body in self.received]
        return [e["eventName"] for e in bodies if e["eventData"]["signingSessionId"] == session_id]

    def wait_for(self, session_id: str, names: list[str], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while sorted(self.events(session_id)) != sorted(names):
            assert time.monotonic() < deadline, f"the webhook got {self.events(session_id)} for {session_id}"
            time.sleep(0.2)


def start_webhook() -> tuple[ThreadingHTTPServer, Webhook]:
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with hook.lock:
                hook.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, hook


# --------------------------------------------------------------------------------------------
# The walk-through, once for the module
# --------------------------------------------------------------------------------------------


@dataclass
class Signed:
    """One signing session of the walk-through and what came out of it."""

    session: dict
    done: dict
    page_text: str
    back: str
    originals: list[bytes]
    results: list[bytes]


@dataclass
class WalkThrough:
    client: dict
    token: str
    webhook: Webhook
    qualified: Signed
    advanced: Signed
    trust_qualified: Path
    trust_advanced: Path
    workdir: Path


def sign_session(server, token: str, request: dict, originals: list[bytes], phone: str) -> Signed:
    r = sign_api(server, token, "POST", "/signing-sessions", json=[request])
    assert r.status_code == 201, r.text
    (session,) = r.json()
    assert session["lifecycle"] == {"state": "READY", "stateIsFinal": False}
    assert session["signatureUrl"] == f"{server.base}/sign/signer/{session['id']}"
    page_text, back = sign_in_browser(session["signatureUrl"], phone)
    done = sign_api(server, token, "GET", f"/signing-sessions/{session['id']}").json()
    results = []
    for signature in done["output"]["signatures"]:
        r = sign_api(server, token, "GET", f"/documents/{signature['resultDocumentId']}")
        assert r.status_code == 200, r.text
        results.append(r.content)
    return Signed(session, done, page_text, back, originals, results)


@pytest.fixture(scope="module")
def walk(server, tmp_path_factory) -> WalkThrough:
    workdir = tmp_path_factory.mktemp("signing")
    httpd, webhook = start_webhook()
    try:
        # A sandbox client, its webhook, its API token.
        client = server.add_client(unique("Signing shop"))
        server.cli("client", "update", client["client_id"], "--signing-webhook", f"http://127.0.0.1:{httpd.server_port}/hook")
        token = api_token(server, client)
        # Two PDFs by pypdf, and a text, uploaded as their raw bytes.
        contract = pypdf_document("Loan agreement", ["Loan agreement", "Signatures"])
        terms = pypdf_document("General terms", ["General terms and conditions"], compress=True)
        annex = b"Annex: repayment schedule\n"
        uploaded = [
            upload(server, token, contract, "application/pdf", "contract.pdf"),
            upload(server, token, terms, "application/pdf", "terms.pdf"),
            upload(server, token, annex, "text/plain", "annex.txt"),
        ]
        for doc, content in zip(uploaded, [contract, terms, annex]):
            assert doc["size"] == len(content)
            assert doc["documentHash"] == {"algorithm": "SHA-256", "value": hashlib.sha256(content).hexdigest()}
        assert [d.get("pages") for d in uploaded] == [2, 1, None]
        ids = [d["documentId"] for d in uploaded]
        # A qualified signature (itsme's signing service, the sandbox's CA), and an advanced one
        # (an identification, then Passerelle's seal).
        qualified = sign_session(server, token, session_request("PKISIGNING", ids[:1], "order-q"), [contract], JAN_PHONE)
        advanced = sign_session(
            server, token, session_request("AUTHENTICATION_BASED", ids[1:], "order-a"), [terms, annex], JAN_PHONE
        )
        # What a validator trusts: the sandbox's root CA, and the root of the seal's chain.
        trust_qualified = workdir / "root.pem"
        trust_qualified.write_text(requests.get(f"{server.base}/sandbox/ca/root.pem", timeout=HTTP_TIMEOUT).text)
        chain = requests.get(f"{server.base}/sign/seal/chain.pem", timeout=HTTP_TIMEOUT).text
        trust_advanced = workdir / "seal-root.pem"
        trust_advanced.write_text("-----BEGIN CERTIFICATE-----" + chain.split("-----BEGIN CERTIFICATE-----")[-1])
        yield WalkThrough(client, token, webhook, qualified, advanced, trust_qualified, trust_advanced, workdir)
    finally:
        httpd.shutdown()


def write(workdir: Path, name: str, content: bytes) -> Path:
    path = workdir / name
    path.write_bytes(content)
    return path


def tampered(signed: bytes, original: bytes) -> bytes:
    """The signed file with one byte of the original part changed."""
    changed = bytearray(signed)
    changed[len(original) // 2] ^= 0x01
    return bytes(changed)


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def test_both_flows_sign_and_send_the_signer_back(walk):
    for signed, flow, reference, types in [
        (walk.qualified, "PKISIGNING", "order-q", ["PADES"]),
        (walk.advanced, "AUTHENTICATION_BASED", "order-a", ["PADES", "CADES"]),
    ]:
        session, done = signed.session, signed.done
        assert "Sign with itsme" in signed.page_text and "Loan agreement" in signed.page_text
        assert signed.back.startswith(RP_CALLBACK), signed.back
        assert query(signed.back) == {"sessionId": session["id"], "externalReference": reference}
        assert done["signingSetup"][0]["signingFlow"] == flow
        assert done["lifecycle"] == {"state": "SIGNED", "stateIsFinal": True}
        signatures = done["output"]["signatures"]
        assert [s["signatureType"] for s in signatures] == types
        assert [s["originalDocumentId"] for s in signatures] == [d["documentId"] for d in session["documents"]]
        assert done["output"]["packages"] == []
        for original, result, signature in zip(signed.originals, signed.results, signatures):
            if signature["signatureType"] == "PADES":
                # An incremental update: the original bytes, then the signature.
                assert result.startswith(original) and len(result) > len(original)
            else:
                assert result[:1] == b"\x30", "a detached CAdES signature (DER)"
    assert "qualified electronic signature" in walk.qualified.page_text
    assert "seals these documents in your name" in walk.advanced.page_text


@pytest.mark.slow
def test_pyhanko_validates_the_signed_pdfs_and_refuses_a_changed_byte(walk):
    """pyHanko's CLI, exactly as the README runs it. Both signatures are time-stamped by the
    sandbox's TSA, whose certificate the sandbox's root issued: the advanced one needs that root
    too, beside the seal's."""
    cases = [
        ("qualified.pdf", walk.qualified, [walk.trust_qualified]),
        ("advanced.pdf", walk.advanced, [walk.trust_advanced, walk.trust_qualified]),
    ]
    for name, signed, roots in cases:
        trust = [arg for root in roots for arg in ("--trust", str(root))]
        for file, valid in [
            (write(walk.workdir, name, signed.results[0]), True),
            (write(walk.workdir, f"changed-{name}", tampered(signed.results[0], signed.originals[0])), False),
        ]:
            command = [str(PYHANKO), "sign", "validate", "--executive-summary", *trust, "--trust-replace", "--no-revocation-check", str(file)]
            result = subprocess.run(command, capture_output=True, text=True, timeout=60)
            output = result.stdout + result.stderr
            if valid:
                assert result.returncode == 0 and ":VALID" in result.stdout, output
            else:
                assert result.returncode != 0 and ":VALID" not in result.stdout, output


def test_passerelle_sign_verify_validates_them_and_refuses_a_changed_byte(server, walk):
    qualified = write(walk.workdir, "q.pdf", walk.qualified.results[0])
    advanced = write(walk.workdir, "a.pdf", walk.advanced.results[0])
    annex = write(walk.workdir, "annex.txt", walk.advanced.originals[1])
    annex_signature = write(walk.workdir, "annex.txt.p7s", walk.advanced.results[1])
    # By default it trusts the sandbox's roots in this Passerelle's database.
    for args in [[str(qualified)], [str(advanced)], [str(annex_signature), "--content", str(annex)]]:
        result = server.cli("sign", "verify", *args, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "VALID" in result.stdout and "INVALID" not in result.stdout, result.stdout
    # The qualified signature is Jan's own certificate, time-stamped.
    out = server.cli("sign", "verify", str(qualified)).stdout
    assert "Jan Pieter Peeters" in out and f"serialNumber={JAN_NIN}" in out and "time-stamped" in out, out
    # With --trust, only the roots given: the seal's alone does not cover the sandbox TSA's time
    # stamp, the sandbox's alone not the seal.
    assert server.cli("sign", "verify", str(qualified), "--trust", str(walk.trust_qualified), check=False).returncode == 0
    both = ["--trust", str(walk.trust_advanced), "--trust", str(walk.trust_qualified)]
    assert server.cli("sign", "verify", str(advanced), *both, check=False).returncode == 0
    assert server.cli("sign", "verify", str(advanced), "--trust", str(walk.trust_qualified), check=False).returncode == 1
    assert server.cli("sign", "verify", str(advanced), "--trust", str(walk.trust_advanced), check=False).returncode == 1
    # One byte changed: invalid.
    changed = [
        [str(write(walk.workdir, "changed-q.pdf", tampered(walk.qualified.results[0], walk.qualified.originals[0])))],
        [str(write(walk.workdir, "changed-a.pdf", tampered(walk.advanced.results[0], walk.advanced.originals[0])))],
        [str(annex_signature), "--content", str(write(walk.workdir, "changed-annex.txt", tampered(walk.advanced.originals[1], walk.advanced.originals[1])))],
    ]
    for args in changed:
        result = server.cli("sign", "verify", *args, check=False)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "INVALID" in result.stdout, result.stdout


def test_the_webhook_hears_each_session_created_then_signed_signed_by_the_issuer(server, walk):
    for signed in (walk.qualified, walk.advanced):
        walk.webhook.wait_for(signed.session["id"], ["signing-session.created", "signing-session.signed"])
    keys = KeySet.import_key_set(requests.get(f"{server.issuer}/.well-known/openid-configuration/jwks", timeout=HTTP_TIMEOUT).json())
    with walk.webhook.lock:
        received = list(walk.webhook.received)
    assert received
    for headers, body in received:
        assert headers["content-type"] == "application/json"
        event = json.loads(body)
        assert event["sender"] == "signature-api" and event["accountId"] == walk.client["client_id"]
        assert event["eventData"]["externalReference"] in ("order-q", "order-a")
        expected_state = {"signing-session.created": "READY", "signing-session.signed": "SIGNED"}[event["eventName"]]
        assert event["eventData"]["state"] == expected_state
        # The signature: a JWS by the issuer's key over the body's SHA-256.
        verified = jws.deserialize_compact(headers["passerelle-signature"], keys, algorithms=["RS256"])
        assert verified.headers()["typ"] == "passerelle-event+jwt"
        claims = json.loads(verified.payload)
        assert claims["sha256"] == base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()
        assert claims["aud"] == walk.client["client_id"] and claims["iss"] == server.issuer
        assert abs(claims["iat"] - time.time()) < 120
        # Not for another body.
        other = base64.urlsafe_b64encode(hashlib.sha256(body + b" ").digest()).rstrip(b"=").decode()
        assert claims["sha256"] != other
    # The same events, by polling.
    polled = sign_api(server, walk.token, "GET", "/events").json()
    ids = {json.loads(body)["id"] for _, body in received}
    assert ids <= {e["id"] for e in polled["data"]}


def test_the_wrong_signer_signs_nothing_and_refusals_are_problems(server, walk):
    token = walk.token
    contract = pypdf_document("Contract", ["Contract"])
    doc = upload(server, token, contract, "application/pdf", "contract.pdf")["documentId"]
    r = sign_api(server, token, "POST", "/signing-sessions", json=[session_request("PKISIGNING", [doc], "order-x")])
    (session,) = r.json()
    # Marie's certificate is not Jan's: nothing is signed, the session stays open.
    _, ended = sign_in_browser(session["signatureUrl"], MARIE_PHONE)
    assert "for another person" in ended, ended
    again = sign_api(server, token, "GET", f"/signing-sessions/{session['id']}").json()
    assert again["lifecycle"]["state"] == "READY" and again["output"]["signatures"] == []
    # A document an open session uses cannot be deleted; the session can, then the document.
    assert sign_api(server, token, "DELETE", f"/documents/{doc}").status_code == 409
    assert sign_api(server, token, "DELETE", f"/signing-sessions/{session['id']}").status_code == 204
    assert sign_api(server, token, "DELETE", f"/documents/{doc}").status_code == 204
    # Refusals: RFC 9457 problems.
    refusals = [
        (sign_api(server, "made-up", "GET", "/events"), 401),
        (sign_api(server, token, "POST", "/documents", data=b"%PDF-1.7 not really", headers={"Content-Type": "application/pdf"}), 400),
        (sign_api(server, token, "POST", "/documents", files={"file": ("a.pdf", contract)}), 415),
        (sign_api(server, token, "POST", "/signing-sessions", json={"not": "an array"}), 400),
        (sign_api(server, token, "GET", f"/documents/{doc}"), 404),
    ]
    for response, status in refusals:
        assert response.status_code == status, response.text
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == status
    # Another client sees none of this client's documents or sessions.
    other = api_token(server, server.add_client(unique("Other shop")))
    result_id = walk.qualified.done["output"]["signatures"][0]["resultDocumentId"]
    assert sign_api(server, other, "GET", f"/signing-sessions/{walk.qualified.session['id']}").status_code == 404
    assert sign_api(server, other, "GET", f"/documents/{result_id}/metadata").status_code == 404


def test_no_personal_data_or_credentials_in_the_logs(server, walk):
    """The shared server logs at debug level: the signer's name and national number, the API
    token and the events' signatures are in none of its lines."""
    logs = server.logs()
    assert "signing sessions created" in logs and "documents signed (qualified)" in logs
    with walk.webhook.lock:
        signatures = [headers["passerelle-signature"] for headers, _ in walk.webhook.received]
    for secret in [JAN_NIN, "Peeters", walk.token, walk.client["client_secret"], *signatures]:
        assert secret not in logs, f"{secret[:12]}… is in the logs"

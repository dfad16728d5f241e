//! The time-stamp protocol (RFC 3161): a client's request and reading of the reply, and the
//! authority side for the sandbox's TSA. Over HTTP: `POST` with `Content-Type:
//! application/timestamp-query`, answered with `application/timestamp-reply`.

use time::OffsetDateTime;

use crate::Result;

pub const QUERY_CONTENT_TYPE: &str = "application/timestamp-query";
pub const REPLY_CONTENT_TYPE: &str = "application/timestamp-reply";

/// A `TimeStampReq` (DER) for a SHA-256 imprint, asking for the TSA's certificate
/// (`certReq TRUE`) and carrying `nonce`.
pub fn request(imprint: &[u8; 32], nonce: u64) -> Vec<u8> {
    todo!()
}

/// The `TimeStampToken` (DER `ContentInfo`) of a `TimeStampResp`, after checking that it was
/// granted, that its imprint is `imprint` and its nonce `nonce`, and that its CMS signature
/// verifies with the certificate it carries.
pub fn token_from_response(reply: &[u8], imprint: &[u8; 32], nonce: u64) -> Result<Vec<u8>> {
    todo!()
}

/// The time a token states (`TSTInfo.genTime`).
pub fn token_time(token: &[u8]) -> Result<OffsetDateTime> {
    todo!()
}

/// A time-stamping authority: its key and its certificate chain (its own first).
pub struct Authority {
    // private fields chosen by the implementation
}

/// The sandbox TSA's policy OID (an arc under a TEST ONLY private number).
pub const SANDBOX_POLICY: &str = "1.3.6.1.4.1.99999.1.1";

impl Authority {
    pub fn new(key_pkcs8: &[u8], chain: Vec<Vec<u8>>) -> Result<Self> {
        todo!()
    }

    /// Answer a request: a granted `TimeStampResp` with a token signed now, serial `serial`,
    /// or a `rejection` status (`badDataFormat`, `badAlg`) for a malformed request or an
    /// imprint that is not SHA-256. Never panics on hostile bytes.
    pub fn respond(&self, request: &[u8], serial: u128, now: OffsetDateTime) -> Vec<u8> {
        todo!()
    }
}

//! The bodies of Passerelle's fuzz targets, one public function per target in
//! `fuzz_targets/`, so that `examples/fixtures.rs` and a plain debugger can call them too.
//!
//! Each function takes the fuzzer's bytes, feeds them to the code under test exactly as a request
//! handler would, and asserts the promises that code makes (errors are values, never panics;
//! what comes out of a validator obeys its limits). A panic, an overflow (the targets are built
//! with overflow checks), a timeout or a blown RSS limit is a finding. `scripts/fuzz` runs them.
//!
//! The keys are fixed test keys committed under `fixtures/` (made up, protecting nothing), loaded
//! once per process: the seed tokens in `corpus/` stay valid from one run to the next, and a
//! crashing input replays the same way on every machine.

use std::collections::HashSet;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwe::{JweHeader, RSA_OAEP, RSA_OAEP_256};
use passerelle_core::nin::{is_valid_eid_card_number, parse_national_number};
use passerelle_core::oidc::{AuthorizeError, ClientPolicy, Params, validate_authorization_request};
use passerelle_core::scopes::{Account, GrantedScopes, SCOPES, find_scope};
use passerelle_itsme::claims;
use passerelle_jose::{DecryptionKey, EncAlg, PublicKeys, SigAlg, SigningKey};
use serde_json::Value;

/// The private JWKs of the fixed test keys (made up for fuzzing; they protect nothing).
pub const RS256_JWK: &str = include_str!("../fixtures/rs256.jwk.json");
pub const ES256_JWK: &str = include_str!("../fixtures/es256.jwk.json");
pub const ENC_JWK: &str = include_str!("../fixtures/enc.jwk.json");
/// Valid tokens made with those keys by `examples/fixtures.rs`, one per line: an RS256 JWS, an
/// ES256 JWS, and nested JWTs encrypted with RSA-OAEP and RSA-OAEP-256.
pub const TOKENS: &str = include_str!("../fixtures/tokens.txt");

/// The keys every target shares, parsed once per process.
pub struct Fixture {
    pub rs256: SigningKey,
    pub es256: SigningKey,
    pub decryption: DecryptionKey,
    /// The public halves of all three, as a relying party or the connector would hold them.
    pub public: PublicKeys,
    pub tokens: Vec<String>,
}

/// The shared keys (see [`Fixture`]).
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rs256 = SigningKey::from_private_jwk(RS256_JWK).expect("fixtures/rs256.jwk.json");
        let es256 = SigningKey::from_private_jwk(ES256_JWK).expect("fixtures/es256.jwk.json");
        let decryption = DecryptionKey::from_private_jwk(ENC_JWK).expect("fixtures/enc.jwk.json");
        let public = PublicKeys::from_jwks(vec![
            rs256.public_jwk().clone(),
            es256.public_jwk().clone(),
            decryption.public_jwk().clone(),
        ]);
        let tokens = TOKENS.lines().map(str::to_string).collect();
        Fixture {
            rs256,
            es256,
            decryption,
            public,
            tokens,
        }
    })
}

const REDIRECT_URIS: [&str; 2] = ["https://rp.example/callback", "http://localhost:8080/cb"];
const GRANTS: [&str; 2] = ["nin", "idp-id"];

/// `params`: a query string or form body → `Params::from_pairs` (what the broker's
/// `parse_params` does) → `validate_authorization_request` for a sandbox and a production client.
pub fn params(data: &[u8]) {
    let pairs = url::form_urlencoded::parse(data).map(|(k, v)| (k.into_owned(), v.into_owned()));
    let Ok(params) = Params::from_pairs(pairs) else {
        return;
    };
    let mut names = HashSet::new();
    for (name, value) in params.pairs() {
        assert!(!value.is_empty(), "an empty value counts as absent");
        assert!(names.insert(name), "a name is kept at most once");
    }
    let redirect_uris: Vec<String> = REDIRECT_URIS.iter().map(|s| s.to_string()).collect();
    let grants: Vec<String> = GRANTS.iter().map(|s| s.to_string()).collect();
    for account in [Account::Sandbox, Account::Production] {
        let policy = ClientPolicy {
            redirect_uris: &redirect_uris,
            account,
            grants: &grants,
        };
        match validate_authorization_request(&params, &policy) {
            Ok(request) => {
                assert!(REDIRECT_URIS.contains(&request.redirect_uri.as_str()));
                assert_eq!(request.code_challenge.len(), 43);
                assert!(request.state.as_ref().is_none_or(|s| s.len() <= 2048));
                assert!(request.nonce.as_ref().is_none_or(|s| s.len() <= 1024));
                assert!(request.ui_locales.as_ref().is_none_or(|s| s.len() <= 256));
                assert!(request.login_hint.as_ref().is_none_or(|s| s.len() <= 64));
                assert!(request.scopes.contains("openid"));
                let stored = request.scopes.to_scope_string();
                for name in stored.split(' ') {
                    let def = find_scope(name).expect("a granted scope is in the catalogue");
                    if def.protected && account == Account::Production {
                        assert!(GRANTS.contains(&name), "{name} was not granted");
                    }
                }
                assert_eq!(GrantedScopes::from_stored(&stored), request.scopes);
            }
            Err(AuthorizeError::Page(e)) => assert!(!e.key().is_empty()),
            Err(AuthorizeError::Redirect(e)) => {
                assert!(REDIRECT_URIS.contains(&e.redirect_uri.as_str()));
                assert!(e.state.as_ref().is_none_or(|s| s.len() <= 2048));
                assert!(!e.error.description.is_empty());
            }
        }
    }
}

/// What the connector does with a JWE from the scheme and the sandbox with a request object:
/// decrypt, then verify the nested JWS. Decryption must never produce more bytes than the token
/// carried: anything else means the token made Passerelle allocate on its behalf (a `zip` bomb).
fn decrypt_and_verify(f: &Fixture, token: &str) {
    if let Ok(plain) = passerelle_jose::decrypt(token, &[&f.decryption]) {
        assert!(
            plain.len() <= token.len(),
            "{} bytes of plaintext out of a {}-byte token",
            plain.len(),
            token.len()
        );
        if let Ok(inner) = std::str::from_utf8(&plain) {
            verify(f, inner);
        }
    }
}

fn verify(f: &Fixture, token: &str) {
    for accepted in [&[SigAlg::Rs256, SigAlg::Es256][..], &[SigAlg::Es256]] {
        if f.public.verify(token, accepted).is_ok() {
            let header =
                passerelle_jose::peek_header(token).expect("a verified token has a header");
            let alg = header
                .get("alg")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let alg = SigAlg::parse(alg).expect("a verified token names its algorithm");
            assert!(accepted.contains(&alg), "{alg:?} was not accepted");
        }
    }
}

/// `jose`: a string → `peek_header`, `peek_payload`, `PublicKeys::verify`, `decrypt` (then the
/// nested JWS), and `PublicKeys::from_jwks_json` (then verifying and encrypting with that set,
/// as the broker does with a client's `jwks` and the connector with the scheme's).
pub fn jose(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let f = fixture();
    let _ = passerelle_jose::peek_header(text);
    let _ = passerelle_jose::peek_payload(text);
    verify(f, text);
    decrypt_and_verify(f, text);
    if let Ok(keys) = PublicKeys::from_jwks_json(text) {
        let _ = keys.is_empty();
        let _ = keys.has_kid("rs");
        for token in &f.tokens[..2] {
            let _ = keys.verify(token, &[SigAlg::Rs256, SigAlg::Es256]);
        }
        if keys.can_encrypt() {
            for alg in [EncAlg::RsaOaep, EncAlg::RsaOaep256] {
                let _ = keys.encrypt(b"{}", alg);
            }
        }
    }
}

/// `jose_tokens`: structure-aware. The first byte picks one of the valid fixture tokens, the
/// second one of its segments and how to change it, the rest is the change; the result goes
/// through verification and decryption. This gets the fuzzer past base64 and JSON into the
/// signature, key-unwrapping and content-decryption code, which random strings never reach.
///
/// Modes (bits 3 to 5 of the second byte): 0 replaces the decoded segment; 1 XORs the rest into
/// it; 2 merges the rest, read as a JSON object, into the decoded segment's JSON object (the
/// header: `alg`, `enc`, `kid`, `crit`, `b64`…); 3 replaces the segment's text as it is (no
/// base64). Modes 4 to 7 encrypt a new JWE to the fixture's public key, as anyone can: the rest
/// is a JSON object merged into the header (`enc`, `zip`…), a newline, and the plaintext.
pub fn jose_tokens(data: &[u8]) {
    let [pick, how, rest @ ..] = data else {
        return;
    };
    let f = fixture();
    if how >> 5 & 1 == 1 {
        if let Some(token) = encrypt_to_fixture(f, how & 1 == 1, rest) {
            decrypt_and_verify(f, &token);
        }
        return;
    }
    let base = &f.tokens[usize::from(*pick) % f.tokens.len()];
    let mut segments: Vec<String> = base.split('.').map(str::to_string).collect();
    let index = usize::from(how & 7) % segments.len();
    let decoded = URL_SAFE_NO_PAD.decode(&segments[index]).unwrap_or_default();
    segments[index] = match how >> 3 & 3 {
        0 => URL_SAFE_NO_PAD.encode(rest),
        1 => {
            let mut bytes = decoded;
            if bytes.is_empty() {
                bytes = rest.to_vec();
            } else {
                let len = bytes.len();
                for (i, b) in rest.iter().enumerate() {
                    bytes[i % len] ^= b;
                }
            }
            URL_SAFE_NO_PAD.encode(bytes)
        }
        2 => {
            let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(&decoded) else {
                return;
            };
            let Ok(Value::Object(extra)) = serde_json::from_slice::<Value>(rest) else {
                return;
            };
            object.extend(extra);
            URL_SAFE_NO_PAD.encode(Value::Object(object).to_string())
        }
        _ => String::from_utf8_lossy(rest).into_owned(),
    };
    let token = segments.join(".");
    verify(f, &token);
    decrypt_and_verify(f, &token);
}

/// A JWE to the fixture's decryption key with the header the fuzzer chose, encrypted by josekit
/// (which writes `zip`, `enc` and the other members that `PublicKeys::encrypt` never sets).
fn encrypt_to_fixture(f: &Fixture, oaep256: bool, rest: &[u8]) -> Option<String> {
    let (extra, plaintext) = match rest.iter().position(|b| *b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let Value::Object(extra) = serde_json::from_slice::<Value>(extra).ok()? else {
        return None;
    };
    let mut header = JweHeader::new();
    header.set_content_encryption("A128CBC-HS256");
    header.set_content_type("JWT");
    header.set_key_id(f.decryption.kid());
    for (name, value) in extra {
        header.set_claim(&name, Some(value)).ok()?;
    }
    let mut public = f.decryption.public_jwk().clone();
    public.set_parameter("alg", None).ok()?;
    let token = if oaep256 {
        let encrypter = RSA_OAEP_256.encrypter_from_jwk(&public).ok()?;
        josekit::jwe::serialize_compact(plaintext, &header, &encrypter)
    } else {
        let encrypter = RSA_OAEP.encrypter_from_jwk(&public).ok()?;
        josekit::jwe::serialize_compact(plaintext, &header, &encrypter)
    };
    token.ok()
}

/// `personas`: a personas file → `Personas::parse`; what loads must hold up to its own checks.
pub fn personas(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(personas) = passerelle_sandbox::Personas::parse(text, "2026-11-27") else {
        return;
    };
    assert!(!personas.all().is_empty());
    // Every claim the connector can ask for: what a sandbox client asking every scope gets.
    let all_scopes: Vec<&str> = SCOPES.iter().map(|s| s.name).collect();
    let scopes = GrantedScopes::parse(&all_scopes.join(" "), Account::Sandbox, &[])
        .expect("every scope, for a sandbox client");
    let every_claim: Vec<String> = claims::itsme_claims_for(&scopes)
        .into_iter()
        .map(str::to_string)
        .collect();
    for p in personas.all() {
        assert_eq!(
            passerelle_sandbox::personas::normalize_phone(&p.phone_number).as_deref(),
            Some(p.phone_number.as_str())
        );
        assert!(personas.find(&p.phone_number).is_some());
        let _ = p.behaviour();
        let _ = p.country();
        let itsme = p.claims_for(&every_claim);
        let _ = claims::map_to_rp_claims(&itsme);
    }
}

/// `phone`: what a person typed on the phone page → `normalize_phone`. A normalized number is
/// `+` and 8 to 15 digits, and normalizing it again changes nothing.
pub fn phone(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(number) = passerelle_sandbox::personas::normalize_phone(text) {
        let digits = number
            .strip_prefix('+')
            .expect("a normalized number starts with +");
        assert!((8..=15).contains(&digits.len()));
        assert!(digits.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(
            passerelle_sandbox::personas::normalize_phone(&number).as_deref(),
            Some(number.as_str())
        );
    }
}

/// `nin`: the first four bytes are the current year, the rest a national number or an eID card
/// number → `parse_national_number` and `is_valid_eid_card_number`.
pub fn nin(data: &[u8]) {
    let [a, b, c, d, rest @ ..] = data else {
        return;
    };
    let year = i32::from_le_bytes([*a, *b, *c, *d]);
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    for current_year in [year, 2026] {
        if let Some(n) = parse_national_number(text, current_year) {
            assert_eq!(text.len(), 11);
            assert!((1900..=2099).contains(&n.birth_year));
            assert!(n.birth_year < 2000 || n.birth_year <= current_year);
            let month: u32 = text[2..4].parse().expect("digits");
            assert_eq!(n.is_bis, month > 12);
        }
    }
    if is_valid_eid_card_number(text) {
        assert_eq!(text.bytes().filter(u8::is_ascii_digit).count(), 12);
    }
}

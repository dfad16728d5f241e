//! Writes the fuzzers' fixed test keys (`fixtures/*.jwk.json`, only when missing), the valid
//! tokens made with them (`fixtures/tokens.txt`) and the seed corpora (`corpus/<target>/`).
//!
//! Run from the repository root, once, or after changing what the seeds should be:
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --example fixtures
//! ```
//!
//! The keys are made up for fuzzing and protect nothing. RS256 signatures are deterministic, but
//! ES256 signatures and JWEs are not, so rerunning rewrites those seeds with new bytes.

use std::fs;
use std::path::{Path, PathBuf};

use passerelle_jose::{Claims, DecryptionKey, EncAlg, PublicKeys, SigAlg, SigningKey, jwks_json};
use serde_json::json;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fixtures = root.join("fixtures");
    let rs256 = key(&fixtures.join("rs256.jwk.json"), || {
        SigningKey::generate(SigAlg::Rs256).map(|(_, private)| private)
    });
    let es256 = key(&fixtures.join("es256.jwk.json"), || {
        SigningKey::generate(SigAlg::Es256).map(|(_, private)| private)
    });
    let enc = key(&fixtures.join("enc.jwk.json"), || {
        DecryptionKey::generate().map(|(_, private)| private)
    });
    let rs256 = SigningKey::from_private_jwk(&rs256).expect("rs256");
    let es256 = SigningKey::from_private_jwk(&es256).expect("es256");
    let enc = DecryptionKey::from_private_jwk(&enc).expect("enc");

    let claims: Claims = json!({
        "iss": "https://idp.example",
        "sub": "a-subject",
        "aud": "passerelle",
        "iat": 1_790_000_000,
        "exp": 1_790_000_600,
        "jti": "a-jti",
        "nonce": "a-nonce",
    })
    .as_object()
    .cloned()
    .expect("object");
    let jws_rs = rs256.sign(&claims, Some("JWT")).expect("sign");
    let jws_es = es256.sign(&claims, None).expect("sign");
    let recipient = PublicKeys::from_jwks(vec![enc.public_jwk().clone()]);
    let jwe_oaep = recipient
        .encrypt(jws_rs.as_bytes(), EncAlg::RsaOaep)
        .expect("encrypt");
    let jwe_oaep256 = recipient
        .encrypt(jws_es.as_bytes(), EncAlg::RsaOaep256)
        .expect("encrypt");
    let tokens = [&jws_rs, &jws_es, &jwe_oaep, &jwe_oaep256];
    write(
        &fixtures.join("tokens.txt"),
        tokens
            .iter()
            .map(|t| format!("{t}\n"))
            .collect::<String>()
            .as_bytes(),
    );

    let corpus = root.join("corpus");
    let jwks = jwks_json([rs256.public_jwk(), es256.public_jwk(), enc.public_jwk()]);
    let jose = corpus.join("jose");
    write(&jose.join("jws-rs256"), jws_rs.as_bytes());
    write(&jose.join("jws-es256"), jws_es.as_bytes());
    write(&jose.join("jwe-rsa-oaep"), jwe_oaep.as_bytes());
    write(&jose.join("jwe-rsa-oaep-256"), jwe_oaep256.as_bytes());
    write(&jose.join("jwks"), jwks.to_string().as_bytes());
    write(
        &jose.join("jwks-odd-keys"),
        json!({"keys": [
            {"kty": "oct", "k": "c2VjcmV0"},
            {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"},
            {"kty": "RSA", "n": "AQAB", "e": "AQAB", "alg": "PS256"},
            {"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}
        ]})
        .to_string()
        .as_bytes(),
    );
    write(
        &jose.join("alg-none"),
        b"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    );

    // jose_tokens: [which token, segment | mode << 3, change...] (see passerelle_fuzz::jose_tokens).
    let tokens_dir = corpus.join("jose_tokens");
    for (t, token) in tokens.iter().enumerate() {
        let segments = token.split('.').count() as u8;
        for s in 0..segments {
            let name = format!("t{t}-s{s}");
            write(
                &tokens_dir.join(format!("{name}-replace")),
                &[t as u8, s, b'{', b'}'],
            );
            write(
                &tokens_dir.join(format!("{name}-xor")),
                &[t as u8, s | 1 << 3, 1],
            );
            write(
                &tokens_dir.join(format!("{name}-raw")),
                &[t as u8, s | 3 << 3, b'A'],
            );
        }
        for (name, extra) in [
            ("zip", json!({"zip": "DEF"})),
            ("rsa1_5", json!({"alg": "RSA1_5"})),
            ("no-kid", json!({"kid": null})),
            ("gcm", json!({"enc": "A256GCM"})),
            ("hs256", json!({"alg": "HS256"})),
            ("b64", json!({"b64": false, "crit": ["b64"]})),
        ] {
            let mut seed = vec![t as u8, 2 << 3];
            seed.extend(extra.to_string().into_bytes());
            write(&tokens_dir.join(format!("t{t}-header-{name}")), &seed);
        }
    }

    // Modes 4 to 7: a new JWE to the fixture key, with these header members and plaintext.
    for (name, extra) in [
        ("plain", json!({})),
        ("zip", json!({"zip": "DEF"})),
        ("gcm", json!({"enc": "A256GCM"})),
        ("cbc512", json!({"enc": "A256CBC-HS512"})),
    ] {
        for (variant, how) in [("oaep", 4 << 3), ("oaep256", 4 << 3 | 1)] {
            let mut seed = vec![0, how];
            seed.extend(extra.to_string().into_bytes());
            seed.push(b'\n');
            seed.extend(jws_rs.as_bytes());
            write(&tokens_dir.join(format!("encrypt-{name}-{variant}")), &seed);
        }
    }

    let params = corpus.join("params");
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let valid = format!(
        "client_id=abc&redirect_uri=https%3A%2F%2Frp.example%2Fcallback&response_type=code\
         &scope=openid+profile+nin&state=xyz&nonce=n-0S6&code_challenge={challenge}\
         &code_challenge_method=S256&ui_locales=nl-BE&login_hint=%2B32470000001"
    );
    write(&params.join("valid"), valid.as_bytes());
    write(
        &params.join("form-post-acr"),
        format!(
            "redirect_uri=http://localhost:8080/cb&response_type=code&scope=openid%20itsme-eid\
             &response_mode=form_post&acr_values=idp:itsme+loa:high&prompt=login&max_age=0\
             &code_challenge={challenge}&code_challenge_method=S256"
        )
        .as_bytes(),
    );
    write(
        &params.join("prompt-none"),
        b"redirect_uri=https://rp.example/callback&response_type=code&scope=openid&prompt=none",
    );
    write(&params.join("repeated"), b"scope=openid&scope=profile");
    write(
        &params.join("request"),
        b"redirect_uri=https://rp.example/callback&request=eyJ&request_uri=urn:x",
    );

    let personas = corpus.join("personas");
    write(
        &personas.join("builtin"),
        passerelle_sandbox::personas::BUILTIN.as_bytes(),
    );
    write(&personas.join("one"), ONE_PERSONA.as_bytes());

    let phone = corpus.join("phone");
    for (name, number) in [
        ("e164", "+32470000001"),
        ("spaces", "+32 470 00 00 01"),
        ("00", "0032470000001"),
        ("local", "0470/00.00.01"),
        ("nbsp", "+33\u{a0}6 12 34 56 78"),
        ("parens", "(0)470-00-00-01"),
    ] {
        write(&phone.join(name), number.as_bytes());
    }

    let nin = corpus.join("nin");
    for (name, number) in [
        ("1985", "85073003328"),
        ("2017", "17073003384"),
        ("bis", "42501093792"),
        ("unknown-date", "00000100195"),
        ("card", "591-1917064-58"),
        ("card-97", "591-2010999-97"),
    ] {
        let mut seed = 2026_i32.to_le_bytes().to_vec();
        seed.extend(number.as_bytes());
        write(&nin.join(name), &seed);
    }
}

const ONE_PERSONA: &str = r#"[[persona]]
phone_number = "+32470000001"
behaviour = "approve"
code = "12345"
family_name = "Peeters"
birthdate = "1985-07-30"
national_number = "85073003328"
address = { street_address = "Rue 1", postal_code = "1000", locality = "Bruxelles" }
[persona.document]
number = "591191706458"
type = "ID"
issuing_country = "BEL"
valid_to = "2031-01-01"
"#;

fn key(
    path: &Path,
    generate: impl FnOnce() -> Result<String, passerelle_jose::JoseError>,
) -> String {
    match fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => text,
        _ => {
            let private = generate().expect("generate a key");
            write(path, private.as_bytes());
            private
        }
    }
}

fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    fs::write(path, bytes).expect("write");
}

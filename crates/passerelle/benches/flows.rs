//! End-to-end load benchmark: N complete logins (authorize → sandbox phone page → phone number →
//! waiting page → callback → token → userinfo) with an approving persona, C at a time, against a
//! real `passerelle serve` child process on 127.0.0.1. Prints flows per second, latency
//! percentiles per flow, the server's CPU time per flow (from /proc) and its peak memory.
//!
//!     [BENCH_BIN=path/to/passerelle] cargo bench -p passerelle --bench flows -- [--flows N] [--concurrency C]
//!         [--scope "openid profile"] [--database-url postgres://…]
//!
//! Soak mode (`scripts/soak`): with `--minutes M`, logins run C at a time for M minutes instead
//! of N flows, and every `--report-every S` seconds (default 60) and at the end a line gives the
//! flows done, the errors, the server's RSS (and its anonymous part) and open file descriptors
//! (from /proc); the verdict compares the first and last thirds of the RSS and descriptor samples
//! (one every 5 s), and accepts memory that grew early but no longer grows in the last third.
//! The server's warnings go to `$TMPDIR/passerelle-soak-<pid>.log`. Exits with 1 when a flow
//! failed or memory or descriptors kept growing.
//!
//! Signing mode (`--signing advanced|qualified [--documents K]`): each flow is a signing session
//! of K PDFs, from upload to download, signed by the persona; prints signatures per second,
//! latency per session and the server's CPU per signature.
//!
//! The load generator runs in this process; only the server's own CPU is counted per flow.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::Digest as _;

/// Every `[rate_limits]` key (README, "Configuration"), set so high for the server under load
/// that nothing is refused, while every request still pays for its check.
const RATE_LIMITS: &[&str] = &[
    "AUTHORIZE_PER_IP",
    "TOKEN_PER_IP",
    "TOKEN_PER_CLIENT",
    "USERINFO_PER_IP",
    "SANDBOX_AUTHORIZATION_PER_IP",
    "SANDBOX_TOKEN_PER_IP",
    "SANDBOX_TOKEN_PER_CLIENT",
    "PHONE_PER_IP",
    "APP_CODE_PER_IP",
];

struct Args {
    flows: usize,
    concurrency: usize,
    scope: String,
    phone: String,
    database_url: Option<String>,
    /// Soak mode: run for this long instead of `flows` flows.
    minutes: Option<f64>,
    report_every: u64,
    /// Where the server's stderr goes (soak mode).
    server_log: Option<std::path::PathBuf>,
    /// Signing mode: each flow is a signing session signed by the persona, `advanced`
    /// (AUTHENTICATION_BASED: an identification, then the seal) or `qualified` (PKISIGNING:
    /// itsme's two approvals through the sandbox's CSC service), of `documents` PDFs.
    signing: Option<String>,
    documents: usize,
}

fn args() -> Args {
    let mut a = Args {
        flows: 2000,
        concurrency: 16,
        scope: "openid profile address phone nin itsme-eid".into(),
        phone: "+32470000001".into(),
        database_url: None,
        minutes: None,
        report_every: 60,
        server_log: None,
        signing: None,
        documents: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--flows" => a.flows = it.next().and_then(|v| v.parse().ok()).unwrap_or(a.flows),
            "--concurrency" => {
                a.concurrency = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(a.concurrency)
            }
            "--scope" => a.scope = it.next().unwrap_or(a.scope),
            "--phone" => a.phone = it.next().unwrap_or(a.phone),
            "--database-url" => a.database_url = it.next(),
            "--signing" => a.signing = it.next(),
            "--documents" => {
                a.documents = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(a.documents)
            }
            "--minutes" => a.minutes = it.next().and_then(|v| v.parse().ok()),
            "--report-every" => {
                a.report_every = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&s| s > 0)
                    .unwrap_or(a.report_every)
            }
            _ => {} // `cargo bench` passes --bench
        }
    }
    if a.minutes.is_some() {
        a.server_log =
            Some(std::env::temp_dir().join(format!("passerelle-soak-{}.log", std::process::id())));
    }
    a
}

fn random(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rand_byte()).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn rand_byte() -> u8 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish() as u8
}

/// Server CPU time (user + system) in seconds, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
    ticks / 100.0
}

fn status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// How many file descriptors the server has open.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

struct Server {
    child: Child,
    base: String,
    dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(a: &Args) -> (Server, String, String) {
    // BENCH_BIN=/path/to/passerelle benchmarks another build (e.g. an earlier commit's, to
    // compare before and after in one run); default: this one.
    let bin_path =
        std::env::var("BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_passerelle").into());
    let bin = bin_path.as_str();
    let dir = std::env::temp_dir().join(format!("passerelle-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut common = vec!["--data-dir".to_string(), dir.display().to_string()];
    if let Some(u) = &a.database_url {
        common.extend(["--database-url".to_string(), u.clone()]);
    }
    // BENCH_WRAP="perf record -g -o /tmp/perf.data --" profiles the server.
    let wrap: Vec<String> = std::env::var("BENCH_WRAP")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let mut cmd = match wrap.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    // The server's warnings go to a file in soak mode, to explain a failed flow.
    let stderr = match &a.server_log {
        Some(path) => Stdio::from(std::fs::File::create(path).expect("server log file")),
        None => Stdio::null(),
    };
    let mut child = cmd
        .args(&common)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("PASSERELLE_LOG", "warn")
        // One address making every login is this benchmark's load, not an attack.
        .envs(
            RATE_LIMITS
                .iter()
                .map(|k| (format!("PASSERELLE_RATE_LIMITS_{k}"), "1000000000")),
        )
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start passerelle");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read");
    let addr = line.trim().rsplit(' ').next().expect("address").to_string();
    let base = format!("http://{addr}");
    let out = Command::new(bin)
        .args(&common)
        .args([
            "client",
            "add",
            "--name",
            "Bench RP",
            "--redirect-uri",
            "https://rp.bench/cb",
            "--account",
            "sandbox",
            "--json",
        ])
        .output()
        .expect("client add");
    let client: serde_json::Value = serde_json::from_slice(&out.stdout).expect("client json");
    let id = client["client_id"].as_str().expect("id").to_string();
    let secret = client["client_secret"]
        .as_str()
        .expect("secret")
        .to_string();
    (Server { child, base, dir }, id, secret)
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn attr_after(html: &str, marker: &str, attr: &str) -> String {
    let at = html.find(marker).unwrap_or(0);
    let key = format!("{attr}=\"");
    let i = at + html[at..].find(&key).unwrap_or(0) + key.len();
    let j = html[i..].find('"').unwrap_or(0);
    html[i..i + j].to_string()
}

/// One complete login; returns an error text on any unexpected answer.
async fn flow(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    secret: &str,
    a: &Args,
) -> Result<(), String> {
    let verifier = random(32);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    fn e(s: &'static str) -> impl Fn(reqwest::Error) -> String {
        move |err| format!("{s}: {err}")
    }
    let r = http
        .get(format!("{base}/auth/open/connect/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", id),
            ("redirect_uri", "https://rp.bench/cb"),
            ("scope", a.scope.as_str()),
            ("state", "s"),
            ("nonce", "n"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .map_err(e("authorize"))?;
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .unwrap_or_default()
        .to_string();
    let scheme = location(&r);
    let page = http
        .get(&scheme)
        .send()
        .await
        .map_err(e("phone page"))?
        .text()
        .await
        .map_err(e("phone page"))?;
    let action = attr_after(&page, "<form method=\"post\"", "action");
    let r = http
        .post(format!("{base}{action}"))
        .form(&[("phone", a.phone.as_str())])
        .send()
        .await
        .map_err(e("phone"))?;
    let r = http
        .get(format!("{base}{}", location(&r)))
        .send()
        .await
        .map_err(e("wait"))?;
    let r = http
        .get(location(&r))
        .header("cookie", &cookie)
        .send()
        .await
        .map_err(e("callback"))?;
    let rp = location(&r);
    let code = url_param(&rp, "code").ok_or_else(|| format!("no code in {rp}"))?;
    let r = http
        .post(format!("{base}/auth/open/connect/token"))
        .basic_auth(id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "https://rp.bench/cb"),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .map_err(e("token"))?;
    let tokens: serde_json::Value = r.json().await.map_err(e("token"))?;
    let at = tokens["access_token"].as_str().ok_or("no access token")?;
    let r = http
        .get(format!("{base}/auth/open/connect/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .map_err(e("userinfo"))?;
    if !r.status().is_success() {
        return Err(format!("userinfo {}", r.status()));
    }
    Ok(())
}

/// A one-page PDF with a classic cross-reference table.
fn sample_pdf(text: &str) -> Vec<u8> {
    let content = format!("BT /F1 18 Tf 72 720 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = b"%PDF-1.7\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// The cookies of one person's browser (names are unique enough here to ignore paths).
#[derive(Default)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn take(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all("set-cookie") {
            let Some((name, value)) = v
                .to_str()
                .ok()
                .and_then(|c| c.split(';').next())
                .and_then(|c| c.split_once('='))
            else {
                continue;
            };
            self.0.retain(|(n, _)| n != name);
            self.0.push((name.to_string(), value.to_string()));
        }
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// One signing session, from upload to the signed document: the API client uploads
/// `documents` PDFs and creates the session, the person opens the signing page, signs, goes
/// through the sandbox (phone number, the persona approves), and the API client reads the
/// session and downloads the signed documents.
async fn sign_flow(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    a: &Args,
) -> Result<(), String> {
    fn e(s: &'static str) -> impl Fn(reqwest::Error) -> String {
        move |err| format!("{s}: {err}")
    }
    let flow = match a.signing.as_deref() {
        Some("qualified") => "PKISIGNING",
        _ => "AUTHENTICATION_BASED",
    };
    let mut docs = Vec::new();
    for i in 0..a.documents {
        let r = http
            .post(format!("{base}/sign/documents"))
            .bearer_auth(token)
            .header("content-type", "application/pdf")
            .body(sample_pdf(&format!("Contract {i} {}", random(6))))
            .send()
            .await
            .map_err(e("upload"))?;
        let v: serde_json::Value = r.json().await.map_err(e("upload"))?;
        docs.push(serde_json::json!({"action": "SIGN", "documentId": v["documentId"]}));
    }
    let r = http
        .post(format!("{base}/sign/signing-sessions"))
        .bearer_auth(token)
        .json(&serde_json::json!([{
            "title": "Benchmark",
            "documents": docs,
            "signingSetup": [{"signingFlow": flow, "identityProviders": [{"idpName": "itsme"}]}],
            "redirectSettings": {"success": "https://rp.bench/cb", "cancel": "https://rp.bench/cb", "error": "https://rp.bench/cb"},
        }]))
        .send()
        .await
        .map_err(e("session"))?;
    let v: serde_json::Value = r.json().await.map_err(e("session"))?;
    let id = v[0]["id"]
        .as_str()
        .ok_or_else(|| format!("no session: {v}"))?
        .to_string();
    let url = v[0]["signatureUrl"]
        .as_str()
        .ok_or("no signatureUrl")?
        .to_string();
    let mut jar = Jar::default();
    let r = http.get(&url).send().await.map_err(e("signer page"))?;
    jar.take(&r);
    let page = r.text().await.map_err(e("signer page"))?;
    let form_token = attr_after(&page, "name=\"token\"", "value");
    let r = http
        .post(&url)
        .header("cookie", jar.header())
        .form(&[
            ("token", form_token.as_str()),
            ("decision", "sign"),
            ("agree", "yes"),
        ])
        .send()
        .await
        .map_err(e("decide"))?;
    jar.take(&r);
    let mut next = location(&r);
    for _ in 0..20 {
        if next.starts_with("https://rp.bench/") {
            break;
        }
        let target = if next.starts_with("http") {
            next.clone()
        } else {
            format!("{base}{next}")
        };
        let r = http
            .get(&target)
            .header("cookie", jar.header())
            .send()
            .await
            .map_err(e("hop"))?;
        jar.take(&r);
        if r.status().is_redirection() {
            next = location(&r);
            continue;
        }
        let page = r.text().await.map_err(e("hop"))?;
        if !page.contains("name=\"phone\"") {
            return Err(format!("unexpected page at {target}"));
        }
        let action = attr_after(&page, "<form method=\"post\"", "action");
        let r = http
            .post(format!("{base}{action}"))
            .header("cookie", jar.header())
            .form(&[("phone", a.phone.as_str())])
            .send()
            .await
            .map_err(e("phone"))?;
        jar.take(&r);
        next = location(&r);
    }
    let r = http
        .get(format!("{base}/sign/signing-sessions/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(e("read"))?;
    let v: serde_json::Value = r.json().await.map_err(e("read"))?;
    if v["lifecycle"]["state"] != "SIGNED" {
        return Err(format!("session not signed: {}", v["lifecycle"]));
    }
    for s in v["output"]["signatures"].as_array().into_iter().flatten() {
        let r = http
            .get(format!(
                "{base}/sign/documents/{}",
                s["resultDocumentId"].as_str().unwrap_or("")
            ))
            .bearer_auth(token)
            .send()
            .await
            .map_err(e("download"))?;
        if !r.status().is_success() {
            return Err(format!("download {}", r.status()));
        }
        let _ = r.bytes().await.map_err(e("download"))?;
    }
    Ok(())
}

/// A client-credentials token for the signing API.
async fn api_token(http: &reqwest::Client, base: &str, id: &str, secret: &str) -> String {
    let r = http
        .post(format!("{base}/auth/open/connect/token"))
        .basic_auth(id, Some(secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "signicat-api"),
        ])
        .send()
        .await
        .expect("token");
    let v: serde_json::Value = r.json().await.expect("token json");
    v["access_token"]
        .as_str()
        .expect("access token")
        .to_string()
}

fn url_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    q.split('&')
        .find_map(|p| p.strip_prefix(&format!("{name}=")))
        .map(|v| v.to_string())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    let a = Arc::new(args());
    let (server, id, secret) = start(&a);
    let pid = server.child.id();
    eprintln!("server pid {pid}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(256)
        .build()
        .expect("client");
    let base = server.base.clone();
    let api = match a.signing {
        Some(_) => rt.block_on(api_token(&http, &base, &id, &secret)),
        None => String::new(),
    };
    let run = |n: usize| {
        let api = api.clone();
        let (http, base, id, secret, a) = (
            http.clone(),
            base.clone(),
            id.clone(),
            secret.clone(),
            a.clone(),
        );
        rt.block_on(async move {
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let mut tasks = Vec::new();
            for _ in 0..a.concurrency {
                let (http, base, id, secret, a, next, api) = (
                    http.clone(),
                    base.clone(),
                    id.clone(),
                    secret.clone(),
                    a.clone(),
                    next.clone(),
                    api.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    let mut lat = Vec::new();
                    let mut errors = 0usize;
                    while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                        let t = Instant::now();
                        let done = if a.signing.is_some() {
                            sign_flow(&http, &base, &api, &a).await
                        } else {
                            flow(&http, &base, &id, &secret, &a).await
                        };
                        match done {
                            Ok(()) => lat.push(t.elapsed()),
                            Err(err) => {
                                if errors == 0 {
                                    eprintln!("flow failed: {err}");
                                }
                                errors += 1;
                            }
                        }
                    }
                    (lat, errors)
                }));
            }
            let mut all = Vec::new();
            let mut errors = 0;
            for t in tasks {
                let (l, e) = t.await.expect("task");
                all.extend(l);
                errors += e;
            }
            (all, errors)
        })
    };
    let warmup = (a.flows / 10).clamp(if a.signing.is_some() { 5 } else { 20 }, 200);
    let _ = run(warmup);
    if let Some(minutes) = a.minutes {
        let failed = soak(&rt, &http, &base, &id, &secret, &a, pid, minutes);
        drop(server);
        std::process::exit(if failed { 1 } else { 0 });
    }
    let cpu0 = cpu_seconds(pid);
    let t0 = Instant::now();
    let (mut lat, errors) = run(a.flows);
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu0;
    lat.sort();
    let ok = lat.len();
    if let Some(mode) = &a.signing {
        let signatures = ok * a.documents;
        println!("Passerelle end-to-end signing benchmark ({mode})");
        println!(
            "  sessions:        {ok} signed, {errors} failed ({warmup} warm-up sessions not counted), {} PDF(s) each, concurrency {}",
            a.documents, a.concurrency
        );
        println!(
            "  throughput:      {:.1} signatures/s, {:.1} sessions/s ({:.2} s wall)",
            signatures as f64 / wall,
            ok as f64 / wall,
            wall
        );
        println!(
            "  latency per session (upload to download): p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            percentile(&lat, 0.5),
            percentile(&lat, 0.9),
            percentile(&lat, 0.99),
            percentile(&lat, 1.0)
        );
        println!(
            "  server CPU:      {:.2} ms per signature, {:.2} ms per session ({:.2} s in total)",
            cpu * 1000.0 / signatures.max(1) as f64,
            cpu * 1000.0 / ok.max(1) as f64,
            cpu
        );
        println!(
            "  server memory:   peak RSS {} MiB, now {} MiB",
            status_kb(pid, "VmHWM:") / 1024,
            status_kb(pid, "VmRSS:") / 1024
        );
        drop(server);
        if errors > 0 {
            std::process::exit(1);
        }
        return;
    }
    println!("Passerelle end-to-end login benchmark");
    println!(
        "  database:        {}",
        if a.database_url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite (embedded default)"
        }
    );
    println!("  scope:           {}", a.scope);
    println!(
        "  flows:           {ok} ok, {errors} failed ({} warm-up flows not counted), concurrency {}",
        warmup, a.concurrency
    );
    println!(
        "  throughput:      {:.1} flows/s ({:.2} s wall)",
        ok as f64 / wall,
        wall
    );
    println!(
        "  latency per flow (7 HTTP requests): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0)
    );
    println!(
        "  server CPU:      {:.3} ms per flow ({:.2} s in total, {} cores on this machine)",
        cpu * 1000.0 / ok.max(1) as f64,
        cpu,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!(
        "  server memory:   peak RSS {} MiB, now {} MiB",
        status_kb(pid, "VmHWM:") / 1024,
        status_kb(pid, "VmRSS:") / 1024
    );
    drop(server);
    if errors > 0 {
        std::process::exit(1);
    }
}

/// One sample of the server's resources.
#[derive(Clone, Copy)]
struct Sample {
    /// Minutes since the soak started.
    minute: f64,
    rss_kib: u64,
    /// The part of RSS that is the process's own heap and stacks (not mapped files).
    anon_kib: u64,
    fds: usize,
}

fn mean(samples: &[Sample], f: impl Fn(&Sample) -> f64) -> f64 {
    samples.iter().map(f).sum::<f64>() / samples.len().max(1) as f64
}

/// The least-squares slope of `f` over time, per minute.
fn slope(samples: &[Sample], f: impl Fn(&Sample) -> f64) -> f64 {
    let (t, y) = (mean(samples, |s| s.minute), mean(samples, &f));
    let num: f64 = samples.iter().map(|s| (s.minute - t) * (f(s) - y)).sum();
    let den: f64 = samples.iter().map(|s| (s.minute - t).powi(2)).sum();
    if den > 0.0 { num / den } else { 0.0 }
}

/// Soak mode: logins at a steady concurrency for `minutes`, a report line every
/// `a.report_every` seconds, a verdict at the end. Returns whether it failed.
#[allow(clippy::too_many_arguments)]
fn soak(
    rt: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    base: &str,
    id: &str,
    secret: &str,
    a: &Arc<Args>,
    pid: u32,
    minutes: f64,
) -> bool {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let duration = Duration::from_secs_f64(minutes * 60.0);
    let started = Instant::now();
    let deadline = started + duration;
    let ok = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let cpu0 = cpu_seconds(pid);
    println!(
        "Passerelle soak: complete logins for {minutes} min, {} at a time, {} ({}), a report every {} s",
        a.concurrency,
        if a.database_url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite (embedded default)"
        },
        a.scope,
        a.report_every
    );
    println!(
        "{:>7}  {:>9}  {:>7}  {:>8}  {:>17}  {:>8}  {:>9}  {:>4}",
        "minute", "flows", "errors", "flows/s", "p50 / p99 ms", "RSS MiB", "anon MiB", "fds"
    );
    let mut tasks = Vec::new();
    for _ in 0..a.concurrency {
        let (http, base, id, secret, a) = (
            http.clone(),
            base.to_string(),
            id.to_string(),
            secret.to_string(),
            a.clone(),
        );
        let (ok, errors, latencies) = (ok.clone(), errors.clone(), latencies.clone());
        tasks.push(rt.spawn(async move {
            while Instant::now() < deadline {
                let t = Instant::now();
                match flow(&http, &base, &id, &secret, &a).await {
                    Ok(()) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut l) = latencies.lock() {
                            l.push(t.elapsed());
                        }
                    }
                    Err(err) => {
                        if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("flow failed: {err}");
                        }
                    }
                }
            }
        }));
    }
    let sample = || Sample {
        minute: started.elapsed().as_secs_f64() / 60.0,
        rss_kib: status_kb(pid, "VmRSS:"),
        anon_kib: status_kb(pid, "RssAnon:"),
        fds: open_fds(pid),
    };
    let mut samples = vec![sample()];
    let mut last_report = (Instant::now(), 0usize);
    let report = |now: Instant, last: (Instant, usize), s: Sample| {
        let done = ok.load(Ordering::Relaxed);
        let mut lat = latencies
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default();
        lat.sort();
        println!(
            "{:>7.1}  {:>9}  {:>7}  {:>8.1}  {:>7.1} / {:>7.1}  {:>8.1}  {:>9.1}  {:>4}",
            (now - started).as_secs_f64() / 60.0,
            done,
            errors.load(Ordering::Relaxed),
            (done - last.1) as f64 / (now - last.0).as_secs_f64().max(0.001),
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            s.rss_kib as f64 / 1024.0,
            s.anon_kib as f64 / 1024.0,
            s.fds
        );
        (now, done)
    };
    let every = Duration::from_secs(a.report_every);
    let step = Duration::from_secs(5).min(every);
    let mut next_sample = started + step;
    let mut next_report = started + every;
    while next_sample < deadline {
        std::thread::sleep(next_sample.saturating_duration_since(Instant::now()));
        let s = sample();
        samples.push(s);
        if next_sample >= next_report {
            last_report = report(Instant::now(), last_report, s);
            next_report += every;
        }
        next_sample += step;
    }
    rt.block_on(async {
        for t in tasks {
            let _ = t.await;
        }
    });
    let end = sample();
    samples.push(end);
    report(Instant::now(), last_report, end);
    let cpu = cpu_seconds(pid) - cpu0;
    let done = ok.load(Ordering::Relaxed);
    let failed_flows = errors.load(Ordering::Relaxed);
    let third = (samples.len() / 3).max(1);
    let (first, last) = (&samples[..third], &samples[samples.len() - third..]);
    let rss = (
        mean(first, |s| s.rss_kib as f64) / 1024.0,
        mean(last, |s| s.rss_kib as f64) / 1024.0,
    );
    let fds = (mean(first, |s| s.fds as f64), mean(last, |s| s.fds as f64));
    // Flat: the last third within 10 % (and 2 MiB) of the first; descriptors within 5. Bounded
    // caches (SQLite keeps up to 2 MiB of pages per connection) fill during the first minutes of a
    // run on a new database, which grows for the rows' whole 10–15 min life: memory that grew
    // early but no longer grows in the last third (its trend over the last third adds up to at
    // most 2 % + 1 MiB) has levelled off, which is not a leak; a leak keeps growing.
    let rss_mib = |s: &Sample| s.rss_kib as f64 / 1024.0;
    let last_trend = slope(last, rss_mib) * (last[last.len() - 1].minute - last[0].minute);
    let rss_flat = rss.1 <= rss.0 * 1.10 + 2.0;
    let rss_levelled = !rss_flat && last_trend <= rss.1 * 0.02 + 1.0;
    let fds_flat = fds.1 <= fds.0 + 5.0;
    println!(
        "flows: {done} in {:.1} min ({:.1}/s), {failed_flows} errors; server CPU {:.2} ms per flow; peak RSS {} MiB",
        (Instant::now() - started).as_secs_f64() / 60.0,
        done as f64 / (Instant::now() - started).as_secs_f64(),
        cpu * 1000.0 / done.max(1) as f64,
        status_kb(pid, "VmHWM:") / 1024
    );
    println!(
        "memory: RSS {:.1} MiB in the first third, {:.1} MiB in the last ({:+.1} %), {:+.1} MiB across the last third: {}",
        rss.0,
        rss.1,
        (rss.1 / rss.0 - 1.0) * 100.0,
        last_trend,
        if rss_flat {
            "flat"
        } else if rss_levelled {
            "levelled off (grew early, flat at the end)"
        } else {
            "GROWING"
        }
    );
    println!(
        "file descriptors: {:.1} in the first third, {:.1} in the last: {}",
        fds.0,
        fds.1,
        if fds_flat { "flat" } else { "GROWING" }
    );
    if let Some(path) = &a.server_log {
        let log = std::fs::read_to_string(path).unwrap_or_default();
        println!(
            "server log: {} ({} warnings, {} errors)",
            path.display(),
            log.matches(" WARN ").count(),
            log.matches(" ERROR ").count()
        );
    }
    let failed = failed_flows > 0 || !(rss_flat || rss_levelled) || !fds_flat;
    println!(
        "verdict: {}",
        if failed {
            "FAILED"
        } else {
            "passed: no error, memory and descriptors flat"
        }
    );
    failed
}

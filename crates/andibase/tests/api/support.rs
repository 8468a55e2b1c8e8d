//! Test harness: starts the real `andibase` binary on a loopback port with a temporary
//! data dir, and talks to it over HTTP like any client.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use andibase_common::temp::TempDir;
use serde_json::{json, Value};

pub struct Server {
    pub url: String,
    pub data_dir: PathBuf,
    pub setup_token: Option<String>,
    child: Child,
    /// Removed with the server, unless [`Server::stop`] hands it on.
    dir: DataDir,
}

/// A scratch directory, removed when dropped.
pub fn temp_dir(name: &str) -> TempDir {
    TempDir::new(&format!("test-{name}"))
}

/// A server's data dir: a scratch one it removes, or one the test keeps.
pub enum DataDir {
    Scratch(TempDir),
    Kept(PathBuf),
}

impl DataDir {
    fn path(&self) -> PathBuf {
        match self {
            DataDir::Scratch(t) => t.to_path_buf(),
            DataDir::Kept(p) => p.clone(),
        }
    }
}

impl From<TempDir> for DataDir {
    fn from(t: TempDir) -> DataDir {
        DataDir::Scratch(t)
    }
}

impl From<PathBuf> for DataDir {
    fn from(p: PathBuf) -> DataDir {
        DataDir::Kept(p)
    }
}

/// The variables that configure model providers.
const MODEL_VARS: &[&str] = &[
    "ANDIBASE_DEFAULT_MODEL",
    "ANDIBASE_MODEL_PROVIDERS",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
];

/// Whether this run keeps the servers' databases on PostgreSQL (`ANDIBASE_TEST_ENGINE=
/// postgres`, the harness's one switch) rather than in SQLite files.
pub fn on_postgres() -> bool {
    std::env::var("ANDIBASE_TEST_ENGINE").is_ok_and(|e| e == "postgres")
}

/// The PostgreSQL database of a data dir on a PostgreSQL run: made on the dir's first
/// server and named in a file in it, so a restart or the command line finds the same
/// one. Kept until this test process ends (the next run drops what is left).
fn database_url_for(dir: &std::path::Path) -> Option<String> {
    static MADE: std::sync::Mutex<Vec<andibase_storage::ScratchDatabase>> =
        std::sync::Mutex::new(Vec::new());
    let file = dir.join("test-database-url");
    if let Ok(url) = std::fs::read_to_string(&file) {
        return Some(url);
    }
    if !on_postgres() {
        return None;
    }
    let db = andibase_storage::ScratchDatabase::create().expect("a PostgreSQL database");
    let url = db.url().to_string();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(&file, &url).unwrap();
    MADE.lock().unwrap().push(db);
    Some(url)
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_andibase")
}

impl Server {
    pub fn start() -> Server {
        Server::start_in(temp_dir("srv"), &[])
    }

    pub fn start_with(extra: &[&str]) -> Server {
        Server::start_in(temp_dir("srv"), extra)
    }

    /// A server whose address space is capped at `bytes` (through util-linux's `prlimit`,
    /// which execs the server in its place): an allocation past it fails.
    pub fn start_with_address_space_limit(bytes: u64) -> Server {
        let mut command = Command::new("prlimit");
        command.arg(format!("--as={bytes}")).arg("--").arg(binary());
        Server::launch(command, temp_dir("srv").into(), &[])
    }

    /// One replica of several on the PostgreSQL database at `url`: a data dir of its own
    /// (nothing in it is shared), the vault key of them all.
    pub fn replica(url: &str, extra: &[&str]) -> Server {
        let dir = temp_dir("replica");
        std::fs::write(dir.path().join("test-database-url"), url).unwrap();
        let mut command = Command::new(binary());
        command.env("ANDIBASE_SECRET_KEY", "7".repeat(64));
        Server::launch(command, dir.into(), extra)
    }

    /// Kills the server with SIGKILL: no shutdown, nothing flushed.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn start_in(dir: impl Into<DataDir>, extra: &[&str]) -> Server {
        Server::launch(Command::new(binary()), dir.into(), extra)
    }

    /// A server with these environment variables too (model providers, say).
    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(binary());
        command.envs(env.iter().copied());
        Server::launch(command, temp_dir("srv").into(), extra)
    }

    fn launch(mut command: Command, dir: DataDir, extra: &[&str]) -> Server {
        let data_dir = dir.path();
        // A developer's own model settings must not reach a test server.
        for var in MODEL_VARS {
            if !command.get_envs().any(|(k, _)| k == *var) {
                command.env_remove(var);
            }
        }
        if let Some(url) = database_url_for(&data_dir) {
            command.arg("--database-url").arg(url);
            if !command.get_envs().any(|(k, _)| k == "ANDIBASE_SECRET_KEY") {
                command.env("ANDIBASE_SECRET_KEY", "5".repeat(64));
            }
        }
        let mut child = command
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start andibase");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut url = None;
        let mut token = None;
        while url.is_none() {
            let line = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("server printed its address");
            if let Some(rest) = line.split("setup?token=").nth(1) {
                token = Some(rest.trim().to_string());
            }
            if let Some(rest) = line.strip_prefix("andibase listening on ") {
                url = Some(rest.split_whitespace().next().unwrap().to_string());
            }
        }
        Server {
            url: url.unwrap(),
            data_dir,
            setup_token: token,
            child,
            dir,
        }
    }

    /// Stops the server with SIGTERM and waits for it (graceful shutdown).
    pub fn stop(mut self) -> DataDir {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "graceful shutdown exits 0, got {status:?}"
        );
        std::mem::replace(&mut self.dir, DataDir::Kept(PathBuf::new()))
    }

    /// Moves the clock of a server started with `--test-clock` forward by `ms`; when it
    /// answers, the jobs that became due have run and key use times are written. Gives
    /// the server's new time (ISO-8601).
    /// Runs the binary's command line on this server's data directory: exit code, stdout,
    /// stderr.
    pub fn cli(&self, args: &[&str]) -> (Option<i32>, String, String) {
        cli_in(&self.data_dir, args)
    }

    /// Whether `secret` is kept in the clear anywhere the server stores things: any file
    /// under its data dir and, on PostgreSQL, any row of its database.
    pub fn stores_in_the_clear(&self, secret: &str) -> bool {
        let in_files = files_under(&self.data_dir).iter().any(|f| {
            std::fs::read(f).is_ok_and(|b| b.windows(secret.len()).any(|w| w == secret.as_bytes()))
        });
        in_files
            || database_url_for(&self.data_dir).is_some_and(|url| {
                andibase_storage::database_holds(&url, secret).expect("search the database")
            })
    }

    /// How many workspace databases exist: files, or schemas on PostgreSQL.
    /// On a PostgreSQL run, the schemas whose names start with `prefix`.
    pub fn postgres_schemas(&self, prefix: &str) -> Vec<String> {
        let url = database_url_for(&self.data_dir).expect("a PostgreSQL run");
        andibase_storage::schemas_in(&url, prefix).unwrap()
    }

    pub fn workspace_databases(&self) -> usize {
        match database_url_for(&self.data_dir) {
            Some(url) => andibase_storage::schemas_in(&url, "ws_").unwrap().len(),
            None => std::fs::read_dir(self.data_dir.join("workspaces"))
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == "db")
                })
                .count(),
        }
    }

    pub fn advance_clock(&self, ms: i64) -> String {
        let r = self.anon().post("/__test/clock", json!({"advanceMs": ms}));
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["now"].as_str().unwrap().to_string()
    }

    /// Waits until at least `n` event subscriptions are live (a stream or long-poll has
    /// started waiting), as `/metrics` reports them.
    pub fn wait_for_subscribers(&self, n: usize) {
        let metrics = self.anon();
        eventually(10, || {
            let text = metrics.get("/metrics").text;
            let live: usize = text
                .lines()
                .find_map(|l| l.strip_prefix("andibase_event_subscribers "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            (live >= n).then_some(())
        })
    }

    pub fn anon(&self) -> Client {
        Client {
            base: self.url.clone(),
            headers: vec![],
        }
    }

    pub fn with_key(&self, key: &str) -> Client {
        Client {
            base: self.url.clone(),
            headers: vec![("Authorization".into(), format!("Bearer {key}"))],
        }
    }

    /// Completes first-run setup; returns the admin's session and workspace handle.
    pub fn setup_admin(&self) -> (Client, String) {
        let token = self
            .setup_token
            .clone()
            .expect("a fresh server prints a setup link");
        let r = self.anon().post(
            "/api/v1/auth/setup",
            json!({"token": token, "email": "owner@example.com", "password": "correct horse", "name": "Olivia Owner", "workspaceName": "Acme Growth Team"}),
        );
        assert_eq!(r.status, 201, "{:?}", r.body);
        let handle = r.body["workspaces"][0]["handle"]
            .as_str()
            .unwrap()
            .to_string();
        (self.session_from(&r), handle)
    }

    pub fn session_from(&self, r: &Resp) -> Client {
        let cookie = r.header("set-cookie").expect("a session cookie");
        let pair = cookie.split(';').next().unwrap().to_string();
        Client {
            base: self.url.clone(),
            headers: vec![("Cookie".into(), pair), ("Origin".into(), self.url.clone())],
        }
    }

    /// Invites `email` as `role` from the signed-in `admin`, and accepts as a new account
    /// with `password`: the new member's session.
    pub fn add_member(
        &self,
        admin: &Client,
        ws: &str,
        email: &str,
        password: &str,
        role: &str,
    ) -> Client {
        let r = admin.post(
            &format!("/api/v1/workspaces/{ws}/invitations"),
            json!({"email": email, "role": role}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
        let token = r.body["url"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let r = self.anon().post(
            &format!("/api/v1/invitations/{token}/accept"),
            json!({"password": password}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        self.session_from(&r)
    }

    pub fn sign_in(&self, email: &str, password: &str) -> Client {
        let r = self.anon().post(
            "/api/v1/auth/sign-in",
            json!({"email": email, "password": password}),
        );
        assert_eq!(r.status, 200, "{:?}", r.body);
        self.session_from(&r)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub headers: Vec<(String, String)>,
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts an error response: status and `code`.
    pub fn expect_error(&self, status: u16, code: &str) -> &Resp {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(self.body["code"], code, "body: {}", self.text);
        assert!(
            self.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "errors carry a message: {}",
            self.text
        );
        self
    }
}

impl Client {
    /// The same caller, talking to `server` (another replica, say).
    pub fn on(&self, server: &Server) -> Client {
        let headers = self
            .headers
            .iter()
            .map(|(k, v)| match k.eq_ignore_ascii_case("origin") {
                true => (k.clone(), server.url.clone()),
                false => (k.clone(), v.clone()),
            })
            .collect();
        Client {
            base: server.url.clone(),
            headers,
        }
    }

    pub fn header(mut self, k: &str, v: &str) -> Client {
        self.headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case(k));
        self.headers.push((k.to_string(), v.to_string()));
        self
    }

    pub fn without(mut self, k: &str) -> Client {
        self.headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case(k));
        self
    }

    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> Resp {
        self.try_request(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// [`Client::request`], with a failure to get any answer (the server died, say) as
    /// an error rather than a panic.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<Resp, String> {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .redirects(0)
            .build();
        let mut req = agent.request(method, &format!("{}{}", self.base, path));
        for (k, v) in &self.headers {
            req = req.set(k, v);
        }
        let result = match body {
            Some(b) => req.set("Content-Type", "application/json").send_string(b),
            None => req.call(),
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(e.to_string()),
        };
        let status = resp.status();
        let headers = resp
            .headers_names()
            .iter()
            .filter_map(|n| resp.header(n).map(|v| (n.clone(), v.to_string())))
            .collect();
        let text = resp.into_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Resp {
            status,
            headers,
            text,
            body,
        })
    }

    pub fn get(&self, path: &str) -> Resp {
        self.request("GET", path, None)
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.request("DELETE", path, None)
    }

    pub fn post(&self, path: &str, body: Value) -> Resp {
        self.request("POST", path, Some(&body.to_string()))
    }

    pub fn patch(&self, path: &str, body: Value) -> Resp {
        self.request("PATCH", path, Some(&body.to_string()))
    }

    pub fn post_raw(&self, path: &str, body: &str) -> Resp {
        self.request("POST", path, Some(body))
    }

    /// Creates an API key in `ws` with `role` (this client must be a signed-in member).
    /// Waits for the first approval in this member's inbox and decides it with option
    /// `index` (as a human does while an agent waits).
    pub fn decide_first_approval(&self, index: usize) {
        let id = eventually(20, || {
            self.get("/api/v1/approvals").body[0]["requestId"]
                .as_str()
                .map(str::to_string)
        });
        let r = self.post(
            &format!("/api/v1/approvals/{id}/resolve"),
            json!({"optionIndex": index}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
    }

    /// Makes a `tasks` definition (one text field, `title`) and an agent (`handle`, with
    /// `capabilities`) in this key's workspace.
    pub fn tasks_and_agent(&self, name: &str, handle: &str, capabilities: Value) {
        let r = self.post(
            "/api/v1/data-definitions",
            json!({"name": "Tasks", "handle": "tasks", "fields": {"title": {"type": "text"}}}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
        let r = self.post(
            "/api/v1/agents",
            json!({"name": name, "handle": handle, "capabilities": capabilities}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
    }

    /// Makes a second workspace, `other`, owned by this human; answers its admin key's client.
    pub fn other_workspace(&self, server: &Server) -> Client {
        let r = self.post("/api/v1/workspaces", json!({"name": "Other"}));
        assert_eq!(r.status, 201, "{}", r.text);
        server.with_key(&self.create_key("other", "admin"))
    }

    pub fn create_key(&self, ws: &str, role: &str) -> String {
        let r = self.post(
            &format!("/api/v1/workspaces/{ws}/api-keys"),
            json!({"name": format!("{role} key"), "role": role}),
        );
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["key"].as_str().unwrap().to_string()
    }
}

/// Runs the device-code login up to approval by `human` and returns the exchange body.
pub fn agent_login(server: &Server, human: &Client, ws: &str, role: Option<&str>) -> Value {
    let mut start = json!({"agentName": "Claude", "agentDescription": "Keeps the books"});
    if let Some(r) = role {
        start["role"] = json!(r);
    }
    let s = server.anon().post("/api/agent/auth/requests", start);
    assert_eq!(s.status, 200, "{}", s.text);
    let code = s.body["userCode"].as_str().unwrap();
    let a = human.post(
        &format!("/api/v1/agent/auth/requests/{code}/approve"),
        json!({"workspaceHandle": ws}),
    );
    assert_eq!(a.status, 200, "{}", a.text);
    let x = server.anon().post(
        "/api/agent/auth/exchange",
        json!({"deviceCode": s.body["deviceCode"]}),
    );
    assert_eq!(x.status, 200, "{}", x.text);
    x.body
}

/// A workspace with an admin, and an agent ("Deploy Bot") calling the Agent API with an
/// editor key: (owner, workspace handle, the agent's client, the agent's id).
pub fn approvals_agent(server: &Server) -> (Client, String, Client, String) {
    let (owner, ws) = server.setup_admin();
    let key = owner.create_key(&ws, "editor");
    let r = server.with_key(&key).post(
        "/api/v1/agents",
        json!({"name": "Deploy Bot", "handle": "deploy-bot"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let agent_id = r.body["id"].as_str().unwrap().to_string();
    let agent = server
        .anon()
        .header("X-Api-Key", &key)
        .header("X-Agent-Id", &agent_id);
    (owner, ws, agent, agent_id)
}

/// A callback receiver on loopback: answers each request with the next scripted status
/// (then `default`), and records what it got.
pub struct Receiver {
    pub url: String,
    pub hits: std::sync::Arc<std::sync::Mutex<Vec<Hit>>>,
}

/// One request a [`Receiver`] got: its headers and JSON body.
pub type Hit = (Vec<(String, String)>, Value);

impl Receiver {
    pub fn start(script: Vec<u16>, default: u16) -> Receiver {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let hits = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let recorded = hits.clone();
        std::thread::spawn(move || {
            let mut script = script.into_iter();
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head, body_start) = loop {
                    let n = stream.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        break (String::new(), 0);
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break (String::from_utf8_lossy(&buf[..pos]).to_string(), pos + 4);
                    }
                };
                let headers: Vec<(String, String)> = head
                    .lines()
                    .skip(1)
                    .filter_map(|l| {
                        l.split_once(':')
                            .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
                    })
                    .collect();
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                while buf.len() < body_start + len {
                    let n = stream.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = serde_json::from_slice(&buf[body_start.min(buf.len())..])
                    .unwrap_or(Value::Null);
                recorded.lock().unwrap().push((headers, body));
                let status = script.next().unwrap_or(default);
                let _ = stream.write_all(
                    format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    .as_bytes(),
                );
            }
        });
        Receiver { url, hits }
    }

    pub fn count(&self) -> usize {
        self.hits.lock().unwrap().len()
    }

    /// Waits until at least `n` requests arrived.
    pub fn wait_for(&self, n: usize, secs: u64) -> Vec<(Vec<(String, String)>, Value)> {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        while self.count() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "only {} of {n} callbacks arrived",
                self.count()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.hits.lock().unwrap().clone()
    }
}

/// Waits (at most 20 s) until `check` holds, for what the server does after answering
/// (a background job, an index built for slow queries).
pub fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} never happened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `f` until it returns `Some`, for up to `secs` seconds.
pub fn eventually<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "condition not met within {secs} s"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Percent-encodes a query parameter value.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The ids of a 200 list answer's `items`, in order.
pub fn item_ids(r: &Resp) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

/// The token in an invitation answer's link (`…/invite/<token>`).
pub fn invitation_token(r: &Resp) -> String {
    let url = r.body["url"].as_str().expect("an invitation link");
    url.rsplit('/').next().unwrap().to_string()
}

/// Runs the binary's command line on the data directory `dir`: exit code, stdout, stderr.
pub fn cli_in(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut command = Command::new(binary());
    if let Some(url) = database_url_for(dir) {
        command.arg("--database-url").arg(url);
    }
    let out = command
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Every file under `dir`, at any depth.
pub fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

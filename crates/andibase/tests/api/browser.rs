//! The web console in a real headless Chromium, driven through chromedriver's
//! WebDriver protocol: an agent starts a login, a human approves it on the real
//! `/agent-login` page, the agent's key works; then a session page updates live.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's `chromium` and
//! `chromium-driver`, which `.ci/run` installs). Without them the tests fail under
//! CI and are ignored elsewhere (the build script sets `browser_missing`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{temp_dir, Server};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    /// Chromium's profile, removed after the browser.
    _profile: andibase_common::temp::TempDir,
}

impl Browser {
    pub fn start() -> Browser {
        Browser::start_in_zone(None)
    }

    /// A browser whose clock shows `zone` (an IANA name) as local time.
    pub fn start_in_zone(zone: Option<&str>) -> Browser {
        let (chromium, driver) = ("/usr/bin/chromium", "/usr/bin/chromedriver");
        assert!(
            std::path::Path::new(chromium).exists() && std::path::Path::new(driver).exists(),
            "the browser tests need chromium and chromium-driver installed"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new(driver);
        if let Some(zone) = zone {
            command.env("TZ", zone);
        }
        let child = command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while ureq::get(&format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = temp_dir("chromium-profile");
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1100,900",
                     format!("--user-data-dir={}", profile.display())]
        }}}});
        let mut browser = Browser {
            driver: child,
            base,
            session: String::new(),
            _profile: profile,
        };
        let r = browser.call("POST", "/session", Some(caps));
        browser.session = r["sessionId"]
            .as_str()
            .expect("a WebDriver session")
            .to_string();
        browser
    }

    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{}", self.base, path);
        let req = ureq::request(method, &url).timeout(Duration::from_secs(60));
        let resp = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        let resp = match resp {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("webdriver {method} {path}: {e}"),
        };
        let v: Value = resp.into_json().unwrap();
        v["value"].clone()
    }

    pub fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Signs in as the owner `setup_admin` made, on the sign-in form.
    pub fn sign_in_owner(&self) {
        self.type_into("#email", "owner@example.com");
        self.type_into("#password", "correct horse");
        self.click("#sign-in-submit");
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(json!({"url": url})));
    }

    pub fn url(&self) -> String {
        self.call("GET", &self.s("/url"), None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Waits for an element matching `css` and returns its id.
    pub fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let v = self.call(
                "POST",
                &self.s("/element"),
                Some(json!({"using": "css selector", "value": css})),
            );
            if let Some(id) = v[ELEMENT].as_str() {
                return id.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no element {css} on {}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.call(
            "POST",
            &self.s(&format!("/element/{id}/value")),
            Some(json!({"text": text})),
        );
    }

    pub fn click(&self, css: &str) {
        let id = self.find(css);
        self.call(
            "POST",
            &self.s(&format!("/element/{id}/click")),
            Some(json!({})),
        );
    }

    pub fn text(&self, css: &str) -> String {
        let id = self.find(css);
        self.call("GET", &self.s(&format!("/element/{id}/text")), None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub fn wait_for_text(&self, css: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.text(css).contains(want) {
            assert!(
                Instant::now() < deadline,
                "{css} never showed {want:?}; it shows {:?}",
                self.text(css)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `script` in the page and gives what it returns.
    pub fn run(&self, script: &str) -> Value {
        self.call(
            "POST",
            &self.s("/execute/sync"),
            Some(json!({"script": script, "args": []})),
        )
    }

    pub fn resize(&self, width: u32, height: u32) {
        self.call(
            "POST",
            &self.s("/window/rect"),
            Some(json!({"width": width, "height": height})),
        );
    }

    /// Whether the page fits the window's width (no sideways scrolling).
    pub fn fits_width(&self) -> bool {
        self.run("return document.documentElement.scrollWidth <= window.innerWidth + 1")
            == json!(true)
    }

    pub fn screenshot(&self, name: &str) {
        use std::io::Write;
        let b64 = self.call("GET", &self.s("/screenshot"), None);
        if let Some(data) = b64.as_str().and_then(decode_base64) {
            let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
            let _ = std::fs::File::create(dir.join(format!("{name}.png")))
                .and_then(|mut f| f.write_all(&data));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[test]
#[cfg_attr(browser_missing, ignore = "chromium or chromedriver is not installed")]
fn agent_login_is_approved_in_a_real_browser_and_sessions_update_live() {
    let server = Server::start();
    let (_owner, ws) = server.setup_admin();
    let browser = Browser::start();

    // The agent, as seed 000 tells it to.
    let start = server.anon().post(
        "/api/agent/auth/requests",
        json!({"agentName": "Claude Browser Test", "agentDescription": "Tidies the CRM", "role": "editor"}),
    );
    assert_eq!(start.status, 200);
    let link = start.body["verificationUriComplete"]
        .as_str()
        .unwrap()
        .to_string();
    let device = json!({"deviceCode": start.body["deviceCode"]});

    // The human opens the link, is asked to sign in, and lands back on the approval.
    browser.goto(&link);
    browser.find("#sign-in");
    assert!(
        browser.url().contains("/sign-in?next="),
        "{}",
        browser.url()
    );
    browser.sign_in_owner();
    browser.find("#approve");
    assert!(
        browser.url().contains("/agent-login?user_code="),
        "{}",
        browser.url()
    );
    assert_eq!(browser.text("#agent-name"), "Claude Browser Test");
    assert_eq!(browser.text("#agent-description"), "Tidies the CRM");
    assert_eq!(browser.text("#requested-role"), "editor");
    browser.screenshot("agent-login");
    server
        .anon()
        .post("/api/agent/auth/exchange", device.clone())
        .expect_error(400, "authorization_pending");
    browser.click("#approve");
    browser.wait_for_text("#decision-wrap", "approved");

    let x = server.anon().post("/api/agent/auth/exchange", device);
    assert_eq!(x.status, 200, "{}", x.text);
    assert_eq!(x.body["workspace"]["handle"], ws.as_str());
    assert_eq!(x.body["apiKey"]["apiKey"]["role"], "editor");
    let agent = server.with_key(x.body["apiKey"]["key"].as_str().unwrap());
    assert_eq!(agent.get("/api/v1/agents").status, 200);

    // The agent opens a session; the human watches it update without reloading.
    let s = agent.post(
        "/api/session/new",
        json!({"title": "Cleaning up leads", "message": "Started working"}),
    );
    browser.goto(s.body["url"].as_str().unwrap());
    browser.wait_for_text("#session-title", "Cleaning up leads");
    browser.wait_for_text("#timeline", "session.started");
    // Give the page a moment to open its event stream before posting.
    let deadline = Instant::now() + Duration::from_secs(10);
    while browser.call("POST", &browser.s("/execute/sync"), Some(json!({"script": "return document.getElementById('live-dot').classList.contains('on')", "args": []}))) != json!(true) {
        assert!(Instant::now() < deadline, "the page never connected its event stream");
        std::thread::sleep(Duration::from_millis(100));
    }
    let id = s.body["id"].as_str().unwrap();
    let e = agent.post(
        &format!("/api/session/{id}/events"),
        json!({"type": "agent.update", "body": {"message": "Merged 12 duplicates"}}),
    );
    assert_eq!(e.status, 200);
    browser.wait_for_text("#timeline", "Merged 12 duplicates");
    browser.screenshot("session-live");

    // On a phone-sized window no console page scrolls sideways, and the key page's
    // Disable button works.
    browser.call(
        "POST",
        &browser.s("/window/rect"),
        Some(json!({"width": 390, "height": 844})),
    );
    for page in [
        "sessions",
        "agents",
        "api-keys",
        "members",
        "data",
        "approvals",
    ] {
        browser.goto(&format!("{}/w/{ws}/{page}", server.url));
        browser.find("main h1");
        let fits = browser.call("POST", &browser.s("/execute/sync"), Some(json!({"script": "return document.documentElement.scrollWidth <= window.innerWidth + 1", "args": []})));
        assert_eq!(
            fits,
            json!(true),
            "/w/{ws}/{page} scrolls sideways on a phone"
        );
    }
    browser.goto(&format!("{}/w/{ws}/api-keys", server.url));
    browser.screenshot("api-keys-phone");
    browser.click("button[data-method=PATCH]");
    browser.wait_for_text("main table", "disabled");
    agent
        .get("/api/v1/agents")
        .expect_error(401, "invalid_api_key");
}

#[test]
#[cfg_attr(browser_missing, ignore = "chromium or chromedriver is not installed")]
fn a_human_resolves_an_approval_in_the_inbox_while_the_agent_long_polls() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let key = owner.create_key(&ws, "editor");
    let agent_id = server
        .with_key(&key)
        .post(
            "/api/v1/agents",
            json!({"name": "Deploy Bot", "handle": "deploy-bot"}),
        )
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let agent = server
        .anon()
        .header("X-Api-Key", &key)
        .header("X-Agent-Id", &agent_id);
    let browser = Browser::start();

    // The human opens the inbox first; the request arrives live.
    browser.goto(&format!("{}/sign-in?next=/w/{ws}/approvals", server.url));
    browser.sign_in_owner();
    browser.find("#inbox");
    let deadline = Instant::now() + Duration::from_secs(10);
    while browser.call("POST", &browser.s("/execute/sync"), Some(json!({"script": "return document.getElementById('live-dot').classList.contains('on')", "args": []}))) != json!(true) {
        assert!(Instant::now() < deadline, "the inbox never connected its event stream");
        std::thread::sleep(Duration::from_millis(100));
    }
    let created = agent.post(
        "/v1/approvals",
        json!({
            "question": "Deploy build #123 to production?",
            "context_markdown": "**CI passed.** <script>window.__pwned=1</script>\n\n<img src=x onerror=\"window.__pwned=2\">\n\n[details](javascript:window.__pwned=3)",
            "options": [{"label": "Approve", "value": "approve"}, {"label": "Reject", "value": "reject"}]
        }),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["request_id"].as_str().unwrap().to_string();
    browser.wait_for_text("#inbox", "Deploy build #123 to production?");
    // Load it fresh too, so the card is parsed as a page, not only swapped in.
    browser.goto(&format!("{}/w/{ws}/approvals", server.url));
    browser.wait_for_text("#inbox", "Deploy build #123 to production?");
    let clean = browser.call("POST", &browser.s("/execute/sync"), Some(json!({"script": "return window.__pwned === undefined && !document.querySelector('.context script, .context img')", "args": []})));
    assert_eq!(
        clean,
        json!(true),
        "context Markdown produced live elements"
    );
    browser.screenshot("approvals-inbox");

    // The agent waits; the human clicks once.
    let poller = {
        let (agent, id) = (agent.clone(), id.clone());
        std::thread::spawn(move || agent.get(&format!("/v1/approvals/{id}/result?wait=30")))
    };
    // The inbox's event stream and the long-poll.
    server.wait_for_subscribers(2);
    browser.click(&format!(
        ".approval[data-request-id='{id}'] button.option:nth-of-type(1)"
    ));
    let r = poller.join().unwrap();
    assert_eq!(r.body["status"], "selected_option", "{}", r.text);
    assert_eq!(r.body["selected_option_value"], "approve");
    assert_eq!(r.body["resolved_by"], "owner@example.com");
    browser.wait_for_text("#inbox", "Nothing is waiting for you.");

    // Nothing the agent wrote ran in the page.
    let pwned = browser.call(
        "POST",
        &browser.s("/execute/sync"),
        Some(json!({"script": "return window.__pwned === undefined", "args": []})),
    );
    assert_eq!(pwned, json!(true), "context Markdown ran script");
    // Clicking the javascript: link (rendered as '#') does nothing either.
    browser.goto(&format!("{}/w/{ws}/approvals", server.url));
    let decided = browser.text("main table");
    assert!(decided.contains("Approve"), "{decided}");
}

/// A member browses a memory space in the console: from the workspace's spaces to a
/// concept type, a concept, and along a link to its neighbour, at desktop and phone widths.
#[test]
#[cfg_attr(browser_missing, ignore = "chromium or chromedriver is not installed")]
fn a_member_browses_a_memory_space() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let admin = server.with_key(&owner.create_key(&ws, "admin"));
    let made = admin.post(
        "/admin/create_space",
        json!({"space_id": "brain", "name": "Team brain"}),
    );
    assert_eq!(made.status, 200, "{}", made.text);
    let r = admin.post(
        "/v1/brain/formation",
        json!({"messages": [{"role": "user", "user": "alice", "content": "Tomorrow I fly to Lisbon <b>bold</b>"}], "timestamp": "2026-03-05T10:00:00Z"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    crate::support::wait_for("formed", || {
        admin.get("/v1/brain/info").body["result"]["formation_processed_id"] == 1
    });

    let browser = Browser::start();
    browser.goto(&format!("{}/sign-in?next=/w/{ws}/memory", server.url));
    browser.sign_in_owner();
    browser.wait_for_text("#spaces", "Team brain");
    for (width, height) in [(1280, 900), (390, 844)] {
        browser.resize(width, height);
        browser.goto(&format!("{}/w/{ws}/memory", server.url));
        browser.click("#spaces a[href$='/memory/brain']");
        browser.wait_for_text("#conversations", "completed");
        assert!(browser.text("#space-stats").contains("formed up to 1"));
        browser.click("#types a[href$='?type=Event']");
        browser.wait_for_text("#type-title", "Event");
        browser.click("#concepts a");
        browser.wait_for_text("#concept-title", "Event: Conversation:2026-03-05:1");
        // The relative date was resolved when it was filed; the markup is text.
        let attributes = browser.text("#attributes");
        assert!(
            attributes.contains("Tomorrow (2026-03-06) I fly to Lisbon <b>bold</b>"),
            "{attributes}"
        );
        assert!(browser.text("#links-out").contains("involves"));
        // Along the `involves` link to the participant.
        browser.run("[...document.querySelectorAll('#links-out tr')].find(r => r.textContent.includes('involves')).querySelector('a').click(); return null;");
        browser.wait_for_text("#concept-title", "Person: alice");
        assert!(
            browser.fits_width(),
            "the memory page overflows at {width}px"
        );
    }
    browser.screenshot("memory-concept");
}

#[test]
#[cfg_attr(browser_missing, ignore = "chromium or chromedriver is not installed")]
fn a_member_chats_with_an_agent_and_watches_its_tools_and_an_approval_wait() {
    use andibase_llm::fake::{Answer, FakeProvider};
    // Looks at the data, asks a human, then answers with the decision (markup as text).
    let fake = FakeProvider::start(|seen| match seen.tool_results().len() {
        0 => Answer::Tools(
            "Checking the data.".into(),
            vec![("get_data_definitions".into(), json!({}))],
        ),
        1 => Answer::Tools(
            String::new(),
            vec![(
                "request_human_approval".into(),
                json!({"question": "Deploy build 7?", "context_markdown": "CI is green.",
                       "options": [{"label": "Ship", "value": "ship"}, {"label": "Hold", "value": "hold"}]}),
            )],
        ),
        _ => Answer::Text("Decision: ship <b>now</b>".into()),
    });
    let (server, owner, ws, _key) = crate::chats::worker_server(&fake, andibase_llm::Wire::OpenAi);

    let browser = Browser::start();
    browser.goto(&format!(
        "{}/sign-in?next=/w/{ws}/agents/worker",
        server.url
    ));
    browser.sign_in_owner();
    browser.click("#open-chat");
    browser.type_into("#chat-text", "Deploy build 7");
    browser.click("#chat-send");
    // The turn streams: the first tool call and its result, then the approval wait.
    browser.wait_for_text("[data-tool-call]", "get_data_definitions");
    browser.wait_for_text("#transcript", "Waiting for a human's decision");
    assert!(browser.text("#transcript").contains("Deploy build 7"));
    owner.decide_first_approval(0);
    browser.wait_for_text("#transcript", "Decision: ship <b>now</b>");
    let shown = browser.text("#transcript");
    assert!(!shown.contains("Waiting for a human"), "{shown}");
    assert!(shown.contains("request_human_approval"), "{shown}");
    assert!(
        fake.seen().iter().all(|s| s.stream),
        "the page asked for a streamed turn"
    );
    // The page's address now names the chat; reloaded, it draws the stored transcript.
    let url = browser.url();
    assert!(url.contains("/chat?chat=c-"), "{url}");
    for (width, height) in [(1280, 900), (390, 844)] {
        browser.resize(width, height);
        browser.goto(&url);
        browser.wait_for_text("#transcript", "Decision: ship <b>now</b>");
        let shown = browser.text("#transcript");
        assert!(
            shown.contains("get_data_definitions") && shown.contains("Checking the data."),
            "{shown}"
        );
        assert!(browser.text("#chats").contains("Deploy build 7"));
        assert!(browser.fits_width(), "the chat page overflows at {width}px");
    }
    browser.screenshot("agent-chat");
}

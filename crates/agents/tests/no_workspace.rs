//! A chat turn without workspace tools: the model is offered only
//! `workspace_access_unavailable`, and calling it answers a structured error.

use std::sync::Arc;

use andibase_agents::chats::{Chats, SendMessage, Turn};
use andibase_agents::{Agents, CreateAgentInput};
use andibase_common::{Links, Timestamp};
use andibase_llm::fake::{Answer, FakeProvider};

struct NoLinks;

impl Links for NoLinks {
    fn agent(&self, _: &str, handle: &str, _: &str) -> String {
        format!("/agents/{handle}")
    }
    fn session(&self, _: &str, id: &str) -> String {
        format!("/sessions/{id}")
    }
    fn approvals(&self, _: &str) -> String {
        "/approvals".into()
    }
    fn invitation(&self, token: &str) -> String {
        format!("/invite/{token}")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_without_a_workspace_offers_only_the_tool_that_says_so() {
    let fake = FakeProvider::start(|seen| match seen.tool_results().last() {
        None => Answer::Tools(
            String::new(),
            vec![("workspace_access_unavailable".into(), serde_json::json!({}))],
        ),
        Some(r) => Answer::Text(r.text.clone()),
    });
    let dir = andibase_common::temp::TempDir::new("agents-no-workspace");
    let dbs = andibase_storage::WorkspaceDatabases::new(dir.to_path_buf());
    let db = dbs
        .get("0a1b2c3d-0000-4000-8000-000000000001")
        .await
        .unwrap();
    let agent = Agents {
        db: &db,
        workspace_handle: "ws",
        links: Arc::new(NoLinks),
    }
    .create(
        serde_json::from_value::<CreateAgentInput>(
            serde_json::json!({"name": "Solo", "handle": "solo", "model": "openai/m"}),
        )
        .unwrap(),
        None,
        Timestamp(0),
    )
    .await
    .unwrap();
    let providers = andibase_llm::Providers::from_lookup(|name| match name {
        "OPENAI_BASE_URL" => Some(fake.openai_base()),
        _ => None,
    })
    .unwrap();
    let sent = Chats {
        db: &db,
        agent: &agent,
    }
    .send(
        "c1",
        serde_json::from_value::<SendMessage>(serde_json::json!({"text": "How many orders?"}))
            .unwrap(),
        Turn {
            providers: Arc::new(providers),
            tools: None,
            events: None,
            skills: Vec::new(),
            credentials: Vec::new(),
            outbound: andibase_outbound::Policy::default(),
            session_links: None,
        },
        || Timestamp(1),
    )
    .await
    .unwrap();
    assert_eq!(fake.seen()[0].tools, ["workspace_access_unavailable"]);
    let parts = sent.assistant_message.message["parts"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(parts[1]["isError"], true, "{parts:?}");
    assert_eq!(
        parts[1]["output"]["error"], "workspace_access_unavailable",
        "{parts:?}"
    );
}

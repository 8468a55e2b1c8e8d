//! The agents registry, field by field as seed 001 has it.

use serde_json::json;

use crate::support::Server;

#[test]
fn create_get_list_update_delete() {
    let server = Server::start_with(&["--test-clock"]);
    let (owner, ws) = server.setup_admin();
    let c = server.with_key(&owner.create_key(&ws, "editor"));

    let seed = json!({
        "name": "Support Assistant",
        "handle": "support-assistant",
        "description": "Handles customer support workflows and escalations.",
        "instructions": "Answer with concise, actionable steps.",
        "model": "openai/gpt-5.4",
        "capabilities": {"webAccess": true, "browserAccess": true, "objectsAccess": true, "linkedCredentialIds": ["wcred_01JQFQY7XMQJ0TA3A7X7F7WQ4H"]}
    });
    let r = c.post("/api/v1/agents", seed.clone());
    assert_eq!(r.status, 201, "{}", r.text);
    let a = r.body;
    let id = a["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36);
    assert_eq!(a["url"], format!("/w/{ws}/agents/support-assistant-{id}"));
    for f in [
        "name",
        "handle",
        "description",
        "instructions",
        "model",
        "capabilities",
    ] {
        assert_eq!(a[f], seed[f], "{f}");
    }
    assert!(a["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(a["createdAt"], a["updatedAt"]);

    // Defaults: optional fields are required-but-null, capabilities all false.
    let r = c.post("/api/v1/agents", json!({"name": "Bare", "handle": "bare"}));
    assert_eq!(r.status, 201);
    assert!(
        r.body["description"].is_null()
            && r.body["instructions"].is_null()
            && r.body["model"].is_null()
    );
    assert_eq!(
        r.body["capabilities"],
        json!({"webAccess": false, "browserAccess": false, "objectsAccess": false, "linkedCredentialIds": []})
    );

    // By id, by handle, by name-id slug.
    for key in [
        id.clone(),
        "support-assistant".to_string(),
        format!("support-assistant-{id}"),
    ] {
        let g = c.get(&format!("/api/v1/agents/{key}"));
        assert_eq!(g.status, 200, "{key}");
        assert_eq!(g.body["id"], id.as_str());
        assert_eq!(g.body["instructions"], seed["instructions"]);
    }

    // The list is summaries: no instructions.
    let list = c.get("/api/v1/agents").body;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|a| a.get("instructions").is_none()));
    assert_eq!(list[0]["handle"], "support-assistant");

    // Partial update: absent fields stay, null clears, capabilities merge.
    server.advance_clock(5);
    let u = c.patch(&format!("/api/v1/agents/{id}"), json!({"name": "Support Assistant v2", "model": null, "capabilities": {"browserAccess": false}}));
    assert_eq!(u.status, 200, "{}", u.text);
    assert_eq!(u.body["name"], "Support Assistant v2");
    assert!(u.body["model"].is_null());
    assert_eq!(u.body["description"], seed["description"]);
    assert_eq!(u.body["capabilities"]["browserAccess"], false);
    assert_eq!(u.body["capabilities"]["webAccess"], true);
    assert_eq!(
        u.body["capabilities"]["linkedCredentialIds"],
        seed["capabilities"]["linkedCredentialIds"]
    );
    assert_ne!(u.body["updatedAt"], u.body["createdAt"]);
    // The handle is not updatable.
    c.patch(&format!("/api/v1/agents/{id}"), json!({"handle": "other"}))
        .expect_error(400, "invalid_request");
    c.patch(&format!("/api/v1/agents/{id}"), json!({"name": ""}))
        .expect_error(400, "invalid_request");

    assert_eq!(c.delete("/api/v1/agents/support-assistant").status, 204);
    c.get(&format!("/api/v1/agents/{id}"))
        .expect_error(404, "not_found");
    c.delete(&format!("/api/v1/agents/{id}"))
        .expect_error(404, "not_found");
    c.patch("/api/v1/agents/nope", json!({"name": "x"}))
        .expect_error(404, "not_found");
}

#[test]
fn handles_are_validated_and_unique_per_workspace() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let c = server.with_key(&owner.create_key(&ws, "admin"));
    assert_eq!(
        c.post("/api/v1/agents", json!({"name": "A", "handle": "dup"}))
            .status,
        201
    );
    let r = c.post("/api/v1/agents", json!({"name": "B", "handle": "dup"}));
    r.expect_error(400, "invalid_request");
    assert_eq!(r.body["issues"][0]["path"], json!(["handle"]));
    let r = c.post(
        "/api/v1/agents",
        json!({"name": "C", "handle": "Not A Handle"}),
    );
    assert_eq!(r.body["issues"][0]["path"], json!(["handle"]));
    let r = c.post("/api/v1/agents", json!({"name": "", "handle": ""}));
    let paths: Vec<_> = r.body["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].clone())
        .collect();
    assert!(
        paths.contains(&json!(["name"])) && paths.contains(&json!(["handle"])),
        "every broken field is named: {}",
        r.text
    );
    // Injection attempts are just data.
    let r = c.post(
        "/api/v1/agents",
        json!({"name": "x'); DROP TABLE agents; --", "handle": "inj"}),
    );
    assert_eq!(r.status, 201);
    assert_eq!(
        c.get("/api/v1/agents/inj").body["name"],
        "x'); DROP TABLE agents; --"
    );
    c.get("/api/v1/agents/' OR '1'='1")
        .expect_error(404, "not_found");
    assert_eq!(c.get("/api/v1/agents").body.as_array().unwrap().len(), 2);
}

//! The console's data pages in a real headless Chromium, at desktop and phone widths: a
//! member creates a definition and its fields, adds a record through a form that knows
//! each field's type, edits a select field, deletes and restores; a viewer sees the same
//! pages read only.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::browser::Browser;
use crate::support::{Client, Server};

/// Picks `value` in the `<select>` `css`.
fn choose(browser: &Browser, css: &str, value: &str) {
    browser.click(&format!("{css} option[value='{value}']"));
}

fn eventually_url(browser: &Browser, part: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let url = browser.url();
        if url.contains(part) {
            return url;
        }
        assert!(Instant::now() < deadline, "never reached {part}; at {url}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_until(browser: &Browser, script: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while browser.run(script) != json!(true) {
        assert!(Instant::now() < deadline, "{what}, at {}", browser.url());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn records(api: &Client, handle: &str, extra: &str) -> Vec<Value> {
    let r = api.get(&format!(
        "/api/v1/data-definitions/{handle}/query?limit=100{extra}"
    ));
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

/// Adds a field through the field editor and waits for it in the table.
fn add_field(browser: &Browser, key: &str, kind: &str, fill: impl Fn(&Browser)) {
    browser.type_into("#field-key", key);
    choose(browser, "#field-type", kind);
    fill(browser);
    browser.click("#save-field");
    browser.wait_for_text("#fields", key);
    browser.find(&format!("#fields tr[data-key='{key}']"));
}

fn one_width(server: &Server, browser: &Browser, api: &Client, ws: &str, label: &str) {
    let base = &server.url;
    let name = format!("Tickets {label}");
    let handle = format!("tickets-{label}");
    let fits = |page: &str| {
        assert!(
            browser.fits_width(),
            "{page} scrolls sideways at the {label} width"
        );
    };

    // A new definition, from the data page, lands on its fields.
    browser.goto(&format!("{base}/w/{ws}/data"));
    browser.type_into("#def-name", &name);
    browser.click("#create-definition");
    eventually_url(browser, &format!("/data/{handle}/fields"));
    add_field(browser, "status", "select", |b| {
        b.type_into(
            "#field-options",
            "open | Open | green\nclosed | Closed | #d64545",
        )
    });
    add_field(browser, "dueAt", "datetime", |_| {});
    add_field(browser, "customer", "relationship", |b| {
        choose(b, "#field-target", &customers_id(api))
    });
    fits("the fields page");
    browser.screenshot(&format!("data-fields-{label}"));
    let def = api.get(&format!("/api/v1/data-definitions/{handle}")).body;
    assert_eq!(
        def["fields"]["status"]["options"],
        json!([{"value": "open", "label": "Open", "color": "green"}, {"value": "closed", "label": "Closed", "color": "#d64545"}])
    );
    assert_eq!(def["fields"]["dueAt"]["type"], "datetime");
    assert_eq!(
        def["fields"]["customer"]["dataDefinitionId"],
        customers_id(api)
    );

    // Change a field: the Edit button fills the form; the key stays.
    browser.click("#fields tr[data-key='status'] [data-edit-field]");
    browser.wait_for_text("#field-form-title", "status");
    browser.click("#field-required");
    browser.click("#save-field");
    wait_until(
        browser,
        "return !!document.querySelector(\"#fields tr[data-key='status']\") && document.querySelector(\"#fields tr[data-key='status']\").textContent.includes('required')",
        "status never became required",
    );
    assert_eq!(
        api.get(&format!("/api/v1/data-definitions/{handle}")).body["fields"]["status"]["required"],
        true
    );

    // An index over two fields, added from the form and removed with its button.
    browser.type_into("#index-fields", "status, -dueAt");
    browser.click("#add-index");
    browser.wait_for_text("#indexes", "status, -dueAt");
    assert_eq!(
        api.get(&format!("/api/v1/data-definitions/{handle}")).body["indexes"],
        json!([{"fields": ["status", "-dueAt"], "unique": false}])
    );
    fits("the fields page with an index");
    browser.screenshot(&format!("data-indexes-{label}"));
    browser.run("window.confirm = function () { return true; }; return true");
    browser.click("#indexes [data-action]");
    browser.wait_for_text("#no-indexes", "No indexes");
    assert_eq!(
        api.get(&format!("/api/v1/data-definitions/{handle}")).body["indexes"],
        Value::Null,
        "an empty list is not shown"
    );

    // A new record: the select as chips, the time in the viewer's zone (Berlin, UTC+1 in
    // March), the customer found by searching customers.
    browser.goto(&format!("{base}/w/{ws}/data/{handle}"));
    browser.click("#new-record");
    eventually_url(browser, "/new");
    browser.type_into("#record-name", "Printer jam");
    browser.click("label.chip.pick:has(#f-status-0)");
    browser.run("document.getElementById('f-dueAt').value = '2026-03-05T13:00:00'; return true");
    browser.type_into("#f-customer-search", "Ada");
    browser.click(".relation .pick-result");
    browser.wait_for_text(".relation .picked", "Ada Lovelace");
    fits("the new record form");
    browser.screenshot(&format!("data-new-record-{label}"));
    browser.click("#save-record");
    let url = eventually_url(browser, "/records/");
    let id = url.rsplit('/').next().unwrap().to_string();
    let rec = api
        .get(&format!("/api/v1/data-definitions/{handle}/data/{id}"))
        .body;
    assert_eq!(rec["name"], "Printer jam");
    assert_eq!(
        rec["attributes"],
        json!({"status": "open", "dueAt": "2026-03-05T12:00:00Z", "customer": "cus_ada"}),
        "the form sent typed values, the time in UTC"
    );

    // The record page shows times in Berlin time and relative, the id short with a copy
    // button, and the stored time back in the viewer's zone.
    let local = browser.run("return document.getElementById('f-dueAt').value");
    assert!(
        local.as_str().unwrap_or("").starts_with("2026-03-05T13:00"),
        "12:00 UTC is 13:00 in Berlin: {local}"
    );
    let shown = browser.text(".meta time");
    assert!(
        !shown.contains('T') && !shown.is_empty(),
        "a local time, not ISO: {shown}"
    );
    let ago = browser.text(".meta .ago");
    assert!(
        ago.contains("now") || ago.contains("ago"),
        "a relative time: {ago}"
    );
    let short = browser.text(".meta .id");
    assert!(
        short.contains('…') && short.len() < id.len(),
        "{short} for {id}"
    );
    assert_eq!(
        browser.run("return document.querySelector('.meta .id').title"),
        json!(id)
    );
    browser.click(".meta .copy");
    browser.wait_for_text(".meta .copy", "✓");
    browser.wait_for_text(".relation .picked", "Ada Lovelace");

    // Edit the select field: one click on the other chip, save.
    browser.click("label.chip.pick:has(#f-status-1)");
    browser.click("#save-record");
    browser.wait_for_text("#record-version", "2");
    let rec = api
        .get(&format!("/api/v1/data-definitions/{handle}/data/{id}"))
        .body;
    assert_eq!(rec["attributes"]["status"], "closed");
    assert_eq!(
        rec["attributes"]["dueAt"], "2026-03-05T12:00:00Z",
        "unchanged"
    );
    fits("the record page");
    browser.screenshot(&format!("data-record-{label}"));

    // A refused save names the field: status is required.
    browser.click("label.chip.pick:has(input[name='attr:status'][value=''])");
    browser.click("#save-record");
    browser.wait_for_text(".field[data-attr='status'] .field-error", "required");
    assert_eq!(
        api.get(&format!("/api/v1/data-definitions/{handle}/data/{id}"))
            .body["attributes"]["status"],
        "closed",
        "nothing was written"
    );

    // Delete and restore on the record page.
    browser.goto(&format!("{base}/w/{ws}/data/{handle}/records/{id}"));
    browser.click("#delete-record");
    browser.find("#deleted-badge");
    assert_eq!(
        api.get(&format!("/api/v1/data-definitions/{handle}/data/{id}"))
            .status,
        404
    );
    browser.click("#restore-record");
    browser.find("#delete-record");
    assert_eq!(
        api.get(&format!("/api/v1/data-definitions/{handle}/data/{id}"))
            .status,
        200
    );

    // And from the list: delete, show deleted, restore.
    browser.goto(&format!("{base}/w/{ws}/data/{handle}"));
    browser.wait_for_text("#records", "Printer jam");
    browser.wait_for_text("#records", "Closed");
    fits("the records list");
    browser.screenshot(&format!("data-list-{label}"));
    browser.click(&format!("#records tr[data-id='{id}'] button[data-action]"));
    wait_until(
        browser,
        &format!("return !document.querySelector(\"#records tr[data-id='{id}']\")"),
        "the deleted record stayed in the list",
    );
    assert!(records(api, &handle, "").is_empty());
    browser.click("#toggle-deleted");
    browser.find(&format!("#records tr.deleted[data-id='{id}']"));
    browser.click(&format!("#records tr[data-id='{id}'] button[data-action]"));
    wait_until(
        browser,
        &format!("return !!document.querySelector(\"#records tr[data-id='{id}']:not(.deleted)\")"),
        "the record was not restored",
    );
    assert_eq!(records(api, &handle, "").len(), 1);
}

fn customers_id(api: &Client) -> String {
    api.get("/api/v1/data-definitions/customers").body["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
#[cfg_attr(browser_missing, ignore = "chromium or chromedriver is not installed")]
fn members_edit_records_and_fields_in_the_console_at_desktop_and_phone_widths() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let api = server.with_key(&owner.create_key(&ws, "admin"));
    let c = api.post(
        "/api/v1/data-definitions",
        json!({"name": "Customers", "attributes": {"country": {"type": "text"}}}),
    );
    assert_eq!(c.status, 201, "{}", c.text);
    api.post(
        "/api/v1/data-definitions/customers/data/upsert-many",
        json!({"records": [{"id": "cus_ada", "name": "Ada Lovelace"}, {"id": "cus_bob", "name": "Bob Babbage"}]}),
    );

    let browser = Browser::start_in_zone(Some("Europe/Berlin"));
    browser.goto(&format!("{}/sign-in?next=/w/{ws}/data", server.url));
    browser.sign_in_owner();
    browser.find("#new-definition");

    one_width(&server, &browser, &api, &ws, "desktop");
    system_names(&server, &browser, &api, &ws);
    browser.resize(390, 844);
    one_width(&server, &browser, &api, &ws, "phone");
}

/// Attributes named like the record's own fields (seed 002's `createdAt`, and `id`,
/// `name`) are edited as attributes; the record's own stay apart.
fn system_names(server: &Server, browser: &Browser, api: &Client, ws: &str) {
    let def = api.post(
        "/api/v1/data-definitions",
        json!({"key": "Order", "name": "Order", "attributes": {
            "id": {"type": "text"}, "name": {"type": "text"}, "createdAt": {"type": "datetime", "required": true}}}),
    );
    assert_eq!(def.status, 201, "{}", def.text);
    browser.goto(&format!("{}/w/{ws}/data/order/new", server.url));
    browser.type_into("#record-id", "ord_123");
    browser.type_into("#record-name", "Order #123");
    browser.type_into("#f-id", "external-7");
    browser.type_into("#f-name", "the attribute");
    browser.run("document.getElementById('f-createdAt').value = '2026-03-05T13:00'; return true");
    browser.click("#save-record");
    eventually_url(browser, "/records/ord_123");
    let rec = api.get("/api/v1/data-definitions/order/data/ord_123").body;
    assert_eq!(
        (rec["id"].as_str(), rec["name"].as_str()),
        (Some("ord_123"), Some("Order #123"))
    );
    assert_eq!(
        rec["attributes"],
        json!({"id": "external-7", "name": "the attribute", "createdAt": "2026-03-05T12:00:00Z"})
    );
    let own_created = rec["createdAt"].clone();

    browser.find("#f-name");
    browser.run("var n = document.getElementById('f-name'); n.value = ''; return true");
    browser.type_into("#f-name", "changed attribute");
    browser.run("document.getElementById('f-createdAt').value = '2026-04-01T09:30'; return true");
    browser.click("#save-record");
    browser.wait_for_text("#record-version", "2");
    let rec = api.get("/api/v1/data-definitions/order/data/ord_123").body;
    assert_eq!(
        rec["name"], "Order #123",
        "the record's own name is unchanged"
    );
    assert_eq!(
        rec["createdAt"], own_created,
        "the record's own createdAt too"
    );
    assert_eq!(
        rec["attributes"],
        json!({"id": "external-7", "name": "changed attribute", "createdAt": "2026-04-01T07:30:00Z"}),
        "Berlin is UTC+2 in April"
    );
    // The list shows the attribute columns under their own names.
    browser.goto(&format!("{}/w/{ws}/data/order", server.url));
    browser.wait_for_text("#records", "changed attribute");
    browser.wait_for_text("#records", "external-7");
}

#[test]
fn viewers_see_the_data_pages_read_only() {
    let server = Server::start();
    let (owner, ws) = server.setup_admin();
    let api = server.with_key(&owner.create_key(&ws, "admin"));
    api.post(
        "/api/v1/data-definitions",
        json!({"name": "Tickets", "attributes": {
            "status": {"type": "select", "options": [{"value": "open", "color": "green"}, {"value": "closed"}]},
            "secret": {"type": "text", "hiddenFrom": ["viewer"]}}}),
    );
    api.post(
        "/api/v1/data-definitions/tickets/data/upsert-many",
        json!({"records": [{"id": "t1", "name": "First", "attributes": {"status": "open", "secret": "s3cr3t"}}]}),
    );
    let viv = server.add_member(&owner, &ws, "viv@example.com", "viewer pass", "viewer");

    let list = viv.get(&format!("/w/{ws}/data/tickets"));
    assert_eq!(list.status, 200);
    assert!(list.text.contains("id=\"read-only\""), "{}", list.text);
    assert!(!list.text.contains("id=\"new-record\""));
    assert!(!list.text.contains("delete-many"), "no delete buttons");
    assert!(!list.text.contains("s3cr3t") && !list.text.contains(">secret<"));
    let page = viv.get(&format!("/w/{ws}/data/tickets/records/t1"));
    assert_eq!(page.status, 200);
    assert!(
        !page.text.contains("id=\"save-record\"") && !page.text.contains("id=\"delete-record\"")
    );
    assert!(
        page.text
            .contains("value=\"open\" data-type=\"select\" checked disabled"),
        "the chips show the value, disabled: {}",
        page.text
    );
    assert!(!page.text.contains("s3cr3t") && !page.text.contains("f-secret"));
    assert_eq!(viv.get(&format!("/w/{ws}/data/tickets/new")).status, 403);
    let fields = viv.get(&format!("/w/{ws}/data/tickets/fields"));
    assert!(!fields.text.contains("field-form") && !fields.text.contains("data-edit-field"));
    assert!(!viv
        .get(&format!("/w/{ws}/data"))
        .text
        .contains("new-definition"));
    // The API refuses what the page does not offer.
    let patch = viv.patch(
        "/api/v1/data-definitions/tickets/data/patch-many",
        json!({"ids": ["t1"], "attributes": {"status": "closed"}}),
    );
    assert_eq!(patch.status, 403, "{}", patch.text);

    // The owner's pages offer every action, and a record of another workspace's definition
    // or an unknown record is not found.
    let full = owner.get(&format!("/w/{ws}/data/tickets/records/t1"));
    assert!(full.text.contains("id=\"save-record\"") && full.text.contains("f-secret"));
    assert_eq!(
        owner
            .get(&format!("/w/{ws}/data/tickets/records/nope"))
            .status,
        404
    );
}

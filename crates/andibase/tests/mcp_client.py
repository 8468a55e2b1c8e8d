"""Drives andibase's /mcp with the official MCP Python SDK (`pip install mcp`).

Usage: mcp_client.py BASE_URL ADMIN_KEY VIEWER_KEY OTHER_KEY PERSON_ID
Prints each check; exits 1 at the first that fails.
"""

import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

BASE, ADMIN, VIEWER, OTHER, PERSON = sys.argv[1:6]


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        sys.exit(1)


def attr(obj, snake, camel):
    """SDK 2.x names fields in snake_case, 1.x in the wire's camelCase."""
    return getattr(obj, snake) if hasattr(obj, snake) else getattr(obj, camel)


def failed(result):
    return bool(attr(result, "is_error", "isError"))


def answer(result):
    text = "".join(c.text for c in result.content if getattr(c, "type", "") == "text")
    try:
        return json.loads(text)
    except ValueError:
        return text


async def session(key, query="", agent=None):
    headers = {"Authorization": f"Bearer {key}"}
    if agent:
        headers["X-Agent-Id"] = agent
    client = create_mcp_http_client(headers=headers)
    return client, streamable_http_client(f"{BASE}/mcp{query}", http_client=client)


async def with_session(key, body, query="", agent=None):
    client, transport = await session(key, query, agent)
    async with client, transport as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as s:
            info = await s.initialize()
            return await body(s, info)


async def admin_flow(s, info):
    check(attr(info, "server_info", "serverInfo").name == "andibase", "initialize names the server")
    tools = {t.name: t for t in (await s.list_tools()).tools}
    for name in ["create_data_records", "query_data_records", "run_sql_query", "request_human_approval", "execute_kip_readonly"]:
        check(name in tools, f"tool {name} is listed")
    check(attr(tools["query_data_records"].annotations, "read_only_hint", "readOnlyHint") is True, "readers are marked read-only")
    made = answer(await s.call_tool("create_data_records", {"definition": "tasks", "records": [{"name": "From Python", "attributes": {"title": "From Python"}}]}))
    check(made.get("created") == 1, f"a record is created: {made}")
    page = answer(await s.call_tool("query_data_records", {"definition": "tasks", "filter": 'title = "From Python"'}))
    check(page["items"][0]["name"] == "From Python", "and queried back")
    bad = await s.call_tool("create_data_records", {"definition": "tasks", "records": [{"name": "x", "attributes": {"title": 3}}]})
    check(failed(bad) and answer(bad)["issues"][0]["path"] == ["records", 0, "attributes", "title"], "a bad record is a tool error naming the field")
    resources = [str(r.uri) for r in (await s.list_resources()).resources]
    check("andibase://data-definitions/tasks" in resources, f"definitions are resources: {resources}")
    definition = json.loads((await s.read_resource("andibase://data-definitions/tasks")).contents[0].text)
    check("title" in definition["fields"], "a definition reads with its fields")
    person = json.loads((await s.read_resource(f"andibase://data-definitions/people/records/{PERSON}")).contents[0].text)
    check(person["attributes"].get("salary") == 100, f"an admin reads a record with every field: {person}")
    listed = await s.list_resource_templates()
    templates = [attr(t, "uri_template", "uriTemplate") for t in attr(listed, "resource_templates", "resourceTemplates")]
    check("andibase://data-definitions/{handle}/records/{id}" in templates, f"records are reached by template: {templates}")
    prompts = await s.list_prompts()
    check(any(p.name == "andibase-skill" for p in prompts.prompts), "skill.md is a prompt")
    skill = await s.get_prompt("andibase-skill")
    check(BASE in skill.messages[0].content.text, "the prompt carries this server's URL")

    # An approval a human decides while the tool waits, with progress meanwhile.
    progress = []

    async def on_progress(done, total, message):
        progress.append((done, message))

    async def human():
        async with create_mcp_http_client(headers={"Authorization": f"Bearer {ADMIN}"}) as h:
            for _ in range(200):
                pending = (await h.get(f"{BASE}/api/v1/approvals")).json()
                if pending:
                    r = await h.post(f"{BASE}/api/v1/approvals/{pending[0]['requestId']}/resolve", json={"optionIndex": 0})
                    return r.status_code
                await asyncio.sleep(0.1)
        return None

    decider = asyncio.create_task(human())
    result = await s.call_tool(
        "request_human_approval",
        {"question": "Deploy?", "context_markdown": "**green**", "options": [{"label": "Ship", "value": "ship"}, {"label": "Hold", "value": "hold"}]},
        progress_callback=on_progress,
    )
    check(await decider == 200, "the human decided in the inbox")
    decided = answer(result)
    check(decided["status"] == "selected_option" and decided["selected_option_value"] == "ship", f"the tool answered the decision: {decided}")
    check(len(progress) >= 1, f"progress was reported while waiting: {progress}")


async def viewer_flow(s, info):
    names = [t.name for t in (await s.list_tools()).tools]
    check("query_data_records" in names and "create_data_records" not in names, "a viewer's key sees no writers")
    refused = await s.call_tool("create_data_records", {"definition": "tasks", "records": [{"name": "x"}]})
    check(failed(refused), "a writer named by a viewer is a tool error")
    person = json.loads((await s.read_resource(f"andibase://data-definitions/people/records/{PERSON}")).contents[0].text)
    check("salary" not in person["attributes"] and person["name"] == "Ada", f"a field hidden from viewers stays hidden in a resource: {person}")


async def read_only_flow(s, info):
    names = [t.name for t in (await s.list_tools()).tools]
    check("query_data_records" in names and not any(n in names for n in ["create_data_records", "delete_data_records", "execute_kip"]), "?readOnly=true hides every writer")


async def other_flow(s, info):
    result = await s.call_tool("query_data_records", {"definition": "tasks"})
    check(failed(result) and answer(result)["error"] == "not found", "another workspace's data is not found")
    try:
        await s.read_resource(f"andibase://data-definitions/people/records/{PERSON}")
        check(False, "another workspace's record is readable")
    except Exception as e:  # the SDK raises the JSON-RPC error
        check("not found" in str(e).lower(), f"another workspace's record is not found: {e}")


async def malformed():
    headers = {"Authorization": f"Bearer {ADMIN}", "Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    async with create_mcp_http_client(headers=headers) as h:
        init = await h.post(f"{BASE}/mcp", content=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}))
        sid = init.headers["mcp-session-id"]
        more = {"mcp-session-id": sid, "mcp-protocol-version": "2025-06-18"}
        await h.post(f"{BASE}/mcp", headers=more, content='{"jsonrpc":"2.0","method":"notifications/initialized"}')
        junk = await h.post(f"{BASE}/mcp", headers=more, content="{oops")
        check(400 <= junk.status_code < 500, f"malformed JSON-RPC is refused ({junk.status_code})")
        listed = await h.post(f"{BASE}/mcp", headers=more, content='{"jsonrpc":"2.0","id":2,"method":"tools/list"}')
        check(listed.status_code == 200 and "query_data_records" in listed.text, "the session goes on after it")


async def main():
    await with_session(ADMIN, admin_flow, agent="bot")
    await with_session(VIEWER, viewer_flow)
    await with_session(ADMIN, read_only_flow, query="?readOnly=true")
    await with_session(OTHER, other_flow)
    await malformed()
    print("all checks passed")


asyncio.run(main())

//! Anthropic Messages: `POST {base}/v1/messages`.

use std::io::Read;
use std::time::Duration;

use serde_json::{json, Value};

use crate::{
    malformed, parse_arguments, sse, Event, LlmError, Model, Reply, Request, Role, ToolCall,
    ToolChoice, Usage,
};

type Failure = (LlmError, Option<Duration>);

pub(crate) fn request(model: &Model, request: &Request, stream: bool) -> (String, Value) {
    // Messages alternate user and assistant: tool results (and a user message after them)
    // are blocks of one user message.
    let mut messages: Vec<(&str, Vec<Value>)> = Vec::new();
    for m in &request.messages {
        let (role, blocks) = match m.role {
            Role::User => {
                let mut blocks = vec![json!({"type": "text", "text": m.text})];
                blocks.extend(m.images.iter().map(|i| {
                    json!({"type": "image", "source": {"type": "base64", "media_type": i.media_type, "data": i.data}})
                }));
                ("user", blocks)
            }
            Role::Tool => (
                "user",
                vec![json!({
                    "type": "tool_result",
                    "tool_use_id": m.tool_call_id,
                    "content": m.text,
                    "is_error": m.is_error,
                })],
            ),
            Role::Assistant => {
                let mut blocks = Vec::new();
                if !m.text.is_empty() {
                    blocks.push(json!({"type": "text", "text": m.text}));
                }
                for c in &m.tool_calls {
                    let input = match &c.arguments {
                        Value::Object(_) => c.arguments.clone(),
                        _ => json!({}),
                    };
                    blocks.push(
                        json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}),
                    );
                }
                ("assistant", blocks)
            }
        };
        match messages.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => messages.push((role, blocks)),
        }
    }
    let mut body = json!({
        "model": model.name,
        "max_tokens": model.max_output,
        "messages": messages
            .into_iter()
            .map(|(role, content)| json!({"role": role, "content": content}))
            .collect::<Vec<_>>(),
        "stream": stream,
    });
    if !request.system.is_empty() {
        body["system"] = json!(request.system);
    }
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
        body["tool_choice"] = json!({"type": match request.tool_choice {
            ToolChoice::Auto => "auto",
            ToolChoice::Required => "any",
            ToolChoice::None => "none",
        }});
    }
    (
        format!(
            "{}/v1/messages",
            model.endpoint.base_url.trim_end_matches('/')
        ),
        body,
    )
}

fn usage(u: &Value) -> Usage {
    Usage {
        input_tokens: u["input_tokens"].as_u64().unwrap_or(0),
        output_tokens: u["output_tokens"].as_u64().unwrap_or(0),
        cached_tokens: u["cache_read_input_tokens"].as_u64().unwrap_or(0),
        requests: 0,
    }
}

pub(crate) fn read_reply(body: &Value) -> Result<Reply, Failure> {
    let content = body["content"]
        .as_array()
        .ok_or_else(|| malformed("the model's answer has no content"))?;
    let mut reply = Reply {
        usage: usage(&body["usage"]),
        stop_reason: body["stop_reason"].as_str().unwrap_or_default().to_string(),
        ..Reply::default()
    };
    for block in content {
        match block["type"].as_str() {
            Some("text") => reply.text.push_str(block["text"].as_str().unwrap_or("")),
            Some("tool_use") => reply.tool_calls.push(ToolCall {
                id: block["id"].as_str().unwrap_or_default().to_string(),
                name: block["name"]
                    .as_str()
                    .ok_or_else(|| malformed("a tool call without a name"))?
                    .to_string(),
                arguments: block["input"].clone(),
            }),
            _ => {}
        }
    }
    Ok(reply)
}

pub(crate) fn read_stream(
    reader: impl Read,
    report: &mut dyn FnMut(Event<'_>),
) -> Result<Reply, Failure> {
    let mut reply = Reply::default();
    // The open tool-use block: (id, name, input JSON text).
    let mut open: Option<(String, String, String)> = None;
    let mut failure = None;
    sse::read(reader, |_, data| {
        let Ok(event) = serde_json::from_str::<Value>(data) else {
            failure = Some(malformed("a streamed event is not JSON"));
            return Ok(false);
        };
        match event["type"].as_str().unwrap_or_default() {
            "message_start" => {
                let u = usage(&event["message"]["usage"]);
                reply.usage.input_tokens = u.input_tokens;
                reply.usage.cached_tokens = u.cached_tokens;
            }
            "content_block_start" if event["content_block"]["type"] == "tool_use" => {
                let block = &event["content_block"];
                open = Some((
                    block["id"].as_str().unwrap_or_default().to_string(),
                    block["name"].as_str().unwrap_or_default().to_string(),
                    String::new(),
                ));
            }
            "content_block_delta" => {
                let delta = &event["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => {
                        let text = delta["text"].as_str().unwrap_or("");
                        reply.text.push_str(text);
                        report(Event::Text(text));
                    }
                    Some("input_json_delta") => {
                        if let Some((_, _, input)) = open.as_mut() {
                            input.push_str(delta["partial_json"].as_str().unwrap_or(""));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                if let Some((id, name, input)) = open.take() {
                    let call = ToolCall {
                        id,
                        name,
                        arguments: parse_arguments(&input),
                    };
                    report(Event::ToolCall(&call));
                    reply.tool_calls.push(call);
                }
            }
            "message_delta" => {
                if let Some(reason) = event["delta"]["stop_reason"].as_str() {
                    reply.stop_reason = reason.to_string();
                }
                if let Some(n) = event["usage"]["output_tokens"].as_u64() {
                    reply.usage.output_tokens = n;
                }
            }
            "message_stop" => return Ok(false),
            "error" => {
                failure = Some(malformed(format!(
                    "the model provider stopped with an error: {}",
                    event["error"]["message"].as_str().unwrap_or("unknown")
                )));
                return Ok(false);
            }
            _ => {}
        }
        Ok(true)
    })
    .map_err(|e| (e, None))?;
    match failure {
        Some(f) => Err(f),
        None => Ok(reply),
    }
}

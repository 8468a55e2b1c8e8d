//! OpenAI-compatible Chat Completions: `POST {base}/chat/completions`.

use std::io::Read;
use std::time::Duration;

use serde_json::{json, Value};

use crate::{
    malformed, parse_arguments, sse, Event, LlmError, Model, Reply, Request, Role, ToolCall,
    ToolChoice, Usage,
};

type Failure = (LlmError, Option<Duration>);

pub(crate) fn request(model: &Model, request: &Request, stream: bool) -> (String, Value) {
    let mut messages = Vec::new();
    if !request.system.is_empty() {
        messages.push(json!({"role": "system", "content": request.system}));
    }
    for m in &request.messages {
        messages.push(match m.role {
            Role::User if m.images.is_empty() => json!({"role": "user", "content": m.text}),
            Role::User => {
                let mut parts = vec![json!({"type": "text", "text": m.text})];
                parts.extend(m.images.iter().map(|i| {
                    json!({"type": "image_url", "image_url": {"url": format!("data:{};base64,{}", i.media_type, i.data)}})
                }));
                json!({"role": "user", "content": parts})
            }
            Role::Assistant if m.tool_calls.is_empty() => {
                json!({"role": "assistant", "content": m.text})
            }
            Role::Assistant => json!({
                "role": "assistant",
                "content": if m.text.is_empty() { Value::Null } else { json!(m.text) },
                "tool_calls": m.tool_calls.iter().map(|c| json!({
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": arguments_text(&c.arguments)},
                })).collect::<Vec<_>>(),
            }),
            Role::Tool => json!({
                "role": "tool",
                "tool_call_id": m.tool_call_id,
                "content": m.text,
            }),
        });
    }
    // OpenAI's own models take `max_completion_tokens`; compatible servers `max_tokens`.
    let max_field = if model.endpoint.base_url.contains("api.openai.com") {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    let mut body = json!({
        "model": model.name,
        "messages": messages,
        max_field: model.max_output,
        "stream": stream,
    });
    if stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters,
                }})
            })
            .collect();
        body["tool_choice"] = json!(match request.tool_choice {
            ToolChoice::Auto => "auto",
            ToolChoice::Required => "required",
            ToolChoice::None => "none",
        });
    }
    (
        format!(
            "{}/chat/completions",
            model.endpoint.base_url.trim_end_matches('/')
        ),
        body,
    )
}

/// Arguments as the wire carries them: JSON text.
fn arguments_text(arguments: &Value) -> String {
    match arguments {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

fn usage(u: &Value) -> Usage {
    Usage {
        input_tokens: u["prompt_tokens"].as_u64().unwrap_or(0),
        output_tokens: u["completion_tokens"].as_u64().unwrap_or(0),
        cached_tokens: u["prompt_tokens_details"]["cached_tokens"]
            .as_u64()
            .unwrap_or(0),
        requests: 0,
    }
}

pub(crate) fn read_reply(body: &Value) -> Result<Reply, Failure> {
    let choice = body["choices"]
        .get(0)
        .ok_or_else(|| malformed("the model's answer has no choices"))?;
    let message = &choice["message"];
    let mut tool_calls = Vec::new();
    for c in message["tool_calls"].as_array().into_iter().flatten() {
        tool_calls.push(ToolCall {
            id: c["id"].as_str().unwrap_or_default().to_string(),
            name: c["function"]["name"]
                .as_str()
                .ok_or_else(|| malformed("a tool call without a name"))?
                .to_string(),
            arguments: parse_arguments(c["function"]["arguments"].as_str().unwrap_or("")),
        });
    }
    Ok(Reply {
        text: message["content"].as_str().unwrap_or_default().to_string(),
        tool_calls,
        usage: usage(&body["usage"]),
        stop_reason: choice["finish_reason"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    })
}

pub(crate) fn read_stream(
    reader: impl Read,
    report: &mut dyn FnMut(Event<'_>),
) -> Result<Reply, Failure> {
    let mut reply = Reply::default();
    // Tool calls arrive in pieces, by index: (id, name, arguments text).
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let mut failure = None;
    sse::read(reader, |_, data| {
        if data.trim() == "[DONE]" {
            return Ok(false);
        }
        let Ok(chunk) = serde_json::from_str::<Value>(data) else {
            failure = Some(malformed("a streamed chunk is not JSON"));
            return Ok(false);
        };
        if chunk["error"].is_object() {
            failure = Some(malformed(format!(
                "the model provider stopped with an error: {}",
                chunk["error"]["message"].as_str().unwrap_or("unknown")
            )));
            return Ok(false);
        }
        if chunk["usage"].is_object() {
            reply.usage = usage(&chunk["usage"]);
        }
        let Some(choice) = chunk["choices"].get(0) else {
            return Ok(true);
        };
        let delta = &choice["delta"];
        if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
            reply.text.push_str(text);
            report(Event::Text(text));
        }
        for piece in delta["tool_calls"].as_array().into_iter().flatten() {
            let index = piece["index"].as_u64().unwrap_or(calls.len() as u64) as usize;
            if index > 128 {
                failure = Some(malformed("a streamed tool call index is out of range"));
                return Ok(false);
            }
            while calls.len() <= index {
                calls.push(Default::default());
            }
            let call = &mut calls[index];
            if let Some(id) = piece["id"].as_str() {
                call.0 = id.to_string();
            }
            if let Some(name) = piece["function"]["name"].as_str() {
                call.1.push_str(name);
            }
            if let Some(args) = piece["function"]["arguments"].as_str() {
                call.2.push_str(args);
            }
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            reply.stop_reason = reason.to_string();
        }
        Ok(true)
    })
    .map_err(|e| (e, None))?;
    if let Some(f) = failure {
        return Err(f);
    }
    for (id, name, args) in calls {
        if name.is_empty() {
            return Err(malformed("a streamed tool call without a name"));
        }
        let call = ToolCall {
            id,
            name,
            arguments: parse_arguments(&args),
        };
        report(Event::ToolCall(&call));
        reply.tool_calls.push(call);
    }
    Ok(reply)
}

//! A scripted model server on loopback, for tests: it speaks OpenAI Chat Completions
//! (`POST /v1/chat/completions`) and Anthropic Messages (`POST /v1/messages`), plain and
//! streamed, and answers what a script decides from the request it was sent. Every
//! request is kept, read back into [`Message`]s, for the test to inspect.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::{Message, Role, ToolCall, Wire};

/// A request the fake received, read back from its wire format.
#[derive(Clone, Debug)]
pub struct Seen {
    pub wire: Wire,
    pub model: String,
    pub system: String,
    pub messages: Vec<Message>,
    /// The tools offered, by name.
    pub tools: Vec<String>,
    /// `auto`, `required` (Anthropic's `any`), `none`, or empty when no tools.
    pub tool_choice: String,
    pub stream: bool,
    /// The `Authorization` or `x-api-key` header.
    pub key: Option<String>,
    pub body: Value,
}

impl Seen {
    /// The text of the last message a user or tool sent.
    pub fn last_input(&self) -> &str {
        self.messages.last().map_or("", |m| m.text.as_str())
    }

    /// The tool results' texts so far, joined with ` | ` (what scripts often answer).
    pub fn tool_texts(&self) -> String {
        self.tool_results()
            .iter()
            .map(|m| m.text.as_str())
            .collect::<Vec<_>>()
            .join(" | ")
    }

    /// The tool results so far, in order.
    pub fn tool_results(&self) -> Vec<&Message> {
        self.messages
            .iter()
            .filter(|m| m.role == Role::Tool)
            .collect()
    }
}

/// What the script answers.
#[derive(Clone, Debug)]
pub enum Answer {
    Text(String),
    /// Text (may be empty) and tool calls: `(name, arguments)`.
    Tools(String, Vec<(String, Value)>),
    /// An HTTP error status with a message (429 and 503 carry `Retry-After: 0`).
    Fail(u16, String),
    /// Say nothing for this long, then close the connection (a provider that hangs).
    Stall(std::time::Duration),
}

type Script = dyn Fn(&Seen) -> Answer + Send + Sync;

/// A running fake provider; it stops with the test process.
pub struct FakeProvider {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeProvider {
    pub fn start(script: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> FakeProvider {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake provider");
        let addr = listener.local_addr().expect("its address");
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let script: Arc<Script> = Arc::new(script);
        let ids = Arc::new(AtomicU64::new(1));
        let kept = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (script, kept, ids) = (script.clone(), kept.clone(), ids.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &*script, &kept, &ids);
                });
            }
        });
        FakeProvider { addr, seen }
    }

    /// The base URL an OpenAI-compatible client takes (`…/v1`).
    pub fn openai_base(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The base URL an Anthropic client takes.
    pub fn anthropic_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }
}

fn serve(
    stream: TcpStream,
    script: &Script,
    kept: &Mutex<Vec<Seen>>,
    ids: &AtomicU64,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let (mut length, mut key) = (0usize, None);
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "authorization" | "x-api-key" => key = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length.min(64 << 20)];
    reader.read_exact(&mut body)?;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let wire = if path.ends_with("/chat/completions") {
        Wire::OpenAi
    } else if path.ends_with("/v1/messages") {
        Wire::Anthropic
    } else {
        return respond(
            stream,
            404,
            "application/json",
            r#"{"error":{"message":"no such route"}}"#,
        );
    };
    let seen = read_request(wire, &body, key);
    kept.lock().expect("seen").push(seen.clone());
    let answer = script(&seen);
    let (text, calls) = match answer {
        Answer::Fail(status, message) => {
            let body =
                json!({"type": "error", "error": {"type": "fake_error", "message": message}});
            return respond(stream, status, "application/json", &body.to_string());
        }
        Answer::Stall(pause) => {
            std::thread::sleep(pause);
            return Ok(());
        }
        Answer::Text(text) => (text, Vec::new()),
        Answer::Tools(text, calls) => (text, calls),
    };
    let calls: Vec<ToolCall> = calls
        .into_iter()
        .map(|(name, arguments)| ToolCall {
            id: format!("call_{}", ids.fetch_add(1, Ordering::Relaxed)),
            name,
            arguments,
        })
        .collect();
    let input_tokens = (body.to_string().len() / 4) as u64;
    let output_tokens = ((text.len()
        + calls
            .iter()
            .map(|c| c.arguments.to_string().len())
            .sum::<usize>())
        / 4
        + 1) as u64;
    if seen.stream {
        let events = match wire {
            Wire::OpenAi => openai_stream(&seen.model, &text, &calls, input_tokens, output_tokens),
            Wire::Anthropic => {
                anthropic_stream(&seen.model, &text, &calls, input_tokens, output_tokens)
            }
        };
        respond(stream, 200, "text/event-stream", &events)
    } else {
        let body = match wire {
            Wire::OpenAi => openai_reply(&seen.model, &text, &calls, input_tokens, output_tokens),
            Wire::Anthropic => {
                anthropic_reply(&seen.model, &text, &calls, input_tokens, output_tokens)
            }
        };
        respond(stream, 200, "application/json", &body.to_string())
    }
}

fn respond(
    mut stream: TcpStream,
    status: u16,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let retry = if matches!(status, 429 | 503) {
        "Retry-After: 0\r\n"
    } else {
        ""
    };
    write!(
        stream,
        "HTTP/1.1 {status} Fake\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{retry}Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

fn read_request(wire: Wire, body: &Value, key: Option<String>) -> Seen {
    let mut seen = Seen {
        wire,
        model: body["model"].as_str().unwrap_or_default().to_string(),
        system: String::new(),
        messages: Vec::new(),
        tools: Vec::new(),
        tool_choice: String::new(),
        stream: body["stream"].as_bool().unwrap_or(false),
        key,
        body: body.clone(),
    };
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    match wire {
        Wire::OpenAi => {
            for m in body["messages"].as_array().into_iter().flatten() {
                match m["role"].as_str().unwrap_or_default() {
                    "system" => seen.system = text(&m["content"]),
                    "user" => {
                        let mut message = Message::user(text(&m["content"]));
                        for part in m["content"].as_array().into_iter().flatten() {
                            match part["type"].as_str() {
                                Some("text") => message
                                    .text
                                    .push_str(part["text"].as_str().unwrap_or_default()),
                                Some("image_url") => {
                                    let url = part["image_url"]["url"].as_str().unwrap_or_default();
                                    let (head, data) =
                                        url.split_once(";base64,").unwrap_or_default();
                                    message.images.push(crate::Image {
                                        media_type: head.trim_start_matches("data:").to_string(),
                                        data: data.to_string(),
                                    });
                                }
                                _ => {}
                            }
                        }
                        seen.messages.push(message)
                    }
                    "assistant" => seen.messages.push(Message::assistant(
                        text(&m["content"]),
                        m["tool_calls"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|c| ToolCall {
                                id: text(&c["id"]),
                                name: text(&c["function"]["name"]),
                                arguments: crate::parse_arguments(
                                    c["function"]["arguments"].as_str().unwrap_or(""),
                                ),
                            })
                            .collect(),
                    )),
                    "tool" => seen.messages.push(Message::tool_result(
                        m["tool_call_id"].as_str().unwrap_or_default(),
                        text(&m["content"]),
                        false,
                    )),
                    _ => {}
                }
            }
            seen.tools = body["tools"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| text(&t["function"]["name"]))
                .collect();
            seen.tool_choice = text(&body["tool_choice"]);
        }
        Wire::Anthropic => {
            seen.system = text(&body["system"]);
            for m in body["messages"].as_array().into_iter().flatten() {
                let role = m["role"].as_str().unwrap_or_default();
                let (mut said, mut calls, mut images) = (String::new(), Vec::new(), Vec::new());
                for block in m["content"].as_array().into_iter().flatten() {
                    match block["type"].as_str().unwrap_or_default() {
                        "text" => said.push_str(block["text"].as_str().unwrap_or_default()),
                        "image" => images.push(crate::Image {
                            media_type: text(&block["source"]["media_type"]),
                            data: text(&block["source"]["data"]),
                        }),
                        "tool_use" => calls.push(ToolCall {
                            id: text(&block["id"]),
                            name: text(&block["name"]),
                            arguments: block["input"].clone(),
                        }),
                        "tool_result" => seen.messages.push(Message::tool_result(
                            block["tool_use_id"].as_str().unwrap_or_default(),
                            text(&block["content"]),
                            block["is_error"].as_bool().unwrap_or(false),
                        )),
                        _ => {}
                    }
                }
                if role == "assistant" {
                    seen.messages.push(Message::assistant(said, calls));
                } else if !said.is_empty() || !images.is_empty() {
                    let mut message = Message::user(said);
                    message.images = images;
                    seen.messages.push(message);
                }
            }
            seen.tools = body["tools"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| text(&t["name"]))
                .collect();
            seen.tool_choice = match body["tool_choice"]["type"].as_str() {
                Some("any") => "required".into(),
                Some(other) => other.into(),
                None => String::new(),
            };
        }
    }
    seen
}

/// `text` in pieces of a few characters, as providers stream it.
fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(5).map(|c| c.iter().collect()).collect()
}

fn halves(text: &str) -> [String; 2] {
    let chars: Vec<char> = text.chars().collect();
    let mid = chars.len() / 2;
    [chars[..mid].iter().collect(), chars[mid..].iter().collect()]
}

fn openai_reply(model: &str, text: &str, calls: &[ToolCall], input: u64, output: u64) -> Value {
    let mut message = json!({"role": "assistant", "content": text});
    if !calls.is_empty() {
        message["tool_calls"] = calls
            .iter()
            .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments.to_string()}}))
            .collect();
    }
    json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "model": model,
        "choices": [{"index": 0, "message": message,
            "finish_reason": if calls.is_empty() { "stop" } else { "tool_calls" }}],
        "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output},
    })
}

fn openai_stream(model: &str, text: &str, calls: &[ToolCall], input: u64, output: u64) -> String {
    let chunk = |delta: Value, finish: Value| {
        let c = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {c}\n\n")
    };
    let mut out = chunk(json!({"role": "assistant", "content": ""}), Value::Null);
    for p in pieces(text) {
        out += &chunk(json!({"content": p}), Value::Null);
    }
    for (i, c) in calls.iter().enumerate() {
        out += &chunk(
            json!({"tool_calls": [{"index": i, "id": c.id, "type": "function", "function": {"name": c.name, "arguments": ""}}]}),
            Value::Null,
        );
        for half in halves(&c.arguments.to_string()) {
            out += &chunk(
                json!({"tool_calls": [{"index": i, "function": {"arguments": half}}]}),
                Value::Null,
            );
        }
    }
    out += &chunk(
        json!({}),
        json!(if calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        }),
    );
    let usage = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "choices": [],
        "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output}});
    out + &format!("data: {usage}\n\ndata: [DONE]\n\n")
}

fn anthropic_reply(model: &str, text: &str, calls: &[ToolCall], input: u64, output: u64) -> Value {
    let mut content = Vec::new();
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    for c in calls {
        content.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}));
    }
    json!({
        "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
        "content": content,
        "stop_reason": if calls.is_empty() { "end_turn" } else { "tool_use" },
        "usage": {"input_tokens": input, "output_tokens": output},
    })
}

fn anthropic_stream(
    model: &str,
    text: &str,
    calls: &[ToolCall],
    input: u64,
    output: u64,
) -> String {
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut out = event(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_fake", "type": "message", "role": "assistant",
            "model": model, "content": [], "usage": {"input_tokens": input, "output_tokens": 1}}}),
    );
    out += &event("ping", json!({"type": "ping"}));
    let mut index = 0;
    if !text.is_empty() {
        out += &event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
        );
        for p in pieces(text) {
            out += &event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": p}}),
            );
        }
        out += &event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        );
        index += 1;
    }
    for c in calls {
        out += &event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index,
                "content_block": {"type": "tool_use", "id": c.id, "name": c.name, "input": {}}}),
        );
        for half in halves(&c.arguments.to_string()) {
            out += &event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": half}}),
            );
        }
        out += &event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        );
        index += 1;
    }
    out += &event(
        "message_delta",
        json!({"type": "message_delta",
            "delta": {"stop_reason": if calls.is_empty() { "end_turn" } else { "tool_use" }},
            "usage": {"output_tokens": output}}),
    );
    out + &event("message_stop", json!({"type": "message_stop"}))
}

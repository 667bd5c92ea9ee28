//! A scripted model server for real coding agents, speaking each one's own
//! API: OpenAI chat completions (plain and streamed, with tool calls), the
//! OpenAI Responses API (Codex, streamed), the Gemini API (streamed) and
//! Anthropic Messages (Claude Code, streamed). Whatever the agent, it drives
//! the agent's edit tool to make one change to one file, then says it is
//! done; it counts the tool results in each request to know the step.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// The change every agent is told to make.
#[derive(Debug, Clone)]
pub struct Change {
    /// The file, relative to the tree the agent runs in.
    pub file: String,
    /// The tree the agent runs in (tools take absolute paths).
    pub tree: PathBuf,
    pub old: String,
    pub new: String,
}

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Every credential header: `authorization`, `x-api-key`, `x-goog-api-key`.
    pub credentials: Vec<String>,
    pub body: Value,
}

pub struct AgentServer {
    /// `http://127.0.0.1:PORT/v1`
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl AgentServer {
    pub fn start(change: Change) -> AgentServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, change) = (log.clone(), change.clone());
                std::thread::spawn(move || serve(stream, &log, &change));
            }
        });
        AgentServer { url, seen }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Every credential any request carried.
    pub fn credentials(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .seen()
            .into_iter()
            .flat_map(|s| s.credentials)
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

fn serve(mut stream: TcpStream, log: &Mutex<Vec<Seen>>, change: &Change) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or("").to_string();
    let path = words.next().unwrap_or("").to_string();
    let (mut length, mut credentials) = (0usize, Vec::new());
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        let (name, value) = h.split_once(':').unwrap_or((&h, ""));
        let name = name.trim().to_ascii_lowercase();
        match name.as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "authorization" | "x-api-key" | "x-goog-api-key" => {
                credentials.push(value.trim().trim_start_matches("Bearer ").to_string())
            }
            _ => {}
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    log.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        credentials,
        body: body.clone(),
    });
    let route = path.split('?').next().unwrap_or("");
    let reply = match method.as_str() {
        "HEAD" => Reply::Empty,
        "GET" => Reply::Json(json!({"object": "list", "data": []})),
        _ if route.ends_with("/chat/completions") => chat(&body, change),
        _ if route.ends_with("/responses") => responses(&body, change),
        _ if route.contains(":streamGenerateContent") || route.contains(":generateContent") => {
            gemini(&body, change, route.contains("stream"))
        }
        _ if route.ends_with("/messages") => anthropic(&body, change),
        _ => Reply::Status(404),
    };
    let _ = reply.write(&mut stream);
}

enum Reply {
    Empty,
    Status(u16),
    Json(Value),
    /// Server-sent events: `(event name, data)`; a name of `""` writes only
    /// `data:`, and the data `"[DONE]"` is written as it is.
    Events(Vec<(&'static str, Value)>),
}

impl Reply {
    fn write(self, s: &mut TcpStream) -> std::io::Result<()> {
        match self {
            Reply::Empty => write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
            Reply::Status(code) => write!(
                s,
                "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
            ),
            Reply::Json(v) => {
                let text = v.to_string();
                write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                )
            }
            Reply::Events(events) => {
                write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
                )?;
                for (name, data) in events {
                    let data = match &data {
                        Value::String(d) if d == "[DONE]" => d.clone(),
                        d => d.to_string(),
                    };
                    if name.is_empty() {
                        write!(s, "data: {data}\n\n")?;
                    } else {
                        write!(s, "event: {name}\ndata: {data}\n\n")?;
                    }
                    s.flush()?;
                }
                Ok(())
            }
        }
    }
}

fn abs(change: &Change) -> String {
    change.tree.join(&change.file).display().to_string()
}

/// Chat completions: with tools (opencode), an `edit` call, then text; without
/// (aider), a SEARCH/REPLACE block.
fn chat(body: &Value, change: &Change) -> Reply {
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let tools: Vec<&str> = body["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| t["function"]["name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let results = messages.iter().filter(|m| m["role"] == "tool").count();
    let (content, calls) = if !tools.is_empty() && results == 0 {
        let args =
            json!({"filePath": abs(change), "oldString": change.old, "newString": change.new});
        (
            Value::Null,
            Some(json!([{"id": "call_1", "type": "function",
                "function": {"name": "edit", "arguments": args.to_string()}}])),
        )
    } else if !tools.is_empty() {
        (json!("Done."), None)
    } else {
        let block = format!(
            "{}\n```\n<<<<<<< SEARCH\n{}\n=======\n{}\n>>>>>>> REPLACE\n```\n",
            change.file, change.old, change.new
        );
        (json!(block), None)
    };
    let finish = if calls.is_some() {
        "tool_calls"
    } else {
        "stop"
    };
    let usage = json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15});
    if body["stream"] == true {
        let mut delta = json!({"role": "assistant"});
        if !content.is_null() {
            delta["content"] = content;
        }
        if let Some(Value::Array(calls)) = &calls {
            let indexed: Vec<Value> = calls
                .iter()
                .cloned()
                .map(|mut c| {
                    c["index"] = json!(0);
                    c
                })
                .collect();
            delta["tool_calls"] = json!(indexed);
        }
        let chunk = |delta: Value, finish: Value| {
            json!({"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], "usage": usage})
        };
        return Reply::Events(vec![
            ("", chunk(delta, Value::Null)),
            ("", chunk(json!({}), json!(finish))),
            ("", json!("[DONE]")),
        ]);
    }
    let mut message = json!({"role": "assistant", "content": content});
    if let Some(calls) = calls {
        message["tool_calls"] = calls;
    }
    Reply::Json(
        json!({"id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage}),
    )
}

/// The Responses API (Codex): its `apply_patch` tool, then a message.
fn responses(body: &Value, change: &Change) -> Reply {
    let input = body["input"].as_array().cloned().unwrap_or_default();
    let done = input.iter().any(|i| {
        matches!(
            i["type"].as_str(),
            Some("custom_tool_call_output" | "function_call_output")
        )
    });
    let item = if done {
        json!({"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": "Done.", "annotations": []}]})
    } else {
        let patch = format!(
            "*** Begin Patch\n*** Update File: {}\n@@\n-{}\n+{}\n*** End Patch\n",
            change.file, change.old, change.new
        );
        let custom = body["tools"].as_array().is_some_and(|t| {
            t.iter()
                .any(|t| t["type"] == "custom" && t["name"] == "apply_patch")
        });
        if custom {
            json!({"type": "custom_tool_call", "id": "ctc_1", "call_id": "call_1", "name": "apply_patch",
                "input": patch, "status": "completed"})
        } else {
            json!({"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "apply_patch",
                "arguments": json!({"input": patch}).to_string(), "status": "completed"})
        }
    };
    let usage = json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15});
    Reply::Events(vec![
        (
            "response.created",
            json!({"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}}),
        ),
        (
            "response.output_item.done",
            json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
        ),
        (
            "response.completed",
            json!({"type": "response.completed",
            "response": {"id": "resp_1", "status": "completed", "output": [item], "usage": usage}}),
        ),
    ])
}

/// The Gemini API: its `replace` tool, then text.
fn gemini(body: &Value, change: &Change, stream: bool) -> Reply {
    let contents = body["contents"].as_array().cloned().unwrap_or_default();
    let answered = contents.iter().any(|c| {
        c["parts"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p.get("functionResponse").is_some()))
    });
    let has_tools = body["tools"].as_array().is_some_and(|t| !t.is_empty());
    let parts = if has_tools && !answered {
        json!([{"functionCall": {"name": "replace", "args": {"file_path": abs(change),
            "old_string": change.old, "new_string": change.new, "instruction": "make the change"}}}])
    } else {
        json!([{"text": "Done."}])
    };
    let chunk = json!({"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}});
    if stream {
        Reply::Events(vec![("", chunk)])
    } else {
        Reply::Json(chunk)
    }
}

/// Anthropic Messages (Claude Code): `Read` (an `Edit` needs one first),
/// `Edit`, then text.
fn anthropic(body: &Value, change: &Change) -> Reply {
    let results = body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .filter(|b| b["type"] == "tool_result")
        .count();
    let has_tools = body["tools"].as_array().is_some_and(|t| !t.is_empty());
    let block = match (has_tools, results) {
        (true, 0) => {
            json!({"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": abs(change)}})
        }
        (true, 1) => json!({"type": "tool_use", "id": "toolu_2", "name": "Edit",
            "input": {"file_path": abs(change), "old_string": change.old, "new_string": change.new}}),
        _ => json!({"type": "text", "text": "Done."}),
    };
    let stop = if block["type"] == "tool_use" {
        "tool_use"
    } else {
        "end_turn"
    };
    let message = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
        "stop_reason": Value::Null, "stop_sequence": Value::Null, "usage": {"input_tokens": 10, "output_tokens": 1}});
    if body["stream"] != true {
        let mut whole = message;
        whole["content"] = json!([block]);
        whole["stop_reason"] = json!(stop);
        return Reply::Json(whole);
    }
    let mut start = message;
    start["content"] = json!([]);
    let (open, delta) = if block["type"] == "tool_use" {
        (
            json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}),
            json!({"type": "input_json_delta", "partial_json": block["input"].to_string()}),
        )
    } else {
        (
            json!({"type": "text", "text": ""}),
            json!({"type": "text_delta", "text": block["text"]}),
        )
    };
    Reply::Events(vec![
        (
            "message_start",
            json!({"type": "message_start", "message": start}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": open}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": Value::Null},
            "usage": {"output_tokens": 5}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ])
}

//! A local HTTP server that speaks the OpenAI chat completions API with
//! scripted replies, errors and delays. The only fake in the test suite.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub authorization: Option<String>,
    pub body: serde_json::Value,
}

impl Request {
    /// The text of every message, joined.
    pub fn prompt(&self) -> String {
        self.body["messages"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(|x| x["content"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }
}

pub enum Reply {
    /// A completion whose message content is this text.
    Text(String),
    /// An error status with optional Retry-After seconds.
    Status(u16, Option<u64>),
    /// Wait, then reply.
    Delay(Duration, Box<Reply>),
}

type Script = dyn Fn(&Request, usize) -> Reply + Send + Sync;

pub struct FakeLlm {
    pub url: String,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

impl FakeLlm {
    /// `script(request, n)` decides the reply to the n-th request (0-based).
    pub fn start(script: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static) -> FakeLlm {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, script) = (seen.clone(), script.clone());
                std::thread::spawn(move || serve(stream, &seen, &*script));
            }
        });
        FakeLlm { url, requests }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(mut stream: TcpStream, seen: &Mutex<Vec<Request>>, script: &Script) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let (mut length, mut authorization) = (0usize, None);
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        let (name, value) = h.split_once(':').unwrap_or((&h, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "authorization" => authorization = Some(value.trim().to_string()),
            _ => {}
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    let request = Request {
        path,
        authorization,
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    };
    let n = {
        let mut s = seen.lock().unwrap();
        s.push(request.clone());
        s.len() - 1
    };
    let mut reply = script(&request, n);
    while let Reply::Delay(d, next) = reply {
        std::thread::sleep(d);
        reply = *next;
    }
    let (status, extra, payload) = match reply {
        Reply::Text(text) => (
            200,
            String::new(),
            serde_json::json!({
                "id": format!("chatcmpl-{n}"), "object": "chat.completion", "created": 0,
                "model": request.body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200}
            })
            .to_string(),
        ),
        Reply::Status(code, retry_after) => (
            code,
            retry_after.map(|s| format!("Retry-After: {s}\r\n")).unwrap_or_default(),
            serde_json::json!({"error": {"message": "scripted failure", "type": "server_error", "param": null, "code": null}}).to_string(),
        ),
        Reply::Delay(..) => unreachable!(),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{payload}",
        payload.len()
    );
}

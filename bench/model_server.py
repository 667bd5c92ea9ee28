#!/usr/bin/env python3
"""A scripted OpenAI-compatible chat completions server for the benchmarks.

    model_server.py PORT_FILE HYPOTHESES PER_REQUEST PROPOSE_S

Hypotheses are "Set knob kNN" for NN in 1..HYPOTHESES, handed out
PER_REQUEST at a time, each request taking PROPOSE_S seconds; then an empty
list. An edit of knob kNN takes 1 + (NN * 5 mod 8) seconds (1-8 s) and
creates src/kNN containing 1. A request for learnings answers at once. The
port it listens on is written to PORT_FILE.
"""

import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port_file, total, per_request, propose_s = (
    sys.argv[1],
    int(sys.argv[2]),
    int(sys.argv[3]),
    float(sys.argv[4]),
)
handed_out = 0
lock = threading.Lock()


def edit_seconds(knob):
    return 1 + (knob * 5) % 8


def propose():
    global handed_out
    time.sleep(propose_s)
    with lock:
        first = handed_out + 1
        last = min(total, handed_out + per_request)
        handed_out = last
    items = [
        {
            "description": f"Set knob k{k:02d}",
            "category": f"c{k:02d}",
            "priority": "high",
            "required_deps": [],
            "files": [f"src/k{k:02d}"],
        }
        for k in range(first, last + 1)
    ]
    return "```json\n" + json.dumps({"hypotheses": items}) + "\n```"


def reply_to(prompt):
    if "An experiment of an optimization run just finished" in prompt:
        return "Noted."
    if "You propose hypotheses" in prompt:
        return propose()
    m = re.search(r"Set knob k(\d\d)", prompt)
    if not m:
        return "I do not know what to do."
    knob = int(m.group(1))
    time.sleep(edit_seconds(knob))
    return f"```\nsrc/k{knob:02d}\n<<<<<<< SEARCH\n=======\n1\n>>>>>>> REPLACE\n```\n"


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = "\n".join(m.get("content", "") for m in body.get("messages", []))
        text = reply_to(prompt)
        payload = json.dumps(
            {
                "id": "bench",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()

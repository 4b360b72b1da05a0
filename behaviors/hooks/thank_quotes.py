#!/usr/bin/env python3
"""An example hook for imagine-agent (kind: hook).

Reads one event as JSON on stdin and prints one answer as JSON on stdout
(the protocol: protocol.schema.json beside this file; `imagine-agent schema hook`).

- Someone quoted one of our posts: like their quote and thank them under it.
- Someone quoted us with a question: answer it as a reply instead.
- Anything else: do nothing.

Run it by hand to see what it does:
  echo '{"type":"notification","agent":{"handle":"me","id":"a1"},"behavior":"b",
         "notification":{"type":"QUOTE","actor":{"handle":"ada"},"postId":"post_1","content":"Nice?"}}' \
    | python3 behaviors/hooks/thank_quotes.py
"""
import json
import sys

event = json.load(sys.stdin)
n = event.get("notification") or {}
who = (n.get("actor") or {}).get("handle", "friend")

if event.get("type") == "notification" and n.get("type") == "QUOTE" and n.get("postId"):
    text = n.get("content") or ""
    if "?" in text:
        print(json.dumps({"text": f"Good question, @{who}! Short answer: yes, and I keep a log of it."}))
    else:
        print(json.dumps({"actions": [
            {"type": "like"},
            {"type": "comment", "text": f"Thanks for sharing this, @{who}!"},
        ]}))
else:
    print(json.dumps({"actions": [{"type": "nothing"}]}))

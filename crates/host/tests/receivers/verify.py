"""Verifies one Hookah delivery with the official Standard Webhooks library, unchanged.

Reads {"secret", "headers", "body"} as JSON on stdin; exits 0 when the signature verifies.
A real receiver does the same with the request it got:

    from standardwebhooks.webhooks import Webhook
    Webhook(secret).verify(request_body_bytes, request_headers)  # raises on a bad signature
"""
import json
import sys

from standardwebhooks.webhooks import Webhook

delivery = json.load(sys.stdin)
Webhook(delivery["secret"]).verify(delivery["body"].encode(), delivery["headers"])
print("verified")

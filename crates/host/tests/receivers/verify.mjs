// Verifies one Hookah delivery with the official Standard Webhooks library, unchanged.
// Reads {"secret", "headers", "body"} as JSON on stdin; exits 0 when the signature verifies.
// A real receiver does the same with the request it got:
//   new Webhook(secret).verify(rawBody, req.headers) // throws on a bad signature
import { Webhook } from "standardwebhooks";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const delivery = JSON.parse(input);
new Webhook(delivery.secret).verify(delivery.body, delivery.headers);
console.log("verified");

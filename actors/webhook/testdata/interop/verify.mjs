// verify.mjs: the official Standard Webhooks JavaScript library
// (npm "standardwebhooks", pinned in package.json) verifies deliveries
// signed by Firehook. actors/webhook/interop_test.go runs it.
//
// stdin:  a JSON array of cases
//         {"secret": "whsec_…",
//          "headers": {"webhook-id": …, "webhook-timestamp": …, "webhook-signature": …},
//          "body": "the raw body, as a string"}
// stdout: a JSON array of results, one per case and in the same order,
//         {"ok": true|false, "error": "Name: message" or ""}
//
// The library checks webhook-timestamp against the current clock (5 min
// tolerance), so the cases must be signed with a current timestamp.
import { Webhook } from "standardwebhooks";

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) {
  input += chunk;
}
const cases = JSON.parse(input);
if (!Array.isArray(cases)) {
  throw new TypeError("stdin: expected a JSON array of cases");
}

const results = cases.map(({ secret, headers, body }) => {
  try {
    new Webhook(secret).verify(body, headers);
    return { ok: true, error: "" };
  } catch (err) {
    return { ok: false, error: `${err?.name ?? "Error"}: ${err?.message ?? String(err)}` };
  }
});
process.stdout.write(`${JSON.stringify(results)}\n`);

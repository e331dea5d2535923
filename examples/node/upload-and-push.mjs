// Upload a package of accounts to TPNS (or tpns-mock) and push to it, signed with Tencent's
// HMAC scheme. Node 18+, no packages:
//
//   TPNS_BASE_URL=http://localhost:8080 TPNS_ACCESS_ID=1500000001 \
//   TPNS_SECRET_KEY=tpns-mock-secret-key node examples/node/upload-and-push.mjs accounts.zip
//
// The Sign covers the exact body bytes, and fetch builds a FormData body (and its boundary)
// internally. So the form is first encoded by `new Request(url, { body: form })`, whose
// arrayBuffer() gives those bytes and whose Content-Type names their boundary; the bytes are
// signed and sent as they are. It then waits for the push's record to reach PUSH_FINISHED
// (TPNS_PUSH_WAIT_SECONDS, default 600; 0 skips the wait). For HTTPS with the mock's CA, set
// NODE_EXTRA_CA_CERTS=ca.pem.
import { createHmac } from "node:crypto";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";

const baseUrl = (process.env.TPNS_BASE_URL || "http://localhost:8080").replace(/\/+$/, "");
const accessId = process.env.TPNS_ACCESS_ID;
const secretKey = process.env.TPNS_SECRET_KEY;

// Tencent's Sign: Base64 of the lowercase hex HMAC-SHA256 of TimeStamp + AccessId + body.
function sign(timestamp, body) {
  const hex = createHmac("sha256", secretKey).update(timestamp + accessId).update(body).digest("hex");
  return Buffer.from(hex).toString("base64");
}

// Send a signed body; the JSON answer (any keys: only the ones read matter).
async function post(path, contentType, body) {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const response = await fetch(baseUrl + path, {
    method: "POST",
    headers: {
      "Content-Type": contentType,
      AccessId: accessId,
      TimeStamp: timestamp,
      Sign: sign(timestamp, body),
    },
    body,
  });
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${path} answered HTTP ${response.status}, not JSON: ${text.slice(0, 200)}`);
  }
}

// A JSON request, as every TPNS call but the upload is sent.
function postJson(path, payload) {
  return post(path, "application/json", Buffer.from(JSON.stringify(payload)));
}

async function upload(zipPath) {
  const form = new FormData();
  form.append("file", new Blob([await readFile(zipPath)], { type: "application/zip" }), basename(zipPath));
  // the trick: let a Request encode the form, then sign exactly what it encoded
  const encoded = new Request(baseUrl, { method: "POST", body: form });
  const body = Buffer.from(await encoded.arrayBuffer());
  const answer = await post("/v3/push/package/upload", encoded.headers.get("content-type"), body);
  if (answer.retCode !== 0) {
    throw new Error(`upload refused: retCode ${answer.retCode}: ${answer.errMsg}`);
  }
  return answer.uploadId;
}

async function pushToPackage(uploadId) {
  const answer = await postJson("/v3/push/app", {
    audience_type: "package_account_push",
    upload_id: uploadId,
    message_type: "notify",
    message: { title: "Hello", content: "Sent by the Node example" },
  });
  if (answer.ret_code !== 0 || !answer.push_id) {
    throw new Error(`push refused: ret_code ${answer.ret_code}: ${answer.err_msg}`);
  }
  return answer.push_id;
}

// the states a push record ends in
const FINAL_STATES = new Set(["PUSH_FINISHED", "PUSH_FAILED", "PUSH_CANCELED", "PUSH_DELETED"]);

// Ask for the push's record until it reaches a final state (PUSH_FINISHED, ...). The pause
// doubles up to 10 s: Tencent allows 200 record calls per hour per app.
async function waitForPush(pushId, timeoutS) {
  const deadline = Date.now() + timeoutS * 1000;
  let pause = 1000;
  let status = "no record yet";
  for (;;) {
    const answer = await postJson("/v3/statistics/get_push_record", { pushId });
    if (answer.retCode !== 0) {
      throw new Error(`push record refused: retCode ${answer.retCode}: ${answer.errMsg}`);
    }
    const [record] = answer.pushRecordData || [];
    if (record) {
      status = record.status;
      if (FINAL_STATES.has(status)) return status;
    }
    if (Date.now() + pause > deadline) {
      throw new Error(`push ${pushId} not finished within ${timeoutS} s (${status})`);
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
    pause = Math.min(pause * 2, 10000);
  }
}

if (process.argv.length !== 3) {
  console.error("usage: node examples/node/upload-and-push.mjs accounts.zip");
  process.exit(2);
}
if (!accessId || !secretKey) {
  console.error("set TPNS_ACCESS_ID and TPNS_SECRET_KEY (and TPNS_BASE_URL)");
  process.exit(2);
}
try {
  const uploadId = await upload(process.argv[2]);
  console.log(`uploadId=${uploadId}`);
  const pushId = await pushToPackage(uploadId);
  console.log(`push_id=${pushId}`);
  // a large push takes minutes on Tencent; TPNS_PUSH_WAIT_SECONDS=0 skips the wait
  const wait = Number(process.env.TPNS_PUSH_WAIT_SECONDS ?? 600);
  if (wait > 0) {
    const status = await waitForPush(pushId, wait);
    console.log(`status=${status}`);
    if (status !== "PUSH_FINISHED") process.exit(1);
  }
} catch (error) {
  console.error(error.cause ? `${error.message}: ${error.cause.message}` : error.message);
  process.exit(1);
}

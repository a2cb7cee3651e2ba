// airtable.js (Airtable's own Node client) making the calls a test hands it; prints every answer as JSON.
// Usage: node client.js '{"endpointUrl": …, "apiKey": …, "baseId": …, "calls": [{"table", …}]}'
// A call reads ("select": options, or "find": a record id) or writes ("op": "create" | "update" | "replace" with
// "records" and "opts", e.g. {"typecast": true} or {"performUpsert": {"fieldsToMergeOn": [...]}}; "destroy" with "ids").
const Airtable = require("airtable");

async function records(table, call) {
  const opts = call.opts || {};
  switch (call.op) {
    case undefined:
      return call.find ? [await table.find(call.find)] : table.select(call.select || {}).all();
    case "create":
      return table.create(call.records, opts);
    case "update":
      return table.update(call.records, opts);
    case "replace":
      return table.replace(call.records, opts);
    case "destroy":
      return table.destroy(call.ids);
    default:
      throw new Error(`unknown op ${call.op}`);
  }
}

async function main() {
  const request = JSON.parse(process.argv[2]);
  const base = new Airtable({ endpointUrl: request.endpointUrl, apiKey: request.apiKey, noRetryIfRateLimited: true })
    .base(request.baseId);
  const answers = [];
  for (const call of request.calls) {
    try {
      const answer = await records(base(call.table), call);
      // a destroyed record has no raw JSON: its id is what airtable.js gives back
      answers.push({ records: answer.map((record) => record._rawJson || { id: record.id }) });
    } catch (error) {
      answers.push({ status: error.statusCode, error: error.error });
    }
  }
  process.stdout.write(JSON.stringify(answers));
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error));
  process.exit(1);
});

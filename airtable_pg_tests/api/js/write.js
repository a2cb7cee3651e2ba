// airtable.js (Airtable's own Node client) making the writes a test hands it; prints every answer as JSON.
// Usage: node write.js '{"endpointUrl": …, "apiKey": …, "baseId": …, "calls": [{"table", "op", …}]}'
//   op: "create" | "update" | "replace" with "records" (and "opts", e.g. {"typecast": true} or
//   {"performUpsert": {"fieldsToMergeOn": [...]}}), "destroy" with "ids".
const Airtable = require("airtable");

async function call(base, request) {
  const table = base(request.table);
  const opts = request.opts || {};
  switch (request.op) {
    case "create":
      return table.create(request.records, opts);
    case "update":
      return table.update(request.records, opts);
    case "replace":
      return table.replace(request.records, opts);
    case "destroy":
      return table.destroy(request.ids);
    default:
      throw new Error(`unknown op ${request.op}`);
  }
}

async function main() {
  const request = JSON.parse(process.argv[2]);
  const base = new Airtable({ endpointUrl: request.endpointUrl, apiKey: request.apiKey, noRetryIfRateLimited: true })
    .base(request.baseId);
  const answers = [];
  for (const one of request.calls) {
    try {
      const records = await call(base, one);
      // a destroyed record has no raw JSON: its id is what airtable.js gives back
      answers.push({ records: records.map((record) => record._rawJson || { id: record.id }) });
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

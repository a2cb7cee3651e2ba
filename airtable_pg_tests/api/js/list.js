// airtable.js (Airtable's own Node client) making the calls a test hands it; prints every answer as JSON.
// Usage: node list.js '{"endpointUrl": …, "apiKey": …, "baseId": …, "calls": [{"table", "select"?, "find"?}]}'
const Airtable = require("airtable");

async function main() {
  const request = JSON.parse(process.argv[2]);
  const base = new Airtable({ endpointUrl: request.endpointUrl, apiKey: request.apiKey, noRetryIfRateLimited: true })
    .base(request.baseId);
  const answers = [];
  for (const call of request.calls) {
    try {
      if (call.find) {
        const record = await base(call.table).find(call.find);
        answers.push({ records: [record._rawJson] });
      } else {
        const records = await base(call.table).select(call.select || {}).all();
        answers.push({ records: records.map((record) => record._rawJson) });
      }
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

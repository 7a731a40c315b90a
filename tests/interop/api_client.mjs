// CARTO's own JavaScript client, @carto/api-client's `query()`, against a carto-emulator:
// an OAuth token from the M2M credentials of `<user>.carto3.json`, then queries by GET and
// by POST (the client switches above `maxLengthURL`) with `queryParameters`, the schema in
// CARTO's vocabulary, an error as `CartoAPIError`, and an API access token made with the
// Tokens API used as the client's `accessToken`.
// Usage: node api_client.mjs <user>.carto3.json  (with @carto/api-client installed)
import {readFileSync} from 'node:fs';
import assert from 'node:assert/strict';
import {query, CartoAPIError} from '@carto/api-client';

const creds = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const apiBaseUrl = creds.api_base_url;
const connectionName = creds.connection;

const form = new URLSearchParams({
  grant_type: 'client_credentials',
  client_id: creds.client_id,
  client_secret: creds.client_secret,
  audience: 'carto-cloud-native-api',
});
const auth = await fetch(`${creds.auth_url}/oauth/token`, {method: 'POST', body: form});
assert.equal(auth.status, 200);
const {access_token: accessToken, expires_in: expiresIn} = await auth.json();
assert.ok(accessToken && expiresIn > 0);

const base = {apiBaseUrl, connectionName, accessToken, localCache: {cacheControl: ['no-cache', 'no-store']}};
await query({...base, sqlQuery: 'CREATE TABLE IF NOT EXISTS stores (id int8, name text, revenue float8)'});
await query({...base, sqlQuery: "INSERT INTO stores VALUES (1, 'Supermarket', 150000), (2, 'Corner', 90000)"});

for (const maxLengthURL of [7000, 10]) {
  const result = await query({
    ...base,
    maxLengthURL,
    sqlQuery: 'SELECT id, name FROM stores WHERE revenue > $1 AND name = $2',
    queryParameters: [100000, 'Supermarket'],
  });
  assert.deepEqual(result.rows, [{id: 1, name: 'Supermarket'}], `maxLengthURL ${maxLengthURL}`);
  assert.deepEqual(result.schema, [
    {name: 'id', type: 'bigint'},
    {name: 'name', type: 'string'},
  ]);
}

await assert.rejects(
  query({...base, sqlQuery: 'SELEC 1'}),
  (e) => e instanceof CartoAPIError && e.response?.status === 400 && /syntax error/.test(e.message)
);

const made = await fetch(`${apiBaseUrl}/v3/tokens`, {
  method: 'POST',
  headers: {Authorization: `Bearer ${accessToken}`, 'Content-Type': 'application/json'},
  body: JSON.stringify({
    grants: [{connection_name: connectionName, source: 'public.stores'}],
    referers: [],
    allowed_apis: ['sql'],
  }),
});
assert.equal(made.status, 201);
const {token} = await made.json();
const count = await query({...base, accessToken: token, sqlQuery: 'SELECT count(*) AS n FROM stores'});
assert.deepEqual(count.rows, [{n: 2}]);
await assert.rejects(
  query({...base, accessToken: token, sqlQuery: 'SELECT * FROM pg_catalog.pg_authid'}),
  (e) => e instanceof CartoAPIError && e.response?.status === 403
);
console.log('@carto/api-client query() against the emulator: ok');

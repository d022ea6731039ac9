// Test authorization server for mcp-frontdoor, built on oidc-provider
// (pinned in tools/npm). Loopback only; in-memory; NOT for production.
//
// Run with Node 22 (scripts/install-test-tools.sh installs it):
//   NODE_PATH=tools/npm/node_modules .tools/node/node_modules/node/bin/node tools/oidc/as.mjs
// (the script also finds tools/npm/node_modules on its own).
//
// Environment:
//   PORT       TCP port on 127.0.0.1 (default 4444; 0 = pick a free port)
//   RESOURCES  comma separated RFC 8707 resource values (token audiences);
//              the first is the default (default http://127.0.0.1:8080/mcp)
//   KID        "kid" of the ES256 signing key (default k1)
//   FORMAT     access token format: jwt (default, RFC 9068) or opaque
//   SCOPES     space separated scopes (default "mcp:read mcp:write")
//   TTL        access token lifetime in seconds (default 300)
//   EXIT_ON_STDIN_EOF  if "1", exit when stdin closes (parent died)
//
// Clients (client_secret_basic or client_secret_post):
//   svc / svc-secret   client_credentials grant; tokens get sub = client_id = "svc"
//   rs  / rs-secret    for the resource server's RFC 7662 introspection calls
//
// Endpoints: /.well-known/openid-configuration,
// /.well-known/oauth-authorization-server, /jwks, /token,
// /token/introspection.
//
// Prints exactly one line "ready <issuer>" on stdout once listening.

import http from 'node:http';
import { createRequire } from 'node:module';
import { generateKeyPairSync } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Resolve oidc-provider from NODE_PATH or from tools/npm/node_modules
// (ES module imports ignore NODE_PATH, so use a require rooted there).
const here = path.dirname(fileURLToPath(import.meta.url));
const roots = [...(process.env.NODE_PATH || '').split(path.delimiter).filter(Boolean),
  path.join(here, '..', 'npm', 'node_modules')];
let providerPath;
for (const root of roots) {
  try {
    providerPath = createRequire(path.join(root, 'noop.js')).resolve('oidc-provider');
    break;
  } catch { /* try next */ }
}
if (!providerPath) {
  console.error(`as.mjs: cannot find oidc-provider in ${roots.join(', ')}; run scripts/install-test-tools.sh`);
  process.exit(2);
}
const { default: Provider, errors } = await import(pathToFileURL(providerPath).href);

const env = process.env;
const PORT = env.PORT === undefined || env.PORT === '' ? 4444 : Number(env.PORT);
if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) {
  console.error(`as.mjs: bad PORT ${env.PORT}`);
  process.exit(2);
}
const RESOURCES = (env.RESOURCES || 'http://127.0.0.1:8080/mcp').split(',').map((s) => s.trim()).filter(Boolean);
const KID = env.KID || 'k1';
const FORMAT = env.FORMAT || 'jwt';
if (FORMAT !== 'jwt' && FORMAT !== 'opaque') {
  console.error(`as.mjs: FORMAT must be jwt or opaque, got ${FORMAT}`);
  process.exit(2);
}
const SCOPES = (env.SCOPES || 'mcp:read mcp:write').split(/\s+/).filter(Boolean);
const TTL = Number(env.TTL || 300);

if (env.EXIT_ON_STDIN_EOF === '1') {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));

// Listen first so that PORT=0 works: the issuer needs the real port.
const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(PORT, '127.0.0.1', resolve);
});
const ISSUER = `http://127.0.0.1:${server.address().port}`;

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: KID, alg: 'ES256', use: 'sig' };

const clientBase = {
  grant_types: ['client_credentials'],
  redirect_uris: [],
  response_types: [],
  id_token_signed_response_alg: 'ES256', // the JWKS holds only an ES256 key
};

const provider = new Provider(ISSUER, {
  clients: [
    { ...clientBase, client_id: 'svc', client_secret: 'svc-secret' },
    { ...clientBase, client_id: 'rs', client_secret: 'rs-secret' },
  ],
  jwks: { keys: [jwk] },
  scopes: SCOPES,
  ttl: { ClientCredentials: TTL }, // opaque token lifetime (JWTs use accessTokenTTL below)
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // Any authenticated confidential client (svc, rs) may introspect.
      allowedPolicy: async (ctx, client) => client.clientAuthMethod !== 'none',
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCES[0],
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        if (!RESOURCES.includes(resource)) throw new errors.InvalidTarget();
        return {
          scope: SCOPES.join(' '),
          audience: resource,
          accessTokenTTL: TTL,
          accessTokenFormat: FORMAT,
          ...(FORMAT === 'jwt' ? { jwt: { sign: { alg: 'ES256' } } } : {}),
        };
      },
    },
  },
});

// Route the already listening server to the provider.
server.on('request', provider.callback());
process.stdout.write(`ready ${ISSUER}\n`);

// End-to-end MCP client for mcp-frontdoor's OAuth tests: a stock MCP
// TypeScript SDK client (@modelcontextprotocol/client, pinned in
// tools/npm) logs in to an MCP server behind a front door and calls tools.
//
// The SDK does all of OAuth: 401 → protected resource metadata →
// authorization server metadata → dynamic client registration →
// authorization code + PKCE → token exchange (with the RFC 8707 resource),
// refresh, and the 403 insufficient_scope step-up. This script only
// supplies what an application supplies: the OAuthClientProvider's storage
// callbacks, a loopback redirect URI with a listener behind it, and a
// "browser" for redirectToAuthorization that opens the login page, follows
// the link of the chosen dev user and so lands on the redirect URI, as a
// person clicking in a browser would. After an UnauthorizedError it calls
// transport.finishAuth with the callback's parameters and retries, as the
// SDK documents.
//
// Run with Node >= 22.19 from anywhere (imports resolve in tools/npm):
//   node tools/npm/e2e/mcp-oauth-client.mjs
// Environment:
//   MCP_URL      the MCP endpoint behind the front door (required)
//   LOGIN_USER   the dev user to pick on the login page (default dev-user)
//   STEP_UP_TOOL a tool that needs a scope the first login lacks (default
//                admin_echo); empty skips the step-up
//   TIMEOUT_MS   overall deadline (default 60000)
//
// Output: one JSON object per line on stdout, {"event": ..., ...}. Access
// tokens, refresh tokens, codes and secrets are never printed. Exit 0 when
// every step succeeded, 1 on a failure (an {"event":"error"} line says
// which), 2 on the deadline.

import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { Client, StreamableHTTPClientTransport, UnauthorizedError } from '@modelcontextprotocol/client';

const MCP_URL = process.env.MCP_URL;
const LOGIN_USER = process.env.LOGIN_USER || 'dev-user';
const STEP_UP_TOOL = process.env.STEP_UP_TOOL ?? 'admin_echo';
const TIMEOUT_MS = Number(process.env.TIMEOUT_MS || 60000);

function emit(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n');
}

if (!MCP_URL) {
  emit('error', { message: 'MCP_URL is required' });
  process.exit(1);
}
const deadline = setTimeout(() => {
  emit('error', { message: `deadline of ${TIMEOUT_MS}ms passed` });
  process.exit(2);
}, TIMEOUT_MS);

// ---- the redirect URI: a loopback listener (RFC 8252 §7.3) ----------------

const callbacks = []; // resolved callback queries, in order
let waiting = null;
const listener = http.createServer((req, res) => {
  const u = new URL(req.url, 'http://127.0.0.1');
  if (u.pathname !== '/oauth/callback') {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/plain' }).end('Signed in; you can close this window.');
  callbacks.push(u.searchParams);
  waiting?.();
});
await new Promise((resolve) => listener.listen(0, '127.0.0.1', resolve));
const redirectUrl = `http://127.0.0.1:${listener.address().port}/oauth/callback`;

function nextCallback() {
  if (callbacks.length > 0) return Promise.resolve(callbacks.shift());
  return new Promise((resolve) => {
    waiting = () => {
      waiting = null;
      resolve(callbacks.shift());
    };
  });
}

// ---- the browser ---------------------------------------------------------

// browse opens the authorization URL like a browser, picks LOGIN_USER on
// the login page and follows the redirects to the redirect URI.
async function browse(authorizationUrl) {
  const page = await fetch(authorizationUrl, { redirect: 'manual' });
  const html = await page.text();
  if (page.status !== 200) throw new Error(`login page: HTTP ${page.status}: ${html.slice(0, 300)}`);
  const scopes = /<code id="scopes">([^<]*)<\/code>/.exec(html)?.[1] ?? null;
  const links = {};
  for (const m of html.matchAll(/data-user="([^"]+)" href="([^"]+)"/g)) links[m[1]] = m[2].replaceAll('&amp;', '&');
  emit('login_page', {
    users: Object.keys(links),
    scopes,
    scope_param: authorizationUrl.searchParams.get('scope'),
    resource_param: authorizationUrl.searchParams.get('resource'),
    code_challenge_method: authorizationUrl.searchParams.get('code_challenge_method'),
    not_for_production: html.includes('not for production'),
  });
  let url = links[LOGIN_USER];
  if (!url) throw new Error(`login page has no link for user ${LOGIN_USER}`);
  for (let hop = 0; hop < 5; hop++) {
    const resp = await fetch(url, { redirect: 'manual' });
    await resp.arrayBuffer();
    const loc = resp.headers.get('location');
    if (resp.status >= 300 && resp.status < 400 && loc) {
      url = new URL(loc, url).href;
      continue;
    }
    if (resp.status !== 200) throw new Error(`browser: HTTP ${resp.status} at ${new URL(url).origin}${new URL(url).pathname}`);
    return;
  }
  throw new Error('browser: too many redirects');
}

// ---- the OAuthClientProvider: storage callbacks and the browser -----------

class Provider {
  constructor() {
    this._client = undefined;
    this._tokens = undefined;
    this._verifier = undefined;
    this._discovery = undefined;
    this.logins = 0;
  }
  get redirectUrl() {
    return redirectUrl;
  }
  get clientMetadata() {
    return {
      client_name: 'mcp-frontdoor e2e (TypeScript SDK)',
      redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  state() {
    return randomUUID();
  }
  clientInformation() {
    return this._client;
  }
  saveClientInformation(info) {
    this._client = info;
    emit('registered', { client_id: info.client_id, has_secret: Boolean(info.client_secret) });
  }
  tokens() {
    return this._tokens;
  }
  saveTokens(tokens) {
    this._tokens = tokens;
    emit('tokens', { scope: tokens.scope ?? null, token_type: tokens.token_type, has_refresh_token: Boolean(tokens.refresh_token) });
  }
  saveCodeVerifier(v) {
    this._verifier = v;
  }
  codeVerifier() {
    return this._verifier;
  }
  saveDiscoveryState(state) {
    this._discovery = state;
  }
  discoveryState() {
    return this._discovery;
  }
  invalidateCredentials(scope) {
    emit('invalidate', { scope });
    if (scope === 'all' || scope === 'client') this._client = undefined;
    if (scope === 'all' || scope === 'tokens') this._tokens = undefined;
    if (scope === 'all' || scope === 'verifier') this._verifier = undefined;
    if (scope === 'all' || scope === 'discovery') this._discovery = undefined;
  }
  async redirectToAuthorization(authorizationUrl) {
    this.logins++;
    await browse(authorizationUrl);
  }
  // spoilAccessToken stands in for an expired access token: the next
  // request gets 401 and the SDK refreshes.
  spoilAccessToken() {
    this._tokens = { ...this._tokens, access_token: 'expired-' + randomUUID() };
  }
}

// ---- observe the MCP requests (status and challenge only) -----------------

const mcpOrigin = new URL(MCP_URL).origin;
async function observingFetch(input, init) {
  const resp = await fetch(input, init);
  const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
  const fields = { method: init?.method ?? 'GET', origin: url.origin, path: url.pathname, status: resp.status };
  const www = resp.headers.get('www-authenticate');
  if (www) fields.www_authenticate = www;
  if (url.origin === mcpOrigin) emit('http', fields);
  else emit('as_http', fields);
  return resp;
}

// ---- the application --------------------------------------------------------

const provider = new Provider();

function newTransport() {
  return new StreamableHTTPClientTransport(new URL(MCP_URL), { authProvider: provider, fetch: observingFetch });
}

// withLogin runs fn; when the SDK stopped for a browser login
// (UnauthorizedError after redirectToAuthorization), it completes the login
// with the callback's parameters and runs fn again.
async function withLogin(transport, what, fn) {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
    emit('unauthorized', { during: what, message: err.message });
    const params = await nextCallback();
    if (params.get('error')) throw new Error(`authorization failed: ${params.get('error')}: ${params.get('error_description')}`);
    emit('callback', { has_code: params.has('code'), has_state: params.has('state'), iss: params.get('iss') });
    await transport.finishAuth(params);
    return await fn();
  }
}

function textOf(result) {
  return (result.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}

let client;
let transport;
try {
  // 1. Connect: 401, discovery, registration, login in the browser, token.
  transport = newTransport();
  client = new Client({ name: 'mcp-frontdoor-e2e', version: '1.0.0' });
  try {
    await client.connect(transport);
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
    emit('unauthorized', { during: 'connect', message: err.message });
    const params = await nextCallback();
    if (params.get('error')) throw new Error(`authorization failed: ${params.get('error')}: ${params.get('error_description')}`);
    emit('callback', { has_code: params.has('code'), has_state: params.has('state'), iss: params.get('iss') });
    await transport.finishAuth(params);
    await transport.close().catch(() => {});
    transport = newTransport();
    client = new Client({ name: 'mcp-frontdoor-e2e', version: '1.0.0' });
    await client.connect(transport);
  }
  emit('connected', { server: client.getServerVersion()?.name ?? null, logins: provider.logins });

  const tools = await client.listTools();
  emit('tools', { names: tools.tools.map((t) => t.name).sort() });

  const who = await client.callTool({ name: 'whoami', arguments: {} });
  emit('whoami', { text: textOf(who), structured: who.structuredContent ?? null, is_error: who.isError ?? false });

  // 2. An expired access token: 401, the SDK refreshes, no new login.
  const loginsBefore = provider.logins;
  provider.spoilAccessToken();
  const again = await withLogin(transport, 'refresh', () => client.callTool({ name: 'whoami', arguments: {} }));
  emit('whoami_after_refresh', { text: textOf(again), new_logins: provider.logins - loginsBefore });

  // 3. Step-up: 403 insufficient_scope, the SDK re-authorizes with the
  //    challenged scopes, the application completes the login and retries.
  if (STEP_UP_TOOL) {
    const stepped = await withLogin(transport, 'step-up', () =>
      client.callTool({ name: STEP_UP_TOOL, arguments: { text: 'hello from the step-up' } }),
    );
    emit('step_up_call', { tool: STEP_UP_TOOL, text: textOf(stepped), is_error: stepped.isError ?? false, logins: provider.logins });
    const after = await client.callTool({ name: 'whoami', arguments: {} });
    emit('whoami_after_step_up', { text: textOf(after) });
    const toolsAfter = await client.listTools();
    emit('tools_after_step_up', { names: toolsAfter.tools.map((t) => t.name).sort() });
  }
  emit('done');
  await transport.close().catch(() => {});
  clearTimeout(deadline);
  listener.close();
  process.exit(0);
} catch (err) {
  emit('error', { message: String(err?.message ?? err), name: err?.name ?? null });
  await transport?.close().catch(() => {});
  process.exit(1);
}

// A real OpenID Provider (oidc-provider 9.13.x) configured as the test peer for
// silentauth: web_message response mode, prompt=none errors on demand, short
// access tokens. Development only: fixed cookie keys, in-memory storage, and the
// built-in login page that accepts any user name and password.
//
//   node demo/oidcprovider/provider.mjs \
//     --issuer http://localhost:3000 \
//     --app-origin http://localhost:8080 [--app-origin http://127.0.0.1:8080] \
//     --access-token-ttl 120 [--listen-port 4000] [--log-tokens]
//
// Each flag can also come from the environment (OP_ISSUER, OP_APP_ORIGINS
// comma-separated, OP_ACCESS_TOKEN_TTL); a flag wins over its variable.
// Prints "READY <issuer>" on stdout once it accepts connections; the Go harness
// (demo/internal/nodeop) waits for that line. See README.md next to this file
// for the clients, the scopes and the login requests.

import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

import Provider, { interactionPolicy } from 'oidc-provider';

function fail(message) {
  console.error(`provider.mjs: ${message}`);
  process.exit(2);
}

function parseConfig() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        issuer: { type: 'string' },
        'app-origin': { type: 'string', multiple: true },
        'access-token-ttl': { type: 'string' },
        'listen-port': { type: 'string' },
        'log-tokens': { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    fail(err.message);
  }

  const issuerText = values.issuer ?? process.env.OP_ISSUER ?? 'http://localhost:3000';
  let issuerURL;
  try {
    issuerURL = new URL(issuerText);
  } catch {
    fail(`--issuer ${JSON.stringify(issuerText)} is not a URL`);
  }
  // The issuer is the origin alone: discovery, the "iss" claim and the SDK's
  // issuer check all compare it as a string, so a path or trailing slash here
  // would be a different issuer from the one the tests expect.
  if (issuerURL.protocol !== 'http:' || !issuerURL.port || issuerText !== issuerURL.origin) {
    fail(`--issuer must look like http://localhost:PORT (got ${JSON.stringify(issuerText)})`);
  }

  const originArgs = values['app-origin'] ?? [process.env.OP_APP_ORIGINS ?? 'http://localhost:8080'];
  const appOrigins = [...new Set(originArgs.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean))];
  if (appOrigins.length === 0) fail('at least one --app-origin is needed');
  for (const origin of appOrigins) {
    let u;
    try {
      u = new URL(origin);
    } catch {
      fail(`--app-origin ${JSON.stringify(origin)} is not a URL`);
    }
    // Redirect URIs are built as origin + path, and CORS compares origins
    // exactly, so anything but a bare origin would silently never match.
    if (u.origin !== origin) fail(`--app-origin must be a bare origin like http://localhost:8080 (got ${JSON.stringify(origin)})`);
  }

  const ttlText = values['access-token-ttl'] ?? process.env.OP_ACCESS_TOKEN_TTL ?? '120';
  const accessTokenTTL = Number(ttlText);
  if (!Number.isInteger(accessTokenTTL) || accessTokenTTL <= 0) {
    fail(`--access-token-ttl must be a positive number of seconds (got ${JSON.stringify(ttlText)})`);
  }

  // A port other than the issuer's is for a front (a proxy the tests put
  // between the browser and the provider) that answers at the issuer's.
  const listenText = values['listen-port'] ?? issuerURL.port;
  const listenPort = Number(listenText);
  if (!Number.isInteger(listenPort) || listenPort <= 0 || listenPort > 65535) {
    fail(`--listen-port must be a port number (got ${JSON.stringify(listenText)})`);
  }

  return {
    issuer: issuerURL.origin,
    port: listenPort,
    logTokens: values['log-tokens'] ?? false,
    appOrigins,
    accessTokenTTL,
  };
}

const cfg = parseConfig();

// Scopes granted without asking, as if the user had consented to them earlier.
// Anything else (the custom read:admin) needs the consent screen, so a
// prompt=none request for it answers consent_required.
const AUTO_GRANTED_SCOPES = 'openid email profile';

// login_hint=needs-interaction makes a silent request fail with
// interaction_required, the one prompt=none error a real user cannot cause
// on demand. Only silent requests are affected: the built-in dev pages can
// render just the login and consent prompts, so an interactive request held up
// by this prompt would end on a 501 page instead of a login.
const { Prompt, Check, base } = interactionPolicy;
const policy = base();
policy.add(new Prompt(
  { name: 'forced_interaction', requestable: false },
  new Check('needs_interaction', 'test-forced interaction', (ctx) => (
    ctx.oidc.params.login_hint === 'needs-interaction' && ctx.oidc.prompts.has('none')
      ? Check.REQUEST_PROMPT
      : Check.NO_NEED_TO_PROMPT
  )),
));

const redirectsFor = (...paths) => cfg.appOrigins.flatMap((o) => paths.map((p) => `${o}${p}`));

// Refresh tokens for public clients (silentauth's useRefreshTokens). The
// provider drops offline_access from every authorization request whose prompt
// lacks "consent" (OIDC Core 11) before any policy sees it, so neither a plain
// login nor prompt=none would ever give one, and the code's scopes no longer
// say it was asked for. The issueRefreshToken policy below decides on the
// request as it came instead: a public client whose GET /auth named
// offline_access gets a refresh token from that code. Requests are remembered
// by their PKCE code_challenge, which the code carries to the token endpoint
// (public clients must send one). Such refresh tokens expire with the
// provider's session (expiresWithSession's default for tokens without
// offline_access in their scope), so logging out revokes them.
const OFFLINE_REQUEST_TTL_MS = 15 * 60 * 1000; // the interaction's 600 s, and some
const offlineRequests = new Map(); // code_challenge -> when it was asked

function rememberOfflineRequest(query) {
  const now = Date.now();
  for (const [challenge, at] of offlineRequests) {
    if (now - at > OFFLINE_REQUEST_TTL_MS) offlineRequests.delete(challenge);
  }
  const scopes = String(query.scope ?? '').split(' ');
  if (scopes.includes('offline_access') && typeof query.code_challenge === 'string') {
    offlineRequests.set(query.code_challenge, now);
  }
}

function askedForOfflineAccess(challenge) {
  const at = challenge && offlineRequests.get(challenge);
  if (!at) return false;
  offlineRequests.delete(challenge); // one code per request
  return Date.now() - at <= OFFLINE_REQUEST_TTL_MS;
}

const clientDefaults = {
  application_type: 'web',
  token_endpoint_auth_method: 'none',
  grant_types: ['authorization_code', 'implicit', 'refresh_token'],
  response_types: ['code', 'id_token', 'id_token token'],
  post_logout_redirect_uris: redirectsFor('/'),
};

const provider = new Provider(cfg.issuer, {
  clients: [
    // web_message posts to the redirect_uri's origin, so every app origin
    // needs its own registered URIs for the parent page to get the answer.
    // The bare origin (no trailing slash) is silentauth's default
    // redirectUri, location.origin, and the provider compares redirect_uri
    // as an exact string, so "O/" alone would not match it.
    { ...clientDefaults, client_id: 'spa', redirect_uris: redirectsFor('', '/', '/callback') },
    // Same client with one redirect only, for tests of a client that has not
    // registered the page it runs on.
    { ...clientDefaults, client_id: 'spa-strict', redirect_uris: redirectsFor('/registered-only') },
  ],
  // 9.x leaves 'id_token token' out of the defaults; the SDK supports it.
  responseTypes: ['code', 'id_token', 'id_token token', 'code id_token', 'none'],
  scopes: ['openid', 'offline_access', 'email', 'profile', 'read:admin'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  // Put the scope claims in every ID token, as Auth0 does. With the default
  // (true) a code or "id_token token" ID token carries only sub, and the
  // profile would have to come from userinfo.
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: true },
    // 'individual-draft-01' is the only ack 9.x accepts (relay mode is gone).
    webMessageResponseMode: { enabled: true, ack: 'individual-draft-01' },
    rpInitiatedLogout: { enabled: true },
    // RFC 7009: logout revokes the refresh token, so a copy dies with it.
    revocation: { enabled: true },
    // DPoP (RFC 9449), on by default in 9.x; a nonce secret (32 bytes) makes
    // the provider hand out nonces in DPoP-Nonce, and expose that header over
    // CORS, and requireNonce has every proof carry one, so a client's first
    // token request meets use_dpop_nonce. A request without a proof is not
    // affected. A refresh token issued to a public client with a proof is
    // bound to the proof's key.
    dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
  },
  interactions: { policy },
  // The library default, spelled out because the tests depend on it: public
  // clients must send an S256 code_challenge.
  pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
  // Fixed so that restarting the provider keeps nothing and breaks nothing:
  // sessions live in memory anyway. Never use outside development.
  cookies: { keys: ['silentauth-dev-only-cookie-key'] },
  ttl: {
    AccessToken: cfg.accessTokenTTL,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 600,
    Session: 86400,
    Grant: 86400,
    // A day from the login: a rotated token keeps what its predecessor had
    // left, so rotation never extends it (the library's default does the
    // same for public clients but logs a notice when it is not spelled out).
    RefreshToken: (ctx, token) => {
      const rotated = ctx?.oidc?.entities?.RotatedRefreshToken;
      return rotated && !token.isSenderConstrained() ? rotated.remainingTTL : 86400;
    },
  },
  findAccount: async (_ctx, sub) => ({
    accountId: sub,
    claims: async () => ({
      sub,
      email: `${sub}@example.test`,
      email_verified: true,
      name: sub,
    }),
  }),
  // A session without a grant gets one for AUTO_GRANTED_SCOPES, so prompt=none
  // works right after the login form and consent is only asked for more.
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    if (!ctx.oidc.session.accountId) return undefined;
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(AUTO_GRANTED_SCOPES);
    await grant.save();
    return grant;
  },
  issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token') && (
    code.scopes.has('offline_access')
    || (client.clientAuthMethod === 'none' && askedForOfflineAccess(code.codeChallenge))
  ),
  // Every use of a refresh token replaces it, and presenting a replaced one
  // again revokes the whole grant (the library's reuse detection).
  rotateRefreshToken: true,
  // The token endpoint is called with fetch from the app's pages.
  clientBasedCORS: (_ctx, origin) => cfg.appOrigins.includes(origin),
});

// Implicit web clients may not use http or localhost redirect URIs by default;
// the schema's invalidate hook is the documented way to lift that for
// development (codes from lib/helpers/client_schema.js).
const originalInvalidate = provider.Client.Schema.prototype.invalidate;
provider.Client.Schema.prototype.invalidate = function invalidate(message, code) {
  if (code === 'implicit-force-https' || code === 'implicit-forbid-localhost') return;
  originalInvalidate.call(this, message, code);
};

provider.use(async (ctx, next) => {
  if (ctx.method === 'GET' && ctx.path === '/auth') rememberOfflineRequest(ctx.query);
  await next();
});

// The built-in login, consent and logout pages @import a web font from a CDN.
// The tests run offline, and a stylesheet that never loads can hold up the
// page's load event, so these pages may load styles only from themselves.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path.startsWith('/interaction/') || ctx.path.startsWith('/session/end')) {
    ctx.set('Content-Security-Policy', "default-src 'self'; style-src 'unsafe-inline'");
  }
});

// With --log-tokens, every access token issued is one stdout line, so a test
// knows each token's expiry as the provider sees it, and the DPoP key it is
// bound to. Opaque tokens are their jti; exp is in epoch seconds.
if (cfg.logTokens) {
  // The token object carries no exp (it has a dynamic expiresIn); the stored
  // payload, just written, has the one the provider checks.
  provider.on('access_token.saved', async (token) => {
    const stored = await provider.AccessToken.adapter.find(token.jti);
    console.log(`ACCESS_TOKEN ${JSON.stringify({ jti: token.jti, exp: stored?.exp, gty: token.gty, jkt: token.jkt })}`);
  });
  // Refresh tokens too, with the DPoP key they are bound to (jkt), if any.
  provider.on('refresh_token.saved', (token) => {
    console.log(`REFRESH_TOKEN ${JSON.stringify({ jti: token.jti, jkt: token.jkt })}`);
  });
}

const server = provider.listen(cfg.port, '127.0.0.1', () => {
  console.log(`READY ${cfg.issuer}`);
});
server.on('error', (err) => fail(`cannot listen on 127.0.0.1:${cfg.port}: ${err.message}`));

function shutdown(signal) {
  // Keep-alive connections (a browser's, a Go client's) would hold close()
  // open until they time out; the harness wants the port free now.
  server.close(() => process.exit(0));
  server.closeAllConnections();
  console.log(`provider.mjs: ${signal}, stopped`);
}
process.once('SIGTERM', () => shutdown('SIGTERM'));
process.once('SIGINT', () => shutdown('SIGINT'));

// Runs panva's oidc-provider (OpenID Certified) on 127.0.0.1 for usersvc's
// introspection tests: client_credentials tokens for two resource servers,
// one minting opaque access tokens (as Okta's org authorization server does
// for a resource server) and one minting JWTs, plus RFC 7662 introspection
// and RFC 7009 revocation.
//
// Environment: PORT (0 = any), CLIENTS (JSON array of
// {client_id, client_secret, auth}), AUDIENCE (aud of both resource servers),
// INTROSPECTION_AUTH_METHODS (comma list published as
// introspection_endpoint_auth_methods_supported; unset = not published).
// Token requests may carry username, email, email_verified, uid, groups
// (comma list) and ttl (seconds): they become the token's extra claims,
// which introspection returns (the shape of Okta's org introspection answer).
//
// Test controls (loopback only, never part of a real provider):
//   GET  /_test/stats  -> {"introspections": n, "last_auth": "basic"|"post"}
//                         calls that reached the endpoint, and how the last one
//                         sent its client credentials
//   POST /_test/fault  form mode=none|slow|500|html|401|400, delay_ms
// Prints {"issuer":...,"port":...} once ready; exits when stdin closes.
import http from 'node:http';
import crypto from 'node:crypto';
import querystring from 'node:querystring';
import Provider from 'oidc-provider';

// stdout carries only the ready line; the provider's notices go to stderr.
console.info = console.error;
console.log = console.error;
// The in-memory adapter is what a test wants; its warning is noise.
const warn = console.warn;
console.warn = (...args) => {
  if (!String(args[0]).includes('in-memory adapter')) warn(...args);
};

const clients = JSON.parse(process.env.CLIENTS ?? '[]');
const audience = process.env.AUDIENCE || 'api://usersvc';
const publishedMethods = process.env.INTROSPECTION_AUTH_METHODS
  ? process.env.INTROSPECTION_AUTH_METHODS.split(',').filter(Boolean) : null;

const server = http.createServer();
await new Promise((resolve) => server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', resolve));
const port = server.address().port;
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signing = { ...privateKey.export({ format: 'jwk' }), kid: `k-${crypto.randomUUID()}`, alg: 'RS256', use: 'sig' };

const tokenBody = (ctx) => ctx.oidc?.body ?? {};

const provider = new Provider(issuer, {
  clients: clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: c.auth || 'client_secret_basic',
    scope: 'users.read users.write',
  })),
  jwks: { keys: [signing] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  scopes: ['openid', 'users.read', 'users.write'],
  ttl: { ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL || 600 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    // Any authenticated client may introspect (usersvc introspects tokens
    // minted for the frontend's client).
    introspection: { enabled: true, allowedPolicy: () => true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:usersvc:opaque',
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator) => {
        if (indicator !== 'urn:usersvc:opaque' && indicator !== 'urn:usersvc:jwt') {
          throw new Error('unknown resource');
        }
        const ttl = Number(tokenBody(ctx).ttl) || 3600;
        return {
          scope: 'users.read users.write',
          audience,
          accessTokenTTL: ttl,
          accessTokenFormat: indicator === 'urn:usersvc:jwt' ? 'jwt' : 'opaque',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  extraTokenClaims: (ctx) => {
    const b = tokenBody(ctx);
    const extra = {};
    for (const k of ['username', 'email', 'uid']) if (b[k]) extra[k] = b[k];
    if (b.email_verified !== undefined) extra.email_verified = b.email_verified === 'true';
    if (b.groups) extra.groups = b.groups.split(',').filter(Boolean);
    return extra;
  },
});

let introspections = 0;
let lastAuth = '';
let fault = { mode: 'none', delay: 0 };
const readForm = (req) => new Promise((resolve) => {
  let data = '';
  req.on('data', (c) => { data += c; });
  req.on('end', () => resolve(querystring.parse(data)));
});

provider.use(async (ctx, next) => {
  if (ctx.path === '/_test/stats') {
    ctx.body = { introspections, last_auth: lastAuth };
    return;
  }
  if (ctx.path === '/_test/fault' && ctx.method === 'POST') {
    const f = await readForm(ctx.req);
    fault = { mode: f.mode || 'none', delay: Number(f.delay_ms) || 0 };
    ctx.body = fault;
    return;
  }
  if (ctx.path === '/token/introspection') {
    introspections += 1;
    lastAuth = ctx.get('authorization').startsWith('Basic ') ? 'basic' : 'post';
    if (fault.delay) await new Promise((r) => setTimeout(r, fault.delay));
    switch (fault.mode) {
      case '500': ctx.status = 500; ctx.body = { error: 'server_error' }; return;
      case 'html': ctx.status = 200; ctx.type = 'text/html'; ctx.body = '<html>maintenance</html>'; return;
      case '401': ctx.status = 401; ctx.body = { error: 'invalid_client' }; return;
      case '400': ctx.status = 400; ctx.body = { error: 'invalid_request' }; return;
      default:
    }
  }
  await next();
  if (ctx.path === '/.well-known/openid-configuration' && publishedMethods) {
    ctx.body.introspection_endpoint_auth_methods_supported = publishedMethods;
  }
});

server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);

const stop = () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

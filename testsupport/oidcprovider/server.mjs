// Runs oauth2-mock-server on 127.0.0.1 (issuer http://localhost:PORT) for
// usersvc's integration tests. Token claims come from the token request's
// form fields: aud (default api://default), groups and scp (comma lists),
// cid, sub, email, expires_in (seconds), nbf_offset (seconds from now).
// Prints {"issuer":...,"port":...} once ready; exits when stdin closes, so
// it never outlives the test that started it.
import { OAuth2Server, Events } from 'oauth2-mock-server';

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');

server.service.on(Events.BeforeTokenSigning, (token, req) => {
  const f = req.body ?? {};
  const now = Math.floor(Date.now() / 1000);
  token.payload.aud = f.aud || 'api://default';
  if (f.groups) token.payload.groups = f.groups.split(',').filter(Boolean);
  if (f.scp) token.payload.scp = f.scp.split(',').filter(Boolean);
  if (f.cid) token.payload.cid = f.cid;
  if (f.sub) token.payload.sub = f.sub;
  if (f.email) token.payload.email = f.email;
  if (f.expires_in !== undefined) token.payload.exp = now + Number(f.expires_in);
  if (f.nbf_offset !== undefined) token.payload.nbf = now + Number(f.nbf_offset);
});

await server.start(Number(process.env.PORT ?? 0), '127.0.0.1');
process.stdout.write(JSON.stringify({ issuer: server.issuer.url, port: server.address().port }) + '\n');

const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

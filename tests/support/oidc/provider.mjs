// A real OpenID Connect provider (oidc-provider, an OpenID-certified implementation) for
// NextPyter's sign-in tests, on a loopback port. Started by tests/support/oidc_provider.py
// with a JSON file naming the port, the clients, the users and the signing keys (the
// tests make the keys, so they can forge tokens with them too).
//
// Besides the provider, two test endpoints in the same process:
//   GET /ocs/v2.php/cloud/user?format=json   a stand-in for Nextcloud's user API (not
//       Nextcloud): answers like Nextcloud for a valid access token this provider issued.
//   POST /test/next-id-token                 the body (a JWT) replaces the id_token of the
//       next token response, so the tests deliver forged ID tokens through a real callback.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;
const users = config.users;
let nextIdToken = null;

const provider = new Provider(issuer, {
  clients: config.clients,
  jwks: config.jwks,
  cookies: { keys: [config.cookieKey] },
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'], groups: ['groups'] },
  scopes: ['openid', 'profile', 'groups'],
  conformIdTokenClaims: false, // the profile and groups claims in the ID token
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true }, // plain HTML login and consent forms
    rpInitiatedLogout: { enabled: true },
  },
  ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Grant: 600, Interaction: 600, Session: 600 },
  async findAccount(ctx, id) {
    const user = users[id];
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: user.preferred_username, name: id, groups: user.groups };
      },
    };
  },
});

provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === '/token' && nextIdToken && ctx.body && ctx.body.id_token) {
    ctx.body = { ...ctx.body, id_token: nextIdToken };
    nextIdToken = null;
  }
});

const callback = provider.callback();

async function cloudUser(req, res) {
  const auth = req.headers.authorization || '';
  const token = auth.startsWith('Bearer ') ? await provider.AccessToken.find(auth.slice(7)) : null;
  const send = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (!token || req.headers['ocs-apirequest'] !== 'true') {
    send(401, { ocs: { meta: { status: 'failure', statuscode: 997, message: 'Current user is not logged in' }, data: [] } });
    return;
  }
  const user = users[token.accountId];
  send(200, {
    ocs: {
      meta: { status: 'ok', statuscode: 200, message: 'OK' },
      data: { id: user.preferred_username, 'display-name': token.accountId, groups: user.groups, enabled: true },
    },
  });
}

http.createServer((req, res) => {
  if (req.url.startsWith('/ocs/v2.php/cloud/user?') || req.url === '/ocs/v2.php/cloud/user') {
    cloudUser(req, res).catch(() => { res.writeHead(500); res.end(); });
  } else if (req.url === '/test/next-id-token' && req.method === 'POST') {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => { nextIdToken = body; res.writeHead(204); res.end(); });
  } else {
    callback(req, res);
  }
}).listen(config.port, '127.0.0.1', () => console.log(`listening on ${issuer}`));

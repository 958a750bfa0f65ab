// A real OpenID Connect provider for the tests and the demo: the certified `oidc-provider`
// package, over HTTPS with the test CA's certificate, on loopback.
//
// Usage: node oidc_provider.mjs CONFIG.json
// CONFIG: { issuer, port, cert, key, keys: [private JWKs], clients: [{client_id,
//           client_secret, redirect_uris, alg?}], accounts: {id: {claims}}, id_token_ttl? }
//
// Logins go through its development interactions (any login name, no password check):
// sandbox/oidc.py drives the authorization code flow programmatically, so every token the
// tests use is issued, signed and served by the provider's own endpoints. The signing keys
// come from the config, so a test can restart the provider with a rotated set.
import fs from 'node:fs';
import https from 'node:https';

import Provider from 'oidc-provider';

const conf = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

const provider = new Provider(conf.issuer, {
  clients: conf.clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    redirect_uris: c.redirect_uris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    id_token_signed_response_alg: c.alg || 'RS256',
  })),
  jwks: { keys: conf.keys },
  async findAccount(ctx, id) {
    const known = conf.accounts[id] || {};
    return { accountId: id, async claims() { return { sub: id, ...known }; } };
  },
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name', 'upn'],
    email: ['email', 'email_verified'],
    groups: ['groups', 'roles'],
  },
  scopes: ['openid', 'profile', 'email', 'groups'],
  conformIdTokenClaims: false, // scope-requested claims in the ID token itself
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => false },
  ttl: { IdToken: conf.id_token_ttl || 3600, Session: 3600, Interaction: 600, Grant: 3600 },
  cookies: { keys: ['mysql-auth-bridge-test-cookies'] },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const server = https.createServer(
  { key: fs.readFileSync(conf.key), cert: fs.readFileSync(conf.cert) },
  provider.callback(),
);
server.listen(conf.port, '127.0.0.1', () => console.log(`ready ${conf.issuer}`));
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => { server.close(() => process.exit(0)); server.closeAllConnections(); });
}

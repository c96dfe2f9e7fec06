// A real OpenID Provider (oidc-provider) for the integration tests, on loopback.
//
// Usage: node provider.mjs <port> <config.json>
// config.json: {"client": {client_id, client_secret, redirect_uris}, "accounts":
// {"<login>": {"email": "...", "email_verified": true}}}. The development
// interactions are on: any known login signs in with any password.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const [port, configPath] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configPath, 'utf8'));

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    ...config.client,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  scopes: ['openid', 'email'],
  cookies: { keys: ['test-only-cookie-key'] },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const account = config.accounts[id];
    if (!account) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...account }) };
  },
});
provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`ready ${provider.issuer}`);
});

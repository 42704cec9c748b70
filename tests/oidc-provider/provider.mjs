// An outside OpenID provider for the hub's relying-party tests: `oidc-provider` (an OpenID
// Certified implementation nobody on this project wrote), set up like a SPID/CIE provider
// (ES256/RS256 keys, private_key_jwt, signed request objects required, PKCE, acr levels,
// UserInfo signed then encrypted, the fiscal-number claim) or like a plain broker (RS256,
// client secret), behind HTTPS on loopback.
//
// In "federation" mode the same process is also the federation around it: a trust anchor
// under /ta whose key the test made (and pinned in the hub), the provider's entity
// configuration at /op/.well-known/openid-federation, and the hub registered automatically
// the way the Italian federation does it: its client id is its entity identifier, and its
// metadata and keys come from its own entity configuration, checked against the anchor's
// statement about it.
//
// Usage: node provider.mjs <settings.json>. Prints one JSON line once listening:
// {"issuer": ..., "anchor": ...}. The settings (written by tests/hub/identity_providers.rs):
//   tls: {cert, key}            the server's certificate and key files
//   mode: "federation" | "broker"
//   anchor_key: JWK             the trust anchor's private key (federation)
//   hub_ca: path                the hub's certificate, read when the hub is first fetched
//   client: {...}               broker: the hub's registration (client_id, client_secret, ...)
//                               (set through /_control once the hub's address is known)
//   alg: "ES256" | "RS256"      the ID token's algorithm
//   account: {...}              the claims of the one person who logs in
//   acr: "https://www.spid.gov.it/SpidL2"   the level the login reaches
//   tamper: null | "audience" | "signature" | "unknown_kid"   spoil the ID token
//   clock_offset_seconds: n     the provider's clock runs ahead
//   token_delay_ms: n           the token endpoint answers late
//   provider_statement_seconds: n   how long the anchor's statement about the provider lasts
//   provider_trust_mark: id     the trust mark the anchor issued to the provider, if any
// Any of them but tls, mode and the keys can change while it runs: POST them as JSON to
// /_control.

import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';

import * as jose from 'jose';
import Provider from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';

const settings = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
// The provider's clock, which a test may set ahead (read at every call, as settings change).
const realNow = Date.now;
Date.now = () => realNow() + (settings.clock_offset_seconds || 0) * 1000;
const FISCAL_NUMBER = 'https://attributes.eid.gov.it/fiscal_number';
const LEVELS = [1, 2, 3].map((n) => `https://www.spid.gov.it/SpidL${n}`);
const now = () => Math.floor(Date.now() / 1000);

// The provider's keys: one of each family the federation names.
async function privateJwk(alg, kid) {
  const { privateKey } = await jose.generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
  return { ...(await jose.exportJWK(privateKey)), kid, alg, use: 'sig' };
}
const opKeys = [await privateJwk(settings.alg || 'ES256', 'op-1'),
  await privateJwk(settings.alg === 'RS256' ? 'ES256' : 'RS256', 'op-2')];
const opPublic = { keys: opKeys.map(({ d, p, q, dp, dq, qi, ...pub }) => pub) };

function get(url, ca) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; if (body.length > 256 * 1024) req.destroy(); });
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${url}: timeout`)));
  });
}

const server = https.createServer({
  cert: fs.readFileSync(settings.tls.cert),
  key: fs.readFileSync(settings.tls.key),
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `https://127.0.0.1:${server.address().port}`;
const issuer = `${base}/op`;
const anchor = `${base}/ta`;

// --- The federation around the provider ----------------------------------------------------

const anchorKey = settings.anchor_key
  ? await jose.importJWK(settings.anchor_key, settings.anchor_key.alg) : null;
const anchorPublic = settings.anchor_key
  ? (({ d, p, q, dp, dq, qi, ...pub }) => ({ keys: [pub] }))(settings.anchor_key) : null;

async function statement(claims, key, kid) {
  return new jose.SignJWT(claims)
    .setProtectedHeader({ alg: settings.anchor_key.alg, kid, typ: 'entity-statement+jwt' })
    .sign(key);
}

const opFederationKey = await privateJwk('ES256', 'op-federation');
const opFederationPublic = (({ d, ...pub }) => ({ keys: [pub] }))(opFederationKey);

// The hub's entity configuration, checked with its own keys; answers its claims.
async function hubConfiguration(entity) {
  const token = (await get(`${entity.replace(/\/$/, '')}/.well-known/openid-federation`,
    fs.readFileSync(settings.hub_ca))).trim();
  const claims = jose.decodeJwt(token);
  await jose.jwtVerify(token, jose.createLocalJWKSet(claims.jwks), { typ: 'entity-statement+jwt' });
  if (claims.iss !== entity || claims.sub !== entity) throw new Error('the hub names another entity');
  return { claims, token };
}

async function federationAnswer(path, query) {
  if (path === '/ta/.well-known/openid-federation') {
    return statement({
      iss: anchor, sub: anchor, iat: now(), exp: now() + 3600, jwks: anchorPublic,
      metadata: { federation_entity: { federation_fetch_endpoint: `${anchor}/fetch` } },
    }, anchorKey, settings.anchor_key.kid);
  }
  if (path === '/ta/fetch') {
    const sub = query.get('sub');
    if (sub === issuer) {
      return statement({
        iss: anchor,
        sub: issuer,
        iat: now() - 60,
        exp: now() + (settings.provider_statement_seconds ?? 1800),
        jwks: opFederationPublic,
        metadata_policy: { openid_provider: {
          id_token_signing_alg_values_supported: { subset_of: ['RS256', 'ES256', 'ES384', 'RS512'] },
          acr_values_supported: { subset_of: LEVELS },
        } },
      }, anchorKey, settings.anchor_key.kid);
    }
    // The hub's onboarding: the anchor vouches for the keys its configuration carries.
    const { claims } = await hubConfiguration(sub);
    return statement({
      iss: anchor, sub, iat: now(), exp: now() + 1800, jwks: claims.jwks,
    }, anchorKey, settings.anchor_key.kid);
  }
  if (path === '/op/.well-known/openid-federation') {
    const discovery = discoveryCache;
    const marks = settings.provider_trust_mark ? [{
      id: settings.provider_trust_mark,
      trust_mark: await new jose.SignJWT({
        iss: anchor, sub: issuer, id: settings.provider_trust_mark, iat: now(), exp: now() + 3600,
      }).setProtectedHeader({ alg: settings.anchor_key.alg, kid: settings.anchor_key.kid, typ: 'trust-mark+jwt' })
        .sign(anchorKey),
    }] : [];
    return new jose.SignJWT({
      iss: issuer, sub: issuer, iat: now(), exp: now() + 3600, jwks: opFederationPublic,
      authority_hints: [anchor],
      trust_marks: marks,
      metadata: { openid_provider: { ...discovery, jwks: opPublic, jwks_uri: undefined } },
    }).setProtectedHeader({ alg: 'ES256', kid: 'op-federation', typ: 'entity-statement+jwt' })
      .sign(await jose.importJWK(opFederationKey, 'ES256'));
  }
  return null;
}

// --- The provider ---------------------------------------------------------------------------

// Clients: the broker's one registration, or the hub found through the federation.
class Clients extends MemoryAdapter {
  async find(id) {
    if (settings.mode !== 'federation') {
      return settings.client && settings.client.client_id === id ? settings.client : undefined;
    }
    const { claims, token } = await hubConfiguration(id);
    if (!(claims.authority_hints || []).includes(anchor)) throw new Error('the hub is not under this anchor');
    const vouched = jose.decodeJwt(await federationAnswer('/ta/fetch', new URLSearchParams({ sub: id })));
    await jose.jwtVerify(token, jose.createLocalJWKSet(vouched.jwks));
    const rp = claims.metadata.openid_relying_party;
    return {
      client_id: id,
      redirect_uris: rp.redirect_uris,
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: rp.id_token_signed_response_alg,
      jwks: rp.jwks,
      id_token_signed_response_alg: settings.alg || 'ES256',
      userinfo_signed_response_alg: settings.alg || 'ES256',
      userinfo_encrypted_response_alg: rp.userinfo_encrypted_response_alg,
      userinfo_encrypted_response_enc: rp.userinfo_encrypted_response_enc,
      request_object_signing_alg: rp.request_object_signing_alg,
      require_signed_request_object: true,
    };
  }
}

const provider = new Provider(issuer, {
  adapter: (name) => (name === 'Client' ? new Clients(name) : new MemoryAdapter(name)),
  jwks: { keys: opKeys },
  acrValues: LEVELS,
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name'],
    email: ['email'],
    phone: ['phone_number'],
    [FISCAL_NUMBER]: null,
  },
  features: {
    claimsParameter: { enabled: true },
    encryption: { enabled: true },
    jwtUserinfo: { enabled: true },
    requestObjects: { request: true, requireSignedRequestObject: settings.mode === 'federation' },
    devInteractions: { enabled: false },
  },
  pkce: { required: () => true, methods: ['S256'] },
  clockTolerance: 0,
  cookies: { keys: [jose.base64url.encode(crypto.getRandomValues(new Uint8Array(32)))] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        const { account } = settings;
        return {
          sub: id,
          name: `${account.given_name} ${account.family_name}`,
          given_name: account.given_name,
          family_name: account.family_name,
          email: account.email,
          phone_number: account.phone_number,
          [FISCAL_NUMBER]: `TINIT-${account.fiscal_number}`,
        };
      },
    };
  },
  interactions: { url: (ctx, interaction) => `/op/interaction/${interaction.uid}` },
  ttl: { AuthorizationCode: 60, AccessToken: 600, IdToken: 600, Interaction: 600, Session: 600, Grant: 600 },
  renderError(ctx, out) {
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = `${out.error}: ${out.error_description}`;
  },
});
provider.proxy = false;

let discoveryCache = null;

// Spoils the ID token the way the test asked, after the provider signed it.
async function spoil(idToken) {
  const claims = jose.decodeJwt(idToken);
  const header = jose.decodeProtectedHeader(idToken);
  const key = opKeys.find((k) => k.kid === header.kid);
  switch (settings.tamper) {
    case 'audience':
      return new jose.SignJWT({ ...claims, aud: 'qualcun-altro' })
        .setProtectedHeader(header).sign(await jose.importJWK(key, key.alg));
    case 'signature': {
      const [h, p, s] = idToken.split('.');
      const flipped = (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
      return `${h}.${p}.${flipped}`;
    }
    case 'unknown_kid': {
      const stranger = await privateJwk(header.alg, 'sconosciuta');
      return new jose.SignJWT(claims).setProtectedHeader({ ...header, kid: 'sconosciuta' })
        .sign(await jose.importJWK(stranger, header.alg));
    }
    default:
      return idToken;
  }
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/token' && settings.token_delay_ms) {
    await new Promise((r) => setTimeout(r, settings.token_delay_ms));
  }
  await next();
  if (ctx.path === '/token' && ctx.body && ctx.body.id_token && settings.tamper) {
    ctx.body = { ...ctx.body, id_token: await spoil(ctx.body.id_token) };
  }
});

// The login: the one account, at the configured level; consent to what was asked.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  let result;
  if (prompt.name === 'login') {
    result = { login: { accountId: settings.account.sub, acr: settings.acr, amr: ['pwd'] } };
  } else {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    result = { consent: { grantId: await grant.save() } };
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
}

const callback = provider.callback();
server.on('request', async (req, res) => {
  const url = new URL(req.url, base);
  try {
    // The test's knob: later settings (tamper, acr, clock, delay) merged into these.
    if (url.pathname === '/_control' && req.method === 'POST') {
      let body = '';
      for await (const chunk of req) body += chunk;
      Object.assign(settings, JSON.parse(body));
      res.end('ok');
      return;
    }
    if (settings.mode === 'federation') {
      const answer = await federationAnswer(url.pathname, url.searchParams);
      if (answer) {
        res.writeHead(200, { 'content-type': 'application/entity-statement+jwt' });
        res.end(answer);
        return;
      }
    }
    if (url.pathname.startsWith('/op/interaction/')) {
      await interaction(req, res);
      return;
    }
    if (url.pathname.startsWith('/op/')) {
      req.originalUrl = req.url;
      req.url = req.url.slice('/op'.length);
      callback(req, res);
      return;
    }
    res.writeHead(404);
    res.end();
  } catch (e) {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(String(e && e.stack || e));
  }
});

// Fill the discovery cache before anyone asks for the provider's entity configuration.
await get(`${issuer}/.well-known/openid-configuration`, fs.readFileSync(settings.tls.cert))
  .then((d) => { discoveryCache = JSON.parse(d); });
process.stdout.write(`${JSON.stringify({ issuer, anchor })}\n`);

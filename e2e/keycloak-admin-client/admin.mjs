// Drives Latchkey's Admin REST API with Keycloak's official admin client,
// unchanged: users, role mappings, reset-password, logout, attack detection,
// clients and keys. BASE is the server root (Keycloak 17+ layout).
import assert from 'node:assert/strict';
import KcAdminClient from '@keycloak/keycloak-admin-client';

const kc = new KcAdminClient({ baseUrl: process.env.BASE, realmName: 'a' });
await kc.auth({ grantType: 'client_credentials', clientId: 'admin', clientSecret: 'admin-secret' });

const { id } = await kc.users.create({
  username: 'npm-user', email: 'npm@example.com', enabled: true, emailVerified: true,
  credentials: [{ type: 'password', value: 'npm-password-0', temporary: false }],
});
assert.ok(id, 'create returns the new id');

const found = await kc.users.find({ email: 'npm@example.com', exact: true });
assert.equal(found.length, 1);
assert.equal(found[0].id, id);
assert.equal(found[0].username, 'npm-user');
assert.equal(await kc.users.count({ search: 'npm' }), 1);

await kc.users.update({ id }, { enabled: false });
assert.equal((await kc.users.findOne({ id })).enabled, false);
await kc.users.update({ id }, { enabled: true });

await kc.users.resetPassword({ id, credential: { type: 'password', value: 'npm-password-1', temporary: false } });
await assert.rejects(
  kc.users.resetPassword({ id, credential: { type: 'password', value: 'short', temporary: false } }),
  (err) => err.response?.status === 400,
  'the password policy refuses a short password with 400');

const roles = await kc.roles.find();
const linkGenerator = roles.find((r) => r.name === 'link-generator');
assert.ok(linkGenerator, 'roles lists link-generator');
await kc.users.addRealmRoleMappings({ id, roles: [{ id: linkGenerator.id, name: linkGenerator.name }] });
assert.ok((await kc.users.listRealmRoleMappings({ id })).some((r) => r.name === 'link-generator'));
await kc.users.delRealmRoleMappings({ id, roles: [{ id: linkGenerator.id, name: linkGenerator.name }] });
assert.ok(!(await kc.users.listRealmRoleMappings({ id })).some((r) => r.name === 'link-generator'));

assert.deepEqual(await kc.users.listSessions({ id }), [], 'no session yet');
await kc.users.logout({ id });

const bf = await kc.attackDetection.findOne({ id });
assert.equal(bf.disabled, false);
assert.equal(bf.numFailures, 0);
await kc.attackDetection.del({ id });

const clients = await kc.clients.find();
assert.ok(clients.some((c) => c.clientId === 'web' && c.publicClient === true));
assert.ok(clients.every((c) => c.secret === undefined), 'no client secret is ever shown');

const keys = await kc.realms.getKeys({ realm: 'a' });
assert.ok(keys.active.RS256, 'an active RS256 key');
assert.ok(keys.keys.some((k) => k.kid === keys.active.RS256 && k.status === 'ACTIVE'));

await assert.rejects(kc.users.create({ username: 'other', email: 'NPM@example.com' }),
  (err) => err.response?.status === 409, 'a taken email is a 409');

await kc.users.del({ id });
assert.ok((await kc.users.findOne({ id })) == null, 'a deleted user is not found');
console.log('keycloak-admin-client: all checks passed');

// Anonymous users through the Parse JS SDK: Parse.AnonymousUtils.logIn() signs a viewer in without a sign-up,
// the same device logs back in to the same user, and signing up later keeps the objectId and the data.
import { describe, test, beforeEach } from 'node:test';
import { randomBytes } from 'node:crypto';
import { Parse, assert, T, connectParse } from './support.mjs';

connectParse();
Parse.User.enableUnsafeCurrentUser();

describe('anonymous users', () => {
  beforeEach(async () => {
    if (Parse.User.current()) await Parse.User.logOut();
  });

  test('AnonymousUtils.logIn makes an anonymous current user with a session', T, async () => {
    const user = await Parse.AnonymousUtils.logIn();
    assert.ok(user.id);
    assert.ok(user.getSessionToken().startsWith('r:'));
    assert.ok(Parse.AnonymousUtils.isLinked(user));
    assert.equal(Parse.User.current().id, user.id);
  });

  test('an anonymous user signs up later and keeps their objectId and data', T, async () => {
    const anonymous = await Parse.AnonymousUtils.logIn();
    const note = new Parse.Object('AnonNote');
    note.set('text', 'kept');
    note.setACL(new Parse.ACL(anonymous));
    await note.save();
    const username = `anon_${randomBytes(5).toString('hex')}`;
    anonymous.setUsername(username);
    anonymous.setPassword('pw');
    await anonymous.save();
    await Parse.User.logOut();
    const user = await Parse.User.logIn(username, 'pw');
    assert.equal(user.id, anonymous.id);
    const found = await new Parse.Query('AnonNote').get(note.id);
    assert.equal(found.get('text'), 'kept');
  });
});

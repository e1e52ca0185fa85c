// Users and sessions through the Parse JS SDK: sign-up, log-in, log-out, the current user, become, me, the
// errors Parse apps branch on (202, 203, 101, 209), updating one's own profile but nobody else's, changing a
// password, Parse.Session.current(), and other users' emails staying hidden.
import { describe, test, beforeEach } from 'node:test';
import { randomBytes } from 'node:crypto';
import { Parse, assert, T, connectParse, rejectsWithCode } from './support.mjs';

connectParse();
// In node the SDK keeps no current user unless told to: this file is one process acting as one app user.
Parse.User.enableUnsafeCurrentUser();

/** A username (and email local part) no other test or run uses. */
function uniqueName(base) {
  return `${base}_${randomBytes(5).toString('hex')}`;
}

/** Signs a new user up (which makes them the current user) and returns the user. */
async function signUpNew(base, attrs = {}) {
  const username = uniqueName(base);
  const user = new Parse.User();
  user.set('username', username);
  user.set('password', `pw-${username}`);
  user.set('email', `${username}@example.com`);
  for (const [key, value] of Object.entries(attrs)) user.set(key, value);
  await user.signUp();
  return user;
}

/** The password signUpNew gave `user`. */
function passwordOf(user) {
  return `pw-${user.getUsername()}`;
}

describe('sign-up, log-in, log-out', () => {
  beforeEach(async () => {
    if (Parse.User.current()) await Parse.User.logOut();
  });

  test('signUp answers an id and an r: session token, and makes the user current', T, async () => {
    const user = await signUpNew('alice');
    assert.match(user.id, /^[A-Za-z0-9]{10}$/);
    const token = user.getSessionToken();
    assert.ok(typeof token === 'string' && token.startsWith('r:'), `a revocable session token, got ${token}`);
    assert.equal(user.get('password'), undefined, 'the password never comes back');
    assert.ok(user.isCurrent());
    assert.equal(Parse.User.current().id, user.id);
    assert.equal(Parse.User.current().getSessionToken(), token);
    assert.ok(user.createdAt instanceof Date);
  });

  test('logIn with the right password answers the user with a new session token', T, async () => {
    const user = await signUpNew('bob', { nickname: 'Bobby' });
    const firstToken = user.getSessionToken();
    await Parse.User.logOut();
    assert.equal(Parse.User.current(), null);
    const loggedIn = await Parse.User.logIn(user.getUsername(), passwordOf(user));
    assert.equal(loggedIn.id, user.id);
    assert.equal(loggedIn.get('nickname'), 'Bobby');
    assert.equal(loggedIn.getEmail(), `${user.getUsername()}@example.com`, 'users see their own email');
    assert.equal(loggedIn.get('password'), undefined);
    assert.ok(loggedIn.getSessionToken().startsWith('r:'));
    assert.notEqual(loggedIn.getSessionToken(), firstToken);
    assert.equal(Parse.User.current().id, user.id);
    assert.ok(loggedIn.authenticated());
  });

  test('logOut clears the current user and revokes the session token (209 afterwards)', T, async () => {
    const user = await signUpNew('carol');
    const token = user.getSessionToken();
    assert.equal((await Parse.User.me(token)).id, user.id);
    await Parse.User.logOut();
    assert.equal(Parse.User.current(), null);
    await rejectsWithCode(Parse.User.me(token), Parse.Error.INVALID_SESSION_TOKEN, 'users/me with a logged-out token');
    await rejectsWithCode(Parse.User.become(token), Parse.Error.INVALID_SESSION_TOKEN, 'become with a logged-out token');
    await rejectsWithCode(new Parse.Query('_User').find({ sessionToken: token }), Parse.Error.INVALID_SESSION_TOKEN,
      'a query with a logged-out token');
  });

  test('become(sessionToken) makes that user current; me(sessionToken) answers them without doing so', T,
    async () => {
      const user = await signUpNew('dave', { city: 'Lyon' });
      const token = user.getSessionToken();
      // Forget the user locally only (logOut would revoke the token).
      await Parse.CoreManager.getUserController().removeUserFromDisk();
      assert.equal(Parse.User.current(), null);
      const me = await Parse.User.me(token);
      assert.equal(me.id, user.id);
      assert.equal(me.get('city'), 'Lyon');
      assert.equal(me.getUsername(), user.getUsername());
      assert.equal(me.getSessionToken(), token);
      assert.equal(Parse.User.current(), null, 'me() does not log in');
      const became = await Parse.User.become(token);
      assert.equal(became.id, user.id);
      assert.equal(became.get('city'), 'Lyon');
      assert.equal(Parse.User.current().id, user.id);
      assert.equal(Parse.User.current().getSessionToken(), token);
    });

  test('become with a token that never existed is INVALID_SESSION_TOKEN (209)', T, async () => {
    await rejectsWithCode(Parse.User.become('r:0123456789abcdef0123456789abcdef'), Parse.Error.INVALID_SESSION_TOKEN,
      'become with an unknown token');
    assert.equal(Parse.User.current(), null);
  });

  test('a taken username is USERNAME_TAKEN (202), also in other letter case', T, async () => {
    const user = await signUpNew('erin');
    await Parse.User.logOut();
    const again = new Parse.User({ username: user.getUsername(), password: 'whatever' });
    await rejectsWithCode(again.signUp(), Parse.Error.USERNAME_TAKEN, 'sign-up with a taken username');
    const upper = new Parse.User({ username: user.getUsername().toUpperCase(), password: 'whatever' });
    await rejectsWithCode(upper.signUp(), Parse.Error.USERNAME_TAKEN, 'sign-up with a taken username in capitals');
    assert.equal(Parse.User.current(), null);
  });

  test('a taken email is EMAIL_TAKEN (203)', T, async () => {
    const user = await signUpNew('frank');
    await Parse.User.logOut();
    const other = new Parse.User({ username: uniqueName('frank2'), password: 'whatever', email: user.getEmail() });
    await rejectsWithCode(other.signUp(), Parse.Error.EMAIL_TAKEN, 'sign-up with a taken email');
  });

  test('a wrong password, or an unknown username, is OBJECT_NOT_FOUND (101)', T, async () => {
    const user = await signUpNew('gina');
    await Parse.User.logOut();
    await rejectsWithCode(Parse.User.logIn(user.getUsername(), 'not the password'), Parse.Error.OBJECT_NOT_FOUND,
      'log-in with a wrong password');
    await rejectsWithCode(Parse.User.logIn(uniqueName('nobody'), 'x'), Parse.Error.OBJECT_NOT_FOUND,
      'log-in with an unknown username');
    assert.equal(Parse.User.current(), null);
  });

  test('sign-up without a username or a password is refused (200, 201)', T, async () => {
    // (signUp() checks locally first; save() sends the same POST /users without that check.)
    await rejectsWithCode(new Parse.User({ password: 'x' }).save(), Parse.Error.USERNAME_MISSING,
      'sign-up without username');
    await rejectsWithCode(new Parse.User({ username: uniqueName('nopw') }).save(), Parse.Error.PASSWORD_MISSING,
      'sign-up without password');
  });
});

describe('profiles', () => {
  beforeEach(async () => {
    if (Parse.User.current()) await Parse.User.logOut();
  });

  test('the current user updates their own profile', T, async () => {
    const user = await signUpNew('henry', { bio: 'old' });
    user.set('bio', 'new');
    user.increment('visits');
    await user.save();
    const me = await Parse.User.me(user.getSessionToken());
    assert.equal(me.get('bio'), 'new');
    assert.equal(me.get('visits'), 1);
    const fetched = await new Parse.Query(Parse.User).get(user.id);
    assert.equal(fetched.get('bio'), 'new');
  });

  test('a user cannot update or delete another user: 206 with a session or without one; nothing changes', T,
    async () => {
    const victim = await signUpNew('ivy', { bio: 'mine' });
    const victimToken = victim.getSessionToken();
    await Parse.CoreManager.getUserController().removeUserFromDisk();
    const attacker = await signUpNew('jack');
    const attackerToken = attacker.getSessionToken();
    await Parse.CoreManager.getUserController().removeUserFromDisk();

    const target = Parse.User.createWithoutData(victim.id);
    target.set('bio', 'hacked');
    await rejectsWithCode(target.save(null, { sessionToken: attackerToken }), Parse.Error.SESSION_MISSING,
      "another user's session updating a user");
    const anonymous = Parse.User.createWithoutData(victim.id);
    anonymous.set('bio', 'hacked');
    await rejectsWithCode(anonymous.save(), Parse.Error.SESSION_MISSING, 'an update of a user without a session');
    await rejectsWithCode(Parse.User.createWithoutData(victim.id).destroy({ sessionToken: attackerToken }),
      Parse.Error.SESSION_MISSING, "another user's session deleting a user");

    const reread = await Parse.User.me(victimToken);
    assert.equal(reread.get('bio'), 'mine');
  });

  test('a changed password logs in; the old one no longer does; the session that changed it stays valid', T,
    async () => {
      const user = await signUpNew('kate');
      const token = user.getSessionToken();
      // A second device (another installation id: a log-in from the same installation replaces its session).
      const device = await Parse.User.logIn(user.getUsername(), passwordOf(user), { installationId: uniqueName('dev') });
      const deviceToken = device.getSessionToken();
      assert.notEqual(deviceToken, token);
      assert.equal((await Parse.User.me(token)).id, user.id, 'both sessions work before the change');
      // The device (now the current user) changes the password.
      device.setPassword('brand-new-secret');
      await device.save();
      assert.equal((await Parse.User.me(deviceToken)).id, user.id, 'the session that changed the password stays');
      await rejectsWithCode(Parse.User.me(token), Parse.Error.INVALID_SESSION_TOKEN,
        'another session of a user whose password changed');
      await Parse.User.logOut();
      await rejectsWithCode(Parse.User.logIn(user.getUsername(), passwordOf(user)), Parse.Error.OBJECT_NOT_FOUND,
        'log-in with the old password');
      const again = await Parse.User.logIn(user.getUsername(), 'brand-new-secret');
      assert.equal(again.id, user.id);
    });

  test('a new user is private: other users do not find them; the master key does', T, async () => {
    const hidden = await signUpNew('leo');
    await Parse.CoreManager.getUserController().removeUserFromDisk();
    const looker = await signUpNew('mia');
    const found = await new Parse.Query(Parse.User).equalTo('username', hidden.getUsername()).find();
    assert.deepEqual(found, []);
    await rejectsWithCode(new Parse.Query(Parse.User).get(hidden.id), Parse.Error.OBJECT_NOT_FOUND,
      'get of a private user by another user');
    const byMaster = await new Parse.Query(Parse.User).equalTo('username', hidden.getUsername())
      .find({ useMasterKey: true });
    assert.equal(byMaster.length, 1);
    assert.equal(byMaster[0].getEmail(), hidden.getEmail());
    assert.ok(looker.isCurrent());
  });

  test("a query on users does not leak others' emails, even of publicly readable users", T, async () => {
    const tag = uniqueName('club');
    const publicUsers = [];
    for (const name of ['nina', 'omar']) {
      const user = await signUpNew(name, { club: tag });
      const acl = new Parse.ACL(user);
      acl.setPublicReadAccess(true);
      user.setACL(acl);
      await user.save();
      publicUsers.push(user);
      await Parse.CoreManager.getUserController().removeUserFromDisk();
    }
    const me = await signUpNew('paul', { club: tag });
    const found = await new Parse.Query(Parse.User).equalTo('club', tag).ascending('createdAt').find();
    assert.deepEqual(found.map((u) => u.id), [...publicUsers.map((u) => u.id), me.id]);
    for (const user of found) {
      if (user.id === me.id) {
        assert.equal(user.getEmail(), me.getEmail(), 'a user sees their own email');
      } else {
        assert.equal(user.getEmail(), undefined, `the email of ${user.getUsername()} leaked: ${user.getEmail()}`);
        assert.ok(user.getUsername(), 'other fields are there');
      }
      assert.equal(user.get('password'), undefined);
      assert.equal(user.get('sessionToken'), undefined, 'a query never answers session tokens');
    }
    // Querying by a hidden email is refused (as Parse Server's denyProtectedFields does): otherwise an email
    // could be confirmed one query at a time.
    await rejectsWithCode(new Parse.Query(Parse.User).equalTo('email', publicUsers[0].getEmail()).find(),
      Parse.Error.OPERATION_FORBIDDEN, 'querying another user\'s hidden email');
    await Parse.CoreManager.getUserController().removeUserFromDisk();
    const anonymous = await new Parse.Query(Parse.User).equalTo('club', tag).ascending('createdAt').find();
    assert.deepEqual(anonymous.map((u) => u.id), publicUsers.map((u) => u.id), 'without a session: public users');
    assert.ok(anonymous.every((u) => u.getEmail() === undefined));
  });
});

describe('sessions', () => {
  beforeEach(async () => {
    if (Parse.User.current()) await Parse.User.logOut();
  });

  test('Parse.Session.current() answers the session of the current user', T, async () => {
    const user = await signUpNew('quinn');
    const session = await Parse.Session.current();
    assert.ok(session instanceof Parse.Session);
    assert.equal(session.getSessionToken(), user.getSessionToken());
    assert.equal(session.get('user').id, user.id);
    assert.ok(session.get('expiresAt') instanceof Date);
    assert.ok(session.get('expiresAt') > new Date());
    assert.ok(Parse.Session.isCurrentSessionRevocable());
  });

  test('a user queries their own sessions; a log-in from the same installation replaces its session', T,
    async () => {
      const other = await signUpNew('rita');
      await Parse.CoreManager.getUserController().removeUserFromDisk();
      const user = await signUpNew('sam');
      const signUpToken = user.getSessionToken();
      const again = await Parse.User.logIn(user.getUsername(), passwordOf(user));
      // As Parse Server: a new session of a user on an installation destroys that user's other sessions there.
      await rejectsWithCode(Parse.User.me(signUpToken), Parse.Error.INVALID_SESSION_TOKEN,
        'the sign-up session after a log-in from the same installation');
      await Parse.User.logIn(user.getUsername(), passwordOf(user), { installationId: uniqueName('phone') });
      // logIn made the phone's user current; query with the first installation's session.
      const sessions = await new Parse.Query(Parse.Session).find({ sessionToken: again.getSessionToken() });
      assert.equal(sessions.length, 2, 'one session per installation');
      assert.ok(sessions.every((s) => s.get('user').id === user.id));
      assert.ok(sessions.every((s) => s.get('user').id !== other.id));
      assert.ok(sessions.some((s) => s.getSessionToken() === again.getSessionToken()));
    });

  test('Parse.Session.current() without a current user is refused', T, async () => {
    await assert.rejects(Parse.Session.current());
  });
});

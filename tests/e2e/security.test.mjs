// Permissions through the Parse JS SDK: object ACLs (per user, public read), roles (members, role ACLs, removal,
// inheritance), Parse.Schema with the master key (create with fields and CLP, add and delete fields, purge,
// delete), class-level permissions (create denied with 119, requiresAuthentication, protectedFields), and an
// `include` of a pointer the reader cannot read staying a bare pointer.
//
// No current user: every request names its session with `{ sessionToken }` (or none, for anonymous requests).
import { describe, test, before } from 'node:test';
import { randomBytes } from 'node:crypto';
import { Parse, assert, T, connectParse, rejectsWithCode, uniqueClassName, withoutData } from './support.mjs';

connectParse();

/** A freshly signed-up user: `{ user, token, as }`, `as` being the request options that act as them. */
async function newUser(base) {
  const username = `${base}_${randomBytes(5).toString('hex')}`;
  const user = await Parse.User.signUp(username, `pw-${username}`, { email: `${username}@example.com` });
  const token = user.getSessionToken();
  assert.ok(token, 'signUp answers a session token');
  return { user, token, as: { sessionToken: token } };
}

/** A role name no other test or run uses. */
function uniqueRoleName(base) {
  return `${base}_${randomBytes(4).toString('hex')}`;
}

/** The ids of the objects of `className` that the request options `as` can find (by `tag`). */
async function visibleIds(className, tag, as) {
  const found = await new Parse.Query(className).equalTo('tag', tag).find(as);
  return found.map((o) => o.id).sort();
}

describe('object ACLs', () => {
  const Note = uniqueClassName('Note');
  let alice;
  let bob;

  before(async () => {
    alice = await newUser('alice');
    bob = await newUser('bob');
  });

  test('an object private to its owner is invisible to others and anonymous requests; the master key sees it', T,
    async () => {
      const tag = randomBytes(4).toString('hex');
      const note = new Parse.Object(Note, { tag, text: 'private' });
      note.setACL(new Parse.ACL(alice.user));
      await note.save(null, alice.as);
      const open = await new Parse.Object(Note, { tag, text: 'public' }).save(null, alice.as);

      const mine = await new Parse.Query(Note).get(note.id, alice.as);
      assert.equal(mine.get('text'), 'private');
      assert.equal(mine.getACL().getReadAccess(alice.user), true);
      assert.equal(mine.getACL().getPublicReadAccess(), false);

      await rejectsWithCode(new Parse.Query(Note).get(note.id, bob.as), Parse.Error.OBJECT_NOT_FOUND,
        'get of a private object by another user');
      await rejectsWithCode(new Parse.Query(Note).get(note.id), Parse.Error.OBJECT_NOT_FOUND,
        'get of a private object without a session');
      assert.deepEqual(await visibleIds(Note, tag, bob.as), [open.id]);
      assert.deepEqual(await visibleIds(Note, tag, {}), [open.id]);
      assert.deepEqual(await visibleIds(Note, tag, alice.as), [note.id, open.id].sort());
      assert.equal(await new Parse.Query(Note).equalTo('tag', tag).count(bob.as), 1);
      assert.equal(await new Parse.Query(Note).equalTo('tag', tag).count(alice.as), 2);
      assert.deepEqual(await visibleIds(Note, tag, { useMasterKey: true }), [note.id, open.id].sort());

      const attempt = withoutData(Note, note.id);
      attempt.set('text', 'defaced');
      await rejectsWithCode(attempt.save(null, bob.as), Parse.Error.OBJECT_NOT_FOUND,
        'update of a private object by another user');
      await rejectsWithCode(withoutData(Note, note.id).destroy(bob.as), Parse.Error.OBJECT_NOT_FOUND,
        'delete of a private object by another user');
      assert.equal((await new Parse.Query(Note).get(note.id, alice.as)).get('text'), 'private');
    });

  test('public read with write for the owner only: others read but cannot write', T, async () => {
    const acl = new Parse.ACL(alice.user);
    acl.setPublicReadAccess(true);
    const note = await new Parse.Object(Note, { tag: 'board', text: 'hello' }).save({ ACL: acl }, alice.as);

    const seenByBob = await new Parse.Query(Note).get(note.id, bob.as);
    assert.equal(seenByBob.get('text'), 'hello');
    assert.equal((await new Parse.Query(Note).get(note.id)).get('text'), 'hello', 'anonymous read');

    seenByBob.set('text', 'bob was here');
    await rejectsWithCode(seenByBob.save(null, bob.as), Parse.Error.OBJECT_NOT_FOUND, 'update without write access');
    await rejectsWithCode(seenByBob.destroy(bob.as), Parse.Error.OBJECT_NOT_FOUND, 'delete without write access');
    await rejectsWithCode(withoutData(Note, note.id).save({ text: 'anon' }), Parse.Error.OBJECT_NOT_FOUND,
      'anonymous update without write access');

    await note.save({ text: 'edited by alice' }, alice.as);
    assert.equal((await new Parse.Query(Note).get(note.id, bob.as)).get('text'), 'edited by alice');
  });

  test('setReadAccess / setWriteAccess per user: a reader reads, a writer writes, others get nothing', T,
    async () => {
      const carol = await newUser('carol');
      const acl = new Parse.ACL();
      acl.setReadAccess(alice.user, true);
      acl.setWriteAccess(alice.user, true);
      acl.setReadAccess(bob.user.id, true);
      acl.setReadAccess(carol.user, true);
      acl.setWriteAccess(carol.user, true);
      const note = new Parse.Object(Note, { tag: 'shared', text: 'v1' });
      note.setACL(acl);
      await note.save(null, alice.as);

      const asBob = await new Parse.Query(Note).get(note.id, bob.as);
      assert.equal(asBob.getACL().getReadAccess(bob.user.id), true);
      assert.equal(asBob.getACL().getWriteAccess(bob.user.id), false);
      await rejectsWithCode(asBob.save({ text: 'bob' }, bob.as), Parse.Error.OBJECT_NOT_FOUND, 'reader updating');

      const asCarol = await new Parse.Query(Note).get(note.id, carol.as);
      await asCarol.save({ text: 'v2 by carol' }, carol.as);
      assert.equal((await new Parse.Query(Note).get(note.id, bob.as)).get('text'), 'v2 by carol');

      // The owner takes carol's access away: carol no longer finds it.
      const updated = await new Parse.Query(Note).get(note.id, alice.as);
      const narrowed = updated.getACL();
      narrowed.setReadAccess(carol.user, false);
      narrowed.setWriteAccess(carol.user, false);
      updated.setACL(narrowed);
      await updated.save(null, alice.as);
      await rejectsWithCode(new Parse.Query(Note).get(note.id, carol.as), Parse.Error.OBJECT_NOT_FOUND,
        'get after losing read access');
      assert.equal((await new Parse.Query(Note).get(note.id, bob.as)).get('text'), 'v2 by carol');
    });

  test('write access without read access: the writer may update but not read', T, async () => {
    const acl = new Parse.ACL(alice.user);
    acl.setWriteAccess(bob.user, true);
    const note = await new Parse.Object(Note, { tag: 'dropbox', count: 1 }).save({ ACL: acl }, alice.as);
    await rejectsWithCode(new Parse.Query(Note).get(note.id, bob.as), Parse.Error.OBJECT_NOT_FOUND,
      'get by a write-only user');
    const blind = withoutData(Note, note.id);
    blind.increment('count');
    await blind.save(null, bob.as);
    assert.equal((await new Parse.Query(Note).get(note.id, alice.as)).get('count'), 2);
  });
});

describe('roles', () => {
  const Doc = uniqueClassName('Doc');
  let owner;
  let member;
  let outsider;

  before(async () => {
    owner = await newUser('owner');
    member = await newUser('member');
    outsider = await newUser('outsider');
  });

  /** A role created by `owner` (who alone may change it; everyone may read it) with `users` as members. */
  async function newRole(base, users) {
    const acl = new Parse.ACL(owner.user);
    acl.setPublicReadAccess(true);
    const role = new Parse.Role(uniqueRoleName(base), acl);
    for (const user of users) role.getUsers().add(user.user);
    await role.save(null, owner.as);
    return role;
  }

  /** A Doc only `role` can read (the owner keeps write access). */
  async function docFor(role, text) {
    const acl = new Parse.ACL();
    acl.setRoleReadAccess(role, true);
    acl.setWriteAccess(owner.user, true);
    return new Parse.Object(Doc, { text }).save({ ACL: acl }, owner.as);
  }

  test('a role member reads what the role may read; a non-member does not', T, async () => {
    const role = await newRole('Editors', [member]);
    const doc = await docFor(role, 'for editors');
    const got = await new Parse.Query(Doc).get(doc.id, member.as);
    assert.equal(got.get('text'), 'for editors');
    assert.equal(got.getACL().getRoleReadAccess(role.getName()), true);
    assert.deepEqual((await new Parse.Query(Doc).equalTo('objectId', doc.id).find(member.as)).map((d) => d.id),
      [doc.id]);
    await rejectsWithCode(new Parse.Query(Doc).get(doc.id, outsider.as), Parse.Error.OBJECT_NOT_FOUND,
      'get by a non-member');
    assert.deepEqual(await new Parse.Query(Doc).equalTo('objectId', doc.id).find(outsider.as), []);
    await rejectsWithCode(new Parse.Query(Doc).get(doc.id, owner.as), Parse.Error.OBJECT_NOT_FOUND,
      'get by the role owner, who is not a member and has no read access');
  });

  test('role write access lets members update; a role is found by name and lists its users', T, async () => {
    const role = await newRole('Writers', [member]);
    const acl = new Parse.ACL();
    acl.setRoleReadAccess(role, true);
    acl.setRoleWriteAccess(role, true);
    const doc = await new Parse.Object(Doc, { text: 'draft' }).save({ ACL: acl }, { useMasterKey: true });
    await withoutData(Doc, doc.id).save({ text: 'edited by a writer' }, member.as);
    await rejectsWithCode(withoutData(Doc, doc.id).save({ text: 'x' }, outsider.as), Parse.Error.OBJECT_NOT_FOUND,
      'update by a non-member');
    const found = await new Parse.Query(Parse.Role).equalTo('name', role.getName()).first(outsider.as);
    assert.equal(found.id, role.id);
    const users = await found.getUsers().query().find({ useMasterKey: true });
    assert.deepEqual(users.map((u) => u.id), [member.user.id]);
  });

  test("only those the role's ACL lets write may change its members", T, async () => {
    const role = await newRole('Closed', [member]);
    const doc = await docFor(role, 'closed club');
    const hijack = Parse.Role.createWithoutData(role.id);
    hijack.getUsers().add(outsider.user);
    await rejectsWithCode(hijack.save(null, outsider.as), Parse.Error.OBJECT_NOT_FOUND,
      'a non-writer adding themselves to a role');
    await rejectsWithCode(new Parse.Query(Doc).get(doc.id, outsider.as), Parse.Error.OBJECT_NOT_FOUND,
      'get after a refused self-invitation');
  });

  test('a member removed from the role loses access at once; one added gains it', T, async () => {
    const role = await newRole('Temps', [member]);
    const doc = await docFor(role, 'temporary');
    assert.equal((await new Parse.Query(Doc).get(doc.id, member.as)).get('text'), 'temporary');

    role.getUsers().remove(member.user);
    role.getUsers().add(outsider.user);
    await role.save(null, owner.as);
    await rejectsWithCode(new Parse.Query(Doc).get(doc.id, member.as), Parse.Error.OBJECT_NOT_FOUND,
      'get by a removed member');
    assert.equal((await new Parse.Query(Doc).get(doc.id, outsider.as)).get('text'), 'temporary');
  });

  test('inheritance: members of a role added with getRoles().add(...) get the parent role too', T, async () => {
    const admin = await newUser('admin');
    const moderators = await newRole('Moderators', [member]);
    const administrators = await newRole('Administrators', [admin]);
    // Administrators inherit everything Moderators may do.
    moderators.getRoles().add(administrators);
    await moderators.save(null, owner.as);

    const forModerators = await docFor(moderators, 'moderators only');
    const forAdministrators = await docFor(administrators, 'administrators only');
    assert.equal((await new Parse.Query(Doc).get(forModerators.id, admin.as)).get('text'), 'moderators only',
      'an administrator reads what moderators may read');
    assert.equal((await new Parse.Query(Doc).get(forModerators.id, member.as)).get('text'), 'moderators only');
    assert.equal((await new Parse.Query(Doc).get(forAdministrators.id, admin.as)).get('text'), 'administrators only');
    await rejectsWithCode(new Parse.Query(Doc).get(forAdministrators.id, member.as), Parse.Error.OBJECT_NOT_FOUND,
      'a moderator reading what only administrators may read');

    // Two levels: SuperAdmins ⊂ Administrators ⊂ Moderators.
    const root = await newUser('root');
    const superAdmins = await newRole('SuperAdmins', [root]);
    administrators.getRoles().add(superAdmins);
    await administrators.save(null, owner.as);
    assert.equal((await new Parse.Query(Doc).get(forModerators.id, root.as)).get('text'), 'moderators only');
    assert.equal((await new Parse.Query(Doc).get(forAdministrators.id, root.as)).get('text'), 'administrators only');

    // Unlinking takes the inherited access away again.
    moderators.getRoles().remove(administrators);
    await moderators.save(null, owner.as);
    await rejectsWithCode(new Parse.Query(Doc).get(forModerators.id, admin.as), Parse.Error.OBJECT_NOT_FOUND,
      'an administrator after the roles were unlinked');
  });

  test('a role is fetched and destroyed through /classes/_Role, the paths the SDK uses', T, async () => {
    const role = await newRole('Ephemeral', [member]);
    const fetched = await Parse.Role.createWithoutData(role.id).fetch(outsider.as);
    assert.equal(fetched.getName(), role.getName());
    await rejectsWithCode(Parse.Role.createWithoutData(role.id).destroy(outsider.as), Parse.Error.OBJECT_NOT_FOUND,
      'a role destroyed by someone its ACL does not let write');
    await Parse.Role.createWithoutData(role.id).destroy(owner.as);
    await rejectsWithCode(Parse.Role.createWithoutData(role.id).fetch({ useMasterKey: true }),
      Parse.Error.OBJECT_NOT_FOUND, 'fetch of a destroyed role');
  });

  test('role names are unique (137) and fixed once saved', T, async () => {
    const role = await newRole('Unique', []);
    const acl = new Parse.ACL();
    acl.setPublicReadAccess(true);
    await rejectsWithCode(new Parse.Role(role.getName(), acl).save(null, { useMasterKey: true }),
      Parse.Error.DUPLICATE_VALUE, 'a second role with the same name');
    assert.throws(() => role.setName('Renamed'), /name/i, 'the SDK refuses to rename a saved role');
  });
});

describe('Parse.Schema with the master key', () => {
  test('create a class with fields and CLP, read it back, add and delete a field', T, async () => {
    const name = uniqueClassName('Catalog');
    const schema = new Parse.Schema(name);
    schema.addString('title', { required: false });
    schema.addNumber('price');
    schema.addBoolean('active');
    schema.addDate('releasedAt');
    schema.addPointer('owner', '_User');
    schema.addRelation('related', name);
    schema.addArray('tags');
    schema.setCLP({
      get: { '*': true }, find: { '*': true }, count: { '*': true }, create: { '*': true }, update: { '*': true },
      delete: {}, addField: {}, protectedFields: { '*': [] },
    });
    await schema.save();

    const read = await new Parse.Schema(name).get();
    assert.equal(read.className, name);
    assert.equal(read.fields.title.type, 'String');
    assert.equal(read.fields.price.type, 'Number');
    assert.equal(read.fields.active.type, 'Boolean');
    assert.equal(read.fields.releasedAt.type, 'Date');
    assert.deepEqual(read.fields.owner, { type: 'Pointer', targetClass: '_User' });
    assert.deepEqual(read.fields.related, { type: 'Relation', targetClass: name });
    assert.equal(read.fields.tags.type, 'Array');
    for (const field of ['objectId', 'createdAt', 'updatedAt', 'ACL']) assert.ok(read.fields[field], field);
    assert.deepEqual(read.classLevelPermissions.delete, {});
    assert.deepEqual(read.classLevelPermissions.get, { '*': true });

    const all = await Parse.Schema.all();
    assert.ok(all.some((s) => s.className === name), 'Parse.Schema.all() lists the new class');

    const adding = new Parse.Schema(name);
    adding.addString('subtitle');
    await adding.update();
    assert.equal((await new Parse.Schema(name).get()).fields.subtitle.type, 'String');

    const item = await new Parse.Object(name).save({ title: 't', price: 3, subtitle: 'gone soon' });
    await rejectsWithCode(new Parse.Object(name).save({ price: 'three' }), Parse.Error.INCORRECT_TYPE,
      'a string into a Number field');

    const deleting = new Parse.Schema(name);
    deleting.deleteField('subtitle');
    await deleting.update();
    const after = await new Parse.Schema(name).get();
    assert.equal(after.fields.subtitle, undefined);
    const reread = await new Parse.Query(name).get(item.id);
    assert.equal(reread.get('subtitle'), undefined, 'the deleted field is gone from stored objects');
    assert.equal(reread.get('title'), 't');

    await rejectsWithCode(new Parse.Schema(name).save(), Parse.Error.INVALID_CLASS_NAME,
      'creating a class that exists');
  });

  test('delete refuses a class with objects (255); purge empties it; then delete removes it', T, async () => {
    const name = uniqueClassName('Temp');
    const schema = new Parse.Schema(name);
    schema.addString('label');
    await schema.save();
    await Parse.Object.saveAll([1, 2, 3].map((n) => new Parse.Object(name, { label: `l${n}` })));
    const CLASS_NOT_EMPTY = 255; // Parse Server's code; the JS SDK has no constant for it
    await rejectsWithCode(new Parse.Schema(name).delete(), CLASS_NOT_EMPTY, 'deleting a non-empty class');
    await new Parse.Schema(name).purge();
    assert.equal(await new Parse.Query(name).count(), 0);
    assert.equal((await new Parse.Schema(name).get()).fields.label.type, 'String', 'purge keeps the schema');
    await new Parse.Schema(name).delete();
    await rejectsWithCode(new Parse.Schema(name).get(), Parse.Error.INVALID_CLASS_NAME, 'get of a deleted class');
  });
});

describe('class-level permissions', () => {
  let alice;
  let bob;

  before(async () => {
    alice = await newUser('clp_alice');
    bob = await newUser('clp_bob');
  });

  test('create allowed only for one user: others get OPERATION_FORBIDDEN (119)', T, async () => {
    const name = uniqueClassName('Announcement');
    const clp = new Parse.CLP();
    clp.setPublicReadAccess(true);
    clp.setWriteAccess(alice.user, true);
    const schema = new Parse.Schema(name);
    schema.addString('text');
    schema.setCLP(clp);
    await schema.save();

    const posted = await new Parse.Object(name, { text: 'by alice' }).save(null, alice.as);
    await rejectsWithCode(new Parse.Object(name, { text: 'by bob' }).save(null, bob.as), Parse.Error.OPERATION_FORBIDDEN,
      'create by a user the CLP does not allow');
    await rejectsWithCode(new Parse.Object(name, { text: 'anon' }).save(), Parse.Error.OPERATION_FORBIDDEN,
      'anonymous create');
    await rejectsWithCode(withoutData(name, posted.id).save({ text: 'bob edit' }, bob.as),
      Parse.Error.OPERATION_FORBIDDEN, 'update by a user the CLP does not allow');
    await rejectsWithCode(withoutData(name, posted.id).destroy(bob.as), Parse.Error.OPERATION_FORBIDDEN,
      'delete by a user the CLP does not allow');
    const seen = await new Parse.Query(name).find(bob.as);
    assert.deepEqual(seen.map((o) => o.get('text')), ['by alice'], 'reading stays public');
    await new Parse.Object(name, { text: 'by master' }).save(null, { useMasterKey: true });
    assert.equal(await new Parse.Query(name).count(), 2);
  });

  test('find restricted to one user is 119 for others; requiresAuthentication refuses anonymous requests (101)', T,
    async () => {
      const name = uniqueClassName('Ledger');
      const schema = new Parse.Schema(name);
      schema.addNumber('amount');
      schema.setCLP({
        get: { requiresAuthentication: true }, find: { [alice.user.id]: true }, count: { [alice.user.id]: true },
        create: { requiresAuthentication: true }, update: { '*': true }, delete: { '*': true }, addField: {},
        protectedFields: {},
      });
      await schema.save();
      const entry = await new Parse.Object(name, { amount: 5 }).save(null, bob.as);
      await rejectsWithCode(new Parse.Object(name, { amount: 1 }).save(), Parse.Error.OBJECT_NOT_FOUND,
        'anonymous create when create requires authentication');
      // (fetch is the `get` operation, GET /classes/X/id; Query.get is a `find` with an objectId constraint.)
      assert.equal((await withoutData(name, entry.id).fetch(bob.as)).get('amount'), 5);
      await rejectsWithCode(withoutData(name, entry.id).fetch(), Parse.Error.OBJECT_NOT_FOUND,
        'anonymous get when get requires authentication');
      await rejectsWithCode(new Parse.Query(name).get(entry.id, bob.as), Parse.Error.OPERATION_FORBIDDEN,
        'Query.get (a find) by bob');
      await rejectsWithCode(new Parse.Query(name).find(bob.as), Parse.Error.OPERATION_FORBIDDEN, 'find by bob');
      await rejectsWithCode(new Parse.Query(name).count(bob.as), Parse.Error.OPERATION_FORBIDDEN, 'count by bob');
      assert.deepEqual((await new Parse.Query(name).find(alice.as)).map((o) => o.id), [entry.id]);
    });

  /** A public class whose `phone` is protected from everyone but alice; one object by bob. */
  async function profileClass() {
    const name = uniqueClassName('Profile');
    const schema = new Parse.Schema(name);
    schema.addString('nickname');
    schema.addString('phone');
    // As JSON: Parse.CLP#setProtectedFields(user, []) drops the entry instead of exempting the user.
    const everyone = { '*': true };
    schema.setCLP({
      get: everyone, find: everyone, count: everyone, create: everyone, update: everyone, delete: everyone,
      addField: everyone, protectedFields: { '*': ['phone'], [alice.user.id]: [] },
    });
    await schema.save();
    const profile = await new Parse.Object(name, { nickname: 'zed', phone: '555-0100' }).save(null, bob.as);
    return { name, profile };
  }

  test('protectedFields hide a field from everyone but the exempted user and the master key', T, async () => {
    const { name, profile } = await profileClass();
    const asBob = await new Parse.Query(name).get(profile.id, bob.as);
    assert.equal(asBob.get('nickname'), 'zed');
    assert.equal(asBob.get('phone'), undefined, 'a protected field leaked to a user');
    assert.equal(asBob.has('phone'), false);
    assert.equal((await withoutData(name, profile.id).fetch(bob.as)).get('phone'), undefined,
      'a protected field leaked to a fetch');
    const listed = await new Parse.Query(name).find();
    assert.equal(listed[0].get('phone'), undefined, 'a protected field leaked to an anonymous find');
    const selected = await new Parse.Query(name).select('phone', 'nickname').find(bob.as);
    assert.equal(selected[0].get('phone'), undefined, 'a protected field leaked through keys');
    assert.equal(selected[0].get('nickname'), 'zed');

    assert.equal((await new Parse.Query(name).get(profile.id, alice.as)).get('phone'), '555-0100',
      'the exempted user sees it');
    assert.equal((await new Parse.Query(name).get(profile.id, { useMasterKey: true })).get('phone'), '555-0100');
  });

  test('a query constraining a protected field is OPERATION_FORBIDDEN (119), also inside $or', T, async () => {
    // Otherwise `where phone = guess` would reveal the hidden value one guess at a time.
    const { name } = await profileClass();
    await rejectsWithCode(new Parse.Query(name).equalTo('phone', '555-0100').find(bob.as),
      Parse.Error.OPERATION_FORBIDDEN, 'a query on a protected field');
    await rejectsWithCode(new Parse.Query(name).startsWith('phone', '555').count(), Parse.Error.OPERATION_FORBIDDEN,
      'an anonymous count constraining a protected field');
    const either = Parse.Query.or(new Parse.Query(name).equalTo('nickname', 'nobody'),
      new Parse.Query(name).equalTo('phone', '555-0100'));
    await rejectsWithCode(either.find(bob.as), Parse.Error.OPERATION_FORBIDDEN, 'a protected field inside $or');
    const allowed = await new Parse.Query(name).equalTo('phone', '555-0100').find(alice.as);
    assert.equal(allowed.length, 1, 'the exempted user may query it');
  });
});

describe('include and unreadable pointers', () => {
  const Post = uniqueClassName('Post');
  const Secret = uniqueClassName('Secret');

  test('an included pointer the reader cannot read stays a bare pointer; its owner gets it included', T,
    async () => {
      const alice = await newUser('inc_alice');
      const bob = await newUser('inc_bob');
      const secret = new Parse.Object(Secret, { payload: 'classified' });
      secret.setACL(new Parse.ACL(alice.user));
      await secret.save(null, alice.as);
      const openSecret = await new Parse.Object(Secret, { payload: 'open' }).save(null, alice.as);
      const post = await new Parse.Object(Post, { title: 'hello', secret, other: openSecret }).save(null, alice.as);

      const asBob = await new Parse.Query(Post).include('secret').include('other').get(post.id, bob.as);
      assert.equal(asBob.get('title'), 'hello');
      const pointer = asBob.get('secret');
      assert.ok(pointer instanceof Parse.Object, 'the field is still there, as a pointer');
      assert.equal(pointer.id, secret.id);
      assert.equal(pointer.className, Secret);
      assert.equal(pointer.get('payload'), undefined, 'the unreadable object leaked through include');
      assert.equal(pointer.isDataAvailable(), false);
      assert.equal(asBob.get('other').get('payload'), 'open', 'a readable pointer is included');

      const asAlice = await new Parse.Query(Post).include('secret').get(post.id, alice.as);
      assert.equal(asAlice.get('secret').get('payload'), 'classified');

      const found = await new Parse.Query(Post).include('secret').equalTo('objectId', post.id).find();
      assert.equal(found[0].get('secret').get('payload'), undefined, 'anonymous include of an unreadable pointer');
    });
});

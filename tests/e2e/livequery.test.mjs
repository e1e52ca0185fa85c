// LiveQuery through the Parse JS SDK, on the URL the SDK derives from serverURL (no liveQueryServerURL set):
// create / enter / update / leave / delete with the right objects, unsubscribe, select (keys) and watch, each
// subscriber seeing only what its session may read, and a dashboard subscribed to a pointer (provider == me).
//
// Waits never hang: every wait for an event has its own timeout, and "no event" is shown by a fence — a later
// write that the same connection must report, after which the unwanted event would already have arrived.
import { describe, test, before, after } from 'node:test';
import { randomBytes } from 'node:crypto';
import { Parse, assert, T, connectParse, uniqueClassName, withoutData } from './support.mjs';

connectParse();

/** How long one event may take to arrive. */
const EVENT_MS = 5_000;
const EVENTS = ['create', 'enter', 'update', 'leave', 'delete'];

/** The LiveQuery URL the SDK derives from serverURL (ws://host:port/parse). */
const WS_URL = process.env.SERVER_URL.replace(/^http/, 'ws');

/** Every event a subscription emits, in order, with waits that time out. */
class Recorder {
  constructor(subscription, label) {
    this.label = label;
    this.events = [];
    this.consumed = 0;
    this.waiters = new Set();
    for (const name of EVENTS) {
      subscription.on(name, (object, second) => {
        const original = second instanceof Parse.Object ? second : undefined;
        this.events.push({ name, object, original });
        for (const waiter of [...this.waiters]) waiter();
      });
    }
  }

  /** "name:objectId" for each event so far. */
  summary() {
    return this.events.map((e) => `${e.name}:${e.object.id}`);
  }

  /**
   * The next event after those already waited for, which must be `name` (for `objectId` when given), within
   * `ms`. Fails on a different event arriving first, or on the timeout.
   */
  waitForEvent(name, objectId, ms = EVENT_MS) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.consumed >= this.events.length) return false;
        const event = this.events[this.consumed];
        this.consumed += 1;
        cleanup();
        if (event.name !== name || (objectId && event.object.id !== objectId)) {
          reject(new Error(`${this.label}: expected ${name}:${objectId ?? '*'} next, got ${event.name}:`
            + `${event.object.id} (all events: ${this.summary().join(', ') || 'none'})`));
        } else {
          resolve(event);
        }
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.label}: no ${name}:${objectId ?? '*'} event within ${ms} ms `
          + `(all events: ${this.summary().join(', ') || 'none'})`));
      }, ms);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      if (!check()) this.waiters.add(check);
    });
  }

  /** Asserts that nothing arrived beyond what was waited for. */
  assertNoMore(why) {
    assert.deepEqual(this.summary().slice(this.consumed), [], `${this.label}: ${why}`);
  }
}

/** A LiveQuery client of its own (no master key), connected as `sessionToken` (or anonymously). */
const openClients = [];
async function liveClient(sessionToken) {
  const client = new Parse.LiveQueryClient({
    applicationId: process.env.APP_ID, serverURL: WS_URL, javascriptKey: process.env.JS_KEY, sessionToken,
  });
  openClients.push(client);
  const opened = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no LiveQuery connection to ${WS_URL} within ${EVENT_MS} ms`)),
      EVENT_MS);
    client.on('open', () => { clearTimeout(timer); resolve(); });
  });
  client.open();
  await opened;
  return client;
}

/** `client.subscribe(query, sessionToken)`, resolved once the server answered `subscribed` (with a timeout). */
async function subscribeOn(client, query, sessionToken) {
  const subscription = client.subscribe(query, sessionToken);
  await withTimeout(subscription.subscribePromise, EVENT_MS, `subscribing to ${query.className}`);
  return subscription;
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The default client (the SDK's own, from serverURL; it carries the master key set in initialize). */
async function subscribe(query) {
  return withTimeout(query.subscribe(), EVENT_MS, `query.subscribe() on ${query.className}`);
}

async function newUser(base) {
  const username = `${base}_${randomBytes(5).toString('hex')}`;
  const user = await Parse.User.signUp(username, `pw-${username}`);
  return { user, token: user.getSessionToken(), as: { sessionToken: user.getSessionToken() } };
}

after(async () => {
  await Parse.LiveQuery.close();
  await Promise.all(openClients.map((client) => client.close()));
});

describe('subscription events', () => {
  test('create, update, leave, enter, delete for Item where status == "open"', T, async () => {
    const Item = uniqueClassName('Item');
    const subscription = await subscribe(new Parse.Query(Item).equalTo('status', 'open'));
    const events = new Recorder(subscription, 'status == open');

    const item = await new Parse.Object(Item).save({ name: 'first', status: 'open', count: 1 });
    const created = await events.waitForEvent('create', item.id);
    assert.equal(created.object.className, Item);
    assert.equal(created.object.get('name'), 'first');
    assert.equal(created.object.get('status'), 'open');
    assert.equal(created.object.get('count'), 1);
    assert.equal(created.object.createdAt.getTime(), item.createdAt.getTime());

    const closed = await new Parse.Object(Item).save({ name: 'never matches', status: 'closed' });

    item.set('name', 'renamed');
    item.increment('count');
    await item.save();
    const updated = await events.waitForEvent('update', item.id);
    assert.equal(updated.object.get('name'), 'renamed');
    assert.equal(updated.object.get('count'), 2);
    assert.equal(updated.object.get('status'), 'open');
    assert.ok(updated.original, 'an update carries the object before the write');
    assert.equal(updated.original.get('name'), 'first');
    assert.equal(updated.original.get('count'), 1);
    assert.equal(updated.object.updatedAt.getTime(), item.updatedAt.getTime());

    await item.save({ status: 'closed' });
    const left = await events.waitForEvent('leave', item.id);
    assert.equal(left.object.get('status'), 'closed', 'leave carries the object as it is now');
    assert.equal(left.object.get('name'), 'renamed');

    await closed.save({ name: 'still closed' }); // matches neither before nor after: no event

    await item.save({ status: 'open', name: 'reopened' });
    const entered = await events.waitForEvent('enter', item.id);
    assert.equal(entered.object.get('status'), 'open');
    assert.equal(entered.object.get('name'), 'reopened');
    assert.equal(entered.original?.get('status'), 'closed', 'enter carries the object before the write');

    await item.destroy();
    const deleted = await events.waitForEvent('delete', item.id);
    assert.equal(deleted.object.get('name'), 'reopened', 'delete carries the last state of the object');

    assert.deepEqual(events.summary(), [`create:${item.id}`, `update:${item.id}`, `leave:${item.id}`,
      `enter:${item.id}`, `delete:${item.id}`], 'the closed item never produced an event');
  });

  test('a destroyed object that did not match, and an unset field, are reported correctly', T, async () => {
    const Item = uniqueClassName('Item');
    const subscription = await subscribe(new Parse.Query(Item).equalTo('status', 'open'));
    const events = new Recorder(subscription, 'status == open');
    const closed = await new Parse.Object(Item).save({ status: 'closed' });
    const open = await new Parse.Object(Item).save({ status: 'open', note: 'to be unset' });
    await events.waitForEvent('create', open.id);
    await closed.destroy();
    open.unset('note');
    await open.save();
    const updated = await events.waitForEvent('update', open.id);
    assert.equal(updated.object.get('note'), undefined, 'an unset field is gone from the update');
    assert.equal(updated.original.get('note'), 'to be unset');
    events.assertNoMore('a non-matching object was destroyed');
  });

  test('unsubscribe stops the events of that subscription only', T, async () => {
    const Item = uniqueClassName('Item');
    const first = await subscribe(new Parse.Query(Item));
    const second = await subscribe(new Parse.Query(Item));
    const firstEvents = new Recorder(first, 'first');
    const secondEvents = new Recorder(second, 'second');
    const a = await new Parse.Object(Item).save({ name: 'a' });
    await firstEvents.waitForEvent('create', a.id);
    await secondEvents.waitForEvent('create', a.id);

    await withTimeout(first.unsubscribe(), EVENT_MS, 'unsubscribe');
    const b = await new Parse.Object(Item).save({ name: 'b' });
    await secondEvents.waitForEvent('create', b.id);
    await b.save({ name: 'b2' });
    await secondEvents.waitForEvent('update', b.id);
    firstEvents.assertNoMore('events after unsubscribe');
  });

  test('query.select(...) limits the fields of every event to those keys', T, async () => {
    const Item = uniqueClassName('Item');
    const subscription = await subscribe(new Parse.Query(Item).equalTo('status', 'open').select('title'));
    const events = new Recorder(subscription, 'select title');
    const item = await new Parse.Object(Item).save({ title: 'shown', secret: 'hidden', status: 'open' });
    const created = await events.waitForEvent('create', item.id);
    assert.equal(created.object.get('title'), 'shown');
    assert.equal(created.object.has('secret'), false, `a field outside keys arrived: ${created.object.get('secret')}`);
    assert.equal(created.object.has('status'), false, 'a field outside keys arrived (status)');
    assert.ok(created.object.createdAt instanceof Date, 'createdAt always comes along');

    await item.save({ secret: 'still hidden', title: 'shown again' });
    const updated = await events.waitForEvent('update', item.id);
    assert.equal(updated.object.get('title'), 'shown again');
    assert.equal(updated.object.has('secret'), false, `a field outside keys arrived: ${updated.object.get('secret')}`);
  });

  test('query.watch(...) reports updates only when a watched field changes', T, async () => {
    const Item = uniqueClassName('Item');
    const subscription = await subscribe(new Parse.Query(Item).watch('status'));
    const events = new Recorder(subscription, 'watch status');
    const item = await new Parse.Object(Item).save({ title: 't', status: 'new' });
    await events.waitForEvent('create', item.id);
    await item.save({ title: 'retitled' }); // not watched: no event
    await item.save({ status: 'done' });
    const updated = await events.waitForEvent('update', item.id);
    assert.equal(updated.object.get('status'), 'done');
    assert.equal(updated.object.get('title'), 'retitled');
    events.assertNoMore('an update of an unwatched field');
  });
});

describe('each subscriber sees what its session may read', () => {
  let alice;
  let bob;

  before(async () => {
    alice = await newUser('lq_alice');
    bob = await newUser('lq_bob');
  });

  test("alice's private objects reach alice's subscription only; public ones reach everyone", T, async () => {
    const Memo = uniqueClassName('Memo');
    const query = new Parse.Query(Memo);
    // alice: session given at connect; bob: session given with the subscription; and an anonymous client.
    const aliceEvents = new Recorder(await subscribeOn(await liveClient(alice.token), query), 'alice');
    const bobEvents = new Recorder(await subscribeOn(await liveClient(), query, bob.token), 'bob');
    const anonEvents = new Recorder(await subscribeOn(await liveClient(), query), 'anonymous');

    const secret = new Parse.Object(Memo, { text: 'for alice' });
    secret.setACL(new Parse.ACL(alice.user));
    await secret.save(null, alice.as);
    const created = await aliceEvents.waitForEvent('create', secret.id);
    assert.equal(created.object.get('text'), 'for alice');

    const open = await new Parse.Object(Memo, { text: 'for all' }).save(null, alice.as);
    await aliceEvents.waitForEvent('create', open.id);
    await bobEvents.waitForEvent('create', open.id);
    await anonEvents.waitForEvent('create', open.id);
    bobEvents.assertNoMore("bob received alice's private object");
    anonEvents.assertNoMore("an anonymous client received alice's private object");

    await secret.save({ text: 'edited' }, alice.as);
    await aliceEvents.waitForEvent('update', secret.id);
    await secret.destroy(alice.as);
    await aliceEvents.waitForEvent('delete', secret.id);
    await open.save({ text: 'fence' }, alice.as);
    await bobEvents.waitForEvent('update', open.id);
    await anonEvents.waitForEvent('update', open.id);
    bobEvents.assertNoMore("bob received an update or delete of alice's private object");
    anonEvents.assertNoMore("an anonymous client received an update or delete of alice's private object");
  });

  test('sharing an object with bob is an enter for bob; taking it back is a leave', T, async () => {
    const Memo = uniqueClassName('Memo');
    const bobEvents = new Recorder(await subscribeOn(await liveClient(bob.token), new Parse.Query(Memo)), 'bob');
    const memo = new Parse.Object(Memo, { text: 'draft' });
    memo.setACL(new Parse.ACL(alice.user));
    await memo.save(null, alice.as);

    const shared = new Parse.ACL(alice.user);
    shared.setReadAccess(bob.user, true);
    await memo.save({ ACL: shared, text: 'shared' }, alice.as);
    const entered = await bobEvents.waitForEvent('enter', memo.id);
    assert.equal(entered.object.get('text'), 'shared');

    await memo.save({ ACL: new Parse.ACL(alice.user), text: 'private again' }, alice.as);
    await bobEvents.waitForEvent('leave', memo.id);
    await memo.save({ text: 'unseen' }, alice.as);
    const fence = await new Parse.Object(Memo, { text: 'public fence' }).save(null, alice.as);
    await bobEvents.waitForEvent('create', fence.id);
    bobEvents.assertNoMore('bob saw an update of an object he can no longer read');
  });

  test("protectedFields are left out of a subscriber's events; the exempted user gets them", T, async () => {
    const Contact = uniqueClassName('Contact');
    const schema = new Parse.Schema(Contact);
    schema.addString('name');
    schema.addString('phone');
    const everyone = { '*': true };
    schema.setCLP({
      get: everyone, find: everyone, count: everyone, create: everyone, update: everyone, delete: everyone,
      addField: everyone, protectedFields: { '*': ['phone'], [alice.user.id]: [] },
    });
    await schema.save();
    const query = new Parse.Query(Contact);
    const bobEvents = new Recorder(await subscribeOn(await liveClient(bob.token), query), 'bob');
    const aliceEvents = new Recorder(await subscribeOn(await liveClient(alice.token), query), 'alice');
    const contact = await new Parse.Object(Contact, { name: 'zed', phone: '555-0100' }).save(null, bob.as);
    const seenByBob = await bobEvents.waitForEvent('create', contact.id);
    assert.equal(seenByBob.object.get('name'), 'zed');
    assert.equal(seenByBob.object.has('phone'), false, `a protected field reached bob: ${seenByBob.object.get('phone')}`);
    assert.equal((await aliceEvents.waitForEvent('create', contact.id)).object.get('phone'), '555-0100');
    await contact.save({ phone: '555-0199' }, bob.as);
    const updated = await bobEvents.waitForEvent('update', contact.id);
    assert.equal(updated.object.has('phone'), false, 'a protected field reached bob in an update');
    assert.equal(updated.original?.has('phone'), false, "a protected field reached bob in an update's original");
  });

  test('a role member subscribed with their session sees objects shared with the role', T, async () => {
    const Memo = uniqueClassName('Memo');
    const roleAcl = new Parse.ACL(alice.user);
    roleAcl.setPublicReadAccess(true);
    const role = new Parse.Role(`Team_${randomBytes(4).toString('hex')}`, roleAcl);
    role.getUsers().add(bob.user);
    await role.save(null, alice.as);
    const bobEvents = new Recorder(await subscribeOn(await liveClient(), new Parse.Query(Memo), bob.token), 'bob');
    const memo = new Parse.Object(Memo, { text: 'for the team' });
    const acl = new Parse.ACL(alice.user);
    acl.setRoleReadAccess(role, true);
    memo.setACL(acl);
    await memo.save(null, alice.as);
    const created = await bobEvents.waitForEvent('create', memo.id);
    assert.equal(created.object.get('text'), 'for the team');
  });
});

describe('a booking dashboard: Appointment where provider == me', () => {
  test('the provider gets their appointments and status changes, and nobody else\'s', T, async () => {
    const Appointment = uniqueClassName('Appointment');
    const provider = await newUser('provider');
    const other = await newUser('other_provider');

    /** An appointment readable by its provider only, written with the master key (the booking backend). */
    async function book(forProvider, when) {
      const appointment = new Parse.Object(Appointment, { provider: forProvider.user, when, status: 'requested' });
      const acl = new Parse.ACL(forProvider.user);
      appointment.setACL(acl);
      return appointment.save(null, { useMasterKey: true });
    }

    const mine = new Parse.Query(Appointment).equalTo('provider', provider.user);
    const client = await liveClient(provider.token);
    const events = new Recorder(await subscribeOn(client, mine), 'dashboard');

    const first = await book(provider, '09:00');
    const created = await events.waitForEvent('create', first.id);
    assert.equal(created.object.get('status'), 'requested');
    assert.equal(created.object.get('provider').id, provider.user.id);

    await book(other, '09:30'); // another provider's: no event

    await first.save({ status: 'confirmed' }, { useMasterKey: true });
    const confirmed = await events.waitForEvent('update', first.id);
    assert.equal(confirmed.object.get('status'), 'confirmed');
    assert.equal(confirmed.original.get('status'), 'requested');

    // The provider confirms arrival from the dashboard itself.
    await withoutData(Appointment, first.id).save({ status: 'arrived' }, provider.as);
    assert.equal((await events.waitForEvent('update', first.id)).object.get('status'), 'arrived');

    // Reassigned to another provider: it leaves this dashboard.
    const reassigned = new Parse.ACL(other.user);
    await first.save({ provider: other.user, ACL: reassigned }, { useMasterKey: true });
    await events.waitForEvent('leave', first.id);

    const second = await book(provider, '10:00');
    await events.waitForEvent('create', second.id);
    await second.destroy({ useMasterKey: true });
    await events.waitForEvent('delete', second.id);
    events.assertNoMore("another provider's appointment reached this dashboard");
  });
});

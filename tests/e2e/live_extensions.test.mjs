// Our LiveQuery extensions through the Parse JS SDK: `subscription.find()` (op "query") answered by a `result`
// frame the SDK emits as its 'result' event, and `include` on a subscription, whose events then carry the
// pointed objects as Parse.Objects. The SDK does not send `include` in its subscribe frame: this file's socket
// adds the query's include to it, as an app (or a later SDK) would.
import { describe, test, after } from 'node:test';
import { Parse, assert, T, connectParse, uniqueClassName } from './support.mjs';

connectParse();

const EVENT_MS = 5_000;
const WS_URL = process.env.SERVER_URL.replace(/^http/, 'ws');
const CoreManager = Parse.CoreManager;

/** The SDK's socket, with `query.include` added to each subscribe frame of a class named in `includes`. */
const includes = new Map();
const SdkSocket = CoreManager.getWebSocketController();
class IncludingSocket extends SdkSocket {
  send(data) {
    const frame = JSON.parse(data);
    if (frame.op === 'subscribe' && includes.has(frame.query.className)) {
      frame.query.include = includes.get(frame.query.className);
    }
    super.send(JSON.stringify(frame));
  }
}
CoreManager.setWebSocketController(IncludingSocket);

const clients = [];
async function liveClient() {
  const client = new Parse.LiveQueryClient({
    applicationId: process.env.APP_ID, serverURL: WS_URL, javascriptKey: process.env.JS_KEY,
  });
  clients.push(client);
  const opened = once(client, 'open', 'connecting');
  client.open();
  await opened;
  return client;
}

/** The arguments of the next `name` event of `emitter` (the SDK's emitters have `on` only), with a timeout. */
function once(emitter, name, what) {
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => { done = true; reject(new Error(`${what}: no '${name}' within ${EVENT_MS} ms`)); },
      EVENT_MS);
    emitter.on(name, (...args) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(args);
    });
  });
}

async function subscribed(client, query) {
  const subscription = client.subscribe(query);
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`subscribing: no answer within ${EVENT_MS} ms`)), EVENT_MS);
  });
  await Promise.race([subscription.subscribePromise, timeout]).finally(() => clearTimeout(timer));
  return subscription;
}

after(async () => {
  await Promise.all(clients.map((client) => client.close()));
});

describe('LiveQuery extensions', () => {
  test("subscription.find() emits 'result' with the objects matching the subscription", T, async () => {
    const Item = uniqueClassName('Item');
    const open = await new Parse.Object(Item).save({ name: 'open one', status: 'open' });
    await new Parse.Object(Item).save({ name: 'closed one', status: 'closed' });
    const client = await liveClient();
    const subscription = await subscribed(client, new Parse.Query(Item).equalTo('status', 'open'));
    const result = once(subscription, 'result', 'subscription.find()');
    subscription.find();
    const [objects] = await result;
    assert.deepEqual(objects.map((o) => [o.id, o.className, o.get('name')]), [[open.id, Item, 'open one']]);

    const created = once(subscription, 'create', 'a create after the result');
    const later = await new Parse.Object(Item).save({ name: 'later', status: 'open' });
    const [object] = await created;
    assert.equal(object.id, later.id);
  });

  test('events of a subscription with include carry the pointed objects', T, async () => {
    const Author = uniqueClassName('Author');
    const Post = uniqueClassName('Post');
    const author = await new Parse.Object(Author).save({ name: 'Ann' });
    includes.set(Post, ['author']);
    const client = await liveClient();
    const subscription = await subscribed(client, new Parse.Query(Post));
    const created = once(subscription, 'create', 'the create of a post');
    await new Parse.Object(Post).save({ title: 'hello', author });
    const [post] = await created;
    const included = post.get('author');
    assert.ok(included instanceof Parse.Object);
    assert.equal(included.id, author.id);
    assert.equal(included.get('name'), 'Ann', 'the author arrives fetched, not as a bare pointer');
  });
});

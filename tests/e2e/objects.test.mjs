// Objects through the Parse JS SDK: save/fetch/update/destroy, every field type, atomic operations (also
// concurrent), relations, batch saveAll/destroyAll, and the Parse.Error codes the SDK surfaces.
import { describe, test, before } from 'node:test';
import {
  Parse, assert, T, connectParse, rejectsWithCode, uniqueClassName, sortedValues, withoutData,
} from './support.mjs';

connectParse();

/** A fresh copy of `object` read back from the server by a query (never the SDK's local state). */
async function reread(object) {
  return new Parse.Query(object.className).get(object.id);
}

describe('save, fetch, update, destroy', () => {
  const Item = uniqueClassName('Item');

  test('a new object gets a 10-character id, createdAt and updatedAt, and did not exist before', T, async () => {
    const before = Date.now();
    const item = new Parse.Object(Item);
    await item.save({ name: 'first', count: 1 });
    assert.match(item.id, /^[A-Za-z0-9]{10}$/);
    assert.ok(item.createdAt instanceof Date);
    assert.ok(item.updatedAt instanceof Date);
    assert.ok(Math.abs(item.createdAt.getTime() - before) < 60_000, `createdAt ${item.createdAt.toISOString()}`);
    assert.equal(item.existed(), false, 'a create must answer 201, which the SDK reads as "did not exist"');
  });

  test('fetch and Query.get return what was saved', T, async () => {
    const item = await new Parse.Object(Item).save({ name: 'fetch me', count: 42, ok: true, ratio: 0.25 });
    const fetched = await withoutData(Item, item.id).fetch();
    assert.equal(fetched.get('name'), 'fetch me');
    assert.equal(fetched.get('count'), 42);
    assert.equal(fetched.get('ok'), true);
    assert.equal(fetched.get('ratio'), 0.25);
    assert.equal(fetched.createdAt.getTime(), item.createdAt.getTime());
    const got = await new Parse.Query(Item).get(item.id);
    assert.equal(got.get('name'), 'fetch me');
    assert.equal(got.updatedAt.getTime(), item.updatedAt.getTime());
  });

  test('an update changes only the fields set, moves updatedAt forward and reports that the object existed', T,
    async () => {
      const item = await new Parse.Object(Item).save({ name: 'before', count: 1, keep: 'kept' });
      await new Promise((resolve) => setTimeout(resolve, 5));
      item.set('name', 'after');
      await item.save();
      assert.equal(item.existed(), true, 'an update must answer 200');
      const fetched = await reread(item);
      assert.equal(fetched.get('name'), 'after');
      assert.equal(fetched.get('count'), 1);
      assert.equal(fetched.get('keep'), 'kept');
      assert.ok(fetched.updatedAt > fetched.createdAt,
        `updatedAt ${fetched.updatedAt.toISOString()} should be after createdAt ${fetched.createdAt.toISOString()}`);
      assert.equal(fetched.createdAt.getTime(), item.createdAt.getTime());
    });

  test('an update may add new fields, of any type', T, async () => {
    const item = await new Parse.Object(Item).save({ name: 'grows' });
    await item.save({ addedLater: new Date('2020-02-02T00:00:00.000Z'), addedList: [1] });
    const got = await reread(item);
    assert.equal(got.get('addedLater').toISOString(), '2020-02-02T00:00:00.000Z');
    assert.deepEqual(got.get('addedList'), [1]);
  });

  test('Parse.Object.fetchAll reads several objects at once', T, async () => {
    const items = await Parse.Object.saveAll([1, 2, 3].map((n) => new Parse.Object(Item, { name: `all${n}`, n })));
    const empties = items.map((i) => withoutData(Item, i.id));
    const fetched = await Parse.Object.fetchAll(empties);
    assert.deepEqual(fetched.map((o) => o.get('n')), [1, 2, 3]);
  });

  test('destroy removes the object: fetching it again is OBJECT_NOT_FOUND (101)', T, async () => {
    const item = await new Parse.Object(Item).save({ name: 'doomed' });
    await item.destroy();
    await rejectsWithCode(withoutData(Item, item.id).fetch(), Parse.Error.OBJECT_NOT_FOUND,
      'fetch of a destroyed object');
    await rejectsWithCode(new Parse.Query(Item).get(item.id), Parse.Error.OBJECT_NOT_FOUND,
      'Query.get of a destroyed object');
    await rejectsWithCode(item.save({ name: 'ghost' }), Parse.Error.OBJECT_NOT_FOUND, 'update of a destroyed object');
  });

  test('destroying an object that does not exist is OBJECT_NOT_FOUND (101)', T, async () => {
    await rejectsWithCode(withoutData(Item, 'nOsUcHiD00').destroy(), Parse.Error.OBJECT_NOT_FOUND);
  });
});

describe('field types round-trip', () => {
  const Typed = uniqueClassName('Typed');
  const Target = uniqueClassName('Target');
  let target;
  let saved;

  const when = new Date('2024-01-02T03:04:05.678Z');
  const nested = {
    title: 'deep',
    list: [1, 'two', true, null, { three: [3, 3.5] }],
    inner: { a: { b: { c: 'd' } }, empty: {}, none: null },
    unicode: 'héllo wörld ✓ 日本',
    'ключ 🔑': { 'with space': 'and-dash' },
    datesInArray: [new Date('2024-01-02T03:04:05.678Z')],
  };

  before(async () => {
    target = await new Parse.Object(Target).save({ label: 'pointed-at' });
    const object = new Parse.Object(Typed);
    object.set({
      text: 'plain',
      empty: '',
      integer: -7,
      real: 3.14159,
      big: 2 ** 53 - 1,
      yes: false,
      nothing: null,
      when,
      pointer: target,
      location: new Parse.GeoPoint(40.5, -73.25),
      area: new Parse.Polygon([[0, 0], [0, 1], [1, 1], [1, 0]]),
      bytes: { __type: 'Bytes', base64: 'aGVsbG8gd29ybGQ=' },
      nested,
      array: ['x', 2, false, { k: 'v' }, ['inner']],
      emptyArray: [],
      dateInObject: { at: when },
      pointers: [target],
    });
    saved = await object.save();
  }, T);

  test('strings, numbers and booleans', T, async () => {
    const got = await reread(saved);
    assert.equal(got.get('text'), 'plain');
    assert.equal(got.get('empty'), '');
    assert.equal(got.get('integer'), -7);
    assert.equal(got.get('real'), 3.14159);
    assert.equal(got.get('big'), 2 ** 53 - 1);
    assert.equal(got.get('yes'), false);
  });

  test('null comes back as null (or absent), never as something else', T, async () => {
    const got = await reread(saved);
    assert.equal(got.get('nothing') ?? null, null);
  });

  test('a Date comes back as a Date with millisecond precision', T, async () => {
    const got = await reread(saved);
    assert.ok(got.get('when') instanceof Date, `got ${JSON.stringify(got.get('when'))}`);
    assert.equal(got.get('when').toISOString(), '2024-01-02T03:04:05.678Z');
  });

  test('a Date inside an object comes back as a Date', T, async () => {
    const got = await reread(saved);
    const at = got.get('dateInObject').at;
    assert.ok(at instanceof Date, `got ${JSON.stringify(at)}`);
    assert.equal(at.toISOString(), when.toISOString());
  });

  test('a Pointer comes back as an unfetched Parse.Object of the target class', T, async () => {
    const got = await reread(saved);
    const pointer = got.get('pointer');
    assert.ok(pointer instanceof Parse.Object);
    assert.equal(pointer.className, Target);
    assert.equal(pointer.id, target.id);
    assert.equal(pointer.isDataAvailable(), false, 'a pointer must not be expanded without include');
    await pointer.fetch();
    assert.equal(pointer.get('label'), 'pointed-at');
  });

  test('an array of pointers comes back as Parse.Objects', T, async () => {
    const got = await reread(saved);
    const pointers = got.get('pointers');
    assert.equal(pointers.length, 1);
    assert.ok(pointers[0] instanceof Parse.Object);
    assert.equal(pointers[0].id, target.id);
    assert.equal(pointers[0].className, Target);
  });

  test('a GeoPoint comes back as a Parse.GeoPoint', T, async () => {
    const got = await reread(saved);
    const point = got.get('location');
    assert.ok(point instanceof Parse.GeoPoint, `got ${JSON.stringify(point)}`);
    assert.equal(point.latitude, 40.5);
    assert.equal(point.longitude, -73.25);
  });

  test('a Polygon comes back as a Parse.Polygon with its ring closed', T, async () => {
    const got = await reread(saved);
    const area = got.get('area');
    assert.ok(area instanceof Parse.Polygon, `got ${JSON.stringify(area)}`);
    assert.deepEqual(area.coordinates, [[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]);
    assert.equal(area.containsPoint(new Parse.GeoPoint(0.5, 0.5)), true);
  });

  test('Bytes come back in their {__type: Bytes} form', T, async () => {
    const got = await reread(saved);
    assert.deepEqual(got.get('bytes'), { __type: 'Bytes', base64: 'aGVsbG8gd29ybGQ=' });
  });

  test('nested objects and arrays (with nulls, empties and unicode) come back unchanged', T, async () => {
    const got = await reread(saved);
    assert.deepEqual(got.get('nested'), nested);
    assert.deepEqual(got.get('array'), ['x', 2, false, { k: 'v' }, ['inner']]);
    assert.deepEqual(got.get('emptyArray'), []);
  });

  test('a File reference (already uploaded elsewhere) is stored by name and comes back as a Parse.File', T,
    async () => {
      const object = new Parse.Object(uniqueClassName('WithFile'));
      object.set('file', Parse.File.fromJSON({ __type: 'File', name: 'a.txt', url: 'http://files.example/a.txt' }));
      await object.save();
      const got = await reread(object);
      const file = got.get('file');
      assert.ok(file instanceof Parse.File, `got ${JSON.stringify(file)}`);
      assert.equal(file.name(), 'a.txt');
      assert.equal(typeof file.url(), 'string');
      assert.match(file.url(), /a\.txt$/);
    });

  test('fetchWithInclude expands a pointer on a single-object GET', T, async () => {
    const copy = withoutData(Typed, saved.id);
    await copy.fetchWithInclude('pointer');
    assert.equal(copy.get('pointer').get('label'), 'pointed-at');
  });

  test('a large string (2 MB) and a deeply nested object (100 levels) round-trip', T, async () => {
    let deep = { leaf: 'bottom' };
    for (let i = 0; i < 100; i += 1) deep = { down: deep };
    const big = 'x'.repeat(2 * 1024 * 1024);
    const object = await new Parse.Object(uniqueClassName('Big')).save({ big, deep });
    const got = await reread(object);
    assert.equal(got.get('big').length, big.length);
    assert.deepEqual(got.get('deep'), deep);
  });

  test('the schema records the type of every field', T, async () => {
    const schema = await new Parse.Schema(Typed).get();
    const types = Object.fromEntries(Object.entries(schema.fields).map(([name, field]) => [name, field.type]));
    assert.deepEqual({
      text: types.text, integer: types.integer, yes: types.yes, when: types.when, pointer: types.pointer,
      location: types.location, area: types.area, bytes: types.bytes, nested: types.nested, array: types.array,
    }, {
      text: 'String', integer: 'Number', yes: 'Boolean', when: 'Date', pointer: 'Pointer',
      location: 'GeoPoint', area: 'Polygon', bytes: 'Bytes', nested: 'Object', array: 'Array',
    });
    assert.equal(schema.fields.pointer.targetClass, Target);
  });
});

describe('atomic operations', () => {
  const Counter = uniqueClassName('Counter');

  test('increment and decrement, from a missing field, echoed by the server', T, async () => {
    const counter = await new Parse.Object(Counter).save({ name: 'c' });
    counter.increment('hits');
    await counter.save();
    assert.equal(counter.get('hits'), 1);
    counter.increment('hits', 5);
    await counter.save();
    counter.decrement('hits', 2);
    await counter.save();
    assert.equal(counter.get('hits'), 4);
    assert.equal((await reread(counter)).get('hits'), 4);
  });

  test('increment on create stores the amount', T, async () => {
    const counter = new Parse.Object(Counter);
    counter.increment('hits', 3);
    await counter.save();
    assert.equal((await reread(counter)).get('hits'), 3);
  });

  test('increment by a fraction and by a negative amount', T, async () => {
    const counter = await new Parse.Object(Counter).save({ score: 1 });
    counter.increment('score', 0.5);
    await counter.save();
    counter.increment('score', -3);
    await counter.save();
    assert.equal((await reread(counter)).get('score'), -1.5);
  });

  test('increment of a key inside an object field ("stats.wins")', T, async () => {
    const counter = await new Parse.Object(Counter).save({ stats: { wins: 1, losses: 2 } });
    counter.increment('stats.wins');
    await counter.save();
    assert.deepEqual((await reread(counter)).get('stats'), { wins: 2, losses: 2 });
  });

  test('set of a key inside an object field ("stats.losses") keeps the other keys', T, async () => {
    const counter = await new Parse.Object(Counter).save({ stats: { wins: 1, losses: 2 } });
    counter.set('stats.losses', 9);
    await counter.save();
    assert.deepEqual((await reread(counter)).get('stats'), { wins: 1, losses: 9 });
  });

  test('add, addAll, addUnique, addAllUnique and remove on arrays', T, async () => {
    const bag = await new Parse.Object(Counter).save({ items: ['a'] });
    bag.add('items', 'b');
    await bag.save();
    bag.addAll('items', ['c', 'b']);
    await bag.save();
    assert.deepEqual((await reread(bag)).get('items'), ['a', 'b', 'c', 'b']);

    bag.addUnique('items', 'a');
    await bag.save();
    bag.addAllUnique('items', ['d', 'c']);
    await bag.save();
    assert.deepEqual((await reread(bag)).get('items').slice().sort(), ['a', 'b', 'b', 'c', 'd']);

    bag.remove('items', 'b');
    await bag.save();
    assert.deepEqual((await reread(bag)).get('items').slice().sort(), ['a', 'c', 'd'],
      'Remove deletes every occurrence');
    bag.removeAll('items', ['a', 'zzz']);
    await bag.save();
    assert.deepEqual((await reread(bag)).get('items').slice().sort(), ['c', 'd']);
  });

  test('addUnique and remove compare objects and pointers by value', T, async () => {
    const target = await new Parse.Object(Counter).save({ name: 'target' });
    const bag = await new Parse.Object(Counter).save({ things: [{ k: 1 }], refs: [target] });
    bag.addUnique('things', { k: 1 });
    bag.addUnique('refs', withoutData(Counter, target.id));
    await bag.save();
    let got = await reread(bag);
    assert.deepEqual(got.get('things'), [{ k: 1 }]);
    assert.deepEqual(got.get('refs').map((r) => r.id), [target.id]);
    bag.remove('things', { k: 1 });
    bag.remove('refs', withoutData(Counter, target.id));
    await bag.save();
    got = await reread(bag);
    assert.deepEqual(got.get('things'), []);
    assert.deepEqual(got.get('refs'), []);
  });

  test('the server echoes the result of Add, Remove and Increment, so a stale copy ends up current', T,
    async () => {
      const original = await new Parse.Object(Counter).save({ list: ['a'], hits: 1, stats: { wins: 1 } });
      const stale = withoutData(Counter, original.id);
      await stale.fetch();
      original.add('list', 'b');
      original.increment('hits', 10);
      await original.save();
      stale.add('list', 'c');
      stale.increment('hits');
      stale.increment('stats.wins');
      await stale.save();
      assert.deepEqual(stale.get('list'), ['a', 'b', 'c'], 'Add must echo the whole array after the write');
      assert.equal(stale.get('hits'), 12, 'Increment must echo the new value');
      assert.equal(stale.get('stats').wins, 2, 'an Increment of a dotted key must echo the new value');
      stale.remove('list', 'a');
      await stale.save();
      assert.deepEqual(stale.get('list'), ['b', 'c'], 'Remove must echo the array after the write');
    });

  test('add on create stores the array', T, async () => {
    const bag = new Parse.Object(Counter);
    bag.addAll('fresh', [1, 2]);
    await bag.save();
    assert.deepEqual((await reread(bag)).get('fresh'), [1, 2]);
  });

  test('unset removes the field', T, async () => {
    const item = await new Parse.Object(Counter).save({ gone: 'soon', stays: 1 });
    item.unset('gone');
    await item.save();
    const got = await reread(item);
    assert.equal(got.has('gone'), false, `gone = ${JSON.stringify(got.get('gone'))}`);
    assert.equal(got.get('stays'), 1);
  });

  test('20 concurrent increments from separate SDK instances all count, each seeing a distinct value', T,
    async () => {
      const counter = await new Parse.Object(Counter).save({ n: 0 });
      const copies = Array.from({ length: 20 }, () => withoutData(Counter, counter.id));
      await Promise.all(copies.map((copy) => {
        copy.increment('n');
        return copy.save();
      }));
      assert.equal((await reread(counter)).get('n'), 20);
      const echoed = copies.map((c) => c.get('n')).sort((a, b) => a - b);
      assert.deepEqual(echoed, Array.from({ length: 20 }, (_, i) => i + 1),
        'each Increment response must echo the value after that increment');
    });

  test('concurrent saves of different fields of one object lose none of them', T, async () => {
    const target = await new Parse.Object(Counter).save({ base: true });
    await Promise.all(Array.from({ length: 10 }, (_, i) => withoutData(Counter, target.id).save({ [`f${i}`]: i })));
    const got = await reread(target);
    assert.deepEqual(Array.from({ length: 10 }, (_, i) => got.get(`f${i}`)), Array.from({ length: 10 }, (_, i) => i));
    assert.equal(got.get('base'), true);
  });

  test('concurrent addUnique of the same value stores it once', T, async () => {
    const bag = await new Parse.Object(Counter).save({ set: ['x'] });
    await Promise.all(Array.from({ length: 10 }, () => {
      const copy = withoutData(Counter, bag.id);
      copy.addUnique('set', 'y');
      return copy.save();
    }));
    assert.deepEqual((await reread(bag)).get('set').slice().sort(), ['x', 'y']);
  });

  test('20 concurrent adds to one array all land', T, async () => {
    const bag = await new Parse.Object(Counter).save({ list: [] });
    await Promise.all(Array.from({ length: 20 }, (_, i) => {
      const copy = withoutData(Counter, bag.id);
      copy.add('list', i);
      return copy.save();
    }));
    const list = (await reread(bag)).get('list').slice().sort((a, b) => a - b);
    assert.deepEqual(list, Array.from({ length: 20 }, (_, i) => i));
  });
});

describe('relations', () => {
  const Post = uniqueClassName('Post');
  const Fan = uniqueClassName('Fan');
  let post;
  let fans;

  before(async () => {
    fans = await Parse.Object.saveAll(['ann', 'ben', 'cat'].map((name) => new Parse.Object(Fan, { name })));
    post = new Parse.Object(Post, { title: 'hello' });
    post.relation('likes').add(fans);
    await post.save();
  }, T);

  test('relation.add then relation.query() finds the related objects', T, async () => {
    const found = await post.relation('likes').query().find();
    assert.deepEqual(sortedValues(found), ['ann', 'ben', 'cat']);
    assert.ok(found.every((f) => f.className === Fan));
  });

  test('a fetched object shows the relation field as a Parse.Relation to the target class', T, async () => {
    const got = await reread(post);
    const relation = got.get('likes');
    assert.ok(relation instanceof Parse.Relation, `got ${JSON.stringify(relation)}`);
    assert.equal(relation.targetClassName, Fan);
    const found = await relation.query().find();
    assert.equal(found.length, 3);
  });

  test('a relation query without a known target class is redirected by the server (redirectClassNameForKey)', T,
    async () => {
      const bare = withoutData(Post, post.id);
      const relation = bare.relation('likes');
      assert.equal(relation.targetClassName, null);
      const found = await relation.query().find();
      assert.deepEqual(sortedValues(found), ['ann', 'ben', 'cat']);
      assert.ok(found.every((f) => f.className === Fan), `classNames ${found.map((f) => f.className)}`);
    });

  test('relation queries take further constraints', T, async () => {
    const query = post.relation('likes').query();
    query.startsWith('name', 'b');
    assert.deepEqual(sortedValues(await query.find()), ['ben']);
    assert.equal(await post.relation('likes').query().count(), 3);
  });

  test('equalTo on a relation field finds the owners that contain the object', T, async () => {
    const other = new Parse.Object(Post, { title: 'other' });
    other.relation('likes').add(fans[0]);
    await other.save();
    const owners = await new Parse.Query(Post).equalTo('likes', fans[0]).find();
    assert.deepEqual(sortedValues(owners, 'title'), ['hello', 'other']);
    const onlyFirst = await new Parse.Query(Post).equalTo('likes', fans[2]).find();
    assert.deepEqual(sortedValues(onlyFirst, 'title'), ['hello']);
  });

  test('adding an object of another class to a relation is INCORRECT_TYPE (111)', T, async () => {
    const bare = withoutData(Post, post.id);
    const stranger = await new Parse.Object(Post, { title: 'stranger' }).save();
    bare.relation('likes').add(stranger);
    await rejectsWithCode(bare.save(), Parse.Error.INCORRECT_TYPE, 'AddRelation of a Post to Relation<Fan>');
  });

  test('relation.remove takes objects out of the relation', T, async () => {
    const owner = new Parse.Object(Post, { title: 'removal' });
    owner.relation('likes').add(fans);
    await owner.save();
    owner.relation('likes').remove(fans[1]);
    await owner.save();
    assert.deepEqual(sortedValues(await owner.relation('likes').query().find()), ['ann', 'cat']);
  });
});

describe('batches: saveAll and destroyAll', () => {
  const Batch = uniqueClassName('Batch');
  const Child = uniqueClassName('Child');

  test('saveAll creates many objects in /batch requests and gives each its id', T, async () => {
    const objects = Array.from({ length: 45 }, (_, i) => new Parse.Object(Batch, { i }));
    await Parse.Object.saveAll(objects);
    assert.ok(objects.every((o) => /^[A-Za-z0-9]{10}$/.test(o.id)));
    assert.equal(new Set(objects.map((o) => o.id)).size, 45);
    assert.equal(await new Parse.Query(Batch).count(), 45);
  });

  test('saveAll updates existing objects with operations', T, async () => {
    const objects = await Parse.Object.saveAll([1, 2, 3].map((n) => new Parse.Object(Batch, { upd: n, tags: [] })));
    objects.forEach((o) => {
      o.increment('upd', 10);
      o.add('tags', 'x');
    });
    await Parse.Object.saveAll(objects);
    const got = await new Parse.Query(Batch).containedIn('objectId', objects.map((o) => o.id)).ascending('upd').find();
    assert.deepEqual(got.map((o) => o.get('upd')), [11, 12, 13]);
    assert.ok(got.every((o) => JSON.stringify(o.get('tags')) === '["x"]'));
  });

  test('saveAll mixes classes and creates with updates in one batch', T, async () => {
    const existing = await new Parse.Object(Batch, { mixed: 1 }).save();
    existing.set('mixed', 2);
    const fresh = [new Parse.Object(Batch, { mixed: 3 }), new Parse.Object(Child, { mixed: 4 })];
    await Parse.Object.saveAll([existing, ...fresh]);
    assert.equal((await reread(existing)).get('mixed'), 2);
    assert.equal((await reread(fresh[1])).get('mixed'), 4);
    assert.equal(fresh[1].className, Child);
  });

  test('saving an object saves its unsaved children first', T, async () => {
    const parent = new Parse.Object(Batch, { role: 'parent' });
    parent.set('child', new Parse.Object(Child, { role: 'child' }));
    parent.set('children', [new Parse.Object(Child, { role: 'c1' }), new Parse.Object(Child, { role: 'c2' })]);
    await parent.save();
    const got = await new Parse.Query(Batch).include('child').include('children').get(parent.id);
    assert.equal(got.get('child').get('role'), 'child');
    assert.deepEqual(got.get('children').map((c) => c.get('role')), ['c1', 'c2']);
  });

  test('a failing item rejects saveAll with that item\'s Parse.Error, the others are saved', T, async () => {
    await new Parse.Object(Batch).save({ kind: 'text' });
    const good = new Parse.Object(Batch, { kind: 'also text', marker: 'good-one' });
    const bad = new Parse.Object(Batch, { kind: 123 });
    await rejectsWithCode(Parse.Object.saveAll([good, bad]), Parse.Error.INCORRECT_TYPE, 'saveAll with a bad item');
    assert.equal(await new Parse.Query(Batch).equalTo('marker', 'good-one').count(), 1);
  });

  test('destroyAll deletes every object in one batch', T, async () => {
    const objects = await Parse.Object.saveAll(Array.from({ length: 5 }, (_, i) => new Parse.Object(Batch,
      { doomed: i })));
    await Parse.Object.destroyAll(objects);
    assert.equal(await new Parse.Query(Batch).exists('doomed').count(), 0);
  });

  test('destroyAll with a missing object rejects with an aggregate of OBJECT_NOT_FOUND, deleting the rest', T,
    async () => {
      const objects = await Parse.Object.saveAll([0, 1].map((i) => new Parse.Object(Batch, { partial: i })));
      const missing = withoutData(Batch, 'nOsUcHiD01');
      const error = await rejectsWithCode(Parse.Object.destroyAll([objects[0], missing, objects[1]]),
        Parse.Error.AGGREGATE_ERROR, 'destroyAll');
      assert.deepEqual(error.errors.map((e) => e.code), [Parse.Error.OBJECT_NOT_FOUND]);
      assert.equal(error.errors[0].object.id, 'nOsUcHiD01');
      assert.equal(await new Parse.Query(Batch).exists('partial').count(), 0);
    });
});

describe('errors', () => {
  const Strict = uniqueClassName('Strict');
  const Other = uniqueClassName('Other');

  before(async () => {
    await new Parse.Object(Strict).save({ score: 1, name: 'n', ref: await new Parse.Object(Other).save() });
  }, T);

  test('a value of the wrong type for an existing field is INCORRECT_TYPE (111)', T, async () => {
    const error = await rejectsWithCode(new Parse.Object(Strict).save({ score: 'ten' }), Parse.Error.INCORRECT_TYPE);
    assert.match(error.message, /score/);
  });

  test('an update with the wrong type is INCORRECT_TYPE (111) and changes nothing', T, async () => {
    const object = await new Parse.Object(Strict).save({ score: 5 });
    await rejectsWithCode(object.save({ name: 42 }), Parse.Error.INCORRECT_TYPE);
    assert.equal((await reread(object)).get('name'), undefined);
  });

  test('a pointer to another class than the field\'s target is INCORRECT_TYPE (111)', T, async () => {
    const wrong = await new Parse.Object(Strict).save({ score: 2 });
    await rejectsWithCode(new Parse.Object(Strict).save({ ref: wrong }), Parse.Error.INCORRECT_TYPE);
  });

  test('incrementing a string field is INCORRECT_TYPE (111)', T, async () => {
    const object = await new Parse.Object(Strict).save({ name: 'text' });
    // A copy without local state: the SDK refuses to increment a string it knows about.
    const copy = withoutData(Strict, object.id);
    copy.increment('name');
    await rejectsWithCode(copy.save(), Parse.Error.INCORRECT_TYPE);
    assert.equal((await reread(object)).get('name'), 'text');
  });

  test('a field name starting with an underscore is INVALID_KEY_NAME (105)', T, async () => {
    // The SDK lets `_x` through its own key check; the server must refuse it (it could shadow `_rperm` etc.).
    await rejectsWithCode(new Parse.Object(Strict).save({ _private: 1 }), Parse.Error.INVALID_KEY_NAME);
    await rejectsWithCode(new Parse.Object(Strict).save({ _rperm: ['*'] }), Parse.Error.INVALID_KEY_NAME);
  });

  test('a key with $ inside a nested object is INVALID_NESTED_KEY (121)', T, async () => {
    await rejectsWithCode(new Parse.Object(Strict).save({ meta: { $where: 'x' } }), Parse.Error.INVALID_NESTED_KEY);
  });

  test('an invalid class name is INVALID_CLASS_NAME (103)', T, async () => {
    await rejectsWithCode(new Parse.Object('1nvalid').save({ a: 1 }), Parse.Error.INVALID_CLASS_NAME);
  });

  test('an invalid key in a query is INVALID_KEY_NAME (105)', T, async () => {
    await rejectsWithCode(new Parse.Query(Strict).equalTo('bad-key!', 1).find(), Parse.Error.INVALID_KEY_NAME);
  });

  test('an unknown query operator is INVALID_JSON (107)', T, async () => {
    const query = new Parse.Query(Strict);
    query._addCondition('score', '$bogus', 1);
    await rejectsWithCode(query.find(), Parse.Error.INVALID_JSON);
  });
});

// Queries through the Parse JS SDK: every constraint the SDK builds, compound and sub-queries, geo queries,
// ordering and paging, projections, includes, count/first/get/each/findAll. One data set, read-only tests.
import { describe, test, before } from 'node:test';
import {
  Parse, assert, T, connectParse, rejectsWithCode, uniqueClassName, sortedValues, withoutData,
} from './support.mjs';

connectParse();

const Game = uniqueClassName('Game');
const Player = uniqueClassName('Player');
const Zone = uniqueClassName('Zone');
const Post = uniqueClassName('Post');
const Comment = uniqueClassName('Comment');

const day = (iso) => new Date(`${iso}T12:00:00.000Z`);
const SF = new Parse.GeoPoint(37.7749, -122.4194);
const SAN_JOSE = new Parse.GeoPoint(37.3382, -121.8863);
const NEW_YORK = new Parse.GeoPoint(40.7128, -74.006);
const LONDON = new Parse.GeoPoint(51.5074, -0.1278);

const players = {};
const games = {};
const zones = {};
let comment;

before(async () => {
  const playerRows = [
    { name: 'alice', team: 'red', rank: 1 },
    { name: 'bob', team: 'blue', rank: 2 },
    { name: 'carol', team: 'red', rank: 3 },
    { name: 'dave', rank: 4 },
  ];
  const savedPlayers = await Parse.Object.saveAll(playerRows.map((row) => new Parse.Object(Player, row)));
  savedPlayers.forEach((p) => { players[p.get('name')] = p; });

  // Names hold regex metacharacters and mixed case so that the SDK's \Q...\E quoting is exercised.
  const gameRows = [
    { name: 'Alpha One', score: 10, played: day('2024-01-01'), tags: ['a', 'b'], stats: { wins: 5, losses: 1 },
      owner: players.alice, ownerName: 'alice', location: SF, note: 'x', group: 'x', desc: 'first line\nsecond line' },
    { name: 'alpha two', score: 20, played: day('2024-02-01'), tags: ['b', 'c'], stats: { wins: 2, losses: 3 },
      owner: players.bob, ownerName: 'bob', location: SAN_JOSE, note: 'y', group: 'y', desc: 'one line' },
    { name: 'Beta', score: 30, played: day('2024-03-01'), tags: ['a', 'b', 'c'], stats: { wins: 7, losses: 0 },
      owner: players.carol, ownerName: 'carol', location: NEW_YORK, group: 'x', desc: 'beta' },
    { name: 'Gamma (x.y)*', score: 40, played: day('2024-04-01'), tags: [], stats: { wins: 0, losses: 9 },
      owner: players.alice, ownerName: 'alice', location: LONDON, group: 'y', desc: 'gamma' },
    { name: 'delta', score: 50, played: day('2024-05-01'), tags: ['c'], owner: players.dave, ownerName: 'dave',
      group: 'x', desc: 'delta' },
    { name: 'xzy', score: 60, played: day('2024-06-01'), tags: ['z'], stats: { wins: 1, losses: 1 },
      owner: players.bob, ownerName: 'nobody', group: 'z', desc: 'back\\Eslash', note: null },
  ];
  const savedGames = await Parse.Object.saveAll(gameRows.map((row) => new Parse.Object(Game, row)));
  savedGames.forEach((g) => { games[g.get('name')] = g; });

  const zoneRows = [
    { name: 'low', area: new Parse.Polygon([[0, 0], [0, 10], [10, 10], [10, 0]]) },
    { name: 'high', area: new Parse.Polygon([[20, 20], [20, 30], [30, 30], [30, 20]]) },
    { name: 'wide', area: new Parse.Polygon([[-1, -1], [-1, 25], [25, 25], [25, -1]]) },
  ];
  const savedZones = await Parse.Object.saveAll(zoneRows.map((row) => new Parse.Object(Zone, row)));
  savedZones.forEach((z) => { zones[z.get('name')] = z; });

  const post = await new Parse.Object(Post, { title: 'hello', author: players.carol }).save();
  comment = await new Parse.Object(Comment, { text: 'nice', post }).save();
}, { timeout: 60_000 });

const find = (build) => {
  const query = new Parse.Query(Game);
  build(query);
  return query.find();
};
const names = async (build) => sortedValues(await find(build));
const ALL = ['Alpha One', 'Beta', 'Gamma (x.y)*', 'alpha two', 'delta', 'xzy'];

describe('comparisons', () => {
  test('equalTo on a string and on a number', T, async () => {
    assert.deepEqual(await names((q) => q.equalTo('name', 'Beta')), ['Beta']);
    assert.deepEqual(await names((q) => q.equalTo('score', 20)), ['alpha two']);
    assert.deepEqual(await names((q) => q.equalTo('name', 'beta')), [], 'equality is case sensitive');
  });

  test('equalTo on a Date', T, async () => {
    assert.deepEqual(await names((q) => q.equalTo('played', day('2024-03-01'))), ['Beta']);
  });

  test('equalTo several keys at once is their conjunction', T, async () => {
    assert.deepEqual(await names((q) => q.equalTo({ group: 'x', score: 30 })), ['Beta']);
  });

  test('notEqualTo also matches objects where the field is missing', T, async () => {
    assert.deepEqual(await names((q) => q.notEqualTo('score', 10)), ALL.filter((n) => n !== 'Alpha One'));
    assert.deepEqual(await names((q) => q.notEqualTo('note', 'x')),
      ['Beta', 'Gamma (x.y)*', 'alpha two', 'delta', 'xzy']);
  });

  test('equalTo null matches null and missing fields', T, async () => {
    assert.deepEqual(await names((q) => q.equalTo('note', null)), ['Beta', 'Gamma (x.y)*', 'delta', 'xzy']);
  });

  test('number ranges: greaterThan, lessThan and the OrEqualTo forms', T, async () => {
    assert.deepEqual(await names((q) => q.greaterThan('score', 10).lessThan('score', 40)), ['Beta', 'alpha two']);
    assert.deepEqual(await names((q) => q.greaterThanOrEqualTo('score', 10).lessThanOrEqualTo('score', 20)),
      ['Alpha One', 'alpha two']);
    assert.deepEqual(await names((q) => q.greaterThan('score', 60)), []);
  });

  test('date ranges', T, async () => {
    assert.deepEqual(await names((q) => q.greaterThanOrEqualTo('played', day('2024-02-01'))
      .lessThan('played', day('2024-04-01'))), ['Beta', 'alpha two']);
    assert.deepEqual(await names((q) => q.greaterThan('played', day('2024-05-15'))), ['xzy']);
  });

  test('createdAt ranges compare with the creation time', T, async () => {
    const newest = await new Parse.Query(Game).descending('createdAt').first();
    const before = await new Parse.Query(Game).lessThanOrEqualTo('createdAt', newest.createdAt).count();
    assert.equal(before, 6);
    const after = await new Parse.Query(Game).greaterThan('createdAt', new Date(newest.createdAt.getTime() + 1))
      .count();
    assert.equal(after, 0);
    const future = await new Parse.Query(Game).lessThan('createdAt', new Date(Date.now() + 3_600_000)).count();
    assert.equal(future, 6);
  });

  test('string ranges compare lexicographically', T, async () => {
    assert.deepEqual(await names((q) => q.greaterThanOrEqualTo('name', 'a').lessThan('name', 'e')),
      ['alpha two', 'delta']);
  });
});

describe('sets and arrays', () => {
  test('containedIn and notContainedIn on a scalar field', T, async () => {
    assert.deepEqual(await names((q) => q.containedIn('score', [10, 30, 99])), ['Alpha One', 'Beta']);
    assert.deepEqual(await names((q) => q.notContainedIn('score', [10, 20])),
      ['Beta', 'Gamma (x.y)*', 'delta', 'xzy']);
  });

  test('containedIn on objectId', T, async () => {
    const ids = [games.Beta.id, games.delta.id];
    assert.deepEqual(await names((q) => q.containedIn('objectId', ids)), ['Beta', 'delta']);
  });

  test('equalTo a scalar on an array field matches arrays that contain it', T, async () => {
    assert.deepEqual(await names((q) => q.equalTo('tags', 'a')), ['Alpha One', 'Beta']);
  });

  test('containedIn on an array field matches arrays that share an element', T, async () => {
    assert.deepEqual(await names((q) => q.containedIn('tags', ['c', 'z'])), ['Beta', 'alpha two', 'delta', 'xzy']);
  });

  test('notContainedIn on an array field excludes arrays that share an element', T, async () => {
    assert.deepEqual(await names((q) => q.notContainedIn('tags', ['a'])), ['Gamma (x.y)*', 'alpha two', 'delta',
      'xzy']);
  });

  test('containsAll', T, async () => {
    assert.deepEqual(await names((q) => q.containsAll('tags', ['a', 'b'])), ['Alpha One', 'Beta']);
    assert.deepEqual(await names((q) => q.containsAll('tags', ['a', 'z'])), []);
  });

  test('containsAllStartingWith', T, async () => {
    assert.deepEqual(await names((q) => q.containsAllStartingWith('tags', ['a', 'c'])), ['Beta']);
  });

  test('containedBy: every element of the array is in the list (the empty array too)', T, async () => {
    assert.deepEqual(await names((q) => q.containedBy('tags', ['a', 'b'])), ['Alpha One', 'Gamma (x.y)*']);
  });

  test('equalTo an array matches that exact array only', T, async () => {
    assert.deepEqual(await names((q) => q.equalTo('tags', ['a', 'b'])), ['Alpha One']);
    assert.deepEqual(await names((q) => q.equalTo('tags', ['b', 'a'])), [], 'array equality respects order');
  });

  test('exists and doesNotExist', T, async () => {
    assert.deepEqual(await names((q) => q.exists('stats')), ['Alpha One', 'Beta', 'Gamma (x.y)*', 'alpha two',
      'xzy']);
    assert.deepEqual(await names((q) => q.doesNotExist('stats')), ['delta']);
    assert.deepEqual(await names((q) => q.doesNotExist('location')), ['delta', 'xzy']);
  });
});

describe('edge cases', () => {
  test('containedIn an empty list matches nothing; notContainedIn an empty list matches everything', T, async () => {
    assert.deepEqual(await names((q) => q.containedIn('score', [])), []);
    assert.deepEqual(await names((q) => q.notContainedIn('score', [])), ALL);
  });

  test('containedBy an empty list matches only empty arrays', T, async () => {
    assert.deepEqual(await names((q) => q.containedBy('tags', [])), ['Gamma (x.y)*']);
  });

  test('constraints on a field the class does not have match nothing (or everything, for negations)', T,
    async () => {
      assert.deepEqual(await names((q) => q.equalTo('noSuchField', 1)), []);
      assert.deepEqual(await names((q) => q.greaterThan('noSuchField', 1)), []);
      assert.deepEqual(await names((q) => q.exists('noSuchField')), []);
      assert.deepEqual(await names((q) => q.startsWith('noSuchField', 'a')), []);
      assert.deepEqual(await names((q) => q.doesNotExist('noSuchField')), ALL);
      assert.deepEqual(await names((q) => q.notEqualTo('noSuchField', 1)), ALL);
    });

  test('ordering by a field the class does not have is ignored', T, async () => {
    assert.deepEqual(sortedValues(await find((q) => q.ascending('noSuchField'))), ALL);
    const ordered = await find((q) => q.ascending('noSuchField').addAscending('score'));
    assert.deepEqual(ordered.map((g) => g.get('score')), [10, 20, 30, 40, 50, 60]);
  });

  test('select of a field the class does not have returns just the default fields', T, async () => {
    const got = await new Parse.Query(Game).select('noSuchField').get(games.Beta.id);
    assert.equal(got.id, games.Beta.id);
    assert.equal(got.has('name'), false);
  });

  test('objectId constraints: notEqualTo, greaterThan and ordering', T, async () => {
    const all = await find((q) => q.ascending('objectId'));
    const ids = all.map((g) => g.id);
    assert.deepEqual(ids, ids.slice().sort());
    assert.equal((await find((q) => q.notEqualTo('objectId', ids[0]))).length, 5);
    assert.deepEqual((await find((q) => q.greaterThan('objectId', ids[3]).ascending('objectId'))).map((g) => g.id),
      ids.slice(4));
  });
});

describe('strings and regular expressions', () => {
  test('startsWith is case sensitive unless given the i modifier', T, async () => {
    assert.deepEqual(await names((q) => q.startsWith('name', 'alpha')), ['alpha two']);
    assert.deepEqual(await names((q) => q.startsWith('name', 'alpha', 'i')), ['Alpha One', 'alpha two']);
  });

  test('endsWith', T, async () => {
    assert.deepEqual(await names((q) => q.endsWith('name', 'One')), ['Alpha One']);
    assert.deepEqual(await names((q) => q.endsWith('name', 'ta')), ['Beta', 'delta']);
  });

  test('contains treats regex metacharacters literally (\\Q...\\E)', T, async () => {
    assert.deepEqual(await names((q) => q.contains('name', '(x.y)*')), ['Gamma (x.y)*']);
    assert.deepEqual(await names((q) => q.contains('name', 'x.y')), ['Gamma (x.y)*'], '"." must not match "z"');
    assert.deepEqual(await names((q) => q.startsWith('name', 'Gamma (')), ['Gamma (x.y)*']);
    assert.deepEqual(await names((q) => q.endsWith('name', '.y)*')), ['Gamma (x.y)*']);
  });

  test('contains a backslash-E, which the SDK quotes as \\E\\\\E\\Q', T, async () => {
    const found = await find((q) => q.contains('desc', 'back\\Esl'));
    assert.deepEqual(sortedValues(found), ['xzy']);
  });

  test('matches with a RegExp and its flags', T, async () => {
    assert.deepEqual(await names((q) => q.matches('name', /^alpha/i)), ['Alpha One', 'alpha two']);
    assert.deepEqual(await names((q) => q.matches('name', /^alpha/)), ['alpha two']);
    assert.deepEqual(await names((q) => q.matches('name', 'e.a$')), ['Beta']);
  });

  test('matches with the m modifier anchors at line starts', T, async () => {
    assert.deepEqual(await names((q) => q.matches('desc', '^second')), []);
    assert.deepEqual(await names((q) => q.matches('desc', '^second', 'm')), ['Alpha One']);
  });

  test('matches with the x modifier ignores whitespace in the pattern', T, async () => {
    assert.deepEqual(await names((q) => q.matches('name', 'B e t a', 'x')), ['Beta']);
  });
});

describe('compound queries', () => {
  const q = () => new Parse.Query(Game);

  test('Parse.Query.or', T, async () => {
    const found = await Parse.Query.or(q().equalTo('score', 10), q().greaterThan('score', 45)).find();
    assert.deepEqual(sortedValues(found), ['Alpha One', 'delta', 'xzy']);
  });

  test('Parse.Query.and', T, async () => {
    const found = await Parse.Query.and(q().equalTo('group', 'x'), q().greaterThan('score', 20)).find();
    assert.deepEqual(sortedValues(found), ['Beta', 'delta']);
  });

  test('Parse.Query.nor', T, async () => {
    const found = await Parse.Query.nor(q().equalTo('group', 'x'), q().equalTo('group', 'z')).find();
    assert.deepEqual(sortedValues(found), ['Gamma (x.y)*', 'alpha two']);
  });

  test('or nested in and, with constraints of its own', T, async () => {
    const either = Parse.Query.or(q().equalTo('group', 'y'), q().equalTo('group', 'z'));
    const found = await Parse.Query.and(either, q().lessThan('score', 50)).find();
    assert.deepEqual(sortedValues(found), ['Gamma (x.y)*', 'alpha two']);
  });
});

describe('sub-queries', () => {
  const redPlayers = () => new Parse.Query(Player).equalTo('team', 'red');

  test('equalTo a pointer', T, async () => {
    assert.deepEqual(await names((q) => q.equalTo('owner', players.alice)), ['Alpha One', 'Gamma (x.y)*']);
    const bare = withoutData(Player, players.bob.id);
    assert.deepEqual(await names((q) => q.equalTo('owner', bare)), ['alpha two', 'xzy']);
  });

  test('containedIn and notEqualTo on pointers', T, async () => {
    assert.deepEqual(await names((q) => q.containedIn('owner', [players.carol, players.dave])), ['Beta', 'delta']);
    assert.deepEqual(await names((q) => q.notEqualTo('owner', players.bob)),
      ['Alpha One', 'Beta', 'Gamma (x.y)*', 'delta']);
  });

  test('matchesQuery ($inQuery) on a pointer', T, async () => {
    assert.deepEqual(await names((q) => q.matchesQuery('owner', redPlayers())),
      ['Alpha One', 'Beta', 'Gamma (x.y)*']);
  });

  test('doesNotMatchQuery ($notInQuery) on a pointer', T, async () => {
    assert.deepEqual(await names((q) => q.doesNotMatchQuery('owner', redPlayers())), ['alpha two', 'delta', 'xzy']);
  });

  test('matchesKeyInQuery ($select)', T, async () => {
    assert.deepEqual(await names((q) => q.matchesKeyInQuery('ownerName', 'name', redPlayers())),
      ['Alpha One', 'Beta', 'Gamma (x.y)*']);
  });

  test('doesNotMatchKeyInQuery ($dontSelect)', T, async () => {
    assert.deepEqual(await names((q) => q.doesNotMatchKeyInQuery('ownerName', 'name', redPlayers())),
      ['alpha two', 'delta', 'xzy']);
  });

  test('a sub-query inside a sub-query (Comment -> Post -> author)', T, async () => {
    const postsByRed = new Parse.Query(Post).matchesQuery('author', redPlayers());
    const found = await new Parse.Query(Comment).matchesQuery('post', postsByRed).find();
    assert.deepEqual(found.map((c) => c.get('text')), ['nice']);
    const postsByBlue = new Parse.Query(Post).matchesQuery('author', new Parse.Query(Player).equalTo('team', 'blue'));
    assert.deepEqual(await new Parse.Query(Comment).matchesQuery('post', postsByBlue).find(), []);
  });

  test('a sub-query inside or', T, async () => {
    const viaOwner = new Parse.Query(Game).matchesQuery('owner', new Parse.Query(Player).equalTo('rank', 4));
    const found = await Parse.Query.or(viaOwner, new Parse.Query(Game).equalTo('score', 20)).find();
    assert.deepEqual(sortedValues(found), ['alpha two', 'delta']);
  });
});

describe('dotted keys', () => {
  test('comparisons on a key inside an object field', T, async () => {
    assert.deepEqual(await names((q) => q.greaterThan('stats.wins', 4)), ['Alpha One', 'Beta']);
    assert.deepEqual(await names((q) => q.equalTo('stats.losses', 0)), ['Beta']);
    assert.deepEqual(await names((q) => q.containedIn('stats.losses', [1, 9])), ['Alpha One', 'Gamma (x.y)*',
      'xzy']);
    assert.deepEqual(await names((q) => q.exists('stats.wins').lessThan('stats.wins', 2)), ['Gamma (x.y)*', 'xzy']);
  });

  test('ordering by a key inside an object field', T, async () => {
    const found = await new Parse.Query(Game).exists('stats').descending('stats.wins').find();
    assert.deepEqual(found.map((g) => g.get('stats').wins), [7, 5, 2, 1, 0]);
  });
});

describe('geo queries', () => {
  test('near sorts by distance, nearest first, and leaves out objects without a location', T, async () => {
    const found = await find((q) => q.near('location', SF));
    assert.deepEqual(found.map((g) => g.get('name')), ['Alpha One', 'alpha two', 'Beta', 'Gamma (x.y)*']);
    const nearest = await find((q) => q.near('location', LONDON).limit(2));
    assert.deepEqual(nearest.map((g) => g.get('name')), ['Gamma (x.y)*', 'Beta']);
  });

  test('withinKilometers and withinMiles, sorted', T, async () => {
    const found = await find((q) => q.withinKilometers('location', SF, 100));
    assert.deepEqual(found.map((g) => g.get('name')), ['Alpha One', 'alpha two']);
    // From New York: San Jose is 2549 miles away, San Francisco 2566, London 3461.
    const far = await find((q) => q.withinMiles('location', NEW_YORK, 3000));
    assert.deepEqual(far.map((g) => g.get('name')), ['Beta', 'alpha two', 'Alpha One']);
  });

  test('withinKilometers unsorted ($centerSphere)', T, async () => {
    const found = await find((q) => q.withinKilometers('location', SF, 100, false));
    assert.deepEqual(sortedValues(found), ['Alpha One', 'alpha two']);
    const tight = await find((q) => q.withinKilometers('location', SF, 10, false));
    assert.deepEqual(sortedValues(tight), ['Alpha One']);
  });

  test('withinGeoBox', T, async () => {
    const bay = await find((q) => q.withinGeoBox('location', new Parse.GeoPoint(37, -123),
      new Parse.GeoPoint(38, -121)));
    assert.deepEqual(sortedValues(bay), ['Alpha One', 'alpha two']);
    const east = await find((q) => q.withinGeoBox('location', new Parse.GeoPoint(35, -80),
      new Parse.GeoPoint(60, 10)));
    assert.deepEqual(sortedValues(east), ['Beta', 'Gamma (x.y)*']);
  });

  test('withinPolygon', T, async () => {
    const around = [new Parse.GeoPoint(37.9, -122.6), new Parse.GeoPoint(37.9, -122.2),
      new Parse.GeoPoint(37.5, -122.2), new Parse.GeoPoint(37.5, -122.6)];
    assert.deepEqual(sortedValues(await find((q) => q.withinPolygon('location', around))), ['Alpha One']);
    const bigger = [new Parse.GeoPoint(38, -123), new Parse.GeoPoint(38, -121), new Parse.GeoPoint(37, -121),
      new Parse.GeoPoint(37, -123)];
    assert.deepEqual(sortedValues(await find((q) => q.withinPolygon('location', bigger))),
      ['Alpha One', 'alpha two']);
  });

  test('polygonContains finds the polygons that contain a point', T, async () => {
    const at = async (lat, lng) => sortedValues(await new Parse.Query(Zone)
      .polygonContains('area', new Parse.GeoPoint(lat, lng)).find());
    assert.deepEqual(await at(5, 5), ['low', 'wide']);
    assert.deepEqual(await at(22, 22), ['high', 'wide']);
    assert.deepEqual(await at(28, 28), ['high']);
    assert.deepEqual(await at(-50, 50), []);
  });
});

describe('ordering and paging', () => {
  test('ascending and descending on one key', T, async () => {
    assert.deepEqual((await find((q) => q.ascending('score'))).map((g) => g.get('score')), [10, 20, 30, 40, 50, 60]);
    assert.deepEqual((await find((q) => q.descending('played'))).map((g) => g.get('score')),
      [60, 50, 40, 30, 20, 10]);
  });

  test('ordering by several keys', T, async () => {
    const found = await find((q) => q.ascending('group').addDescending('score'));
    assert.deepEqual(found.map((g) => `${g.get('group')}${g.get('score')}`), ['x50', 'x30', 'x10', 'y40', 'y20',
      'z60']);
    const both = await find((q) => q.descending('group', 'score'));
    assert.deepEqual(both.map((g) => g.get('score')), [60, 40, 20, 50, 30, 10]);
  });

  test('limit and skip', T, async () => {
    assert.deepEqual((await find((q) => q.ascending('score').limit(2).skip(1))).map((g) => g.get('score')), [20, 30]);
    assert.deepEqual((await find((q) => q.ascending('score').skip(5))).map((g) => g.get('score')), [60]);
    assert.deepEqual((await find((q) => q.ascending('score').skip(10))), []);
    assert.deepEqual(await find((q) => q.limit(0)), []);
  });

  test('count ignores limit and skip; withCount returns both', T, async () => {
    assert.equal(await new Parse.Query(Game).greaterThan('score', 25).count(), 4);
    assert.equal(await new Parse.Query(Game).greaterThan('score', 25).limit(1).skip(1).count(), 4);
    const { results, count } = await new Parse.Query(Game).ascending('score').limit(2).withCount().find();
    assert.equal(count, 6);
    assert.deepEqual(results.map((g) => g.get('score')), [10, 20]);
  });

  test('first returns one object, or undefined', T, async () => {
    const top = await new Parse.Query(Game).descending('score').first();
    assert.equal(top.get('name'), 'xzy');
    assert.equal(await new Parse.Query(Game).equalTo('score', -1).first(), undefined);
  });

  test('get returns the object, or rejects with OBJECT_NOT_FOUND (101)', T, async () => {
    const got = await new Parse.Query(Game).get(games.Beta.id);
    assert.equal(got.get('score'), 30);
    await rejectsWithCode(new Parse.Query(Game).get('nOsUcHiD02'), Parse.Error.OBJECT_NOT_FOUND);
    await rejectsWithCode(new Parse.Query(Game).equalTo('score', 10).get(games.Beta.id),
      Parse.Error.OBJECT_NOT_FOUND, 'get with a constraint the object fails');
  });

  test('each visits every object, paging by objectId', T, async () => {
    const seen = [];
    await new Parse.Query(Game).each((g) => { seen.push(g.get('name')); }, { batchSize: 2 });
    assert.deepEqual(seen.sort(), ALL.slice().sort());
  });

  test('findAll collects every page, with constraints', T, async () => {
    const found = await new Parse.Query(Game).greaterThan('score', 15).findAll({ batchSize: 2 });
    assert.deepEqual(sortedValues(found), ['Beta', 'Gamma (x.y)*', 'alpha two', 'delta', 'xzy']);
  });

  test('hint, comment and readPreference are accepted (as no-ops where the store has no use for them)', T,
    async () => {
      const query = new Parse.Query(Game).equalTo('group', 'x');
      query.comment('e2e');
      query.readPreference('SECONDARY');
      assert.deepEqual(sortedValues(await query.find()), ['Alpha One', 'Beta', 'delta']);
    });

  test('a query on a class that does not exist finds nothing', T, async () => {
    assert.deepEqual(await new Parse.Query(uniqueClassName('Nothing')).find(), []);
    assert.equal(await new Parse.Query(uniqueClassName('Nothing')).count(), 0);
  });
});

describe('values that a text comparison would get wrong', () => {
  const Mixed = uniqueClassName('Mixed');

  before(async () => {
    const rows = [
      { label: 'b', n: 2, flag: true }, { label: 'B', n: 10, flag: false }, { label: 'a', n: 9.5 },
      { label: 'A', n: -1, flag: true }, { label: 'é', n: 100 }, { label: 'z', n: 1000 }, { label: '_', n: -20.5 },
    ];
    await Parse.Object.saveAll(rows.map((row) => new Parse.Object(Mixed, row)));
  }, T);

  const mixed = () => new Parse.Query(Mixed);

  test('numbers sort and compare as numbers (2 < 9.5 < 10 < 100, negatives first)', T, async () => {
    assert.deepEqual((await mixed().ascending('n').find()).map((o) => o.get('n')), [-20.5, -1, 2, 9.5, 10, 100, 1000]);
    assert.deepEqual((await mixed().greaterThan('n', 5).ascending('n').find()).map((o) => o.get('n')),
      [9.5, 10, 100, 1000]);
    assert.deepEqual((await mixed().lessThan('n', 0).ascending('n').find()).map((o) => o.get('n')), [-20.5, -1]);
  });

  test('strings sort by code point: upper case before lower case, accents last', T, async () => {
    assert.deepEqual((await mixed().ascending('label').find()).map((o) => o.get('label')),
      ['A', 'B', '_', 'a', 'b', 'z', 'é']);
  });

  test('equalTo false does not match a missing boolean; notEqualTo true does', T, async () => {
    assert.deepEqual(sortedValues(await mixed().equalTo('flag', false).find(), 'label'), ['B']);
    assert.deepEqual(sortedValues(await mixed().notEqualTo('flag', true).find(), 'label'), ['B', '_', 'a', 'z', 'é']);
  });

  test('count with Parse.Query.or', T, async () => {
    assert.equal(await Parse.Query.or(mixed().lessThan('n', 0), mixed().equalTo('label', 'z')).count(), 3);
  });
});

describe('result size limits', () => {
  const Many = uniqueClassName('Many');

  before(async () => {
    await Parse.Object.saveAll(Array.from({ length: 130 }, (_, i) => new Parse.Object(Many, { i })));
  }, { timeout: 60_000 });

  test('find returns 100 objects by default and more when the limit says so', T, async () => {
    assert.equal((await new Parse.Query(Many).find()).length, 100);
    assert.equal((await new Parse.Query(Many).limit(1000).find()).length, 130);
    assert.equal(await new Parse.Query(Many).count(), 130);
  });

  test('findAll pages through everything', T, async () => {
    const all = await new Parse.Query(Many).findAll();
    assert.deepEqual(all.map((o) => o.get('i')).sort((a, b) => a - b), Array.from({ length: 130 }, (_, i) => i));
  });
});

describe('projections and includes', () => {
  test('select returns only the chosen keys plus objectId, createdAt and updatedAt', T, async () => {
    const got = await new Parse.Query(Game).select('name', 'score').get(games.Beta.id);
    assert.equal(got.get('name'), 'Beta');
    assert.equal(got.get('score'), 30);
    assert.equal(got.has('tags'), false);
    assert.equal(got.has('owner'), false);
    assert.ok(got.createdAt instanceof Date);
    assert.ok(got.updatedAt instanceof Date);
    const raw = await new Parse.Query(Game).select('name').equalTo('name', 'Beta').find({ json: true });
    assert.deepEqual(Object.keys(raw[0]).filter((k) => !['className', '__type', 'ACL'].includes(k)).sort(),
      ['createdAt', 'name', 'objectId', 'updatedAt']);
  });

  test('select of a key inside an object field', T, async () => {
    const got = await new Parse.Query(Game).select('stats.wins').get(games.Beta.id);
    assert.equal(got.get('stats')?.wins, 7, `stats = ${JSON.stringify(got.get('stats'))}`);
    assert.equal(got.has('name'), false);
  });

  test('exclude drops the named keys', T, async () => {
    const got = await new Parse.Query(Game).exclude('tags', 'stats').get(games.Beta.id);
    assert.equal(got.get('name'), 'Beta');
    assert.equal(got.has('tags'), false);
    assert.equal(got.has('stats'), false);
    assert.equal(got.id, games.Beta.id);
  });

  test('include expands a pointer into the full object', T, async () => {
    const found = await new Parse.Query(Game).include('owner').ascending('score').find();
    assert.deepEqual(found.map((g) => g.get('owner').get('name')), ['alice', 'bob', 'carol', 'alice', 'dave', 'bob']);
    assert.equal(found[0].get('owner').get('team'), 'red');
    assert.equal(found[0].get('owner').className, Player);
  });

  test('without include a pointer stays a pointer', T, async () => {
    const got = await new Parse.Query(Game).get(games.Beta.id);
    assert.equal(got.get('owner').isDataAvailable(), false);
  });

  test('nested include ("post.author") expands every level', T, async () => {
    const got = await new Parse.Query(Comment).include('post.author').get(comment.id);
    const post = got.get('post');
    assert.equal(post.get('title'), 'hello');
    assert.equal(post.get('author').get('name'), 'carol');
    assert.equal(post.get('author').get('rank'), 3);
  });

  test('select with a dotted pointer key includes the pointer and keeps the chosen field', T, async () => {
    const got = await new Parse.Query(Game).select('name', 'owner.name').get(games.Beta.id);
    assert.equal(got.get('name'), 'Beta');
    assert.equal(got.get('owner').get('name'), 'carol');
  });

  test('includeAll expands every pointer field', T, async () => {
    const got = await new Parse.Query(Comment).includeAll().get(comment.id);
    assert.equal(got.get('post').get('title'), 'hello');
  });

  test('select of a key two pointers deep ("post.author.name")', T, async () => {
    const got = await new Parse.Query(Comment).select('post.author.name').get(comment.id);
    assert.equal(got.get('post').get('author').get('name'), 'carol');
    assert.equal(got.has('text'), false);
  });

  test('include of a missing pointer target leaves the other results intact', T, async () => {
    const ghost = withoutData(Player, 'nOsUcHiD03');
    const Orphan = uniqueClassName('Orphan');
    await Parse.Object.saveAll([new Parse.Object(Orphan, { n: 1, owner: ghost }),
      new Parse.Object(Orphan, { n: 2, owner: players.alice })]);
    const found = await new Parse.Query(Orphan).include('owner').ascending('n').find();
    assert.equal(found.length, 2);
    assert.equal(found[1].get('owner').get('name'), 'alice');
  });
});

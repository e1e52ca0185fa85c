// Cloud Code through the Parse JS SDK: Parse.Cloud.run, trigger effects on saved objects, validators and error
// codes, context from save() to after_save, before_find, and jobs (startJob / getJobStatus). The server runs
// tests/e2e/cloud_code.py.
import { describe, test } from 'node:test';
import { Parse, assert, T, connectParse, rejectsWithCode } from './support.mjs';

connectParse();

const Review = Parse.Object.extend('E2EReview');
const Movie = Parse.Object.extend('E2EMovie');

async function signUp(name) {
  const user = new Parse.User();
  user.set('username', `${name}_${Date.now()}_${Math.random().toString(36).slice(2, 8)}`);
  user.set('password', 'pw');
  await user.signUp();
  return user;
}

describe('Parse.Cloud.run', () => {
  test('calls a function and returns its result; the caller is seen', T, async () => {
    assert.deepEqual(await Parse.Cloud.run('hello', { name: 'sdk' }),
      { greeting: 'hello sdk', user: null, master: false });
    const user = await signUp('runner');
    const result = await Parse.Cloud.run('hello', {}, { sessionToken: user.getSessionToken() });
    assert.equal(result.user, user.get('username'));
    assert.equal((await Parse.Cloud.run('hello', {}, { useMasterKey: true })).master, true);
    await Parse.User.logOut();
  });

  test('a Date goes in as a date and comes back as a Date', T, async () => {
    const when = new Date('2024-02-28T10:00:00.000Z');
    const next = await Parse.Cloud.run('nextDay', { when });
    assert.ok(next instanceof Date);
    assert.equal(next.toISOString(), '2024-02-29T10:00:00.000Z');
  });

  test('errors: unknown function 141, CloudError 141 with its message, require_user 142', T, async () => {
    await rejectsWithCode(Parse.Cloud.run('noSuchFunction'), 141, 'an unknown function');
    const refused = await rejectsWithCode(Parse.Cloud.run('refuse'), 141, 'a CloudError');
    assert.equal(refused.message, 'not today');
    const anonymous = await rejectsWithCode(Parse.Cloud.run('averageStars', { movie: null }), 142, 'require_user');
    assert.equal(anonymous.message, 'Validation failed. Please login to continue.');
  });

  test('a function reads with request.api: the average of a movie\'s reviews', T, async () => {
    const movie = await new Movie().save({ title: 'Alien', reviews: 0 });
    await new Review().save({ movie, stars: 4 });
    await new Review().save({ movie, stars: 5 });
    const user = await signUp('critic');
    const average = await Parse.Cloud.run('averageStars', { movie: movie.toPointer() },
      { sessionToken: user.getSessionToken() });
    assert.equal(average, 4.5);
    await Parse.User.logOut();
  });
});

describe('triggers as the SDK sees them', () => {
  test('before_save changes reach the saved object without a refetch, and the store', T, async () => {
    const review = await new Review().save({ stars: 3, title: '  Spaced  ', scratch: 'x' });
    assert.equal(review.get('title'), 'Spaced');
    assert.equal(review.get('checked'), true);
    assert.equal(review.get('scratch'), undefined, 'a field the trigger removed is gone from the SDK object');
    const stored = await new Parse.Query(Review).get(review.id);
    assert.equal(stored.get('title'), 'Spaced');
    assert.equal(stored.has('scratch'), false);
  });

  test('a refusal is a Parse.Error and nothing is stored; a validator failure is 142', T, async () => {
    const before = await new Parse.Query(Review).count();
    const refused = await rejectsWithCode(new Review().save({ stars: 2, comment: 'x'.repeat(141) }), 141);
    assert.equal(refused.message, 'comment too long');
    const invalid = await rejectsWithCode(new Review().save({ stars: 9 }), 142);
    assert.equal(invalid.message, 'Validation failed. Invalid option for stars. Expected: 1, 2, 3, 4, 5');
    assert.equal(await new Parse.Query(Review).count(), before);
  });

  test('after_save has updated the counter when save() resolves', T, async () => {
    const movie = await new Movie().save({ title: 'Heat', reviews: 0 });
    await new Review().save({ movie, stars: 5 });
    await Parse.Object.saveAll([new Review({ movie, stars: 1 }), new Review({ movie, stars: 2 })]);
    await movie.fetch();
    assert.equal(movie.get('reviews'), 3);
  });

  test('save(null, {context}) reaches after_save with before_save\'s additions', T, async () => {
    const review = new Review({ stars: 1, title: 'ctx' });
    await review.save(null, { context: { log: true, from: 'sdk' } });
    const logs = await new Parse.Query('E2ELog').find({ useMasterKey: true });
    assert.deepEqual(logs.at(-1).get('context'), { log: true, from: 'sdk', checkedBy: 'before_save' });
  });

  test('before_find narrows queries, get and count for clients', T, async () => {
    const Post = Parse.Object.extend('E2EPost');
    const hidden = await new Post().save({ visible: false });
    await new Post().save({ visible: true });
    assert.equal(await new Parse.Query(Post).count(), 1);
    assert.ok((await new Parse.Query(Post).find()).every((p) => p.get('visible') === true));
    await rejectsWithCode(new Parse.Query(Post).get(hidden.id), 101, 'a get of a post before_find hides');
    assert.equal(await new Parse.Query(Post).count({ useMasterKey: true }), 2);
  });
});

describe('jobs', () => {
  test('startJob answers the job status id and the job ends succeeded with its message', T, async () => {
    const jobId = await Parse.Cloud.startJob('e2eJob', { n: 7 });
    assert.match(jobId, /^[A-Za-z0-9]{10}$/);
    let status;
    for (let i = 0; i < 200; i += 1) {
      status = await Parse.Cloud.getJobStatus(jobId);
      if (status.get('status') !== 'running') break;
      await new Promise((resolve) => { setTimeout(resolve, 50); });
    }
    assert.equal(status.get('status'), 'succeeded');
    assert.equal(status.get('message'), 'processed 7');
    assert.equal(status.get('jobName'), 'e2eJob');
  });
});

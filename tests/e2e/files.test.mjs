// Files through the Parse JS SDK: Parse.File save (base64 JSON, byte arrays, Buffers), set on a user, fetched back
// and downloaded from its URL; a 10 MB file checked by hash; ranges; refused uploads; master-only destroy.
// Runs on the embedded store and again on MongoDB (GridFS), see MONGODB_FILES in test_js_sdk.py.
import { describe, test, before } from 'node:test';
import { createHash, randomBytes } from 'node:crypto';
import { Parse, assert, T, connectParse, rejectsWithCode, uniqueClassName } from './support.mjs';

connectParse();

const NAME = /^[0-9a-f]{32}_(.+)$/;
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

async function download(url, headers = {}) {
  const response = await fetch(url, { headers });
  return { response, bytes: Buffer.from(await response.arrayBuffer()) };
}

describe('Parse.File', () => {
  // No current user in node: each request names its session, as apps on a server do
  let user;
  let as;
  before(async () => {
    user = await Parse.User.signUp(uniqueClassName('filer'), 'pw');
    as = { sessionToken: user.getSessionToken() };
  });

  test('save from base64 answers a unique name and a URL that downloads the bytes', T, async () => {
    const png = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), randomBytes(2000)]);
    const file = new Parse.File('photo.png', { base64: png.toString('base64') });
    await file.save(as);
    assert.equal(NAME.exec(file.name())[1], 'photo.png');
    assert.ok(file.url().endsWith(`/files/${process.env.APP_ID}/${file.name()}`), file.url());
    const { response, bytes } = await download(file.url());
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'image/png');
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    assert.ok(bytes.equals(png));
    assert.equal(await file.getData(), png.toString('base64'));
  });

  test('a byte array, a Buffer and metadata round-trip', T, async () => {
    const fromArray = await new Parse.File('bytes.bin', [0, 1, 2, 254, 255]).save(as);
    assert.ok((await download(fromArray.url())).bytes.equals(Buffer.from([0, 1, 2, 254, 255])));
    const data = randomBytes(70_000);
    const fromBuffer = await new Parse.File('buffer.bin', data, 'application/octet-stream').save(as);
    assert.ok((await download(fromBuffer.url())).bytes.equals(data));
    const tagged = await new Parse.File('tagged.txt', { base64: Buffer.from('tag').toString('base64') },
      'text/plain', { album: 'summer' }).save(as);
    const meta = await fetch(tagged.url().replace(/\/files\/([^/]+)\//, '/files/$1/metadata/'));
    assert.deepEqual(await meta.json(), { metadata: { album: 'summer' } });
  });

  test('set on the user, fetched back as a Parse.File with a downloadable URL', T, async () => {
    const avatar = await new Parse.File('avatar.jpg', { base64: Buffer.from('jpeg bytes').toString('base64') })
      .save(as);
    user.set('picture', avatar);
    await user.save(null, as);
    const fetched = await new Parse.Query(Parse.User).get(user.id, as);
    const picture = fetched.get('picture');
    assert.ok(picture instanceof Parse.File, `got ${JSON.stringify(picture)}`);
    assert.equal(picture.name(), avatar.name());
    assert.equal(picture.url(), avatar.url());
    const { response, bytes } = await download(picture.url());
    assert.equal(response.headers.get('content-type'), 'image/jpeg');
    assert.equal(bytes.toString(), 'jpeg bytes');
  });

  test('a 10 MB file comes back with the same hash, and ranges answer 206', T, async () => {
    const data = randomBytes(10 * 1024 * 1024);
    const file = await new Parse.File('video.mp4', { base64: data.toString('base64') }).save(as);
    const { response, bytes } = await download(file.url());
    assert.equal(response.headers.get('content-type'), 'video/mp4');
    assert.equal(sha256(bytes), sha256(data));
    const part = await download(file.url(), { Range: 'bytes=5000000-5000099' });
    assert.equal(part.response.status, 206);
    assert.equal(part.response.headers.get('content-range'), `bytes 5000000-5000099/${data.length}`);
    assert.ok(part.bytes.equals(data.subarray(5000000, 5000100)));
  });

  test('an HTML or SVG upload is refused with 130', T, async () => {
    const page = Buffer.from('<html><script>alert(1)</script></html>').toString('base64');
    await rejectsWithCode(new Parse.File('page.html', { base64: page }).save(as), 130, 'an .html upload');
    await rejectsWithCode(new Parse.File('logo', { base64: page }, 'image/svg+xml').save(as), 130, 'an svg upload');
  });

  test('destroy needs the master key', T, async () => {
    const file = await new Parse.File('doomed.txt', { base64: Buffer.from('bye').toString('base64') }).save(as);
    await assert.rejects(file.destroy({ useMasterKey: false })); // the SDK sends the master key by default
    assert.equal((await download(file.url())).response.status, 200);
    await file.destroy({ useMasterKey: true });
    assert.equal((await download(file.url())).response.status, 404);
  });

  test('without a user, an upload is refused by default (fileUpload.enableForPublic is false)', T, async () => {
    const source = { base64: Buffer.from('x').toString('base64') };
    await rejectsWithCode(new Parse.File('anon.txt', source).save(), 130, 'a public upload');
    const saved = await new Parse.File('anon.txt', source).save({ useMasterKey: true });
    assert.match(saved.name(), NAME);
  });
});

// Parse.Schema through the Parse JS SDK: fields with `required` and `defaultValue`, enforced on saves.
import { describe, test, before } from 'node:test';
import { Parse, assert, T, connectParse, rejectsWithCode, uniqueClassName } from './support.mjs';

connectParse();

describe('required fields and default values', () => {
  const Task = uniqueClassName('Task');

  before(async () => {
    const schema = new Parse.Schema(Task);
    schema.addString('title', { required: true });
    schema.addString('status', { defaultValue: 'draft' });
    schema.addNumber('votes', { required: true, defaultValue: 0 });
    await schema.save();
  });

  test('Parse.Schema reads the options back', T, async () => {
    const { fields } = await new Parse.Schema(Task).get();
    assert.deepEqual(fields.title, { type: 'String', required: true });
    assert.deepEqual(fields.status, { type: 'String', defaultValue: 'draft' });
    assert.deepEqual(fields.votes, { type: 'Number', required: true, defaultValue: 0 });
  });

  test('a save without a required field is refused with VALIDATION_ERROR', T, async () => {
    const error = await rejectsWithCode(new Parse.Object(Task).save({ status: 'open' }), Parse.Error.VALIDATION_ERROR);
    assert.equal(error.message, 'title is required');
  });

  test('defaults are filled in and reach the saved object without a fetch', T, async () => {
    const task = await new Parse.Object(Task).save({ title: 'write tests' });
    assert.equal(task.get('status'), 'draft');
    assert.equal(task.get('votes'), 0);
    const reread = await new Parse.Query(Task).get(task.id);
    assert.equal(reread.get('status'), 'draft');
    assert.equal(reread.get('votes'), 0);
  });

  test('unsetting a required field is refused and the object keeps its value', T, async () => {
    const task = await new Parse.Object(Task).save({ title: 'keep me' });
    task.unset('title');
    await rejectsWithCode(task.save(), Parse.Error.VALIDATION_ERROR);
    const reread = await new Parse.Query(Task).get(task.id);
    assert.equal(reread.get('title'), 'keep me');
  });
});

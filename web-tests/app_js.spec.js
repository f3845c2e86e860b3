// app.js's questions asked before an action (data-confirm), without a browser or the server: the
// script runs in node's vm with a stub document, a form is submitted, and the question it asks is
// kept (answered no, so nothing is sent). Runs alone: `node --test web-tests/app_js.spec.js`.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const source = fs.readFileSync(path.join(__dirname, '..', 'crates', 'web', 'assets', 'app.js'), 'utf8');

/// Submits a form asking `question` whose fields are `fields` ({name: value}); the question asked,
/// or null when none was and the form went on to be sent (the send itself then says what is wrong).
function askedOf(question, fields, checked = []) {
  const listeners = {};
  const asked = [];
  const SENT = new Error('sent');
  const document = {
    addEventListener: (type, fn) => { listeners[type] = fn; },
    getElementById: () => null,
    querySelectorAll: () => [],
    // The send's first look at the page: here, where the stub stops it.
    querySelector: () => { throw SENT; },
  };
  const window = { confirm: (text) => { asked.push(text); return false; }, crypto: { getRandomValues: (b) => b } };
  vm.runInNewContext(source, { document, window, setInterval, fetch: () => Promise.reject(new Error('no fetch')) });
  const elements = Object.fromEntries(Object.entries(fields).map(([name, value]) => [name, { name, value }]));
  const form = {
    hasAttribute: (name) => name === 'data-api' || (name === 'data-confirm' && question !== null),
    getAttribute: (name) => ({ 'data-api': '/api/v1/x', 'data-confirm': question })[name] ?? null,
    elements,
    querySelectorAll: () => checked,
  };
  try {
    listeners.submit({ target: form, submitter: null, preventDefault: () => {} });
  } catch (e) {
    if (e !== SENT) throw e;
    assert.equal(asked.length, 0, 'sent only when nothing was asked');
  }
  return asked.length ? asked[0] : null;
}

test('the repayment question names the amount typed, in yuan', () => {
  const zh = '确认还款 {amount_fen|yuan}？当前欠款 ¥1,300.00。';
  assert.equal(askedOf(zh, { amount_fen: '1234.56' }), '确认还款 ¥1,234.56？当前欠款 ¥1,300.00。');
  assert.equal(askedOf(zh, { amount_fen: ' 1300 ' }), '确认还款 ¥1,300.00？当前欠款 ¥1,300.00。');
  assert.equal(askedOf('Repay {amount_fen|yuan}? The line owes ¥0.50.', { amount_fen: '0.5' }), 'Repay ¥0.50? The line owes ¥0.50.');
  // Not an amount: nothing asked (the send refuses it as invalid_request, nothing goes out).
  assert.equal(askedOf(zh, { amount_fen: '12.345' }), null);
  assert.equal(askedOf(zh, { amount_fen: '' }), null);
});

test('a question without an amount is asked as written, and {checked} still names the ticked lines', () => {
  assert.equal(askedOf('确认解约？', {}), '确认解约？');
  const box = (label, fen) => ({ getAttribute: (n) => ({ 'data-label': label, 'data-fen': String(fen) })[n] });
  assert.equal(askedOf('退 {checked}，{checked|yuan}？', {}, [box('血常规', 2000), box('挂号', 500)]), '退 血常规, 挂号，¥25.00？');
});

/// The words a field the browser finds wanting is given, on a page whose #wg-errors is `words`:
/// app.js is run, the field is found invalid as `validity` says, and what it set is kept.
function wantingSaid(words, validity, attrs = {}, type = 'text', tagName = 'INPUT') {
  const listeners = {};
  const document = {
    addEventListener: (kind, fn, capture) => { if (capture) listeners[kind] = fn; },
    getElementById: (id) => (id === 'wg-errors' ? { textContent: JSON.stringify(words) } : null),
    querySelectorAll: () => [],
  };
  vm.runInNewContext(source, { document, window: {}, setInterval, fetch: () => Promise.reject(new Error('no fetch')) });
  let said = null;
  const field = { type, tagName, validity, getAttribute: (n) => attrs[n] ?? null, setCustomValidity: (t) => { said = t; } };
  listeners.invalid({ target: field });
  const kept = said;
  listeners.input({ target: field });
  assert.equal(said, '', 'edited, the field is judged by its own rules again');
  return kept;
}

test("a field the browser will not send is said in the page's language", () => {
  const zh = {
    _field_missing: '请填写此项。', _field_choose: '请选择一项。', _field_too_short: '至少需要 {n} 个字符。',
    _field_min: '不能小于 {n}。', _field_format: '格式不正确，请检查。',
  };
  assert.equal(wantingSaid(zh, { valueMissing: true }), '请填写此项。');
  assert.equal(wantingSaid(zh, { valueMissing: true }, {}, 'radio'), '请选择一项。');
  assert.equal(wantingSaid({ ...zh, _field_tick: '请勾选此项。' }, { valueMissing: true }, {}, 'checkbox'), '请勾选此项。');
  assert.equal(wantingSaid(zh, { valueMissing: true }, {}, 'select-one', 'SELECT'), '请选择一项。');
  assert.equal(wantingSaid(zh, { tooShort: true }, { minlength: '12' }, 'password'), '至少需要 12 个字符。');
  assert.equal(wantingSaid(zh, { rangeUnderflow: true }, { min: '2026-12-01' }, 'date'), '不能小于 2026-12-01。');
  assert.equal(wantingSaid(zh, { patternMismatch: true }, { title: '11 位手机号' }), '格式不正确，请检查。 11 位手机号');
  // Valid after all (a custom message from before, cleared): nothing set.
  assert.equal(wantingSaid(zh, {}), '');
});

test('editing one field of a form clears what was said of every field of it', () => {
  const listeners = {};
  const document = {
    addEventListener: (kind, fn, capture) => { if (capture) listeners[kind] = fn; },
    getElementById: () => null,
    querySelectorAll: () => [],
  };
  vm.runInNewContext(source, { document, window: {}, setInterval, fetch: () => Promise.reject(new Error('no fetch')) });
  const said = {};
  const field = (name) => ({ name, setCustomValidity: (t) => { said[name] = t; } });
  const price = field('pric');
  const item = field('med_list_codg');
  const form = { elements: [item, price] };
  item.form = form;
  price.form = form;
  said.pric = '请填写此项。';
  // A catalogue item chosen fills the price from code (no event on the price itself).
  listeners.change({ target: item });
  assert.equal(said.pric, '', 'the price filled by the choice is judged again');
});

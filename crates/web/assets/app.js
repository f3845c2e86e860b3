// wugan's one script (no framework). Pages are server-rendered; this file only
//  1. sends forms marked data-api to the JSON API as an integrator would: JSON body, the session
//     cookie, the page's CSRF token (meta csrf-token) and an Idempotency-Key per submission (kept
//     for a retry after a lost connection, so the server runs the action once);
//  2. shows a refusal by its stable error code, in the page's language (the table in #wg-errors);
//  3. refreshes parts marked data-refresh-s (e.g. the QR e-voucher) from their data-src.
// Form fields: name="a.b" nests; data-type="int" | "fen" (yuan text to integer fen, exactly) |
// "bool" (a checkbox) | "list" (checkboxes of one name); empty optional fields are left out (sent
// as "" with data-send-empty: a field the API requires that may be empty), and
// so are fields inside a data-when="name=value" part while that choice is not made.
// On success: data-next (a URL; {field} is filled from the answer), data-fill (the answer shown in
// place, see fillIn), data-done (a message) or a reload. A refusal whose code is listed in
// data-reload-on (space-separated) reloads the page too: the page itself says why (the ward's
// refused discharge), better than the error table's one line. A form with data-center-said="text"
// says, after an insurance_refused, that text and the center's own words from the answer's
// message (what follows "… refused (code): ", as the hub writes a refusal it was told).
// A submit button with its own data-api is a second action of the form, with its own data-next /
// data-done / data-fields (the names it sends, space-separated): send me a code; sign in.
// Staff consoles also use: data-type="product" with data-of="a b" (yuan a × count b, the count
// with up to 4 decimals as the HIS API takes it, e.g. 0.5 盒; as a yuan string: a fee line's
// total), data-wrap="lines" on a form (the body is {lines: [fields]}), and data-show="text
// {field}" (on success, the message says the answer's field, e.g. a new key; {field|yuan} says an
// amount of fen as yuan, like every other figure on the pages).
// data-sets="name" on a select: choosing an option fills field `name` with the option's data-set.
// data-confirm="question" (on a form, or on a button with its own data-api): asked before sending,
// for actions that move money or cannot be undone; answered no, nothing is sent. It may name what
// is ticked: {checked} (each ticked checkbox's data-label) and {checked|yuan} (their data-fen
// summed), e.g. the refund's lines and their fees; {name|yuan}, the amount typed in field `name`
// (the repayment's question names the amount).
// A field the browser finds wanting is said in the page's language (fieldWanting).
(function () {
  'use strict';

  function errors() {
    var el = document.getElementById('wg-errors');
    try { return el ? JSON.parse(el.textContent) : {}; } catch (e) { return {}; }
  }
  var messages = errors();
  function say(code) { return messages[code] || messages._unknown || code; }

  function newKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }

  // "12.3" -> 1230, "0.05" -> 5; null when it is not an amount of yuan with at most two decimals.
  function yuanToFen(text) {
    var m = /^\s*(\d{1,12})(?:\.(\d{1,2}))?\s*$/.exec(text);
    if (!m) return null;
    return parseInt(m[1], 10) * 100 + parseInt(((m[2] || '') + '00').slice(0, 2), 10);
  }

  function put(body, name, value) {
    var path = name.split('.');
    var at = body;
    // A numeric part makes a list: name="lines.0.cnt" is {lines: [{cnt}]}.
    for (var i = 0; i < path.length - 1; i++) { at = at[path[i]] = at[path[i]] || (/^\d+$/.test(path[i + 1]) ? [] : {}); }
    at[path[path.length - 1]] = value;
  }

  // The form's fields as the API's JSON; throws 'invalid_request' for an amount that is not one.
  function read(form, only) {
    var body = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled || el.type === 'submit') return;
      if (only && only.indexOf(el.name) < 0) return;
      if (!applies(form, el.closest('[data-when]'))) return;
      var type = el.getAttribute('data-type');
      if (type === 'bool') { put(body, el.name, el.checked); return; }
      if (type === 'list') {
        var list = body[el.name] || [];
        if (el.checked) list.push(el.value);
        put(body, el.name, list);
        return;
      }
      if (type === 'product') { put(body, el.name, product(form, el.getAttribute('data-of'))); return; }
      if ((el.type === 'radio' || el.type === 'checkbox') && !el.checked) return;
      var value = el.value.trim();
      if (value === '' && !el.required && !el.hasAttribute('data-send-empty')) return;
      if (type === 'int') { value = parseInt(value, 10); if (isNaN(value)) throw 'invalid_request'; }
      if (type === 'fen') { value = yuanToFen(value); if (value === null) throw 'invalid_request'; }
      put(body, el.name, value);
    });
    return body;
  }

  // "2" -> 20000, "0.5" -> 5000, ".25" -> 2500: a count in ten-thousandths, exactly; null when
  // it is not a positive count with at most 4 decimals (the HIS API's cnt: fee_detail's scale 4).
  function countToScaled(text) {
    var m = /^\s*(\d{0,9})(?:\.(\d{1,4}))?\s*$/.exec(text);
    if (!m || (m[1] === '' && m[2] === undefined)) return null;
    var scaled = parseInt(m[1] || '0', 10) * 10000 + parseInt(((m[2] || '') + '0000').slice(0, 4), 10);
    return scaled > 0 ? scaled : null;
  }

  // Yuan a × count b (names in data-of), as yuan text with two decimals, rounded half away from
  // zero like the hub's price_times_quantity (it refuses a total more than a fen off). Integers
  // only: the product stays exact below 2^53, far above the API's 1,000,000-yuan line.
  function product(form, of) {
    var names = (of || '').split(' ');
    var price = yuanToFen((form.elements[names[0]] || {}).value || '');
    var count = countToScaled((form.elements[names[1]] || {}).value || '');
    if (price === null || count === null) throw 'invalid_request';
    var scaled = price * count;
    if (!Number.isSafeInteger(scaled)) throw 'invalid_request';
    var rest = scaled % 10000;
    return fenToPlain((scaled - rest) / 10000 + (rest >= 5000 ? 1 : 0));
  }

  // data-show's text with {field}s of the answer, as plain text; {field|yuan} is fen said as
  // yuan (fenToYuan, as data-format="yuan"), so a message never shows raw fen.
  function told(template, answer) {
    return template.replace(/\{([a-z_.]+)(\|yuan)?\}/g, function (_, name, yuan) {
      var v = name.split('.').reduce(function (o, k) { return o == null ? o : o[k]; }, answer);
      if (v == null) return '';
      return yuan && Number.isSafeInteger(v) ? fenToYuan(v) : String(v);
    });
  }

  // A part marked data-when="name=value" counts only while that choice is made (e.g. the card
  // number only for a debit card); it is hidden otherwise.
  function applies(form, part) {
    if (!part) return true;
    var rule = part.getAttribute('data-when').split('=');
    var chosen = form.querySelector('[name="' + rule[0] + '"]:checked');
    return !!chosen && chosen.value === rule[1];
  }
  function showChoices(form) {
    Array.prototype.forEach.call(form.querySelectorAll('[data-when]'), function (part) {
      part.hidden = !applies(form, part);
    });
  }
  document.addEventListener('change', function (ev) {
    var form = ev.target.form;
    if (form && form.hasAttribute('data-api')) showChoices(form);
  });

  // A field the browser will not send (empty, too short, not in its format) is said in the page's
  // language (#wg-errors' _field_* words), not the browser's own: a Chinese page read on a browser
  // set to English said "Please fill out this field". The words are set when the browser finds the
  // field wanting ('invalid' does not bubble: caught on the way down) and cleared as its form is
  // edited, so the browser judges the new values by the fields' own rules again.
  function fieldWanting(el) {
    var v = el.validity;
    var n = function (key, attr) { return (messages[key] || '').replace('{n}', el.getAttribute(attr) || ''); };
    if (v.valueMissing) return messages[el.type === 'checkbox' ? '_field_tick' : el.type === 'radio' || el.tagName === 'SELECT' ? '_field_choose' : '_field_missing'];
    if (v.tooShort) return n('_field_too_short', 'minlength');
    if (v.tooLong) return n('_field_too_long', 'maxlength');
    if (v.rangeUnderflow) return n('_field_min', 'min');
    if (v.rangeOverflow) return n('_field_max', 'max');
    if (v.patternMismatch || v.typeMismatch || v.badInput || v.stepMismatch) {
      var hint = el.getAttribute('title');
      return (messages._field_format || '') + (hint ? ' ' + hint : '');
    }
    return '';
  }
  document.addEventListener('invalid', function (ev) {
    var el = ev.target;
    if (!el || !el.setCustomValidity || !el.validity) return;
    el.setCustomValidity('');
    var text = fieldWanting(el);
    if (text) el.setCustomValidity(text);
  }, true);
  // Every field of the form, not only the one edited: a choice may fill another field (data-sets)
  // or satisfy a required radio group, none of which says so to the fields it changed.
  function edited(ev) {
    var el = ev.target;
    var fields = el && el.form ? el.form.elements : [el];
    Array.prototype.forEach.call(fields, function (f) { if (f && f.setCustomValidity) f.setCustomValidity(''); });
  }
  document.addEventListener('input', edited, true);
  document.addEventListener('change', edited, true);

  // A select marked data-sets="name" fills that field of its form from the chosen option's
  // data-set (a catalogue item's unit price); an option without one clears it.
  document.addEventListener('change', function (ev) {
    var select = ev.target;
    var name = select.getAttribute && select.getAttribute('data-sets');
    if (!name || !select.form || !select.form.elements[name]) return;
    var option = select.options[select.selectedIndex];
    select.form.elements[name].value = (option && option.getAttribute('data-set')) || '';
  });

  // data-fill: the answer is shown in place: each [data-field="a.b"] inside the form's
  // data-fill target gets that field of the answer (data-format="yuan": fen as yuan), and the
  // target is unhidden.
  function fillIn(form, answer) {
    var target = document.querySelector(form.getAttribute('data-fill'));
    if (!target) return;
    Array.prototype.forEach.call(target.querySelectorAll('[data-field]'), function (el) {
      var v = el.getAttribute('data-field').split('.').reduce(function (o, k) { return o == null ? o : o[k]; }, answer);
      if (v == null) return;
      el.textContent = el.getAttribute('data-format') === 'yuan' ? fenToYuan(v) : String(v);
    });
    target.hidden = false;
  }

  // 12345 -> "123.45": what a field posts (integers only, exact below 2^53).
  function fenToPlain(fen) {
    var n = Math.abs(fen);
    var cents = String(n % 100);
    return (fen < 0 ? '-' : '') + Math.floor(n / 100) + '.' + (cents.length < 2 ? '0' + cents : cents);
  }

  // 12345678 -> "¥123,456.78", -123450 -> "-¥1,234.50": an amount as every page says it
  // (the same as the server's money::yuan).
  function fenToYuan(fen) {
    var plain = fenToPlain(fen);
    var sign = plain.charAt(0) === '-' ? '-' : '';
    var parts = plain.slice(sign.length).split('.');
    return sign + '\u00a5' + parts[0].replace(/\B(?=(\d{3})+$)/g, ',') + '.' + parts[1];
  }

  function fill(template, answer) {
    return template.replace(/\{([a-z_.]+)\}/g, function (_, name) {
      var v = name.split('.').reduce(function (o, k) { return o == null ? o : o[k]; }, answer);
      return v == null ? '' : encodeURIComponent(String(v));
    });
  }

  // The center's own words in a refusal the hub passed on ("the fee withdrawal (2302) refused
  // (1): 该明细已结算"), as the server's Failure::center_words reads them; '' when it has none.
  function centerWords(message) {
    var text = String(message || '');
    var at = text.indexOf(' refused (');
    if (at < 0) return '';
    var rest = text.slice(at + ' refused ('.length);
    var end = rest.indexOf('): ');
    return end < 0 ? '' : rest.slice(end + 3).trim();
  }

  function show(form, text, kind) {
    var box = form.querySelector('.message') || form.parentNode.querySelector('.message');
    if (!box) { box = document.createElement('p'); form.insertBefore(box, form.firstChild); }
    box.className = 'message ' + kind;
    box.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    box.textContent = text;
  }

  function submit(form, button) {
    // A button with its own data-api is its own action: none of the form's attributes apply.
    var source = (button && button.hasAttribute('data-api')) ? button : form;
    function attr(name) { return source.getAttribute(name); }
    var fields = attr('data-fields');
    var body;
    try { body = read(form, fields ? fields.split(' ') : null); } catch (code) { show(form, say(code), 'error'); return; }
    if (form.hasAttribute('data-wrap')) { var wrapped = {}; wrapped[form.getAttribute('data-wrap')] = [body]; body = wrapped; }
    var text = JSON.stringify(body);
    // A retry of the same body (after a lost connection) keeps its key; any change is a new action.
    var api = attr('data-api');
    if (form._wgBody !== api + text) { form._wgKey = newKey(); form._wgBody = api + text; }
    var csrf = document.querySelector('meta[name="csrf-token"]');
    var headers = { 'Content-Type': 'application/json', 'Accept': 'application/json', 'Idempotency-Key': form._wgKey };
    if (csrf) headers['X-CSRF-Token'] = csrf.getAttribute('content');
    var buttons = form.querySelectorAll('button');
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
    form.setAttribute('aria-busy', 'true');
    fetch(api, {
      method: attr('data-method') || 'POST', headers: headers, body: text, credentials: 'same-origin'
    }).then(function (res) {
      return res.text().then(function (raw) {
        var answer = null;
        try { answer = raw ? JSON.parse(raw) : {}; } catch (e) { answer = null; }
        if (res.ok) {
          form._wgBody = null;
          var next = attr('data-next');
          if (next) { window.location.assign(fill(next, answer || {})); return; }
          var shown = attr('data-show');
          if (shown) { show(form, told(shown, answer || {}), 'ok'); return; }

          if (source.hasAttribute('data-fill')) { fillIn(form, answer || {}); }
          var done = attr('data-done');
          if (done) { show(form, done, 'ok'); return; }
          if (!source.hasAttribute('data-fill')) window.location.reload();
          return;
        }
        var code = answer && answer.error && answer.error.code;
        // A definite refusal: the next try is a new action. Not so "still being processed": the
        // first submission may yet succeed, and a try with the same key then reads its answer
        // instead of acting twice.
        if (code !== 'idempotency_in_progress') form._wgBody = null;
        var reloadOn = (attr('data-reload-on') || '').split(' ');
        if (code && reloadOn.indexOf(code) >= 0) { window.location.reload(); return; }
        var said = attr('data-center-said');
        var words = said && code === 'insurance_refused' ? centerWords(answer.error.message) : '';
        show(form, say(code || '_unknown') + (words ? said + words : ''), 'error');
      });
    }, function () {
      show(form, say('_network'), 'error');
    }).then(function () {
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
      form.removeAttribute('aria-busy');
    });
  }

  document.addEventListener('submit', function (ev) {
    var form = ev.target;
    if (!form.hasAttribute || !form.hasAttribute('data-api')) return;
    ev.preventDefault();
    // An action that moves money or cannot be undone asks first, naming what it does (data-confirm
    // on the form, or on a button that is its own action); cancelled, nothing is sent.
    var button = ev.submitter || null;
    var ask = asked(form, (button && button.getAttribute('data-confirm')) || form.getAttribute('data-confirm'));
    if (ask && !window.confirm(ask)) return;
    submit(form, button);
  });

  // The question as asked: {checked} is the data-label of each ticked checkbox that carries a
  // data-fen (joined by the form's data-join), {checked|yuan} their data-fen summed, said as yuan
  // (integers: exact). With nothing ticked there is nothing to ask: the API says what is missing.
  function asked(form, text) {
    if (text) text = fieldsSaid(form, text);
    if (!text || text.indexOf('{checked') < 0) return text;
    var labels = [];
    var fen = 0;
    Array.prototype.forEach.call(form.querySelectorAll('input[type=checkbox][data-fen]:checked'), function (box) {
      labels.push(box.getAttribute('data-label') || box.value);
      fen += parseInt(box.getAttribute('data-fen'), 10) || 0;
    });
    if (!labels.length) return null;
    var list = labels.join(form.getAttribute('data-join') || ', ');
    return text.replace(/\{checked(\|yuan)?\}/g, function (_, yuan) { return yuan ? fenToYuan(fen) : list; });
  }

  // {name|yuan} in a question: the amount typed in the form's field `name` (yuan text, read
  // exactly as data-type="fen" reads it), said as yuan, e.g. the repayment's "确认还款 ¥1,234.56？".
  // A field that holds no amount leaves nothing to ask: the send refuses it (invalid_request).
  function fieldsSaid(form, text) {
    var unreadable = false;
    var said = text.replace(/\{([a-z_]+)\|yuan\}/g, function (whole, name) {
      if (name === 'checked') return whole;
      var field = form.elements[name];
      var fen = field && typeof field.value === 'string' ? yuanToFen(field.value) : null;
      if (fen === null) { unreadable = true; return whole; }
      return fenToYuan(fen);
    });
    return unreadable ? null : said;
  }

  function refresh(el) {
    var seconds = parseInt(el.getAttribute('data-refresh-s'), 10);
    if (!(seconds > 0)) return;
    setInterval(function () {
      fetch(el.getAttribute('data-src'), { credentials: 'same-origin', headers: { 'Accept': 'text/html' } })
        .then(function (res) { return res.ok ? res.text() : null; })
        .then(function (html) { if (html !== null) el.innerHTML = html; }, function () {});
    }, seconds * 1000);
  }
  document.addEventListener('DOMContentLoaded', function () {
    Array.prototype.forEach.call(document.querySelectorAll('[data-refresh-s][data-src]'), refresh);
    Array.prototype.forEach.call(document.querySelectorAll('form[data-api]'), showChoices);
  });
}());

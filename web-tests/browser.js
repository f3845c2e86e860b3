// What every spec shares: the server under test (WUGAN_URL, WUGAN_DATA_DIR from .ci/browser),
// Debian's chromium at a phone's width, screenshots, and the accessibility check.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const assert = require('node:assert/strict');
const { chromium } = require('playwright-core');

const base = process.env.WUGAN_URL || 'http://127.0.0.1:8080';
const dataDir = process.env.WUGAN_DATA_DIR || '';
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const shots = path.join(__dirname, '..', 'ci-artifacts', 'screenshots');
// WUGAN_WIDTH=1280 runs every spec on a desktop-wide window, its screenshots named `…-1280`.
const wide = Number(process.env.WUGAN_WIDTH || 0);

// A phone: 360 px wide, touch, in a fresh profile. Options: { width, elder, lang }.
async function phone(options = {}) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wugan-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: wide || options.width || 360, height: 780 },
    isMobile: !wide,
    hasTouch: !wide,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const cookies = [];
  if (options.elder) cookies.push({ name: 'elder', value: '1', url: base });
  if (options.lang) cookies.push({ name: 'lang', value: options.lang, url: base });
  if (cookies.length) await context.addCookies(cookies);
  const page = context.pages()[0] || await context.newPage();
  // A script error on a page is a failure, not a log line.
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  // An action that moves money asks first (data-confirm): the tests say yes, and keep the question.
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.accept(); });
  // (A refused API call logs "Failed to load resource" by itself: the page shows it in words.)
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(m.text());
  });
  return {
    context, page, pageErrors, dialogs,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

async function screenshot(page, name) {
  fs.mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: path.join(shots, wide ? `${name}-${wide}.png` : `${name}.png`), fullPage: true });
}

// Fails on any serious or critical axe-core violation of the page as it stands.
async function accessible(page, label) {
  // Evaluated through the debugging protocol: the page's CSP (rightly) refuses an injected <script>.
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const described = bad.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(described, [], `${label}: axe found serious violations`);
}

// The page does not scroll sideways at its width (nothing wider than a 360 px phone).
async function fitsTheWidth(page, label) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `${label}: ${overflow} px wider than the screen`);
}

// On a phone, no table of the page scrolls sideways inside its box either: the wide staff
// tables stack into label-value cards below 640 px. (Wider, they are tables again, and a day's
// 14 columns of large amounts may still scroll inside their box.)
async function tablesFit(page, label) {
  if (await page.evaluate(() => window.innerWidth >= 640)) return;
  const wider = await page.evaluate(() => Array.from(document.querySelectorAll('.table-wrap'))
    .filter((w) => w.offsetParent !== null && w.scrollWidth > w.clientWidth)
    .map((w) => {
      const table = w.querySelector('table');
      const columns = table ? Array.from(table.querySelectorAll('thead th')).map((th) => `${th.textContent.trim()} ${Math.round(th.getBoundingClientRect().width)}`) : [];
      return `${(table || w).id || w.getAttribute('aria-labelledby')}: ${w.scrollWidth - w.clientWidth} px over (${columns.join(' | ')})`;
    }));
  assert.deepEqual(wider, [], `${label}: tables wider than their box`);
}

// An amount of fen as the pages say it (¥, thousands grouped, two decimals), worked out here
// independently of the server's and app.js's formatters.
function yuan(fen) {
  const text = (Math.abs(fen) / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  return `${fen < 0 ? '-' : ''}¥${text}`;
}

// The fen of an amount as a page says it ("¥1,234.50" -> 123450); fails on anything else.
function fenOf(text) {
  const m = /^(-?)¥(\d{1,3}(?:,\d{3})*)\.(\d{2})$/.exec(text.trim());
  assert.ok(m, `not an amount: ${text}`);
  return (m[1] ? -1 : 1) * (Number(m[2].replace(/,/g, '')) * 100 + Number(m[3]));
}

module.exports = { base, dataDir, phone, screenshot, accessible, fitsTheWidth, tablesFit, yuan, fenOf };

// The last sign-in code texted to `mobile`, from the server's SMS outbox (DATA_DIR/sms-outbox.log).
async function textedCode(mobile) {
  const outbox = path.join(dataDir, 'sms-outbox.log');
  for (let i = 0; i < 50; i++) {
    if (fs.existsSync(outbox)) {
      const texts = fs.readFileSync(outbox, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((m) => m.to === mobile);
      const last = texts[texts.length - 1];
      const code = last && /\d{6}/.exec(last.text);
      if (code) return code[0];
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no code was texted to ${mobile}`);
}

module.exports.textedCode = textedCode;

// A hospital's HIS, as the test's doctor: calls the HIS API with the first hospital's key from
// the server's credentials.json.
function his() {
  const credentials = JSON.parse(fs.readFileSync(path.join(dataDir, 'credentials.json'), 'utf8'));
  const key = credentials.hospitals[0].api_key;
  let n = 0;
  async function call(method, route, body) {
    const headers = { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' };
    if (method === 'POST') headers['Idempotency-Key'] = `web-test-${process.pid}-${Date.now()}-${n++}`;
    const res = await fetch(`${base}${route}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
    const answer = await res.json();
    assert.ok(res.ok, `${method} ${route}: ${res.status} ${JSON.stringify(answer)}`);
    return answer;
  }
  const line = (sn, code, price, count, total) => ({ feedetl_sn: sn, med_list_codg: code, medins_list_codg: code, pric: price, cnt: count,
    det_item_fee_sumamt: total, chrg_bchno: '1', bilg_dept_codg: 'A03', bilg_dept_name: '内科', bilg_dr_codg: 'D001', bilg_dr_name: '王医生', hosp_appr_flag: '1' });
  return {
    // The hospital this HIS is ({ code, name }), as the hub has it on its books.
    hospital: { code: credentials.hospitals[0].code, name: credentials.hospitals[0].name },
    // `extra`: more of the registration's fields, e.g. { setl_type: 'HI' } (insurance only).
    async register(visitNo, certno, extra = {}) {
      return call('POST', '/api/v1/visits', { ipt_otp_no: visitNo, mdtrt_cert_type: '02', mdtrt_cert_no: certno, med_type: '11',
        dept_code: 'A03', dept_name: '内科', dr_name: '王医生', ...extra });
    },
    async fees(visitId) {
      return call('POST', `/api/v1/visits/${visitId}/fees`, { lines: [line('1', '001102000010000', '25.00', '1', '25.00'),
        line('2', '013100000010000', '150.00', '2', '300.00')] });
    },
    async preSettle(visitId) { return call('POST', `/api/v1/visits/${visitId}/pre-settlement`); },
    async settle(visitId) { return call('POST', `/api/v1/visits/${visitId}/settlement`, {}); },
  };
}

module.exports.his = his;

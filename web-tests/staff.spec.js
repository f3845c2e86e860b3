// The staff consoles, as their users meet them at a phone's 360 px: a cashier signs in, registers a
// signed patient's visit, enters a fee from the catalogue, estimates, settles (the doctor's click)
// and cancels; a cashier of another hospital cannot open that visit; an operator onboards a
// hospital, issues it an HIS key and reads the day's totals. Staff accounts are made with the CLI
// (`wugan staff add`), as an installation's first operator is.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync, spawn } = require('node:child_process');
const os = require('node:os');
const { base, dataDir, phone, screenshot, accessible, fitsTheWidth, tablesFit, yuan, fenOf } = require('./browser');

const PASSWORD = 'a long staff password';
const CERTNO = '440301199001011234';
const credentials = JSON.parse(fs.readFileSync(path.join(dataDir, 'credentials.json'), 'utf8'));
const [hospitalA, hospitalB] = credentials.hospitals;
const run = Date.now().toString(36);

function addStaff(login, role, hospital) {
  const args = ['staff', 'add', '--data-dir', dataDir, '--login', login, '--name', `${role} ${login}`, '--role', role];
  if (hospital) args.push('--hospital', hospital);
  execFileSync(process.env.WUGAN_BIN, args, { env: { ...process.env, WUGAN_STAFF_PASSWORD: PASSWORD } });
}

async function api(method, url, key, body) {
  const response = await fetch(`${base}${url}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'idempotency-key': `${run}-${Math.random()}` },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, body: await response.json() };
}

async function signIn(page, url, login) {
  await page.goto(`${base}${url}`);
  await page.fill('#login', login);
  await page.fill('#password', PASSWORD);
  await page.click('#staff-sign-in-button');
  await page.waitForSelector('#sign-out');
}

// Submits a console form and waits for the page it leads to (a reload or the next page).
async function submitAndReload(page, button) {
  await Promise.all([page.waitForEvent('load'), page.click(button)]);
}

test('a cashier registers a signed patient, enters two fees, settles and refunds them line by line; another hospital cannot see it', async () => {
  addStaff(`cashier-${run}`, 'cashier', hospitalA.code);
  addStaff(`cashier-b-${run}`, 'cashier', hospitalB.code);
  // The patient signed up for seamless payment (the patient channel's part, through the API).
  const signed = await api('POST', '/api/v1/agreements', credentials.operator_api_key,
    { mdtrt_cert_type: '02', mdtrt_cert_no: CERTNO, use_personal_account: true, payment: { method: 'credit_line', bank_code: 'BANK01' } });
  assert.ok(signed.status === 200 || signed.body.error.code === 'already_signed', JSON.stringify(signed));

  const { page, pageErrors, dialogs, close } = await phone({ lang: 'en' });
  let visitUrl;
  try {
    await signIn(page, '/console/', `cashier-${run}`);
    assert.equal(await page.textContent('h1'), 'Doctor and cashier console');
    // The role and the hospital in words; the cashier's main action first, integration folded away.
    assert.equal(await page.textContent('#whoami-role'), 'Cashier');
    assert.equal(await page.textContent('#whoami-hospital'), hospitalA.name);
    const firstSection = await page.locator('main section[aria-labelledby]').first().getAttribute('aria-labelledby');
    assert.equal(firstSection, 'register-title', 'registering a visit comes first');
    assert.equal(await page.isVisible('#endpoint-url'), false, 'the webhook form is folded away');
    await accessible(page, 'console home');
    await fitsTheWidth(page, 'console home');
    await tablesFit(page, 'console home');
    await screenshot(page, 'staff-console-home');

    // The hospital has no HIS budget, but wants events: it registers an endpoint; the secret shows once.
    await page.click('#integration > summary');
    await page.fill('#endpoint-url', 'http://127.0.0.1:9/wugan-events');
    await page.click('#add-endpoint-button');
    await page.waitForSelector('#add-endpoint .message.ok');
    assert.match(await page.textContent('#add-endpoint .message'), /whsec_[0-9a-f]+/);

    await page.fill('#ipt_otp_no', `MZ-${run}`);
    await page.fill('#mdtrt_cert_no', CERTNO);
    await Promise.all([page.waitForURL(/\/console\/visits\/vis_/), page.click('#register-button')]);
    visitUrl = page.url();
    assert.equal(await page.textContent('#visit-state'), 'Registered');
    // Who the visit is for: the masked name, sex and age, never the whole name.
    assert.match(await page.textContent('#visit-patient'), /^张\* · male · \d+ years$/);

    // The catalogue in the page's language; choosing an item fills its unit price.
    assert.equal(await page.textContent('#med_list_codg option[value="250101001000000"]'), 'complete blood count · ¥20.00');
    await page.selectOption('#med_list_codg', '250101001000000');
    assert.equal(await page.inputValue('#pric'), '20.00');
    await page.selectOption('#med_list_codg', '001102000010000');
    assert.equal(await page.inputValue('#pric'), '25.00');
    await page.fill('#cnt', '2');
    await submitAndReload(page, '#add-line');
    assert.equal(await page.textContent('#visit-medfee'), '¥50.00');
    // A second line (the form numbers each line afresh): a test ordered with the consultation.
    await page.selectOption('#med_list_codg', '250101001000000');
    await page.fill('#cnt', '1');
    await submitAndReload(page, '#add-line');
    assert.equal(await page.textContent('#visit-medfee'), '¥70.00');
    // The lines by item name, price × count and amount.
    assert.deepEqual(await page.locator('#fee-lines tbody tr').allTextContents(),
      ['general outpatient consultation¥25.00 × 2¥50.00', 'complete blood count¥20.00 × 1¥20.00']);

    await page.click('#estimate-button');
    await page.waitForSelector('#estimate .message.ok');
    // In yuan, like every other figure on the page (it said "fund 56450 fen").
    assert.match(await page.textContent('#estimate .message'),
      /^Estimate: fees ¥70\.00, of which fund ¥[\d,]+\.\d{2}, personal account ¥[\d,]+\.\d{2}, cash ¥[\d,]+\.\d{2}\.$/);

    assert.equal(await page.locator('#cancel-button').count(), 0, 'nothing to cancel before the click');
    await submitAndReload(page, '#settle-button');
    assert.equal(await page.textContent('#visit-state'), 'Settled');
    // The click asked first, naming the patient and the amount.
    assert.match(dialogs.at(-1), /^Settle for 张\* · male · \d+ years\? Fees ¥70\.00;/);
    // Settled: no more fees, no estimate, no second click; the cancellation is offered.
    assert.deepEqual(
      [await page.locator('#add-line').count(), await page.locator('#estimate-button').count(), await page.locator('#settle-button').count()],
      [0, 0, 0],
    );
    assert.equal(await page.locator('#cancel-button').count(), 1);
    await accessible(page, 'visit settled');
    await fitsTheWidth(page, 'visit settled');
    await tablesFit(page, 'visit settled');
    await screenshot(page, 'staff-console-visit-settled');

    // The test is not done after all: the cashier refunds that one line (退费), the rest stays paid.
    assert.equal(await page.textContent('label[for="refund-2"]'), 'complete blood count × 1 · ¥20.00');
    await page.check('#refund-2');
    const asked = dialogs.length;
    await Promise.all([page.waitForURL(/\?refund=/), page.click('#refund-button')]);
    // The refund asked first, naming the patient, the lines ticked and their fees.
    assert.match(dialogs[asked], /^Refund for 张\* · male · \d+ years: complete blood count × 1, ¥20\.00 of fees returned\?/, dialogs[asked]);
    assert.match(await page.textContent('#refund-done'), /the lines returned come to ¥20\.00, the bank gave back ¥[\d,]+\.\d{2};/);
    assert.equal(await page.textContent('#visit-state'), 'Settled');
    // The refund and the figures now in force, beside the click's.
    assert.equal(await page.textContent('#visit-refunded'), '¥20.00');
    assert.equal(await page.textContent('#in-force-medfee'), '¥50.00');
    assert.match(await page.textContent('#refunds tbody'), /complete blood count.*¥20\.00/s);
    assert.match(await page.textContent('#fee-lines'), /complete blood count refunded/);
    assert.equal(await page.locator('#refund input[type=checkbox]').count(), 1, 'one line left to refund');
    await accessible(page, 'visit partly refunded');
    await tablesFit(page, 'visit refunded');
    await screenshot(page, 'staff-console-visit-refunded');

    // Cancelling the whole settlement now is refused in words: the rest is refunded line by line.
    await page.click('#cancel-button');
    await page.waitForSelector('#cancel .message.error');
    assert.match(await page.textContent('#cancel .message'), /partly refunded/);
    await page.check('#refund-1');
    const askedAgain = dialogs.length;
    await Promise.all([page.waitForEvent('load'), page.click('#refund-button')]);
    assert.match(dialogs[askedAgain], /: general outpatient consultation × 2, ¥50\.00 of fees returned\?/, dialogs[askedAgain]);
    assert.match(await page.textContent('#refund-done'), /¥50\.00/);
    assert.equal(await page.textContent('#visit-state'), 'Refunded in full');

    // The day's statement (日结单): the hospital by name, each row its visit number and state in words.
    await page.goto(`${base}/console/`);
    await page.click('#statement-link');
    await page.waitForSelector('#statement-figures');
    assert.match(await page.textContent('h1'), /Daily statement/);
    assert.match(await page.textContent('#statement-totals'), new RegExp(`^${hospitalA.name} · `));
    // (A refund's re-settlement is a row of its own: the visit may have more than one.)
    const rows = await page.locator('#statement-lines tbody tr', { hasText: `MZ-${run}` }).allTextContents();
    assert.ok(rows.length > 0 && rows.every((r) => /MZ-.*(Settled|Cancelled|Refunded)/.test(r)), rows.join(' | '));
    await accessible(page, 'daily statement');
    await fitsTheWidth(page, 'daily statement');
    await tablesFit(page, 'daily statement');
    await screenshot(page, 'staff-console-statement');
    assert.deepEqual(pageErrors, []);
  } finally {
    await close();
  }

  // The other hospital's cashier is answered as if the visit did not exist.
  const other = await phone({ lang: 'en' });
  try {
    await signIn(other.page, '/console/', `cashier-b-${run}`);
    const response = await other.page.goto(visitUrl);
    assert.equal(response.status(), 404);
    assert.equal(await other.page.textContent('h1'), 'Page not found');
    const listed = await other.page.locator('#visits a', { hasText: `MZ-${run}` }).count();
    assert.equal(listed, 0, "another hospital's console lists none of its visits");
  } finally {
    await other.close();
  }
});

test("the doctor's console: half a box, the estimate in yuan, and each refusal said as what to do", async () => {
  addStaff(`doctor-${run}`, 'doctor', hospitalA.code);
  const signed = await api('POST', '/api/v1/agreements', credentials.operator_api_key,
    { mdtrt_cert_type: '02', mdtrt_cert_no: CERTNO, use_personal_account: true, payment: { method: 'credit_line', bank_code: 'BANK01' } });
  assert.ok(signed.status === 200 || signed.body.error.code === 'already_signed', JSON.stringify(signed));
  // The HIS registered the visit and sent a blood count already.
  const visit = await api('POST', '/api/v1/visits', hospitalA.api_key, { ipt_otp_no: `MZ-DR-${run}`, mdtrt_cert_type: '02', mdtrt_cert_no: CERTNO,
    med_type: '11', dept_code: 'A03', dept_name: '内科', dr_name: '王医生' });
  assert.equal(visit.status, 200, JSON.stringify(visit));
  const sent = `DR-${run}`;
  const line = { feedetl_sn: sent, med_list_codg: '250101001000000', medins_list_codg: '250101001000000', pric: '20.00', cnt: '1', det_item_fee_sumamt: '20.00' };
  assert.equal((await api('POST', `/api/v1/visits/${visit.body.id}/fees`, hospitalA.api_key, { lines: [line] })).status, 200);
  const { page, pageErrors, close } = await phone({ elder: true });
  try {
    await signIn(page, '/console/', `doctor-${run}`);
    await page.goto(`${base}/console/visits/${visit.body.id}`);
    // Half a box of capsules: 12.35 × 0.5 = 6.175, rounded half up to 6.18 as the hub rounds.
    await page.selectOption('#med_list_codg', 'XJ01CAA040E001010101923');
    await page.fill('#pric', '12.35');
    await page.fill('#cnt', '0.5');
    assert.match(await page.textContent('#cnt-hint'), /0\.5/);
    await submitAndReload(page, '#add-line');
    assert.equal(await page.textContent('#visit-medfee'), '¥26.18');
    // The lines listed by item name in the page's language (no English gloss on a Chinese page).
    const listed = await page.textContent('#fee-lines tbody');
    assert.ok(listed.includes('阿莫西林胶囊 0.25g×24') && listed.includes('¥12.35 × 0.5') && !listed.includes('amoxicillin'), listed);
    assert.equal(await page.textContent('#whoami-role'), '医生');

    // The estimate in yuan, the same figures the HIS API answers.
    await page.click('#estimate-button');
    await page.waitForSelector('#estimate .message.ok');
    const said = await page.textContent('#estimate .message');
    const figures = /^预结算：医疗费用 (¥[\d,]+\.\d{2})，其中医保基金 (¥[\d,]+\.\d{2})，个人账户 (¥[\d,]+\.\d{2})，个人现金 (¥[\d,]+\.\d{2})。$/.exec(said);
    assert.ok(figures, said);
    const estimate = await api('POST', `/api/v1/visits/${visit.body.id}/pre-settlement`, hospitalA.api_key);
    const e = estimate.body.estimate;
    assert.deepEqual(figures.slice(1), [yuan(e.medfee_fen), yuan(e.fund_fen), yuan(e.personal_account_fen), yuan(e.cash_fen)]);
    await accessible(page, 'doctor visit with the estimate');
    await fitsTheWidth(page, 'doctor visit with the estimate');
    await screenshot(page, 'staff-console-doctor-estimate');

    // A line number the HIS used already, with another amount: a duplicate, said as one.
    const entered = async (sn, code, price, count) => {
      // (The message of a try before is cleared, so the wait below is for this one's answer.)
      await page.evaluate((value) => {
        document.querySelector('#fees input[name="feedetl_sn"]').value = value;
        const box = document.querySelector('#fees .message');
        box.className = 'message';
        box.textContent = '';
      }, sn);
      await page.selectOption('#med_list_codg', code);
      await page.fill('#pric', price);
      await page.fill('#cnt', count);
      await page.click('#add-line');
      await page.waitForSelector('#fees .message.error');
      return page.textContent('#fees .message');
    };
    assert.equal(await entered(sent, '250101001000000', '20.00', '2'), '费用明细重复（同一条已上传或选了两次）。');

    // The HIS settles meanwhile: a line entered on the page still open is refused, neutrally
    // (not "settled, no estimate needed"), and not as "try again later".
    assert.equal((await api('POST', `/api/v1/visits/${visit.body.id}/settlement`, hospitalA.api_key, {})).body.state, 'settled');
    const refused = await entered(`DR2-${run}`, '001102000010000', '25.00', '1');
    assert.equal(refused, '这次就诊正在结算、已结算或已取消，不能再修改费用、预结算或更改设置。');
    await accessible(page, 'doctor visit with a refusal');
    await screenshot(page, 'staff-console-doctor-refused');
    // Settled: the doctor, who cannot cancel, sees the split and no empty card of actions.
    await page.reload();
    assert.equal(await page.locator('#actions-title').count(), 0, 'no empty Settlement card');
    assert.equal(await page.locator('#settlement-title').count(), 1);
    assert.deepEqual(pageErrors, []);
  } finally {
    await close();
  }
});

test('the ward: a cashier admits with the deposit held on the line, enters a fee and discharges at the bedside', async () => {
  addStaff(`ward-${run}`, 'cashier', hospitalA.code);
  const signed = await api('POST', '/api/v1/agreements', credentials.operator_api_key,
    { mdtrt_cert_type: '02', mdtrt_cert_no: CERTNO, use_personal_account: true, payment: { method: 'credit_line', bank_code: 'BANK01' } });
  assert.ok(signed.status === 200 || signed.body.error.code === 'already_signed', JSON.stringify(signed));
  const { page, pageErrors, dialogs, close } = await phone({});
  try {
    await signIn(page, '/console/', `ward-${run}`);
    await page.click('#ward-link');
    await page.waitForSelector('#admit');
    await page.fill('#ipt_no', `ZY-${run}`);
    await page.fill('#stay_cert_no', CERTNO);
    await page.fill('#deposit', '2000.00');
    // The admission's details for insurance (2401) are folded away; the ward gives some of them.
    await page.click('details.clinical > summary');
    await page.fill('#adm_dept_name', '心血管内科');
    await page.fill('#adm_bed', '12-3');
    await page.fill('#dscg_maindiag_code', 'I21.900');
    await page.fill('#dscg_maindiag_name', '急性心肌梗死');
    await accessible(page, 'the admission form with its details');
    await fitsTheWidth(page, 'the admission form with its details');
    await screenshot(page, 'staff-console-admission-details');
    await Promise.all([page.waitForURL(/\/console\/stays\/[^/]+$/), page.click('#admit-button')]);
    assert.equal(await page.textContent('#stay-state'), '在院');
    assert.equal(await page.textContent('#stay-held'), '¥2,000.00');
    assert.match(await page.textContent('#stay-patient'), /^张\* · 男 · \d+岁$/);

    await page.selectOption('#stay_item', '001102000010000');
    assert.equal(await page.inputValue('#stay_pric'), '25.00', 'the catalogue fills the unit price');
    await page.fill('#stay_cnt', '4');
    await submitAndReload(page, '#stay-add-line');
    assert.equal(await page.textContent('#stay-charges'), '¥100.00');
    await accessible(page, 'stay in the ward');
    await fitsTheWidth(page, 'stay in the ward');
    await tablesFit(page, 'stay in the ward');
    await screenshot(page, 'staff-console-stay-in-ward');

    // 中途结算: the 100 yuan so far settled while the patient stays; the row shows what it took.
    assert.equal(await page.locator('#stay-interim-1').count(), 0);
    assert.equal(await page.locator('#cancel-admission-button').count(), 1, 'in the ward, the admission can be undone');
    await submitAndReload(page, '#interim-button');
    assert.match(dialogs.at(-1), /^确认为 张\* · 男 · \d+岁 中途结算/, 'the interim settlement asked first');
    assert.equal(await page.textContent('#stay-state'), '在院');
    assert.equal(await page.textContent('#stay-interim-1 .interim-medfee'), '¥100.00');
    const taken = fenOf(await page.textContent('#stay-interim-1 .interim-bank'));
    assert.equal(await page.textContent('#stay-held'), yuan(200000 - taken), 'the rest of the deposit stays held');
    assert.equal(await page.locator('#interim-button').count(), 0, 'nothing new to settle');
    assert.equal(await page.locator('#cancel-admission-button').count(), 0, 'an interim settlement stands: 2404 would be refused');
    await accessible(page, 'stay settled in the middle');
    await fitsTheWidth(page, 'stay settled in the middle');
    await tablesFit(page, 'stay settled in the middle');
    await screenshot(page, 'staff-console-stay-interim');
    // Another day's fee, for the bedside click to settle.
    await page.selectOption('#stay_item', '001102000010000');
    await page.fill('#stay_pric', '25.00');
    await page.fill('#stay_cnt', '2');
    await submitAndReload(page, '#stay-add-line');
    assert.equal(await page.textContent('#stay-charges'), '¥150.00');

    // The bedside click comes before the fee form on a phone, and asks first with the figures.
    const [discharge, feeForm] = [await page.locator('#discharge-button').boundingBox(), await page.locator('#stay-fees').boundingBox()];
    assert.ok(discharge.y < feeForm.y, `the discharge (y ${discharge.y}) above the fee form (y ${feeForm.y})`);
    await submitAndReload(page, '#discharge-button');
    assert.match(dialogs.at(-1), /^确认为 张\* · 男 · \d+岁 办理出院结算？住院费用 ¥150\.00，/);
    assert.equal(await page.textContent('#stay-state'), '已结算');
    assert.equal(await page.textContent('#stay-held'), '¥0.00', 'what was not taken is released');
    assert.equal(await page.locator('#cancel-stay-settlement[data-confirm]').count(), 1, 'cancelling asks first too');
    await accessible(page, 'stay settled');
    await screenshot(page, 'staff-console-stay-settled');

    await page.click('text=返回住院患者列表');
    await page.waitForSelector('#stays');
    assert.equal(await page.locator('#stays a', { hasText: `ZY-${run}` }).count(), 1);
    assert.match(await page.locator('#stays tr', { hasText: `ZY-${run}` }).locator('td.patient').textContent(), /^张\* · 男/);
    await fitsTheWidth(page, 'stays list');
    await tablesFit(page, 'stays list');
    assert.deepEqual(pageErrors, []);
  } finally {
    await close();
  }
});

test('the ward: an interim settlement uses up the whole deposit, and the cashier holds a fresh one (补交押金)', async () => {
  // 李秀英, a sample person no other test here uses, on a 5,000-yuan line of her own.
  const certno = '440303195803152420';
  addStaff(`redeposit-${run}`, 'cashier', hospitalA.code);
  const signed = await api('POST', '/api/v1/agreements', credentials.operator_api_key, { mdtrt_cert_type: '02', mdtrt_cert_no: certno,
    use_personal_account: false, payment: { method: 'credit_line', bank_code: 'BANK01', credit_limit_fen: 500000 } });
  assert.ok(signed.status === 200 || signed.body.error.code === 'already_signed', JSON.stringify(signed));
  const { page, pageErrors, dialogs, close } = await phone({});
  try {
    await signIn(page, '/console/', `redeposit-${run}`);
    await page.click('#ward-link');
    await page.waitForSelector('#admit');
    await page.fill('#ipt_no', `ZY2-${run}`);
    await page.fill('#stay_cert_no', certno);
    await page.fill('#deposit', '300.00');
    await Promise.all([page.waitForURL(/\/console\/stays\/[^/]+$/), page.click('#admit-button')]);
    assert.equal(await page.textContent('#stay-held'), '¥300.00');
    assert.equal(await page.locator('#stay-deposit').count(), 0, 'a stay that holds its deposit is raised with its fees instead');
    // 4,500 yuan of examinations: the rule's raise is more than the line has (deposit short); the
    // interim settlement's share, above the hold, is raised onto it and taken whole.
    await page.selectOption('#stay_item', '013100000010000');
    await page.fill('#stay_pric', '150.00');
    await page.fill('#stay_cnt', '30');
    await submitAndReload(page, '#stay-add-line');
    await submitAndReload(page, '#interim-button');
    assert.equal(await page.textContent('#stay-interim-1 .interim-medfee'), '¥4,500.00');
    assert.equal(await page.textContent('#stay-held'), '¥0.00', 'the interim settlement took the whole hold');
    // Said in words with what to do, no bank code.
    const short = await page.textContent('#deposit-short');
    assert.ok(short.includes('补交押金') && !/[a-z]+_[a-z]+/.test(short), short);

    await page.fill('#stay_deposit', '500.00');
    await submitAndReload(page, '#stay-deposit-button');
    assert.match(dialogs.at(-1), /冻结所填的押金/, 'the fresh hold asked first');
    assert.equal(await page.textContent('#stay-state'), '在院');
    assert.equal(await page.textContent('#stay-held'), '¥500.00', 'a fresh hold on the line');
    assert.equal(await page.locator('#stay-deposit').count(), 0);
    await accessible(page, 'stay with a fresh deposit');
    await fitsTheWidth(page, 'stay with a fresh deposit');
    await screenshot(page, 'staff-console-stay-fresh-deposit');

    // The next day's fee, settled at the bedside on the fresh hold; what it did not take is released.
    await page.selectOption('#stay_item', '001102000010000');
    await page.fill('#stay_pric', '25.00');
    await page.fill('#stay_cnt', '2');
    await submitAndReload(page, '#stay-add-line');
    await submitAndReload(page, '#discharge-button');
    assert.equal(await page.textContent('#stay-state'), '已结算');
    assert.equal(await page.textContent('#stay-held'), '¥0.00', 'what the bedside click did not take is released');
    assert.deepEqual(pageErrors, []);
  } finally {
    await close();
  }
});

test('the ward: an interim settlement takes every fee, and the discharge with nothing new releases the deposit left', async () => {
  // 李秀英 again (her 5,000-yuan line), a new admission of her own.
  const certno = '440303195803152420';
  addStaff(`closing-${run}`, 'cashier', hospitalA.code);
  const signed = await api('POST', '/api/v1/agreements', credentials.operator_api_key, { mdtrt_cert_type: '02', mdtrt_cert_no: certno,
    use_personal_account: false, payment: { method: 'credit_line', bank_code: 'BANK01', credit_limit_fen: 500000 } });
  assert.ok(signed.status === 200 || signed.body.error.code === 'already_signed', JSON.stringify(signed));
  const { page, pageErrors, close } = await phone({});
  try {
    await signIn(page, '/console/', `closing-${run}`);
    await page.click('#ward-link');
    await page.waitForSelector('#admit');
    await page.fill('#ipt_no', `ZY3-${run}`);
    await page.fill('#stay_cert_no', certno);
    await page.fill('#deposit', '300.00');
    await Promise.all([page.waitForURL(/\/console\/stays\/[^/]+$/), page.click('#admit-button')]);
    // A day's fee, then the interim settlement takes it: the patient's share from the hold, the rest held again.
    await page.selectOption('#stay_item', '001102000010000');
    await page.fill('#stay_pric', '25.00');
    await page.fill('#stay_cnt', '2');
    await submitAndReload(page, '#stay-add-line');
    await submitAndReload(page, '#interim-button');
    assert.equal(await page.textContent('#stay-interim-1 .interim-medfee'), '¥50.00');
    const reheld = await page.textContent('#stay-interim-1 .interim-reheld');
    assert.equal(await page.textContent('#stay-held'), reheld, 'the rest of the deposit held again');
    assert.equal(await page.locator('#interim-button').count(), 0, 'nothing left for another interim settlement');

    // The patient leaves with no fee since: discharged, nothing settled again, the rest released.
    await submitAndReload(page, '#discharge-button');
    assert.equal(await page.textContent('#stay-state'), '出院已结清');
    assert.equal(await page.textContent('#stay-held'), '¥0.00', 'the deposit left is released');
    assert.match(await page.textContent('#settled-by-interims'), /中途结算/);
    assert.equal(await page.textContent('#stay-interim-1 .interim-medfee'), '¥50.00', 'the interim settlement stands');
    assert.equal(await page.locator('#stay-actions-title').count(), 0, 'no empty card of actions');
    for (const gone of ['#discharge-button', '#stay-add-line', '#interim-button', '#stay-deposit', '#cancel-stay-settlement-button', '#cancel-admission-button', '#deposit-short']) {
      assert.equal(await page.locator(gone).count(), 0, `${gone}: nothing left to do on a closed stay`);
    }
    await accessible(page, 'stay settled by its interim settlements');
    await fitsTheWidth(page, 'stay settled by its interim settlements');
    await tablesFit(page, 'stay settled by its interim settlements');
    await screenshot(page, 'staff-console-stay-settled-by-interims');
    await page.click('a[href="/console/stays"]');
    await page.waitForSelector('#stays-title');
    await screenshot(page, 'staff-console-stays-settled-by-interims');
    assert.deepEqual(pageErrors, []);
  } finally {
    await close();
  }
});

test('the ward undoes in the ward: the latest interim settlement cancelled from its button, shown cancelled, and a fee line withdrawn', async () => {
  // 张三 (his line has room after the specs before: their stays are settled), a new admission.
  const certno = CERTNO;
  addStaff(`undo-${run}`, 'cashier', hospitalA.code);
  const signed = await api('POST', '/api/v1/agreements', credentials.operator_api_key,
    { mdtrt_cert_type: '02', mdtrt_cert_no: certno, use_personal_account: true, payment: { method: 'credit_line', bank_code: 'BANK01' } });
  assert.ok(signed.status === 200 || signed.body.error.code === 'already_signed', JSON.stringify(signed));
  const { page, pageErrors, dialogs, close } = await phone({});
  try {
    await signIn(page, '/console/', `undo-${run}`);
    await page.click('#ward-link');
    await page.waitForSelector('#admit');
    await page.fill('#ipt_no', `ZY5-${run}`);
    await page.fill('#stay_cert_no', certno);
    await page.fill('#deposit', '500.00');
    await Promise.all([page.waitForURL(/\/console\/stays\/[^/]+$/), page.click('#admit-button')]);
    const id = page.url().split('/').pop();
    // A day's fee, settled in the middle: its cancellation is offered beside it.
    await page.selectOption('#stay_item', '001102000010000');
    await page.fill('#stay_cnt', '2');
    await submitAndReload(page, '#stay-add-line');
    await submitAndReload(page, '#interim-button');
    assert.equal(await page.textContent('#stay-interim-1 .interim-medfee'), '¥50.00');
    assert.equal(await page.getAttribute('#cancel-interim', 'data-api'), `/api/v1/stays/${id}/interim_settlements/1/cancel`);
    assert.match(await page.textContent('#stay-lines'), /普通门诊诊查费 第 1 次中途结算已结/);
    assert.equal(await page.locator('#withdraw-fees').count(), 0, 'every line is settled: nothing to withdraw');

    // Meanwhile the ward's HIS enters the next day's fee and settles it in the middle (interim 2):
    // this page, not reloaded, still offers interim 1, which the hub refuses in words.
    const line = { feedetl_sn: `W5-${run}`, med_list_codg: '001102000010000', medins_list_codg: '001102000010000', pric: '25.00', cnt: '1',
      det_item_fee_sumamt: '25.00', chrg_bchno: '1', bilg_dept_codg: 'A03', bilg_dept_name: '内科', bilg_dr_codg: 'D001', bilg_dr_name: '王医生', hosp_appr_flag: '1' };
    const fees = await api('POST', `/api/v1/stays/${id}/fees`, hospitalA.api_key, { lines: [line] });
    assert.equal(fees.status, 200, JSON.stringify(fees));
    const second = await api('POST', `/api/v1/stays/${id}/interim_settlement`, hospitalA.api_key, {});
    assert.equal(second.status, 200, JSON.stringify(second));
    await page.click('#cancel-interim-button');
    await page.waitForSelector('#cancel-interim .message.error');
    assert.equal(await page.textContent('#cancel-interim .message'), '只能撤销最近一次仍有效的中途结算：请先撤销更晚的那一次。');
    assert.match(dialogs.at(-1), /^确认撤销 张\* · 男 · \d+岁 的第 1 次中途结算（医疗费用 ¥50\.00）？/, 'asked first');
    await page.reload();
    assert.equal(await page.locator('#cancel-interim').count(), 1, 'one button, beside the latest');
    assert.equal(await page.getAttribute('#cancel-interim', 'data-api'), `/api/v1/stays/${id}/interim_settlements/2/cancel`);
    const [latest, button] = [await page.locator('#stay-interim-2').boundingBox(), await page.locator('#cancel-interim-button').boundingBox()];
    assert.ok(button.y > latest.y, 'the button follows the settlement it cancels');

    // Were insurance to refuse the 2305 (an answer faked here, at the page's fetch), the page says
    // so with the center's own words, and nothing else changes.
    const cancelUrl = `${base}/api/v1/stays/${id}/interim_settlements/2/cancel`;
    await page.route(cancelUrl, (route) => route.fulfill({ status: 422, contentType: 'application/json',
      body: JSON.stringify({ error: { code: 'insurance_refused', message: 'the cancellation of interim settlement 2 (2305) refused (-1): 该结算已上传对账，不能撤销' } }) }));
    await page.click('#cancel-interim-button');
    await page.waitForSelector('#cancel-interim .message.error');
    assert.equal(await page.textContent('#cancel-interim .message'), '医保未通过，请查看原因。医保答复：该结算已上传对账，不能撤销');
    await page.unroute(cancelUrl);

    // The real cancellation: insurance reverses it, the bank gives its share back, its line is
    // unsettled again, and the settlement is listed as cancelled.
    const held = await page.textContent('#stay-held');
    const refunded = await page.textContent('#stay-interim-2 .interim-bank');
    await submitAndReload(page, '#cancel-interim-button');
    assert.match(dialogs.at(-1), /^确认撤销 张\* · 男 · \d+岁 的第 2 次中途结算（医疗费用 ¥25\.00）？.*银行退还 ¥/);
    assert.equal(await page.textContent('#stay-state'), '在院');
    assert.equal(await page.locator('#stay-interim-2').count(), 0, 'no longer in force');
    assert.match(await page.textContent('#stay-interim-cancelled-2'), /^2 已撤销\s*¥25\.00\s*(¥[\d,.]+)$/);
    assert.equal(await page.textContent('#stay-interim-cancelled-2 td:last-child'), refunded, 'what the bank gave back');
    assert.equal(await page.textContent('#stay-held'), held, 'the hold is not touched');
    assert.equal(await page.getAttribute('#cancel-interim', 'data-api'), `/api/v1/stays/${id}/interim_settlements/1/cancel`, 'the first is the latest now');
    assert.equal(await page.locator('#interim-button').count(), 1, 'its line may be settled again');

    // Another line entered by mistake, withdrawn (2302): the unsettled lines are offered, not the settled one.
    await page.selectOption('#stay_item', '250101001000000');
    await submitAndReload(page, '#stay-add-line');
    assert.equal(await page.textContent('#stay-charges'), yuan(5000 + 2500 + 2000), 'two days of 诊查费 and a 血细胞分析');
    const boxes = page.locator('#withdraw-fees input[type=checkbox]');
    assert.equal(await boxes.count(), 2, 'the line interim 2 gave back, and the new one');
    // Nothing ticked: nothing asked, the refusal said in words.
    const asked = dialogs.length;
    await page.click('#withdraw-fees-button');
    await page.waitForSelector('#withdraw-fees .message.error');
    assert.equal(await page.textContent('#withdraw-fees .message'), '请至少选择一条费用明细（一次最多 500 条）。');
    assert.equal(dialogs.length, asked, 'nothing ticked, nothing asked');
    await accessible(page, 'stay with an interim settlement cancelled');
    await fitsTheWidth(page, 'stay with an interim settlement cancelled');
    await tablesFit(page, 'stay with an interim settlement cancelled');
    // The figures' headings stand over the figures (right), the item's over the items (left).
    const align = (n) => page.locator('#stay-lines thead th').nth(n).evaluate((th) => getComputedStyle(th).textAlign);
    assert.deepEqual([await align(0), await align(1), await align(2)], ['left', 'right', 'right']);
    await screenshot(page, 'staff-console-stay-undo');
    await page.locator('#withdraw-fees .choice', { hasText: '血细胞分析' }).locator('input').check();
    await submitAndReload(page, '#withdraw-fees-button');
    assert.match(dialogs.at(-1), /^确认撤销 张\* · 男 · \d+岁 的费用明细：血细胞分析 × 1，共 ¥[\d,.]+？/);
    assert.equal(await page.textContent('#stay-state'), '在院');
    assert.doesNotMatch(await page.textContent('#stay-lines'), /血细胞分析/, 'the line is gone');
    assert.equal(await page.textContent('#stay-charges'), yuan(5000 + 2500), 'and its fee');
    assert.equal(await page.locator('#withdraw-fees input[type=checkbox]').count(), 1, 'the line interim 2 gave back is left');
    await accessible(page, 'stay with a fee line withdrawn');
    await fitsTheWidth(page, 'stay with a fee line withdrawn');
    await tablesFit(page, 'stay with a fee line withdrawn');
    await screenshot(page, 'staff-console-stay-withdrawn');

    // The patient leaves: the bedside click settles what is left.
    await submitAndReload(page, '#discharge-button');
    assert.equal(await page.textContent('#stay-state'), '已结算');
    assert.equal(await page.locator('#cancel-interim').count(), 0, 'out of the ward: no cancellation');
    assert.equal(await page.locator('#withdraw-fees').count(), 0, 'out of the ward: no withdrawal');
    assert.match(await page.textContent('#stay-interim-cancelled-2'), /已撤销/, 'still listed');
    assert.deepEqual(pageErrors, []);
  } finally {
    await close();
  }
});

// Another desk of hospital A that speaks the national interface itself, at the hub's drop-in
// prefix (registered with the CLI, `wugan hospital add`, as an installation does): it can discharge
// an admission at the insurance center (2402) and undo that (2405) behind the ward's back.
async function nationalDesk() {
  const added = JSON.parse(execFileSync(process.env.WUGAN_BIN,
    ['hospital', 'add', '--code', hospitalA.code, '--name', hospitalA.name, '--data-dir', dataDir, '--json'], { encoding: 'utf8' }));
  const url = `${base}${added.national_interface_prefix}/fsi/api/rsfComIfsService/callService`;
  let seq = 0;
  let signNo = '';
  const call = async (infno, input) => {
    seq += 1;
    const envelope = { infno, msgid: `${hospitalA.code}20261130${String(Date.now() % 1e6).padStart(6, '0')}${String(seq).padStart(4, '0')}`, mdtrtarea_admvs: '440300',
      insuplc_admdvs: '440300', recer_sys_code: 'OPENHIS', dev_no: '', dev_safe_info: '', cainfo: '', signtype: 'SM2', infver: 'V1.0',
      opter_type: '1', opter: '0002', opter_name: '住院处', inf_time: '2026-11-30 10:00:00', fixmedins_code: hospitalA.code,
      fixmedins_name: hospitalA.name, sign_no: signNo, input };
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(envelope) });
    const reply = await response.json();
    assert.equal(reply.infcode, 0, `${infno} at the desk: ${JSON.stringify(reply)}`);
    return reply.output;
  };
  signNo = (await call('9001', { signIn: { opter_no: '0002', mac: '', ip: '127.0.0.1' } })).signinoutb.sign_no;
  return call;
}

test('the ward: insurance refuses the bedside discharge and the interim settlement; the page says which and why, the deposit stays held, and the next click settles', async () => {
  addStaff(`refused-${run}`, 'cashier', hospitalA.code);
  const signed = await api('POST', '/api/v1/agreements', credentials.operator_api_key,
    { mdtrt_cert_type: '02', mdtrt_cert_no: CERTNO, use_personal_account: true, payment: { method: 'credit_line', bank_code: 'BANK01' } });
  assert.ok(signed.status === 200 || signed.body.error.code === 'already_signed', JSON.stringify(signed));
  // Admitted with 300 yuan held, a day's 50 yuan of fees: through the HIS API, as the ward's HIS does.
  const stay = await api('POST', '/api/v1/stays', hospitalA.api_key, { ipt_no: `ZY4-${run}`, mdtrt_cert_type: '02', mdtrt_cert_no: CERTNO, deposit_fen: 30000 });
  assert.equal(stay.status, 200, JSON.stringify(stay));
  const line = { feedetl_sn: `W4-${run}`, med_list_codg: '001102000010000', medins_list_codg: '001102000010000', pric: '25.00', cnt: '2',
    det_item_fee_sumamt: '50.00', chrg_bchno: '1', bilg_dept_codg: 'A03', bilg_dept_name: '内科', bilg_dr_codg: 'D001', bilg_dr_name: '王医生', hosp_appr_flag: '1' };
  const fees = await api('POST', `/api/v1/stays/${stay.body.id}/fees`, hospitalA.api_key, { lines: [line] });
  assert.equal(fees.status, 200, JSON.stringify(fees));
  // Another desk discharged the patient at the center already: the center refuses the click's 2402.
  const desk = await nationalDesk();
  const admission = { mdtrt_id: stay.body.mdtrt_id, psn_no: stay.body.psn_no };
  await desk('2402', { dscginfo: { ...admission, endtime: '', dscg_way: '1' } });
  const { page, pageErrors, close } = await phone({});
  try {
    await signIn(page, '/console/', `refused-${run}`);
    await page.goto(`${base}/console/stays/${stay.body.id}`);
    assert.equal(await page.locator('#discharge-refused').count(), 0);
    // The refusal reloads the page by itself: still in the ward, the deposit held, and why the
    // discharge was refused, without the cashier reloading.
    await submitAndReload(page, '#discharge-button');
    assert.equal(await page.textContent('#stay-state'), '在院');
    assert.equal(await page.textContent('#stay-held'), '¥300.00', 'the deposit untouched');
    // The page's own words for what was refused, then the center's own (no English prefix).
    const discharge = await page.textContent('#discharge-refused');
    assert.match(discharge, /医保拒绝出院结算.*医保答复：.*已办理出院.*患者仍在院/s);
    assert.doesNotMatch(discharge, /refused|2402/);
    assert.equal(await page.locator('#interim-refused').count(), 0);
    assert.equal(await page.locator('#discharge-button').count(), 1, 'the click can be tried again');
    await accessible(page, 'stay whose discharge insurance refused');
    await fitsTheWidth(page, 'stay whose discharge insurance refused');
    await screenshot(page, 'staff-console-stay-discharge-refused');

    // An interim settlement now: the center, which has the admission discharged, refuses its 2303.
    await submitAndReload(page, '#interim-button');
    const interim = await page.textContent('#interim-refused');
    assert.match(interim, /医保拒绝中途结算.*医保答复：.*已出院.*押金未动/s);
    assert.doesNotMatch(interim, /refused|2303/);
    assert.match(await page.textContent('#discharge-refused'), /医保拒绝出院结算/, 'the discharge refused before, still said');
    assert.equal(await page.textContent('#stay-held'), '¥300.00', 'the deposit untouched');
    await accessible(page, 'stay whose discharge and interim settlement insurance refused');
    await fitsTheWidth(page, 'stay whose discharge and interim settlement insurance refused');
    await screenshot(page, 'staff-console-stay-refusals');
    // The same in the elder-friendly mode, and in English (the center's words as it wrote them).
    for (const [options, label] of [[{ elder: true }, 'elder'], [{ lang: 'en' }, 'en']]) {
      const other = await phone(options);
      try {
        await signIn(other.page, '/console/', `refused-${run}`);
        await other.page.goto(`${base}/console/stays/${stay.body.id}`);
        const words = label === 'en' ? /Insurance refused the interim settlement.*The center said: .*已出院/s : /医保拒绝中途结算/;
        assert.match(await other.page.textContent('#interim-refused'), words);
        await accessible(other.page, `stay with both refusals (${label})`);
        await fitsTheWidth(other.page, `stay with both refusals (${label})`);
        await screenshot(other.page, `staff-console-stay-refusals-${label}`);
        assert.deepEqual(other.pageErrors, []);
      } finally {
        await other.close();
      }
    }

    // The desk undoes its discharge; the click goes through and the reason goes away.
    await desk('2405', { data: admission });
    await submitAndReload(page, '#discharge-button');
    assert.equal(await page.textContent('#stay-state'), '已结算');
    assert.equal(await page.textContent('#stay-held'), '¥0.00');
    assert.equal(await page.locator('#discharge-refused').count(), 0, 'cleared by the click that went through');
    assert.equal(await page.locator('#interim-refused').count(), 0, 'the interim refusal too: the click settled every line');
    assert.deepEqual(pageErrors, []);
  } finally {
    await close();
  }
});

test('an insurance-only visit: the cashier page shows the cash share the hospital collects itself', async () => {
  addStaff(`hi-${run}`, 'cashier', hospitalA.code);
  // 赵六: employee-insured with an empty personal account and no other visit in these specs, so
  // the cash share is the same whichever specs ran before (张三's account is drained by them).
  const EMPTY_ACCOUNT_CERTNO = '440305199208084567';
  const signed = await api('POST', '/api/v1/agreements', credentials.operator_api_key,
    { mdtrt_cert_type: '02', mdtrt_cert_no: EMPTY_ACCOUNT_CERTNO, use_personal_account: true, payment: { method: 'credit_line', bank_code: 'BANK01' } });
  assert.ok(signed.status === 200 || signed.body.error.code === 'already_signed', JSON.stringify(signed));
  const key = hospitalA.api_key;
  const visit = await api('POST', '/api/v1/visits', key, { ipt_otp_no: `MZ-HI-${run}`, mdtrt_cert_type: '02', mdtrt_cert_no: EMPTY_ACCOUNT_CERTNO,
    med_type: '11', dept_code: 'A03', dept_name: '内科', dr_name: '王医生', setl_type: 'HI' });
  assert.equal(visit.status, 200, JSON.stringify(visit));
  const line = { feedetl_sn: `HI-${run}`, med_list_codg: '013100000010000', medins_list_codg: '013100000010000', pric: '150.00', cnt: '2',
    det_item_fee_sumamt: '300.00', chrg_bchno: '1', bilg_dept_codg: 'A03', bilg_dept_name: '内科', bilg_dr_codg: 'D001', bilg_dr_name: '王医生', hosp_appr_flag: '1' };
  const fees = await api('POST', `/api/v1/visits/${visit.body.id}/fees`, key, { lines: [line] });
  assert.equal(fees.status, 200, JSON.stringify(fees));
  const settled = await api('POST', `/api/v1/visits/${visit.body.id}/settlement`, key, {});
  assert.equal(settled.body.state, 'settled', JSON.stringify(settled));
  assert.ok(settled.body.cash_at_hospital_fen > 0 && settled.body.bank_fen === 0, JSON.stringify(settled));
  const { page, pageErrors, close } = await phone({});
  try {
    await signIn(page, '/console/', `hi-${run}`);
    await page.goto(`${base}/console/visits/${visit.body.id}`);
    assert.equal(await page.textContent('#visit-at-hospital'), yuan(settled.body.cash_at_hospital_fen));
    assert.match(await page.textContent('#visit-at-hospital-hint'), /医院|窗口/);
    await accessible(page, 'insurance-only visit');
    await fitsTheWidth(page, 'insurance-only visit');
    await tablesFit(page, 'insurance-only visit');
    await screenshot(page, 'staff-console-visit-insurance-only');
    assert.deepEqual(pageErrors, []);
  } finally {
    await close();
  }
});

test('an operator finds a stay by its hospital and reads it whole: the patient in words, the settlement, the fee lines and the ledger', async () => {
  addStaff(`opsward-${run}`, 'operator');
  const signed = await api('POST', '/api/v1/agreements', credentials.operator_api_key,
    { mdtrt_cert_type: '02', mdtrt_cert_no: CERTNO, use_personal_account: true, payment: { method: 'credit_line', bank_code: 'BANK01' } });
  assert.ok(signed.status === 200 || signed.body.error.code === 'already_signed', JSON.stringify(signed));
  const stay = await api('POST', '/api/v1/stays', hospitalA.api_key, { ipt_no: `ZY-OPS-${run}`, mdtrt_cert_type: '02', mdtrt_cert_no: CERTNO, deposit_fen: 30000 });
  assert.equal(stay.status, 200, JSON.stringify(stay));
  const line = { feedetl_sn: `WO-${run}`, med_list_codg: '001102000010000', medins_list_codg: '001102000010000', pric: '25.00', cnt: '2',
    det_item_fee_sumamt: '50.00', chrg_bchno: '1', bilg_dept_codg: 'A03', bilg_dept_name: '内科', bilg_dr_codg: 'D001', bilg_dr_name: '王医生', hosp_appr_flag: '1' };
  assert.equal((await api('POST', `/api/v1/stays/${stay.body.id}/fees`, hospitalA.api_key, { lines: [line] })).status, 200);
  const settled = await api('POST', `/api/v1/stays/${stay.body.id}/discharge`, hospitalA.api_key, {});
  assert.equal(settled.body.state, 'settled', JSON.stringify(settled));
  const { page, pageErrors, close } = await phone({});
  try {
    await signIn(page, '/ops/', `opsward-${run}`);
    await page.click('#ops-sections a[href="/ops/stays"]');
    await page.waitForSelector('#stays-title');
    await page.selectOption('#s-hospital', hospitalA.code);
    await submitAndReload(page, '#stay-filters button');
    const ours = page.locator('#ops-stays tbody tr', { hasText: `ZY-OPS-${run}` });
    assert.equal(await ours.locator('.state').textContent(), '已结算');
    await accessible(page, 'ops stays');
    await fitsTheWidth(page, 'ops stays');
    await tablesFit(page, 'ops stays');
    await screenshot(page, 'staff-ops-stays');
    await Promise.all([page.waitForURL(/\/ops\/stays\/[^/?]+$/), ours.locator('a').click()]);
    assert.equal(await page.textContent('#stay-state'), '已结算');
    assert.match(await page.textContent('#stay-patient'), /^张\* · 男 · \d+岁$/);
    assert.ok(!(await page.content()).includes(CERTNO), 'the ID number stays sealed');
    assert.ok(await page.locator('#stay-settlements tbody tr').count() >= 1);
    assert.ok(await page.locator('#stay-transfers tbody tr').count() >= 1, 'the ledger transfers are listed');
    await accessible(page, 'ops stay');
    await fitsTheWidth(page, 'ops stay');
    await tablesFit(page, 'ops stay');
    await screenshot(page, 'staff-ops-stay');
    assert.deepEqual(pageErrors, []);
  } finally {
    await close();
  }
});

test('an operator onboards a hospital, issues it a key and reads the day in figures and a chart', async () => {
  addStaff(`ops-${run}`, 'operator');
  const { page, pageErrors, dialogs, close } = await phone({ lang: 'en' });
  try {
    await signIn(page, '/ops/', `ops-${run}`);
    assert.equal(await page.textContent('h1'), 'Operator console');
    assert.ok(await page.locator('#chart title').count(), 'the chart has a title for screen readers');
    // Each section is a page of its own, reached from the nav (no 8,000-px page).
    assert.equal(await page.locator('#ops-sections a').count(), 11);
    assert.equal(await page.getAttribute('#ops-sections a[aria-current="page"]', 'href'), '/ops/');
    await accessible(page, 'ops home');
    await fitsTheWidth(page, 'ops home');
    await tablesFit(page, 'ops home');
    await screenshot(page, 'staff-ops-home');

    // The day moves: a visit settled now (by hospital A's HIS) raises its row and its bar.
    const row = `#totals tbody tr[data-hospital="${hospitalA.code}"]`;
    const rowOf = async () => page.locator(row).textContent().catch(() => '');
    const barOf = async () => Number(await page.locator('#chart rect').first().getAttribute('width').catch(() => '0'));
    const before = await rowOf();
    const visit = await api('POST', '/api/v1/visits', hospitalA.api_key, { ipt_otp_no: `MZ-OPS-${run}`, mdtrt_cert_type: '02', mdtrt_cert_no: CERTNO });
    assert.equal(visit.status, 200, JSON.stringify(visit));
    const line = { feedetl_sn: `O${run}`, med_list_codg: '250101001000000', pric: '20.00', cnt: '1', det_item_fee_sumamt: '20.00' };
    assert.equal((await api('POST', `/api/v1/visits/${visit.body.id}/fees`, hospitalA.api_key, { lines: [line] })).status, 200);
    assert.equal((await api('POST', `/api/v1/visits/${visit.body.id}/settlement`, hospitalA.api_key, {})).body.state, 'settled');
    await page.reload();
    const after = await rowOf();
    assert.notEqual(after, before, 'the totals row moved');
    assert.ok(await barOf() > 0, 'the bar has a length');
    // The row names the hospital, not its code; the columns say visits and settlements apart.
    assert.ok(!(await page.locator(`${row} th`).textContent()).includes(hospitalA.code));
    assert.match(await page.textContent('#totals thead'), /Outpatient visits registered.*Settlements \(incl\. inpatient\).*Refunds of the day/);
    // ECharts (vendored, from /assets/) draws the day stacked by source and takes the SVG's place,
    // in the box's full width (drawn while hidden, it was squashed into 100 px).
    await page.waitForSelector('#day-chart canvas', { state: 'visible' });
    assert.ok(!(await page.isVisible('#chart')), 'the SVG fallback is hidden once ECharts draws');
    const canvas = await page.locator('#day-chart canvas').boundingBox();
    const chartBox = await page.locator('#day-chart').boundingBox();
    assert.ok(canvas.width > 250 && canvas.width >= chartBox.width - 2, `the chart is ${canvas.width} px wide in a ${chartBox.width} px box`);
    // Every text the chart draws lies inside its box (the last axis label was cut off at 360 px),
    // and its amounts read as every other on the page.
    const texts = await page.evaluate(() => {
      const chart = window.echarts.getInstanceByDom(document.getElementById('day-chart'));
      return chart.getZr().storage.getDisplayList().filter((el) => el.style && typeof el.style.text === 'string' && el.style.text !== '')
        .map((el) => {
          const r = el.getBoundingRect().clone();
          if (el.transform) r.applyTransform(el.transform);
          return { text: el.style.text, left: r.x, right: r.x + r.width, width: chart.getWidth() };
        });
    });
    const ticks = texts.filter((t) => t.text.startsWith('¥'));
    assert.ok(ticks.length >= 2, JSON.stringify(texts));
    assert.deepEqual(texts.filter((t) => t.left < -0.5 || t.right > t.width + 0.5), [], 'chart texts outside the box');
    assert.ok(ticks.every((t) => /^¥\d{1,3}(,\d{3})*(\.\d{2})?$/.test(t.text)), JSON.stringify(ticks));
    const island = JSON.parse(await page.textContent('#day-chart-data'));
    assert.equal(island.hospitals.length, await page.locator('#totals tbody tr').count(), JSON.stringify(island));
    assert.equal(island.series.length, 4, 'fund, personal account, bank, unpaid');
    assert.ok(await page.locator('#partners tbody tr').count() > 0, 'partner health has rows');
    await screenshot(page, 'staff-ops-day-moved');

    // Reconciliation (对账): the day run through the integrators' API, the results per partner.
    await page.click('#ops-sections a[href="/ops/reconciliation"]');
    await page.waitForSelector('#recon-run');
    await Promise.all([page.waitForURL(/\/ops\/reconciliation\?day=\d{4}-\d{2}-\d{2}/), page.click('#recon-run-button')]);
    await page.waitForSelector('#recon-runs');
    const partners = await page.locator('#recon-runs tbody th').allTextContents();
    assert.ok(partners.includes('Insurance center') && partners.some((p) => p.startsWith('Bank ')), partners.join(', '));
    assert.ok(Number(await page.locator('#recon-runs tr[data-partner="insurance"] .matched').textContent()) > 0, 'the settled visit matched');
    await accessible(page, 'ops reconciliation');
    await fitsTheWidth(page, 'ops reconciliation');
    await tablesFit(page, 'ops reconciliation');
    await screenshot(page, 'staff-ops-reconciliation');

    // The visits of the day: names and states in words, the filter's states too.
    await page.goto(`${base}/ops/visits`);
    const states = await page.locator('#f-status option').allTextContents();
    assert.ok(states.includes('Settled, patient owes') && states.every((s) => !/_/.test(s)), states.join(', '));
    const ours = page.locator('#ops-visits tbody tr', { hasText: `MZ-OPS-${run}` });
    assert.equal(await ours.locator('.state').textContent(), 'Settled');
    assert.ok(!(await ours.locator('td').first().textContent()).includes(hospitalA.code), 'the hospital by name');
    await tablesFit(page, 'ops visits');
    // Its page: the visit whole.
    await Promise.all([page.waitForURL(/\/ops\/visits\/vis_/), ours.locator('a').click()]);
    assert.equal(await page.textContent('#visit-state'), 'Settled');
    await fitsTheWidth(page, 'ops visit');
    await tablesFit(page, 'ops visit');
    await screenshot(page, 'staff-ops-visit');
    // An old link of the one long page leads to its section.
    await page.goto(`${base}/ops/?status=settled`);
    assert.match(page.url(), /\/ops\/visits\?status=settled/);

    // A bank whose keys do not work is refused in words, and nothing is kept.
    await page.goto(`${base}/ops/banks`);
    assert.match(await page.locator('#banks tbody tr').first().textContent(), /¥\d{1,3}(,\d{3})*\.\d{2}/, 'the default limit as an amount');
    await tablesFit(page, 'ops banks');
    await screenshot(page, 'staff-ops-banks');
    await page.fill('#b-code', `BK${run}`.slice(0, 16));
    await page.fill('#b-name', '测试银行');
    await page.fill('#b-url', base);
    await page.fill('#b-key-id', 'hub');
    await page.fill('#b-secret', 'a signing secret of length');
    await page.fill('#b-callback-secret', 'a callback secret of length');
    await page.click('#onboard-bank-button');
    await page.waitForSelector('#onboard-bank .message.error');
    assert.match(await page.textContent('#onboard-bank .message'), /did not accept a signed read/);
    assert.equal(await page.locator('#banks th', { hasText: `BK${run}`.slice(0, 16) }).count(), 0);
    const bankOptions = await page.locator('#hb-bank option').allTextContents();
    assert.ok(bankOptions.every((o) => !/^(\S+) \1$/.test(o)), bankOptions.join(', '));

    await page.goto(`${base}/ops/hospitals`);
    const code = `HN${run}`.slice(0, 20);
    await page.fill('#h-code', code);
    await page.fill('#h-name', '新接入医院');
    await page.fill('#h-grade', '二级甲等');
    await submitAndReload(page, '#onboard-button');
    assert.equal(await page.locator('#hospitals th', { hasText: code }).count(), 1);

    // Its own insurance platform: a key id without its secret is refused in words; with it, kept.
    // Saving replaces every field, so the page asks first.
    const platform = page.locator(`#platform-${code}`);
    await platform.locator('summary').click();
    await platform.locator('input[name="url"]').fill('http://127.0.0.1:9/own-platform');
    await platform.locator('input[name="app_id"]').fill('own-app');
    await platform.locator('button[type="submit"]').click();
    await platform.locator('.message.error').waitFor();
    assert.match(await platform.locator('.message').textContent(), /app id and secret together/);
    assert.match(dialogs[dialogs.length - 1], /新接入医院.*Every field is replaced/);
    await platform.locator('input[name="secret"]').fill('own-gateway-secret');
    await platform.locator('button[type="submit"]').click();
    await platform.locator('.message.ok').waitFor();
    await page.reload();
    assert.match(await page.locator(`#platform-${code} summary`).textContent(), /127\.0\.0\.1:9\/own-platform.*No signature/);

    await tablesFit(page, 'ops hospitals');
    await page.goto(`${base}/ops/keys`);
    await page.selectOption('#k-hospital', code);
    await page.click('#issue-key-button');
    await page.waitForSelector('#issue-key .message.ok');
    const shown = await page.textContent('#issue-key .message');
    const key = /his_[0-9a-f]+/.exec(shown);
    assert.ok(key, shown);
    // The key works for the new hospital's HIS at once.
    const visits = await fetch(`${base}/api/v1/visits`, { headers: { authorization: `Bearer ${key[0]}` } });
    assert.equal(visits.status, 200);
    await screenshot(page, 'staff-ops-key-issued');
    await tablesFit(page, 'ops keys');
    // Revoking asks first, naming the hospital and that its HIS stops at once; then it stops.
    await page.reload();
    const revocable = `#keys tbody tr:has-text("新接入医院") form.revoke button`;
    assert.match(await page.locator('#keys tbody tr', { hasText: '新接入医院' }).first().textContent(), /Active/);
    const asked = dialogs.length;
    for (let i = 0; i < 5 && await page.locator(revocable).count() > 0; i += 1) await submitAndReload(page, revocable);
    assert.ok(dialogs.length > asked, 'revoking asked first');
    assert.match(dialogs[asked], /Revoke key \S+\? 新接入医院's HIS stops working at once/);
    const revoked = await fetch(`${base}/api/v1/visits`, { headers: { authorization: `Bearer ${key[0]}` } });
    assert.equal(revoked.status, 401);
    assert.ok((await page.locator('#keys tbody').textContent()).includes('Revoked'));

    // The operator adds a doctor of the new hospital; the audit log shows the onboarding and the key.
    await page.goto(`${base}/ops/staff`);
    await page.fill('#s-login', `doc-${run}`);
    await page.fill('#s-name', '王医生');
    await page.selectOption('#s-role', 'doctor');
    await page.selectOption('#s-hospital', code);
    await page.fill('#s-password', PASSWORD);
    await page.click('#add-staff-button');
    await page.waitForSelector('#add-staff .message.ok');
    await page.reload();
    const doctor = page.locator('#staff-accounts tr', { hasText: `doc-${run}` });
    assert.match(await doctor.textContent(), /Doctor.*新接入医院/);
    await tablesFit(page, 'ops staff');
    await page.goto(`${base}/ops/audit`);
    assert.match(await page.textContent('#audit-chain'), /Hash chain intact/);
    const audited = await page.locator('#audit tbody').textContent();
    assert.ok(audited.includes('POST /api/v1/operator/hospitals') && audited.includes(`staff:ops-${run}`), audited);
    const when = await page.locator('#audit tbody td.when').first().textContent();
    assert.match(when, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/, 'China time, not UTC ISO');
    await fitsTheWidth(page, 'ops audit');
    await tablesFit(page, 'ops audit');

    // Signed patients are found by their masked identity, never shown whole.
    await page.goto(`${base}/ops/patients`);
    await page.fill('#f-patient', '1234');
    await Promise.all([page.waitForURL(/patient=1234/), page.click('#patient-search button')]);
    const certnos = await page.locator('#patients td:first-of-type').allTextContents();
    assert.ok(certnos.length > 0 && certnos.every((c) => /^\d{6}\*+1234$/.test(c)), certnos.join(', '));
    await tablesFit(page, 'ops patients');
    assert.ok((await page.content()).indexOf(CERTNO) < 0, 'no whole ID number on the page');
    assert.ok((await page.locator('#patients tbody td:nth-of-type(3)').allTextContents()).every((s) => !/^[a-z_]+$/.test(s)), 'statuses in words');
    await accessible(page, 'ops patients');
    assert.deepEqual(pageErrors, []);
  } finally {
    await close();
  }
});

// A bank of its own (`wugan bank serve`), on a free port, keeping its book in `dir` across restarts.
async function startBank(port, dir) {
  const bank = spawn(process.env.WUGAN_BIN, ['bank', 'serve', '--listen', `127.0.0.1:${port}`, '--bank-code', 'BANKX', '--key-id', 'hubx', '--data-dir', dir],
    { env: { ...process.env, WUGAN_BANK_SECRET: 'bank x signing secret' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  bank.stderr.on('data', (chunk) => { stderr += chunk; });
  for (let i = 0; i < 300 && bank.exitCode === null; i += 1) {
    try { if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) return bank; } catch (_) { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  bank.kill('SIGKILL');
  throw new Error(`wugan bank serve did not answer on port ${port} (exit ${bank.exitCode}): ${stderr.slice(-2000)}`);
}

async function stopBank(bank) {
  if (bank.exitCode !== null || bank.signalCode !== null) return;
  const exited = new Promise((r) => bank.once('exit', r));
  bank.kill('SIGTERM');
  await exited;
}

test('an operator onboards a bank, its patient\'s click waits while it is down, and the operator retries it', async () => {
  addStaff(`ops-x-${run}`, 'operator');
  // Below the kernel's ephemeral range (32768–60999), where outgoing connections take ports.
  const port = 20000 + Math.floor(Math.random() * 12000);
  const bankDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wugan-bankx-'));
  let bank = await startBank(port, bankDir);
  const { page, pageErrors, close } = await phone({ lang: 'en', width: 1280 });
  try {
    await signIn(page, '/ops/banks', `ops-x-${run}`);
    const code = 'BANKX';
    if (await page.locator('#banks th', { hasText: code }).count() === 0) {
      await page.fill('#b-code', code);
      await page.fill('#b-name', '无感测试银行');
      await page.fill('#b-url', `http://127.0.0.1:${port}`);
      await page.fill('#b-key-id', 'hubx');
      await page.fill('#b-secret', 'bank x signing secret');
      await page.fill('#b-callback-secret', 'bank x callback secret');
      await page.fill('#b-limit', '8000.00');
      await submitAndReload(page, '#onboard-bank-button');
    }
    assert.match(await page.locator('#banks tr', { hasText: code }).textContent(), /¥8,000\.00/);

    // A patient of that bank (paying from the line only), a visit with a fee.
    const cert = '440304198507203318';
    const signed = await api('POST', '/api/v1/agreements', credentials.operator_api_key,
      { mdtrt_cert_type: '02', mdtrt_cert_no: cert, use_personal_account: false, payment: { method: 'credit_line', bank_code: code } });
    assert.ok(signed.status === 200 || signed.body.error.code === 'already_signed', JSON.stringify(signed));
    const visit = await api('POST', '/api/v1/visits', hospitalA.api_key, { ipt_otp_no: `MZ-X-${run}`, mdtrt_cert_type: '02', mdtrt_cert_no: cert });
    assert.equal(visit.status, 200, JSON.stringify(visit));
    const line = { feedetl_sn: `X${run}`, med_list_codg: '001102000010000', pric: '25.00', cnt: '2', det_item_fee_sumamt: '50.00' };
    assert.equal((await api('POST', `/api/v1/visits/${visit.body.id}/fees`, hospitalA.api_key, { lines: [line] })).status, 200);

    // The bank goes down: the click cannot reach it and the settlement waits in the exceptions queue.
    await stopBank(bank);
    const click = await api('POST', `/api/v1/visits/${visit.body.id}/settlement`, hospitalA.api_key, {});
    assert.equal(click.status, 503, JSON.stringify(click));
    const waiting = await api('GET', `/api/v1/visits/${visit.body.id}`, hospitalA.api_key);
    const settlementId = waiting.body.settlement.id;
    // It is listed once it has waited as long as the recovery worker waits before resuming (30 s).
    await page.goto(`${base}/ops/exceptions`);
    for (let i = 0; i < 60 && await page.locator(`#exception-${settlementId}`).count() === 0; i += 1) {
      await new Promise((r) => setTimeout(r, 1000));
      await page.reload();
    }
    assert.equal(await page.locator(`#exception-${settlementId}`).count(), 1, 'the waiting settlement is listed');
    // What an operator acts on: the visit (a link), the hospital by name, the masked patient, the
    // amount, and the partner it waits for: the bank, by name.
    const entry = page.locator(`#exception-${settlementId}`);
    const said = await entry.textContent();
    assert.ok(said.includes(`MZ-X-${run}`) && said.includes('¥50.00') && /Bank charge.*无感测试银行/.test(said), said);
    assert.ok(!said.includes('insurance_settled'), 'the state in words');
    assert.equal(await entry.locator(`a[href^="/ops/visits/${visit.body.id}"]`).count(), 1, 'a link to the visit');
    await fitsTheWidth(page, 'ops exceptions');
    await accessible(page, 'ops exceptions');
    await screenshot(page, 'staff-ops-exception');
    // And on a phone: the entry's facts fit, nothing scrolls sideways.
    await page.setViewportSize({ width: 360, height: 780 });
    await fitsTheWidth(page, 'ops exceptions at 360 px');
    await tablesFit(page, 'ops exceptions at 360 px');
    await screenshot(page, 'staff-ops-exception-360');
    await page.setViewportSize({ width: 1280, height: 780 });

    // The bank is back; the operator retries: settled, and the queue is empty of it.
    bank = await startBank(port, bankDir);
    // (Should the recovery worker finish it first, the retry says so in words and the page stays.)
    await Promise.race([
      page.waitForEvent('load'),
      page.waitForSelector(`#exception-${settlementId} .message.error`),
      page.click(`#exception-${settlementId} button`).then(() => new Promise(() => {})),
    ]);
    await page.reload();
    const after = await api('GET', `/api/v1/visits/${visit.body.id}`, hospitalA.api_key);
    assert.equal(after.body.settlement.state, 'settled', JSON.stringify(after));
    assert.equal(await page.locator(`#exception-${settlementId}`).count(), 0);
    assert.deepEqual(pageErrors, []);
  } finally {
    await close();
    await stopBank(bank).catch(() => {});
    fs.rmSync(bankDir, { recursive: true, force: true });
  }
});

test('the console in Chinese and the elder-friendly mode: large, high-contrast, axe-clean at 360 px', async () => {
  addStaff(`cashier-elder-${run}`, 'cashier', hospitalA.code);
  const { page, pageErrors, close } = await phone({ elder: true });
  try {
    await signIn(page, '/console/', `cashier-elder-${run}`);
    assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
    assert.equal(await page.textContent('h1'), '医生/收费员工作台');
    const size = await page.evaluate(() => parseFloat(getComputedStyle(document.body).fontSize));
    assert.ok(size >= 18, `elder mode's body text is ${size} px`);
    const button = await page.locator('#register-button').boundingBox();
    assert.ok(button.height >= 60, `elder mode's button is ${button.height} px high`);
    await accessible(page, 'console zh elder');
    await fitsTheWidth(page, 'console zh elder');
    await tablesFit(page, 'console zh elder');
    await screenshot(page, 'staff-console-zh-elder');
    assert.deepEqual(pageErrors, []);
  } finally {
    await close();
  }
});

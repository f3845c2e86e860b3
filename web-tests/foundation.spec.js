// The shared foundation, as a reader meets it: the first page in Chinese by default, the
// language switch, the elder-friendly mode remembered, the security headers, hashed assets cached
// for a year, and no serious accessibility violation, at a phone's 360 px.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { base, phone, screenshot, accessible, fitsTheWidth } = require('./browser');

test('the first page reads in Chinese, switches to English and to the elder-friendly mode', async () => {
  const { page, pageErrors, close } = await phone();
  try {
    const response = await page.goto(`${base}/h5/`);
    assert.equal(response.status(), 200);
    const headers = response.headers();
    assert.match(headers['content-security-policy'], /default-src 'self'/);
    assert.match(headers['content-security-policy'], /frame-ancestors 'none'/);
    assert.equal(headers['x-content-type-options'], 'nosniff');
    assert.ok(headers['referrer-policy']);
    assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
    assert.equal(await page.textContent('h1'), '医保无感支付');
    await fitsTheWidth(page, 'start zh');
    await accessible(page, 'start zh');
    await screenshot(page, 'foundation-start-zh');

    await page.click('text=English');
    await page.waitForURL(/lang=en/);
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.equal(await page.textContent('h1'), 'Queue-free hospital payment');

    await page.click('text=Large text');
    await page.waitForURL(/elder=1/);
    // Both choices are remembered: the bare page is English and large now.
    await page.goto(`${base}/h5/`);
    assert.equal(await page.getAttribute('html', 'class'), 'elder');
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    const size = await page.evaluate(() => parseFloat(getComputedStyle(document.body).fontSize));
    assert.ok(size >= 18, `elder mode's body text is ${size} px`);
    const button = await page.locator('#sign-in-button').boundingBox();
    assert.ok(button.height >= 60, `elder mode's button is ${button.height} px high`);
    await fitsTheWidth(page, 'start en elder');
    await accessible(page, 'start en elder');
    await screenshot(page, 'foundation-start-en-elder');

    // The stylesheet is served under its hashed name with a year's cache.
    const css = await page.getAttribute('link[rel=stylesheet]', 'href');
    assert.match(css, /^\/assets\/app\.[0-9a-f]{10}\.css$/);
    const asset = await page.request.get(`${base}${css}`);
    assert.equal(asset.status(), 200);
    assert.match(asset.headers()['cache-control'], /max-age=31536000/);
    assert.deepEqual(pageErrors, []);
  } finally {
    await close();
  }
});

test('an unknown page under /h5/ is a page, not JSON', async () => {
  const { page, close } = await phone({ lang: 'en' });
  try {
    const response = await page.goto(`${base}/h5/no-such-page`);
    assert.equal(response.status(), 404);
    assert.equal(await page.textContent('h1'), 'Page not found');
    await accessible(page, 'not found');
  } finally {
    await close();
  }
});

test('the front door leads each reader to their pages', async () => {
  const { page, pageErrors, close } = await phone();
  try {
    const response = await page.goto(`${base}/`);
    assert.equal(response.status(), 200);
    assert.equal(await page.textContent('h1'), '就医无感支付');
    await fitsTheWidth(page, 'front door zh');
    await accessible(page, 'front door zh');
    await screenshot(page, 'foundation-front-door-zh');
    await page.click('#entry-patient');
    await page.waitForURL(/\/h5\/$/);
    assert.equal(await page.textContent('h1'), '医保无感支付');
    await page.goto(`${base}/?lang=en`);
    assert.equal(await page.getAttribute('#entry-hospital', 'href'), '/console/');
    assert.equal(await page.textContent('#entry-docs'), 'API reference');
    assert.deepEqual(pageErrors, []);
  } finally {
    await close();
  }
});

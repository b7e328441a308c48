// Drives the page at / in headless Chromium: uploads an image through the file input,
// waits for its card to show the top-5 bars, prints what rendered as JSON and saves a
// screenshot. Usage: node page_check.cjs URL IMAGE SCREENSHOT.png
// Needs playwright-core on NODE_PATH and Debian's chromium at /usr/bin/chromium.
const { chromium } = require('playwright-core');

(async () => {
  const [url, image, shot] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.MNV2_CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
    const consoleErrors = [];
    page.on('console', m => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    await page.goto(url, { waitUntil: 'load' });
    await page.setInputFiles('#files', image);
    await page.waitForSelector('.card[data-done="1"]', { timeout: 60000 });
    const card = await page.$('.card');
    const result = await card.evaluate(c => ({
      name: c.querySelector('.name').textContent,
      status: c.querySelector('.ms').textContent,
      rows: [...c.querySelectorAll('.row.top')].map(r => ({
        text: r.firstChild.textContent,
        width: r.querySelector('.bar div').style.width,
      })),
      imageLoaded: c.querySelector('img').naturalWidth > 0,
    }));
    await card.screenshot({ path: shot });
    result.consoleErrors = consoleErrors;
    console.log(JSON.stringify(result));
  } finally {
    await browser.close();
  }
})().catch(e => { console.error(String(e && e.stack || e)); process.exit(1); });

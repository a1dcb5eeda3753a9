// The real-browser test of `pairscope serve`: headless Chromium (the system's, driven by
// playwright-core) loads the served demo, searches, applies a facet, opens a record, the
// mentions and overview pages, and checks what a person would see. Screenshots go to OUT.
//
//   node dev/browser/test.mjs BASE_URL OUT_DIR
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const [base, out] = process.argv.slice(2);
mkdirSync(out, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  // As root (CI), Chromium's sandbox cannot start.
  args: ["--no-sandbox"],
});
let checks = 0;
function check(ok, what) {
  if (!ok) throw new Error(`browser test: ${what}`);
  checks++;
}

try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(10_000);
  // Only the server is reached: remote thumbnails fail, as a gone image does (the placeholder).
  await page.route((url) => !url.href.startsWith(base), (route) => route.abort());
  const problems = [];
  page.on("pageerror", (e) => problems.push(`script error: ${e.message}`));
  page.on("console", (m) => {
    // Aborted thumbnails are logged as failed loads; anything else (a CSP refusal) is a fault.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(m.text());
  });
  const total = async () =>
    Number((await page.locator("main > p", { hasText: "matching rows" }).locator("strong").first().innerText()).trim());

  await page.goto(base);
  check((await page.title()).includes("search"), "the home page is the search page");
  check((await total()) > 0, "the home page counts the rows");

  await page.fill('input[name="q"]', "kitchen");
  await Promise.all([page.waitForURL(/q=kitchen/), page.press('input[name="q"]', "Enter")]);
  const found = await total();
  check(found > 0, "a search for kitchen finds rows");
  const captions = await page.locator("article.hit .caption").allInnerTexts();
  check(captions.length > 0 && captions.every((c) => /kitchen/i.test(c)), "every caption shown says kitchen");
  await page.waitForSelector("article.hit .noimage");
  const placeholders = await page.locator("article.hit .noimage").allInnerTexts();
  check(placeholders.some((t) => t === "image unavailable"), "an image that fails becomes the placeholder");
  await page.screenshot({ path: `${out}/search.png`, fullPage: true });

  // The first host of the facet: its count is the total of the search it leads to.
  const facet = page.locator("aside ol").first().locator("li").first();
  const count = Number(await facet.locator(".note").innerText());
  const host = await facet.locator("a").innerText();
  await Promise.all([page.waitForURL(/host=/), facet.locator("a").click()]);
  check(page.url().includes("q=kitchen"), "the facet keeps the query in the URL");
  check((await total()) === count && count <= found, `the host facet's count ${count} is the new total`);
  const hosts = await page.locator("article.hit .meta").allInnerTexts();
  check(hosts.every((m) => m.includes(host)), `every hit is from ${host}`);
  await page.screenshot({ path: `${out}/facet.png`, fullPage: true });

  await Promise.all([page.waitForURL(/\/row\//), page.locator('article.hit a[href^="/row/"]').first().click()]);
  check((await page.locator("h1").innerText()).startsWith("row "), "the record page names its row");
  const fields = await page.locator("table th").allInnerTexts();
  check(["url", "caption", "host", "aesthetic"].every((f) => fields.includes(f)), "the record shows every field");
  check((await page.locator("table").innerText()).includes(host), "the record is from the chosen host");
  await page.screenshot({ path: `${out}/row.png`, fullPage: true });

  await page.goto(`${base}mentions`);
  const names = await page.locator("table.mentions tr td:first-child a").allInnerTexts();
  check(names.length > 0, "the mentions page lists mentioned artists");
  check((await page.locator("table.mentions svg.bar").count()) === names.length, "one bar per name");
  await Promise.all([page.waitForURL(/sort=name/), page.locator("table.mentions th a").first().click()]);
  const sorted = await page.locator("table.mentions tr td:first-child a").allInnerTexts();
  const expected = [...sorted].sort((a, b) => a.toLowerCase() < b.toLowerCase() ? -1 : a.toLowerCase() > b.toLowerCase() ? 1 : 0);
  check(JSON.stringify(sorted) === JSON.stringify(expected), "the entity heading sorts by name");
  await page.screenshot({ path: `${out}/mentions.png`, fullPage: true });
  const name = sorted[0];
  const mentioned = Number(await page.locator("table.mentions tr td.num").first().innerText());
  await Promise.all([page.waitForURL(/mention=/), page.locator("table.mentions tr td:first-child a").first().click()]);
  check((await page.locator("main").innerText()).includes(`Captions that mention ${name}`), "the drill-down names the entity");
  check((await total()) === mentioned, "the drill-down finds as many captions as were counted");

  await page.goto(`${base}overview`);
  check((await page.locator("svg.histogram").count()) === 5, "the overview draws five histograms");
  check((await page.locator("svg.histogram rect").count()) >= 5 * 20, "each with its buckets");
  await page.screenshot({ path: `${out}/overview.png`, fullPage: true });

  check(problems.length === 0, `no script error or CSP refusal: ${problems.join("; ")}`);
  console.log(`browser test: ${checks} checks passed; screenshots in ${out}`);
} finally {
  await browser.close();
}

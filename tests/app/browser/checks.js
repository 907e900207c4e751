// Runs in the page (`checks.rs`); returns a list of problems.
const problems = [];
const describe = el => el.outerHTML.slice(0, 120);
if (!document.documentElement.getAttribute('lang')) problems.push('<html> has no lang');
const h1s = document.querySelectorAll('h1');
if (h1s.length !== 1) problems.push(`${h1s.length} h1 elements`);
const ids = new Set();
for (const el of document.querySelectorAll('[id]')) {
  if (ids.has(el.id)) problems.push(`id ${el.id} is used twice`);
  ids.add(el.id);
}
for (const el of document.querySelectorAll('input, select, textarea')) {
  if (el.type === 'hidden') continue;
  const label = el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`);
  const named = (label && label.textContent.trim()) || el.closest('label')
    || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
  if (!named) problems.push(`no label: ${describe(el)}`);
}
for (const el of document.querySelectorAll('button, input[type=submit], input[type=button]')) {
  const text = (el.textContent || el.value || el.getAttribute('aria-label') || '').trim();
  if (!text) problems.push(`button without text: ${describe(el)}`);
}
for (const el of document.querySelectorAll('a[href]')) {
  if (!(el.textContent || el.getAttribute('aria-label') || '').trim()) problems.push(`link without text: ${describe(el)}`);
}
const width = document.documentElement.clientWidth;
if (document.documentElement.scrollWidth > width + 1) {
  const wide = Array.from(document.querySelectorAll('body *')).filter(el => {
    const r = el.getBoundingClientRect();
    return r.right > width + 1 && !el.closest('.table-wrap, pre, .tabs');
  }).slice(0, 3).map(describe);
  problems.push(`the page is ${document.documentElement.scrollWidth}px wide in ${width}px: ${wide.join(' | ')}`);
}
// WCAG contrast of every piece of visible text against the background behind it.
const rgb = s => { const m = s.match(/[\d.]+/g) || []; return m.map(Number); };
const lum = ([r, g, b]) => { const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
const background = el => {
  for (let e = el; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c.slice(0, 3);
  }
  return [255, 255, 255];
};
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
const seen = new Set();
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const el = node.parentElement;
  if (!node.textContent.trim() || seen.has(el) || !el.offsetParent && getComputedStyle(el).position !== 'fixed') continue;
  seen.add(el);
  const style = getComputedStyle(el);
  if (el.closest('.visually-hidden') || style.visibility === 'hidden') continue;
  const fg = rgb(style.color).slice(0, 3), bg = background(el);
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  const ratio = (a + 0.05) / (b + 0.05);
  const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;
  const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
  if (ratio < needed) problems.push(`contrast ${ratio.toFixed(2)} < ${needed}: "${node.textContent.trim().slice(0, 40)}" (${style.color} on rgb(${bg}))`);
}
return problems;

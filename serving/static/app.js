// Shelfrank demo mall: a homepage shelf and search results as product cards, with their
// badges (free shipping, pay later, ...), two badge filters and "Why this card?" explanations. Impressions and clicks go to /v1/events like a real
// frontend's would. No build step, no network beyond the service.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { page: null, surface: "homepage" };
const GROUP_LABELS = { product: "product", store: "store", price: "price", relevance: "relevance",
  personal: "personal", context: "context", live: "live (minutes ago)" };

function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove("show"), 1600);
}

// The service's two error shapes (docs/serving.md): {"detail": "reason"} and a 422's
// {"detail": [{"loc": [...], "msg": "..."}]}; a shopper reads the reasons, not JSON.
function errorText(status, data) {
  const detail = data && data.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail) && detail.length) {
    return detail.map((e) => String(e.msg || "").replace(/^Value error, /, "")).join("; ");
  }
  return `error ${status}`;
}

async function call(method, path, body) {
  const res = await fetch(path, {
    method, headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    throw new Error(errorText(res.status, data));
  }
  return data;
}

function hue(text) {
  let h = 0;
  for (const ch of text) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

// ---- badges and offer filters (docs/offers.md) ----------------------------------------
// A card's badges are stable codes (the response's `badges`); the page words each in
// Chinese and English. The filter checkboxes add `free_shipping: true` / `pay_later: true`
// to the ranking bodies and re-query.
const BADGE_LABELS = {
  free_shipping: "包邮 free shipping", freight_insurance: "运费险 freight insurance",
  seven_day_returns: "7天无理由 7-day returns", authentic_guarantee: "假一赔九 authentic",
  pay_later: "先用后付 pay later", multi_item_discount: "多件多折 multi-buy discount",
  subsidy: "大牌大补 subsidy", new_product: "新品 new",
};

function badgeLabel(code) { return BADGE_LABELS[code] || code; }

function offerBadges(card) {
  return (card.badges || []).map((code) =>
    `<span class="badge offer ${code === "subsidy" ? "subsidy" : ""}" data-badge="${code}">${badgeLabel(code)}</span>`)
    .join("");
}

function offerFilters() {
  const asked = {};
  for (const box of document.querySelectorAll("#offer-filters input[data-badge]")) {
    if (box.checked) asked[box.dataset.badge] = true;
  }
  return asked;
}

function watchOfferFilters(requery) {
  for (const box of document.querySelectorAll("#offer-filters input[data-badge]")) {
    box.addEventListener("change", requery);
  }
}

function fmt(x, digits = 1) { return x === null || x === undefined ? "–" : Number(x).toFixed(digits); }

function cardElement(card) {
  const el = document.createElement("article");
  el.className = "card";
  el.tabIndex = 0;
  el.dataset.productId = card.product_id;
  const initial = (card.title || "?").trim().charAt(0).toUpperCase();
  const h = hue(card.title || String(card.product_id));
  const adv = card.price_advantage;
  let advBadge = "";
  if (adv !== null && Math.abs(adv) >= 0.01) {
    const pct = Math.round(Math.abs(adv) * 100);
    advBadge = adv > 0 ? `<span class="badge adv">${pct}% below others</span>`
                       : `<span class="badge dear">${pct}% above others</span>`;
  }
  el.innerHTML = `
    <span class="slot">${card.position}</span>
    <div class="img" style="background: linear-gradient(135deg, hsl(${h},55%,55%), hsl(${(h + 40) % 360},60%,42%))">${initial}</div>
    <div class="body">
      <div class="title"></div>
      <div class="matched"></div>
      <div class="price">¥${fmt(card.price, 2)}</div>
      <div class="badges">
        ${advBadge}
        ${offerBadges(card)}
        <span class="badge store" title="the store's experience score (0-100)">store score ${fmt(card.store_experience_score, 0)}</span>
        ${card.propensity < 1 ? '<span class="badge explore">new store</span>' : ""}
      </div>
      <button class="why-btn" type="button">Why this card?</button>
    </div>`;
  el.querySelector(".title").textContent = card.title;
  // search: which query words this card's text holds (none: recalled by meaning alone)
  const matched = el.querySelector(".matched");
  if (Array.isArray(card.matched_words)) {
    matched.textContent = card.matched_words.length ? `matches: ${card.matched_words.join(", ")}`
                                                    : "no query word in its text";
  } else matched.remove();
  el.querySelector(".why-btn").addEventListener("click", (ev) => { ev.stopPropagation(); explain(card); });
  el.addEventListener("click", () => clicked(card));
  el.addEventListener("keydown", (ev) => { if (ev.key === "Enter") clicked(card); });
  return el;
}

function render(page, title) {
  state.page = page;
  $("shelf-title").textContent = title;
  $("meta").textContent = `${page.cards.length} cards · bundle ${page.bundle_version} · ` +
    `experiment ${page.experiment} · variant ${page.variant}` +
    (page.dropped.length ? ` · ${page.dropped.length} removed by rules` : "");
  const shelf = $("shelf");
  shelf.replaceChildren(...page.cards.map(cardElement));
  sendImpressions(page);
}

function userId() { return Number($("user").value); }

async function sendImpressions(page) {
  const now = Date.now();
  const impressions = page.cards.map((c) => ({
    request_id: page.request_id, timestamp: now, user_id: userId(), surface: state.surface,
    query_id: page.query_id, product_id: c.product_id, position: c.position,
    variant: page.variant, propensity: c.propensity,
  }));
  try { await call("POST", "/v1/events", { impressions }); }
  catch (err) { console.warn("impressions not logged", err); }
}

async function clicked(card) {
  const page = state.page;
  try {
    await call("POST", "/v1/events", { clicks: [{ request_id: page.request_id, timestamp: Date.now(),
      user_id: userId(), product_id: card.product_id, position: card.position }] });
    toast(`click on #${card.position} logged`);
    document.body.dataset.lastClick = String(card.product_id);
  } catch (err) { toast(`click not logged: ${err.message}`); }
}

function explain(card) {
  const e = card.explanation;
  $("why-title").textContent = card.title;
  const body = $("why-body");
  if (!e) { body.textContent = "No explanation on this page."; $("why").showModal(); return; }
  const groups = Object.entries(e.groups).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
  const maxAbs = Math.max(1e-9, ...groups.map(([, v]) => Math.abs(v)));
  const bars = groups.map(([g, v]) => {
    const w = (Math.abs(v) / maxAbs) * 50;
    const left = v >= 0 ? 50 : 50 - w;
    return `<span>${GROUP_LABELS[g] || g}</span>
      <span class="bar-track"><span class="bar-fill ${v >= 0 ? "pos" : "neg"}" style="left:${left}%;width:${w}%"></span></span>
      <span>${v >= 0 ? "+" : ""}${v.toFixed(3)}</span>`;
  }).join("");
  const signed = (x) => (x === null || x === undefined ? "" : `${x >= 0 ? "+" : ""}${x.toFixed(3)}`);
  const dims = (list) => list.map((d) => `<span>${d.label}</span><span>${d.shown}</span>`).join("");
  const rules = e.rules.length
    ? e.rules.map((r) => `<li><b>${r.label}</b>: ${r.why}${r.delta !== null && r.delta !== undefined ? ` (${signed(r.delta)})` : ""}
      <br><small>${r.does}</small></li>`).join("")
    : "<li>no rule moved this card</li>";
  const top = e.top_features.map((f) => `<li>${f.label}: ${f.shown} → ${signed(f.contribution)}</li>`).join("");
  const b = e.baseline;
  const missing = b.not_applicable_features.length
    ? ` (${b.not_applicable_features.length} figures missing or not applicable here count as nothing: their ${signed(b.not_applicable)} joins it)`
    : "";
  body.innerHTML = `
    <p>Model score ${fmt(e.model_score, 3)}: ${b.label} ${fmt(b.average_card, 3)}${missing}, plus the contributions below
      (score units); after the rules, page score ${fmt(card.score, 3)}.</p>
    <h4>Contribution by feature group</h4><div class="bars" id="why-bars">${bars}</div>
    <h4>Largest single features</h4><ul class="rules" id="why-features">${top}</ul>
    <h4>Product score dimensions (0-100)</h4><div class="dims">${dims(e.product_dimensions)}</div>
    <h4>Store experience dimensions (0-100)</h4><div class="dims">${dims(e.store_dimensions)}</div>
    <h4>Rules</h4><ul class="rules">${rules}</ul>`;
  $("why").showModal();
}

function context() { return { hour: Number($("hour").value) }; }

async function loadHomepage() {
  state.surface = "homepage";
  document.body.dataset.channel = "";
  try {
    const page = await call("POST", "/v1/homepage?explain=true",
      { user_id: userId(), page_size: 20, context: context(), ...offerFilters() });
    render(page, `Homepage for user ${userId()} at ${$("hour").value}:00`);
    $("status").textContent = "";
  } catch (err) { $("status").textContent = `Homepage unavailable: ${err.message}`; }
}

async function search(query, asTyped = false) {
  state.surface = "search";
  try {
    const page = await call("POST", "/v1/search?explain=true",
      { query, user_id: userId(), page_size: 20, context: context(), spell_correct: !asTyped,
        ...offerFilters() });
    const fixed = page.corrected_query;
    render(page, fixed ? `Search: results for “${fixed}”` : `Search: “${query}”`);
    const status = $("status");
    // notice: the query's strongest words are in no product (partial or no match), in the
    // service's words; text_match false without one: no card holds the strongest word
    const matched = page.text_match !== false && !page.notice;
    status.textContent = page.notice ? page.notice.message : !page.cards.length ? "No results."
      : matched ? "" : `No product mentions “${fixed || query}”: the closest by spelling.`;
    if (fixed) {  // "did you mean": offer the query exactly as typed
      const link = document.createElement("a");
      link.href = "#";
      link.textContent = `Search instead for “${query}”`;
      link.addEventListener("click", (ev) => { ev.preventDefault(); search(query, true); });
      status.append(matched ? "" : " ", link);
    }
  } catch (err) { $("status").textContent = `Search failed: ${err.message}`; }
}

// ---- channels: the big-brand subsidy channel and category pages (docs/channels.md) ----------
function markTab(id) {
  for (const b of $("channels").querySelectorAll("button")) b.classList.toggle("active", b.id === id);
}

async function openChannel(path, title, tab) {
  state.surface = "channel";
  state.reloadChannel = () => openChannel(path, title, tab);
  markTab(tab);
  try {
    const page = await call("POST", `${path}?explain=true`,
      { user_id: userId(), page_size: 20, context: context() });
    render(page, title);
    document.body.dataset.channel = page.channel;
    document.body.dataset.categoryId = page.category_id === null ? "" : String(page.category_id);
    const pacing = page.pacing;
    $("status").textContent = pacing && !pacing.on ? `Exposure pacing is off: ${pacing.why}` : "";
  } catch (err) { $("status").textContent = `${title} unavailable: ${err.message}`; }
}

function openSubsidy() {
  return openChannel("/v1/channel/subsidy", `大牌大补 big-brand subsidies at ${$("hour").value}:00`,
    "subsidy-tab");
}

function openCategory(id) {
  return openChannel(`/v1/channel/category/${id}`, `Category ${id}`, `category-${id}`);
}

async function startChannels() {
  $("home-tab").addEventListener("click", () => { markTab("home-tab"); loadHomepage(); });
  $("subsidy-tab").addEventListener("click", openSubsidy);
  try {
    const { categories } = await call("GET", "/v1/channel/categories");
    for (const c of categories) {
      const b = document.createElement("button");
      b.type = "button";
      b.id = `category-${c.category_id}`;
      b.dataset.categoryId = c.category_id;
      b.textContent = `Category ${c.category_id}`;
      b.title = `${c.products} products`;
      b.addEventListener("click", () => openCategory(c.category_id));
      $("category-bar").append(b);
    }
  } catch (err) { console.warn("no category bar", err); }
}

async function start() {
  const hour = $("hour");
  for (let h = 0; h < 24; h++) hour.add(new Option(`${String(h).padStart(2, "0")}:00`, String(h)));
  hour.value = String(new Date().getHours());
  try {
    const demo = await call("GET", "/v1/demo/users?n=24");
    for (const u of demo.users) $("user").add(new Option(`#${u}`, String(u)));
  } catch (err) {
    $("status").textContent = `The service is not ready: ${err.message}`;
    return;
  }
  $("user").addEventListener("change", loadHomepage);
  hour.addEventListener("change", () => (state.surface === "search" && $("query").value
    ? search($("query").value) : state.surface === "channel" ? state.reloadChannel() : loadHomepage()));
  watchOfferFilters(() => (state.surface === "search" && $("query").value
    ? search($("query").value) : state.surface === "channel" ? state.reloadChannel() : loadHomepage()));
  $("search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = $("query").value.trim();
    if (q) search(q); else loadHomepage();
  });
  await startChannels();
  await loadHomepage();
  document.body.dataset.ready = "1";
}

start();

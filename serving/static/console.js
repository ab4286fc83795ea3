// Shelfrank operator console: merchandising rules and synonyms (list, create, edit, schedule,
// delete with a reason, history), a side-by-side preview of a draft on a shopper's search or
// homepage, and a merchant's traffic report. The operator token is asked for once and kept in
// this tab's sessionStorage; every call sends it as a bearer token. No build step, no network
// beyond the service.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "shelfrank.operator";
const state = { rules: [], synonyms: [], editing: null, editingSynonym: null, draft: null, draftSynonym: null };

function status(text) { $("status").textContent = text || ""; }

// The service's error shapes (docs/serving.md): {"detail": "reason"} and a 422's
// {"detail": [{"loc": [...], "msg": "..."}]}, read as words with the field each names.
function errorText(code, data) {
  const detail = data && data.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail) && detail.length) {
    return detail.map((e) => {
      const where = (e.loc || []).filter((p) => p !== "body").join(".");
      return `${where ? where + ": " : ""}${String(e.msg || "").replace(/^Value error, /, "")}`;
    }).join("; ");
  }
  return `error ${code}`;
}

async function call(method, path, body, token) {
  const headers = { Authorization: `Bearer ${token || sessionStorage.getItem(TOKEN_KEY) || ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    if (res.status === 401 || (res.status === 403 && !token)) signOut("The operator token was refused: sign in again.");
    throw new Error(errorText(res.status, data));
  }
  return data;
}

const listOf = (data, key) => (Array.isArray(data) ? data : data[key] || []);
const csv = (text) => String(text || "").split(/[,，\s]+/).map((s) => s.trim()).filter(Boolean);
const ints = (text) => csv(text).map(Number);
const when = (ms) => (ms ? new Date(ms).toLocaleString() : "–");
function esc(text) {
  const d = document.createElement("div");
  d.textContent = text === null || text === undefined ? "" : String(text);
  return d.innerHTML;
}

// ---- sign in ------------------------------------------------------------------------------
async function signIn(token) {
  // /readyz with a wrong token is a 403; with the operator's it shows the bundle path
  const res = await fetch("/readyz", { headers: { Authorization: `Bearer ${token}` } });
  const data = await res.json().catch(() => ({}));
  if (res.status === 401 || res.status === 403 || res.status === 429) throw new Error(errorText(res.status, data));
  if (!("bundle_path" in data)) throw new Error("this token is not the operator's");
  sessionStorage.setItem(TOKEN_KEY, token);
  $("who").textContent = `operator · bundle ${data.bundle_version || "none"}`;
  $("login").hidden = true;
  $("tabs").hidden = false;
  $("sign-out").hidden = false;
  show("rules");
  await Promise.all([loadRules(), loadSynonyms()]);
}

function signOut(why) {
  sessionStorage.removeItem(TOKEN_KEY);
  for (const el of document.querySelectorAll(".tab")) el.hidden = true;
  $("tabs").hidden = true;
  $("sign-out").hidden = true;
  $("who").textContent = "";
  $("login").hidden = false;
  status(why || "");
}

function show(tab) {
  for (const el of document.querySelectorAll(".tab")) el.hidden = el.id !== `tab-${tab}`;
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("on", b.dataset.tab === tab);
}

// ---- rules --------------------------------------------------------------------------------
function ruleState(rule, now = Date.now()) {
  const s = rule.schedule || {};
  if (s.end && Date.parse(s.end) <= now) return "expired";
  if (s.start && Date.parse(s.start) > now) return "scheduled";
  return "active";
}

function matchText(m) {
  const parts = [];
  if (m.query) parts.push(`query = “${m.query}”`);
  if (m.normalised_query) parts.push(`normalised = “${m.normalised_query}”`);
  if (m.contains) parts.push(`contains “${m.contains}”`);
  if (m.category_id !== undefined && m.category_id !== null) parts.push(`category ${m.category_id}`);
  if (m.surface) parts.push(`on ${m.surface}`);
  if (m.homepage) parts.push("homepage");
  return parts.join(" and ");
}

function targetText(t) {
  const [k, v] = Object.entries(t).find(([, x]) => x !== null && x !== undefined) || ["", ""];
  return `${k.replace("_ids", "s").replace("_id", "")} ${Array.isArray(v) ? v.join(", ") : v}`;
}

function actionText(a) {
  if (a.pin) return `pin ${a.pin.join(", ")} at ${(a.at || a.pin.map((_, i) => i + 1)).join(", ")}`;
  if (a.hide) return `hide ${a.hide.join(", ")}`;
  if (a.boost) return `boost ${targetText(a.boost.target)} by ${a.boost.by}`;
  if (a.bury) return `bury ${targetText(a.bury.target)} by ${a.bury.by}`;
  if (a.filter) return `only ${a.filter.brand ? "brand " + a.filter.brand : "category " + a.filter.category_id}`;
  if (a.redirect) return `redirect to ${a.redirect.channel || "category " + a.redirect.category_id}`;
  return "?";
}

function scheduleText(s) {
  s = s || {};
  const parts = [];
  if (s.start) parts.push(`from ${new Date(s.start).toLocaleString()}`);
  if (s.end) parts.push(`until ${new Date(s.end).toLocaleString()}`);
  if (s.hours) parts.push(`daily ${s.hours[0]}:00–${s.hours[1]}:00`);
  if (s.slots) parts.push(s.slots.join(", "));
  return parts.join(" · ") || "always";
}

async function loadRules() {
  try {
    state.rules = listOf(await call("GET", "/v1/rules"), "rules");
    renderRules();
  } catch (err) { status(`Rules unavailable: ${err.message}`); }
}

function renderRules() {
  const q = $("rule-search").value.trim().toLowerCase();
  const want = $("rule-state").value;
  const rows = state.rules.filter((r) => (!want || ruleState(r) === want)
    && (!q || JSON.stringify(r).toLowerCase().includes(q)));
  $("rules").replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.ruleId = r.id;
    const st = ruleState(r);
    const daily = r.schedule && (r.schedule.hours || r.schedule.slots);
    const label = st !== "active" ? st : daily ? "active, its hours only" : "active now";
    tr.innerHTML = `<td><span class="state ${st}">${label}</span></td>
      <td>${esc(matchText(r.match))}</td><td>${esc(actionText(r.action))}</td>
      <td>${esc(scheduleText(r.schedule))}</td>
      <td>${esc(r.reason)}<br><small>${esc(r.author || "")} · ${when(r.updated_ms || r.created_ms)}</small></td>
      <td class="acts"><button type="button" class="edit">Edit</button>
        <button type="button" class="hist">History</button>
        <button type="button" class="del">Delete</button></td>`;
    tr.querySelector(".edit").addEventListener("click", () => editRule(r));
    tr.querySelector(".hist").addEventListener("click", () => history("rules", r.id, matchText(r.match)));
    tr.querySelector(".del").addEventListener("click", () => remove("rules", r.id));
    return tr;
  }));
  $("rules").dataset.count = String(rows.length);
}

const local = (iso) => {  // an ISO instant as a datetime-local value in this browser's zone
  if (!iso) return "";
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
};

function offsetIso(value) {  // a datetime-local value as an instant with this browser's offset
  if (!value) return undefined;
  const d = new Date(value);
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, "0");
  return `${value.length === 16 ? value + ":00" : value}${sign}${pad(off / 60)}:${pad(off % 60)}`;
}

function formRule() {
  const f = $("rule-form").elements;
  const match = {};
  for (const k of ["query", "normalised_query", "contains"]) if (f[k].value.trim()) match[k] = f[k].value.trim();
  if (f.category_id.value !== "") match.category_id = Number(f.category_id.value);
  if (f.surface.value) match.surface = f.surface.value;
  const kind = f.kind.value;
  const action = {};
  if (kind === "pin" || kind === "hide") action[kind] = ints(f.ids.value);
  if (kind === "pin" && f.at.value.trim()) action.at = ints(f.at.value);
  if (kind === "boost" || kind === "bury") {
    const t = f.target.value;
    const v = f.target_value.value.trim();
    action[kind] = { target: { [t]: t === "product_ids" ? ints(v) : t === "brand" ? v : Number(v) },
      by: Number(f.by.value) };
  }
  if (kind === "filter") {
    action.filter = { [f.only.value]: f.only.value === "brand" ? f.only_value.value.trim() : Number(f.only_value.value) };
  }
  if (kind === "redirect") {
    const v = f.redirect.value.trim();
    action.redirect = v.startsWith("/") ? { channel: v } : { category_id: Number(v) };
  }
  const schedule = {};
  if (f.start.value) schedule.start = offsetIso(f.start.value);
  if (f.end.value) schedule.end = offsetIso(f.end.value);
  if (f.hour_from.value !== "" && f.hour_to.value !== "") schedule.hours = [Number(f.hour_from.value), Number(f.hour_to.value)];
  const slots = [...document.querySelectorAll("#rule-form input[name=slot]:checked")].map((c) => c.value);
  if (slots.length) schedule.slots = slots;
  const rule = { match, action, schedule, reason: f.reason.value.trim(), priority: Number(f.priority.value || 0) };
  if (state.editing) rule.id = state.editing;
  return rule;
}

function syncActionFields() {
  const kind = $("rule-form").elements.kind.value;
  for (const el of document.querySelectorAll("#rule-form [data-for]")) {
    el.hidden = !el.dataset.for.split(" ").includes(kind);
  }
  $("rule-json").textContent = JSON.stringify(formRule(), null, 1);
}

function editRule(rule) {
  const f = $("rule-form").elements;
  $("rule-form").reset();
  state.editing = rule.id;
  $("rule-form-title").textContent = `Edit rule ${rule.id}`;
  const m = rule.match;
  for (const k of ["query", "normalised_query", "contains", "category_id"]) f[k].value = m[k] ?? "";
  f.surface.value = m.surface || (m.homepage ? "homepage" : "");
  const a = rule.action;
  const kind = ["pin", "hide", "boost", "bury", "filter", "redirect"].find((k) => a[k]);
  f.kind.value = kind;
  if (a.pin || a.hide) f.ids.value = (a.pin || a.hide).join(", ");
  if (a.at) f.at.value = a.at.join(", ");
  const move = a.boost || a.bury;
  if (move) {
    const [t, v] = Object.entries(move.target).find(([, x]) => x !== null && x !== undefined);
    f.target.value = t;
    f.target_value.value = Array.isArray(v) ? v.join(", ") : v;
    f.by.value = move.by;
  }
  if (a.filter) {
    f.only.value = a.filter.brand ? "brand" : "category_id";
    f.only_value.value = a.filter.brand || a.filter.category_id;
  }
  if (a.redirect) f.redirect.value = a.redirect.channel || a.redirect.category_id;
  const s = rule.schedule || {};
  f.start.value = local(s.start);
  f.end.value = local(s.end);
  f.hour_from.value = s.hours ? s.hours[0] : "";
  f.hour_to.value = s.hours ? s.hours[1] : "";
  for (const c of document.querySelectorAll("#rule-form input[name=slot]")) c.checked = (s.slots || []).includes(c.value);
  f.priority.value = rule.priority || 0;
  f.reason.value = rule.reason;
  syncActionFields();
}

function clearRuleForm() {
  $("rule-form").reset();
  state.editing = null;
  $("rule-form-title").textContent = "New rule";
  syncActionFields();
}

async function saveRule(ev) {
  ev.preventDefault();
  const rule = formRule();
  try {
    const saved = state.editing ? await call("PUT", `/v1/rules/${encodeURIComponent(state.editing)}`, rule)
      : await call("POST", "/v1/rules", rule);
    status(`Rule ${saved.id} saved.`);
    document.body.dataset.savedRule = saved.id;
    clearRuleForm();
    await loadRules();
  } catch (err) { status(`Rule not saved: ${err.message}`); }
}

// ---- synonyms -----------------------------------------------------------------------------
async function loadSynonyms() {
  try {
    state.synonyms = listOf(await call("GET", "/v1/synonyms"), "synonyms");
    renderSynonyms();
  } catch (err) { status(`Synonyms unavailable: ${err.message}`); }
}

function renderSynonyms() {
  const q = $("synonym-search").value.trim().toLowerCase();
  const rows = state.synonyms.filter((s) => !q || JSON.stringify(s).toLowerCase().includes(q));
  $("synonyms").replaceChildren(...rows.map((s) => {
    const tr = document.createElement("tr");
    tr.dataset.synonymId = s.id;
    tr.innerHTML = `<td>${esc(s.terms.join(s.one_way ? " → " : " ⇄ "))}</td><td>${s.one_way ? "one way" : "both ways"}</td>
      <td>${esc(s.reason)}</td><td>${esc(s.author || "")}<br><small>${when(s.updated_ms || s.created_ms)}</small></td>
      <td class="acts"><button type="button" class="edit">Edit</button>
        <button type="button" class="hist">History</button><button type="button" class="del">Delete</button></td>`;
    tr.querySelector(".edit").addEventListener("click", () => editSynonym(s));
    tr.querySelector(".hist").addEventListener("click", () => history("synonyms", s.id, s.terms.join(", ")));
    tr.querySelector(".del").addEventListener("click", () => remove("synonyms", s.id));
    return tr;
  }));
}

function formSynonym() {
  const f = $("synonym-form").elements;
  const synonym = { terms: f.terms.value.split(/[,，]/).map((t) => t.trim()).filter(Boolean),
    one_way: f.one_way.checked, reason: f.reason.value.trim() };
  if (state.editingSynonym) synonym.id = state.editingSynonym;
  return synonym;
}

function editSynonym(s) {
  const f = $("synonym-form").elements;
  state.editingSynonym = s.id;
  $("synonym-form-title").textContent = `Edit synonym set ${s.id}`;
  f.terms.value = s.terms.join(", ");
  f.one_way.checked = s.one_way;
  f.reason.value = s.reason;
}

function clearSynonymForm() {
  $("synonym-form").reset();
  state.editingSynonym = null;
  $("synonym-form-title").textContent = "New synonym set";
}

async function saveSynonym(ev) {
  ev.preventDefault();
  const s = formSynonym();
  try {
    const saved = state.editingSynonym ? await call("PUT", `/v1/synonyms/${encodeURIComponent(s.id)}`, s)
      : await call("POST", "/v1/synonyms", s);
    status(`Synonym set ${saved.id} saved.`);
    clearSynonymForm();
    await loadSynonyms();
  } catch (err) { status(`Synonyms not saved: ${err.message}`); }
}

// ---- delete and history (rules and synonyms alike) ----------------------------------------
async function remove(kind, id) {
  const reason = window.prompt(`Why delete ${kind === "rules" ? "rule" : "synonym set"} ${id}?`);
  if (!reason || !reason.trim()) { status("Not deleted: a deletion needs a reason."); return; }
  try {
    await call("DELETE", `/v1/${kind}/${encodeURIComponent(id)}?reason=${encodeURIComponent(reason.trim())}`);
    status(`Deleted ${id}.`);
    await (kind === "rules" ? loadRules() : loadSynonyms());
  } catch (err) { status(`Not deleted: ${err.message}`); }
}

async function history(kind, id, what) {
  try {
    const changes = listOf(await call("GET", `/v1/${kind}/${encodeURIComponent(id)}/history`), "changes");
    $("history-title").textContent = `History of ${id}: ${what}`;
    $("history-list").replaceChildren(...changes.map((c) => {
      const li = document.createElement("li");
      const item = c.after || c.before;  // the item after the change (before it, for a deletion)
      li.innerHTML = `<b>${esc(c.op)}</b> by ${esc(c.author || "?")} · ${when(c.changed_ms)}
        <br>${esc(c.reason || "")}${item ? `<pre class="json">${esc(JSON.stringify(item, null, 1))}</pre>` : ""}`;
      return li;
    }));
    $("history").showModal();
  } catch (err) { status(`History unavailable: ${err.message}`); }
}

// ---- preview ------------------------------------------------------------------------------
function previewCard(card, move) {
  const li = document.createElement("li");
  li.className = "pcard";
  li.dataset.productId = card.product_id;
  const notes = (card.explanation ? card.explanation.rules : []).map((r) => {
    const merch = r.rule_id !== undefined || String(r.rule).startsWith("merch");
    return `<li class="${merch ? "note merch" : "note"}"><b>${esc(r.label || r.rule)}</b>: ${esc(r.why)}${
      r.delta !== null && r.delta !== undefined ? ` (${r.delta >= 0 ? "+" : ""}${Number(r.delta).toFixed(3)})` : ""}</li>`;
  }).join("");
  const shift = move ? (move.before === null ? "new" : move.before > move.after ? `▲ from ${move.before}`
    : `▼ from ${move.before}`) : "";
  const top = card.explanation ? card.explanation.top_features.slice(0, 3)
    .map((f) => `${esc(f.label)} ${esc(f.shown)}`).join(" · ") : "";
  li.innerHTML = `<div class="head"><span class="pos">${card.position}</span>
      <span class="title">${esc(card.title)}</span>${shift ? `<span class="shift">${shift}</span>` : ""}</div>
    <div class="meta">#${card.product_id} · ¥${Number(card.price).toFixed(2)} · score ${Number(card.score).toFixed(3)}
      (model ${Number(card.model_score).toFixed(3)}) · store ${esc(card.store_name || card.store_id)}</div>
    <div class="meta">${top}</div><ul class="notes">${notes}</ul>`;
  return li;
}

function renderSide(page, list, meta, moves) {
  const extra = [];
  if (page.corrected_query) extra.push(`searched “${page.corrected_query}”`);
  if (page.synonyms && page.synonyms.length) extra.push(`synonyms ${page.synonyms.map((s) => s.id).join(", ")}`);
  if (page.rules_applied && page.rules_applied.length) extra.push(`rules ${page.rules_applied.join(", ")}`);
  if (page.redirect) extra.push(`redirect to ${page.redirect.channel || "category " + page.redirect.category_id}`);
  const byRules = page.dropped.filter((d) => d.reason.startsWith("rule_"));
  if (byRules.length) extra.push(`removed or not pinned by rules: ${byRules.map((d) => `#${d.product_id} (${d.reason})`).join(", ")}`);
  $(meta).textContent = `${page.cards.length} cards · request ${page.request_id}${extra.length ? " · " + extra.join(" · ") : ""}`;
  $(list).replaceChildren(...page.cards.map((c) => previewCard(c, moves && moves.get(c.product_id))));
}

async function runPreview(ev) {
  if (ev) ev.preventDefault();
  const surface = $("pv-surface").value;
  const request = { page_size: 20 };
  if ($("pv-user").value !== "") request.user_id = Number($("pv-user").value);
  if ($("pv-hour").value !== "") request.context = { hour: Number($("pv-hour").value) };
  if (surface === "search") request.query = $("pv-query").value.trim();
  const body = { surface, request };
  if (state.draft) body.draft = state.draft;
  if (state.draftSynonym) body.draft_synonym = state.draftSynonym;
  $("pv-draft").textContent = state.draft ? `Draft rule: ${matchText(state.draft.match)} → ${actionText(state.draft.action)}`
    : state.draftSynonym ? `Draft synonyms: ${state.draftSynonym.terms.join(", ")}` : "No draft: both sides are the rules in force.";
  try {
    const out = await call("POST", "/v1/rules/preview", body);
    const moves = new Map(out.moved.map((m) => [m.product_id, m]));
    renderSide(out.without_draft, "pv-without", "pv-meta-without");
    renderSide(out.with_draft, "pv-with", "pv-meta-with", moves);
    $("pv-moved").replaceChildren(...out.moved.slice(0, 12).map((m) => {
      const li = document.createElement("li");
      li.textContent = `#${m.product_id} ${m.title || ""}: ${m.before ?? "—"} → ${m.after ?? "—"}`;
      return li;
    }));
    const problems = out.draft_problems || [];
    status(problems.length ? `The draft could not do what it says: ${problems.join("; ")}`
      : out.moved.length ? "" : "The draft moves nothing on this page.");
    document.body.dataset.previewed = String(Date.now());
  } catch (err) { status(`Preview failed: ${err.message}`); }
}

function previewDraft(rule, synonym) {
  state.draft = rule;
  state.draftSynonym = synonym;
  const query = rule ? rule.match.query || rule.match.normalised_query || rule.match.contains
    : synonym ? synonym.terms[0] : "";
  const homepage = rule && (rule.match.homepage || rule.match.surface === "homepage");
  $("pv-surface").value = homepage ? "homepage" : "search";
  if (query) $("pv-query").value = query;
  show("preview");
  return runPreview();
}

// ---- merchant view ------------------------------------------------------------------------
async function merchantReport(ev) {
  ev.preventDefault();
  const store = $("mv-store").value;
  const out = $("merchant-report");
  try {
    const r = await call("GET", `/v1/merchant/stores/${encodeURIComponent(store)}/traffic`, undefined,
      $("mv-token").value.trim() || undefined);
    const pct = (x) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(2)}%`);
    const windows = Object.entries(r.windows).map(([name, w]) => `<tr><td>${name}</td><td>${w.store_cards} of ${w.cards_shown}</td>
      <td>${pct(w.exposure_share)}</td><td>${pct(w.category_average_share)}</td>
      <td>${w.vs_category_average === null ? "–" : w.vs_category_average.toFixed(2) + "×"}</td>
      <td>${Object.entries(w.policy_rules).filter(([, n]) => n).map(([k, n]) => `${esc(k)} ${n}`).join(", ")}</td></tr>`).join("");
    const grades = Object.entries(r.grade_mix).map(([g, n]) => `<span class="grade">${esc(g)} ${n}</span>`).join(" ");
    const raise = r.raise_it.length ? r.raise_it.map((x) => `<li><b>${esc(x.dimension)}</b> ${x.score.toFixed(1)}
      (category median ${x.category_median.toFixed(1)}): ${esc(x.how)}</li>`).join("") : "<li>no dimension below its category's median</li>";
    out.innerHTML = `<p>Store ${r.store_id} · category ${r.category_id} · store experience score
        <b id="mv-score">${r.store_experience_score === null ? "–" : r.store_experience_score.toFixed(1)}</b></p>
      <table class="list"><thead><tr><th>window</th><th>cards</th><th>exposure share</th><th>category average</th>
        <th>vs category</th><th>policy rules on its cards</th></tr></thead><tbody>${windows}</tbody></table>
      <h3>Grade mix of its products</h3><p>${grades}</p>
      <h3>What would raise it</h3><ul>${raise}</ul>`;
    status("");
  } catch (err) { out.textContent = ""; status(`No report: ${err.message}`); }
}

// ---- wiring -------------------------------------------------------------------------------
function start() {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try { await signIn($("token").value.trim()); status(""); } catch (err) { status(`Not signed in: ${err.message}`); }
  });
  $("sign-out").addEventListener("click", () => signOut("Signed out."));
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => show(b.dataset.tab));
  $("rule-search").addEventListener("input", renderRules);
  $("rule-state").addEventListener("change", renderRules);
  $("synonym-search").addEventListener("input", renderSynonyms);
  $("rule-form").addEventListener("input", syncActionFields);
  $("rule-form").addEventListener("change", syncActionFields);  // a select picked without an input event
  $("rule-form").addEventListener("submit", saveRule);
  $("new-rule").addEventListener("click", clearRuleForm);
  $("rule-cancel").addEventListener("click", clearRuleForm);
  $("rule-preview").addEventListener("click", () => previewDraft(formRule(), null));
  $("synonym-form").addEventListener("submit", saveSynonym);
  $("synonym-cancel").addEventListener("click", clearSynonymForm);
  $("synonym-preview").addEventListener("click", () => previewDraft(null, formSynonym()));
  $("preview-form").addEventListener("submit", runPreview);
  $("merchant-form").addEventListener("submit", merchantReport);
  syncActionFields();
  const token = sessionStorage.getItem(TOKEN_KEY);
  const ready = token ? signIn(token).catch((err) => signOut(`Sign in again: ${err.message}`)) : Promise.resolve();
  ready.then(() => { document.body.dataset.ready = "1"; });
}

start();

// The console's live part: reads /console/api/state every few seconds and updates the page in place
// (same elements, new text: nothing flickers, and scripts holding an element keep it), counts cooldowns
// down each second, and sends the account buttons as POSTs carrying the page's CSRF token.
"use strict";

(() => {
  const REFRESH_MS = 3000;
  const body = document.body;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const SVG = "http://www.w3.org/2000/svg";
  let deadlines = new Map(); // cooldown element -> end time (this clock's ms)
  let prototypes = null; // the document of /console/templates: the <template>s cloned below, read once

  const field = (root, name) => root.querySelector(`[data-field="${name}"]`);
  const setText = (el, value) => {
    const text = value === null || value === undefined ? "" : String(value);
    if (el.textContent !== text) el.textContent = text;
  };
  const fromTemplate = (id) => prototypes.getElementById(id).content.firstElementChild.cloneNode(true);
  // One formatter each, made once: toLocaleString builds a new one per call, most of a 200-account render.
  const numbers = new Intl.NumberFormat("en-US");
  const localTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
  const number = (n) => numbers.format(Number(n || 0));
  // Times as the CLI prints them (UTC, ISO 8601), with this browser's local time on hover.
  const utc = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "+00:00");
  const shownTimes = new WeakMap(); // element -> the time it shows: formatting dates is the costly part of a render
  function setTime(el, ms, prefix = "", none = "") {
    const known = ms !== null && ms !== undefined && !Number.isNaN(ms);
    if (shownTimes.has(el) && shownTimes.get(el) === (known ? ms : null)) return;
    shownTimes.set(el, known ? ms : null);
    setText(el, known ? `${prefix}${utc(ms)}` : none);
    if (known) el.title = localTime.format(ms);
    else el.removeAttribute("title");
  }
  const parsed = (iso) => (iso ? Date.parse(iso) : null);

  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (h) return `${h}h ${String(m).padStart(2, "0")}m`;
    if (m) return `${m}m ${String(s).padStart(2, "0")}s`;
    return `${s}s`;
  }

  // Keep `container`'s children one per item, in order, matched by a data attribute; reuse what exists.
  function sync(container, items, attribute, keyOf, templateId, fill) {
    const existing = new Map([...container.children].map((el) => [el.dataset[attribute], el]));
    items.forEach((item, index) => {
      const key = keyOf(item);
      let el = existing.get(key);
      if (el) existing.delete(key);
      else {
        el = fromTemplate(templateId);
        el.dataset[attribute] = key;
      }
      fill(el, item);
      if (container.children[index] !== el) container.insertBefore(el, container.children[index] || null);
    });
    existing.forEach((el) => el.remove());
  }

  function fillCooldown(li, cooldown, fetched) {
    setText(li.querySelector(".model"), cooldown.model);
    setText(li.querySelector(".why"), cooldown.reason);
    const left = li.querySelector(".left");
    deadlines.set(left, fetched + cooldown.seconds_left * 1000);
  }

  // A cooling model's bar says so: its last reading is not quota it can use now.
  function fillQuota(bar, [model, quota, cooling]) {
    const meter = bar.querySelector("meter");
    const percent = Math.round(quota.remainingFraction * 100);
    const value = cooling ? 0 : quota.remainingFraction;
    meter.dataset.model = model;
    if (meter.value !== value) meter.value = value;
    bar.classList.toggle("cooling", cooling);
    setText(bar.querySelector(".model"), model);
    setText(bar.querySelector(".pct"), cooling ? "cooling" : `${percent}%`);
    const title = `${model}: ${cooling ? `cooling down; last reading ${percent}% left` : `${percent}% left`}`;
    if (bar.title !== title) bar.title = title;
    setTime(bar.querySelector(".reset"), parsed(quota.resetTime), "resets ");
  }

  function fillBucket(bar, bucket) {
    const percent = Math.round(bucket.remainingFraction * 100);
    setText(bar.querySelector(".model"), bucket.name);
    bar.querySelector("svg").setAttribute("aria-label", `${percent}% left`);
    bar.querySelector("rect.fill").setAttribute("width", percent);
    setText(bar.querySelector(".pct"), `${percent}%`);
    setTime(bar.querySelector(".reset"), parsed(bucket.resetTime), "resets ");
  }

  function fillAccount(card, account, fetched) {
    const className = `account state-${account.state}`;
    if (card.className !== className) card.className = className;
    card.dataset.id = account.id;
    setText(field(card, "email"), account.email);
    setText(field(card, "state"), account.state);
    setText(field(card, "reason"), account.disabled_reason);
    setText(field(card, "tier"), account.tier);
    setText(field(card, "project"), account.project);
    setText(field(card, "egress"), account.egress);
    setText(field(card, "geo-block"), account.last_geo_block ? new Date(account.last_geo_block).toLocaleString() : "never");
    // A ban's appeal form, from Google's answer: only ever an http(s) link.
    const appeal = /^https?:\/\//.test(account.appeal_url || "") ? account.appeal_url : "";
    field(card, "appeal").hidden = !appeal;
    field(card, "appeal-url").href = appeal || "#";
    const usage = account.usage_24h;
    setText(field(card, "usage"), `${number(usage.requests)} client requests, ${number(usage.failures)} failed, ` +
      `${number(usage.tokens_in)} tokens in, ${number(usage.tokens_out)} out`);
    setText(field(card, "upstream"), `${number(account.upstream.requests)} upstream requests, ` +
      `${number(account.upstream.failures)} failed`);
    sync(field(card, "cooldowns"), account.cooldowns, "item", (c) => c.model, "cooldown-template",
      (li, c) => fillCooldown(li, c, fetched));
    const cooling = new Set(account.cooldowns.map((c) => c.model));
    const quota = Object.entries(account.quota).filter(([, q]) => typeof q.remainingFraction === "number")
      .map(([model, q]) => [model, q, cooling.has(model)]);
    sync(field(card, "quota"), quota, "item", ([model]) => model, "quota-template", fillQuota);
    const buckets = account.quota_groups.flatMap((group) => group.buckets.map((bucket) =>
      ({ ...bucket, key: `${group.displayName}/${bucket.window}`, name: `${group.displayName} · ${bucket.window}` })));
    sync(field(card, "buckets"), buckets, "item", (b) => b.key, "bucket-template", fillBucket);
    fitToggle(card.querySelector('button[data-action="enable"], button[data-action="disable"]'), account.state);
    for (const button of card.querySelectorAll("button[data-action]")) {
      button.formAction = button.formAction.replace(/\/accounts\/\d+\//, `/accounts/${account.id}/`);
    }
  }

  // Enable only on a disabled account, Disable only on an enabled one.
  function fitToggle(button, state) {
    const wanted = state === "disabled" ? "enable" : "disable";
    if (button.dataset.action === wanted) return;
    button.dataset.action = wanted;
    setText(button, wanted === "enable" ? "Enable" : "Disable");
    button.formAction = button.formAction.replace(/\/(enable|disable)$/, `/${wanted}`);
  }

  const usageText = (u) => `${number(u.requests)} requests, ${number(u.tokens_in)} tokens in, ${number(u.tokens_out)} out`;

  function fillKey(tr, key) {
    tr.dataset.id = key.id;
    setText(field(tr, "name"), key.name);
    setText(field(tr, "prefix"), `${key.prefix}…`);
    setText(field(tr, "limits"), key.limits);
    setTime(field(tr, "last_used"), parsed(key.last_used), "", "never");
    setText(field(tr, "usage"), usageText(key.usage_today));
    setTime(field(tr, "expires"), parsed(key.expires), "", "never");
    const button = tr.querySelector('button[data-action="revoke"]');
    button.formAction = button.formAction.replace(/\/keys\/\d+\//, `/keys/${key.id}/`);
  }

  // cells: [text, className, epoch ms shown as UTC text with local time as title]
  function row(cells) {
    const tr = document.createElement("tr");
    for (const [text, className, ms] of cells) {
      const td = document.createElement("td");
      if (ms !== undefined) setTime(td, ms);
      else td.textContent = text;
      if (className) td.className = className;
      tr.append(td);
    }
    return tr;
  }

  function chart(hours) {
    const svg = document.getElementById("chart");
    const most = Math.max(1, ...hours.map((h) => h.requests));
    const width = 480 / hours.length;
    const bars = [];
    hours.forEach((hour, index) => {
      for (const [value, className] of [[hour.requests, "ok"], [hour.failures, "failed"]]) {
        if (!value) continue;
        const rect = document.createElementNS(SVG, "rect");
        const height = (value / most) * 76;
        rect.setAttribute("x", index * width + 1);
        rect.setAttribute("width", width - 2);
        rect.setAttribute("y", 80 - height);
        rect.setAttribute("height", height);
        rect.setAttribute("class", className);
        const title = document.createElementNS(SVG, "title");
        title.textContent = `${new Date(hour.hour * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}: ` +
          `${hour.requests} requests, ${hour.failures} failed`;
        rect.append(title);
        bars.push(rect);
      }
    });
    svg.replaceChildren(...bars);
  }

  // ---- the accounts toolbar: compact rows, filter by state, email and model, sort ----
  const COMPACT_FROM = 25; // accounts from which the compact view is the default (a choice made is kept)
  const control = (name) => document.querySelector(`[data-control="${name}"]`);
  const STATE_ORDER = { cooling: 0, disabled: 1, active: 2 };

  function modelOptions(accounts) {
    const select = control("model");
    const models = [...new Set(accounts.flatMap((a) => Object.keys(a.quota)))].sort();
    const have = [...select.options].slice(1).map((o) => o.value);
    if (have.join("\n") === models.join("\n")) return;
    const chosen = select.value;
    select.replaceChildren(select.options[0], ...models.map((m) => new Option(m, m)));
    select.value = models.includes(chosen) ? chosen : "";
  }

  function arrange(accounts) {
    const container = document.getElementById("accounts");
    const stored = localStorage.getItem("console-compact");
    const compact = stored === null ? accounts.length >= COMPACT_FROM : stored === "1";
    control("compact").checked = compact;
    container.classList.toggle("compact", compact);
    const state = control("state").value, email = control("email").value.trim().toLowerCase();
    const model = control("model").value, sort = control("sort").value;
    const left = (a) => {
      const q = a.quota[model];
      if (!q || typeof q.remainingFraction !== "number") return 2;
      return a.cooldowns.some((c) => c.model === model) ? -1 : q.remainingFraction;
    };
    const order = [...accounts];
    if (sort === "email") order.sort((a, b) => a.email.localeCompare(b.email));
    if (sort === "state") order.sort((a, b) => STATE_ORDER[a.state] - STATE_ORDER[b.state] || a.email.localeCompare(b.email));
    if (sort === "quota") order.sort((a, b) => left(b) - left(a) || a.email.localeCompare(b.email));
    const position = new Map(order.map((a, index) => [a.email, index]));
    const byEmail = new Map(accounts.map((a) => [a.email, a]));
    let shown = 0;
    for (const card of container.children) {
      const a = byEmail.get(card.dataset.account);
      const visible = Boolean(a) && (!state || a.state === state) && (!email || a.email.toLowerCase().includes(email))
        && (!model || model in a.quota || a.cooldowns.some((c) => c.model === model));
      if (card.hidden === visible) card.hidden = !visible;
      const place = sort && a ? String(position.get(a.email)) : "";
      if (card.style.order !== place) card.style.order = place;
      shown += visible;
    }
    setText(document.getElementById("shown"), shown === accounts.length ? "" : `${shown} of ${accounts.length} shown`);
  }

  let lastState = null;

  function render(state) {
    const started = performance.now();
    lastState = state;
    const fetched = Date.now();
    deadlines = new Map();
    for (const [name, value] of Object.entries(state.totals)) {
      const el = document.querySelector(`[data-total="${name}"]`);
      if (el) setText(el, number(value));
    }
    document.getElementById("no-accounts").hidden = state.accounts.length > 0;
    sync(document.getElementById("accounts"), state.accounts, "account", (a) => a.email, "account-template",
      (card, a) => fillAccount(card, a, fetched));
    modelOptions(state.accounts);
    arrange(state.accounts);
    document.getElementById("models").replaceChildren(...state.models_24h.map((m) =>
      row([[m.model], [number(m.requests)], [number(m.failures)], [number(m.tokens_in)], [number(m.tokens_out)]])));
    document.getElementById("recent").replaceChildren(...state.recent.map((r) => row([
      [null, "", r.at * 1000], [`${r.method} ${r.path}`], [r.model], [r.status, r.status >= 400 ? "failed" : ""],
      [r.account], [r.key], [r.duration_ms === null ? "" : `${Math.round(r.duration_ms)} ms`],
    ])));
    sync(document.getElementById("keys"), state.keys, "key", (k) => k.name, "key-template", fillKey);
    document.getElementById("audit").replaceChildren(...state.audit.map((e) =>
      row([[null, "", parsed(e.time)], [e.actor], [e.action], [e.target]])));
    chart(state.hours);
    setText(document.querySelector('[data-field="client-version"]'), state.client_version);
    tick();
    setText(document.getElementById("updated"), `updated ${new Date().toLocaleTimeString()}`);
    performance.measure("console-render", { start: started }); // read by bench/console_scale.py
  }

  function tick() {
    const now = Date.now();
    deadlines.forEach((end, el) => setText(el, `${duration((end - now) / 1000)} left`));
  }

  // The templates live apart from the page (its markup holds only real accounts): fetched before the first render.
  async function loadPrototypes() {
    const response = await fetch(body.dataset.templatesUrl, { cache: "no-store" });
    if (response.ok) prototypes = new DOMParser().parseFromString(await response.text(), "text/html");
    return response;
  }

  async function refresh() {
    try {
      const loaded = prototypes ? null : await loadPrototypes();
      if (loaded && loaded.status === 401) {
        window.location.assign(body.dataset.loginUrl);
        return;
      }
      if (loaded && !loaded.ok) {
        setText(document.getElementById("updated"), `could not update (HTTP ${loaded.status})`);
        return;
      }
      const response = await fetch(body.dataset.stateUrl, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (response.status === 401) {
        window.location.assign(body.dataset.loginUrl);
        return;
      }
      if (response.ok) render(await response.json());
      else setText(document.getElementById("updated"), `could not update (HTTP ${response.status})`);
    } catch (error) {
      setText(document.getElementById("updated"), "could not reach the gateway; retrying");
    }
  }

  async function post(url, body) {
    const response = await fetch(url, { method: "POST", body, headers: { Accept: "application/json", "X-CSRF-Token": csrf } });
    const answer = await response.json();
    return { response, answer, error: response.ok ? answer.error : answer.error && answer.error.message };
  }

  // The key is in this answer only: shown here, never stored in the page's state or fetched again.
  async function createKey(form) {
    const button = form.querySelector('button[type="submit"]');
    const shown = form.querySelector(".new-key");
    button.disabled = true;
    shown.hidden = true;
    try {
      const { answer, error } = await post(form.action, new FormData(form));
      setText(field(form, "message"), error ? `failed: ${error}` : `created ${answer.name}`);
      if (!error) {
        setText(field(form, "new-key"), answer.key);
        shown.hidden = false;
        form.querySelectorAll("input:not([type=hidden])").forEach((input) => { input.value = ""; });
      }
    } catch (error) {
      setText(field(form, "message"), "failed: the gateway did not answer");
    } finally {
      button.disabled = false;
    }
    await refresh();
  }

  async function act(button) {
    const card = button.closest("[data-account], [data-key]");
    const message = field(card, "message") || field(document.querySelector(".create-key"), "message");
    button.disabled = true;
    setText(message, button.dataset.action === "quota" ? "fetching quota…" : "");
    try {
      const { answer, error } = await post(button.formAction);
      const done = answer.revoked ? `revoked ${answer.revoked}` : "";
      setText(message, error ? `failed: ${error}` : done);
    } catch (error) {
      setText(message, "failed: the gateway did not answer");
    } finally {
      button.disabled = false;
    }
    await refresh();
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    event.preventDefault();
    act(button);
  });

  function rearrange(event) {
    if (!event.target.closest("[data-control]") || !lastState) return;
    if (event.target.dataset.control === "compact") localStorage.setItem("console-compact", event.target.checked ? "1" : "0");
    arrange(lastState.accounts);
  }
  document.addEventListener("input", rearrange); // typing in the email filter
  document.addEventListener("change", rearrange); // a select or the checkbox (some input methods send only this)

  document.addEventListener("submit", (event) => {
    const form = event.target.closest('form[data-action="create-key"]');
    if (!form) return;
    event.preventDefault();
    createKey(form);
  });

  refresh();
  setInterval(refresh, REFRESH_MS);
  setInterval(tick, 1000);
})();

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
  const number = (n) => Number(n || 0).toLocaleString("en-US");

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

  function fillQuota(bar, [model, quota]) {
    const meter = bar.querySelector("meter");
    meter.dataset.model = model;
    if (meter.value !== quota.remainingFraction) meter.value = quota.remainingFraction;
    setText(bar.querySelector(".model"), model);
    setText(bar.querySelector(".pct"), `${Math.round(quota.remainingFraction * 100)}%`);
    setText(bar.querySelector(".reset"), quota.resetTime ? `resets ${new Date(quota.resetTime).toLocaleString()}` : "");
  }

  function fillBucket(bar, bucket) {
    const percent = Math.round(bucket.remainingFraction * 100);
    setText(bar.querySelector(".model"), bucket.name);
    bar.querySelector("svg").setAttribute("aria-label", `${percent}% left`);
    bar.querySelector("rect.fill").setAttribute("width", percent);
    setText(bar.querySelector(".pct"), `${percent}%`);
    setText(bar.querySelector(".reset"), bucket.resetTime ? `resets ${new Date(bucket.resetTime).toLocaleString()}` : "");
  }

  function fillAccount(card, account, fetched) {
    card.className = `account state-${account.state}`;
    card.dataset.id = account.id;
    setText(field(card, "email"), account.email);
    setText(field(card, "state"), account.state);
    setText(field(card, "reason"), account.disabled_reason);
    setText(field(card, "tier"), account.tier);
    setText(field(card, "project"), account.project);
    setText(field(card, "egress"), account.egress);
    const usage = account.usage_24h;
    setText(field(card, "usage"), `${number(usage.requests)} requests, ${number(usage.failures)} failed, ` +
      `${number(usage.tokens_in)} tokens in, ${number(usage.tokens_out)} out`);
    sync(field(card, "cooldowns"), account.cooldowns, "key", (c) => c.model, "cooldown-template",
      (li, c) => fillCooldown(li, c, fetched));
    const quota = Object.entries(account.quota).filter(([, q]) => typeof q.remainingFraction === "number");
    sync(field(card, "quota"), quota, "key", ([model]) => model, "quota-template", fillQuota);
    const buckets = account.quota_groups.flatMap((group) => group.buckets.map((bucket) =>
      ({ ...bucket, key: `${group.displayName}/${bucket.window}`, name: `${group.displayName} · ${bucket.window}` })));
    sync(field(card, "buckets"), buckets, "key", (b) => b.key, "bucket-template", fillBucket);
    for (const button of card.querySelectorAll("button[data-action]")) {
      button.formAction = button.formAction.replace(/\/accounts\/\d+\//, `/accounts/${account.id}/`);
    }
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const [text, className] of cells) {
      const td = document.createElement("td");
      td.textContent = text;
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

  function render(state) {
    const fetched = Date.now();
    deadlines = new Map();
    for (const [name, value] of Object.entries(state.totals)) {
      const el = document.querySelector(`[data-total="${name}"]`);
      if (el) setText(el, number(value));
    }
    document.getElementById("no-accounts").hidden = state.accounts.length > 0;
    sync(document.getElementById("accounts"), state.accounts, "account", (a) => a.email, "account-template",
      (card, a) => fillAccount(card, a, fetched));
    document.getElementById("models").replaceChildren(...state.models_24h.map((m) =>
      row([[m.model], [number(m.requests)], [number(m.failures)], [number(m.tokens_in)], [number(m.tokens_out)]])));
    document.getElementById("recent").replaceChildren(...state.recent.map((r) => row([
      [new Date(r.at * 1000).toLocaleTimeString()], [`${r.method} ${r.path}`], [r.model], [r.status, r.status >= 400 ? "failed" : ""],
      [r.account], [r.key], [r.duration_ms === null ? "" : `${Math.round(r.duration_ms)} ms`],
    ])));
    chart(state.hours);
    tick();
    setText(document.getElementById("updated"), `updated ${new Date().toLocaleTimeString()}`);
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

  async function act(button) {
    const card = button.closest("[data-account]");
    const message = field(card, "message");
    button.disabled = true;
    setText(message, button.dataset.action === "quota" ? "fetching quota…" : "");
    try {
      const response = await fetch(button.formAction, {
        method: "POST",
        headers: { Accept: "application/json", "X-CSRF-Token": csrf },
      });
      const answer = await response.json();
      const error = response.ok ? answer.error : answer.error && answer.error.message;
      setText(message, error ? `failed: ${error}` : "");
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

  refresh();
  setInterval(refresh, REFRESH_MS);
  setInterval(tick, 1000);
})();

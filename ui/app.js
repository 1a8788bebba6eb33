// Hookah's dashboard. Plain DOM, no frameworks, no inline code (the page's CSP forbids it).
// The API token lives in sessionStorage only and goes out as `Authorization: Bearer`.
"use strict";

const TOKEN_KEY = "hookah-token";
const API = "/_hookah/v1";
const STATES = ["pending", "delivered", "dead", "gone", "cancelled"];
const $ = (id) => document.getElementById(id);

/** Builds an element; strings become text nodes (never HTML). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

async function api(method, path, body) {
  const headers = { authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY) };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) signOut("The token was refused.");
  if (!response.ok) throw new Error((data.error && data.error.message) || "HTTP " + response.status);
  return data;
}

function show(...nodes) {
  $("status").textContent = "";
  $("view").replaceChildren(...nodes);
}

function fail(error) {
  $("status").textContent = error.message || String(error);
}

function panel(title, ...children) {
  return el("section", { class: "panel" }, el("h2", {}, title), ...children);
}

function table(headers, rows) {
  return el("table", {}, el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))), el("tbody", {}, rows));
}

function card(label, value, id) {
  return el("div", { class: "card", "data-stat": id }, el("div", { class: "value" }, value), el("div", { class: "label" }, label));
}

/** Deliveries (up) and failures (down) per minute over the last hour, as SVG bars. */
function chart(perMinute) {
  const width = 600, height = 160, middle = height / 2, bar = width / perMinute.length;
  const peak = Math.max(1, ...perMinute.map((m) => Math.max(m.delivered, m.failed)));
  const root = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img", "aria-label": "Attempts per minute, last hour" });
  root.append(svg("line", { class: "axis", x1: 0, x2: width, y1: middle, y2: middle }));
  perMinute.forEach((minute, i) => {
    const up = (minute.delivered / peak) * (middle - 12), down = (minute.failed / peak) * (middle - 12);
    if (up > 0) root.append(svg("rect", { class: "delivered", x: i * bar + 1, y: middle - up, width: bar - 2, height: up }));
    if (down > 0) root.append(svg("rect", { class: "failed", x: i * bar + 1, y: middle, width: bar - 2, height: down }));
  });
  return root;
}

const seconds = (ms) => (ms === null || ms === undefined ? "–" : (ms / 1000).toFixed(ms < 1000 ? 2 : 1) + " s");

/** How long before `now` a moment was, in words ("12 s ago", "3 min ago"). */
function ago(at, now) {
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 90) return `${s} s ago`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/** The last sweep as an operator reads it: when, its lag, and what it did, in words. */
function sweepSummary(sweep, now) {
  if (!sweep) return el("p", { id: "last-sweep" }, "No sweep has run yet.");
  const did = [
    count(sweep.claimed, "attempt started", "attempts started"),
    count(sweep.rescheduled, "job put off to later", "jobs put off to later"),
    count(sweep.deleted, "job past its retention deleted", "jobs past their retention deleted"),
  ];
  return el("dl", { class: "sweep", id: "last-sweep" },
    el("dt", {}, "When"), el("dd", {}, `${ago(sweep.at, now)} (${new Date(sweep.at).toLocaleString()})`),
    el("dt", {}, "Lag"), el("dd", {}, `${seconds(sweep.lag_ms)}: how long the oldest due timer had waited`),
    el("dt", {}, "What it did"),
    el("dd", {}, `Looked at ${count(sweep.slots, "timer", "timers")} in ${count(sweep.buckets, "second", "seconds")} of the timer index: ${did.join(", ")}.`));
}

/** A job's last attempt: the receiver's answer or the error, and when it happened. */
function lastAttempt(job) {
  const last = job.attempts[job.attempts.length - 1];
  if (!last) return "none yet";
  const outcome = last.status ? `HTTP ${last.status}` : [last.error, last.message].filter(Boolean).join(": ");
  return `${outcome} at ${new Date(last.at).toLocaleString()}`;
}

async function overview() {
  const stats = await api("GET", API + "/stats");
  const jobs = stats.jobs, attempts = stats.attempts, latency = stats.first_attempt_latency;
  const hosts = stats.failing_hosts.map((h) =>
    el("tr", {}, el("td", {}, h.host), el("td", { class: "num" }, h.failures), el("td", {}, h.last_error), el("td", { class: "wide" }, new Date(h.last_at).toISOString())));
  show(
    el("div", { class: "cards" },
      ["pending", "in_flight", "delivered", "dead", "gone", "cancelled"].map((s) => card(s.replace("_", " "), jobs[s], s)),
      card("due slots", stats.backlog.due_slots, "due"),
      card("sweep lag", seconds(stats.backlog.lag_ms), "lag"),
      card("first attempt p50", seconds(latency.p50_ms), "p50"),
      card("first attempt p99", seconds(latency.p99_ms), "p99")),
    panel("Attempts per minute (last hour)",
      el("p", { class: "legend" },
        el("span", { class: "delivered" }, `▲ delivered ${attempts.delivered_last_hour}`),
        el("span", { class: "failed" }, `▼ failed ${attempts.failed_last_hour}`),
        el("span", {}, `peak ${Math.max(0, ...attempts.per_minute.map((m) => Math.max(m.delivered, m.failed)))}/min`)),
      chart(attempts.per_minute)),
    panel("Failing target hosts", hosts.length ? table(["host", "failures", "last error", "last failure"], hosts) : el("p", {}, "None in the last hour.")),
    panel("Last sweep", sweepSummary(stats.last_sweep, stats.now)));
}

function jobRow(job) {
  const open = el("a", { href: "#job/" + job.id, "data-job": job.id }, job.id);
  return el("tr", {}, el("td", {}, open), el("td", {}, job.state), el("td", { class: "wide" }, job.target), el("td", { class: "num" }, job.attempt_count),
    el("td", { "data-last": job.id }, lastAttempt(job)), el("td", { class: "wide" }, job.created_at));
}

/** One page of a state's list; `onPage(cursor)` shows the next one. */
async function jobList(state, cursor, prefix, onPage) {
  const query = new URLSearchParams({ state, limit: "20" });
  if (cursor) query.set("cursor", cursor);
  const page = await api("GET", API + "/jobs?" + query);
  const shown = page.data.filter((job) => !prefix || job.target.startsWith(prefix));
  const next = page.next_cursor ? el("button", { type: "button", id: "next-page", onclick: () => onPage(page.next_cursor) }, "Next page") : null;
  const rows = shown.length ? table(["job", "state", "target", "attempts", "last attempt", "created"], shown.map(jobRow)) : el("p", {}, "No jobs on this page.");
  return [rows, el("div", { class: "actions" }, next)];
}

async function jobsView(state = "delivered", cursor = null) {
  const select = el("select", { id: "state", onchange: () => jobsView(select.value).catch(fail) }, STATES.map((s) => el("option", { value: s, selected: s === state }, s)));
  const list = await jobList(state, cursor, "", (next) => jobsView(state, next).catch(fail));
  show(el("form", {}, el("label", { for: "state" }, "State"), select), panel("Jobs: " + state, ...list));
}

function headersBlock(title, headers) {
  return headers && headers.length ? el("details", {}, el("summary", {}, title), el("pre", {}, headers.map(([n, v]) => `${n}: ${v}`).join("\n"))) : null;
}

async function jobView(id) {
  const [job, attempts] = await Promise.all([api("GET", `${API}/jobs/${id}`), api("GET", `${API}/jobs/${id}/attempts`)]);
  const retry = el("button", { type: "button", class: "primary", id: "retry", onclick: () => act("POST", `${API}/jobs/${id}/retry`, id) }, "Retry");
  const cancel = el("button", { type: "button", class: "danger", id: "cancel", onclick: () => act("DELETE", `${API}/jobs/${id}`, id) }, "Cancel");
  const finished = ["delivered", "dead", "gone", "cancelled"].includes(job.state);
  const entries = attempts.data.map((a) =>
    el("div", { class: "attempt", "data-attempt": a.n },
      el("strong", {}, `#${a.n} `), a.at, " · ",
      el("span", { class: a.status >= 200 && a.status < 300 ? "ok" : "bad" }, a.status ? "HTTP " + a.status : a.error || "failed"),
      ` · ${a.duration_ms} ms`, a.message ? el("div", {}, a.message) : null,
      headersBlock("Request headers", a.request_headers),
      headersBlock("Response headers", a.response_headers),
      a.response_body !== undefined && a.response_body !== null ? el("details", {}, el("summary", {}, "Response body" + (a.response_truncated ? " (truncated)" : "")), el("pre", {}, a.response_body)) : null));
  show(
    panel("Job " + job.id,
      table(["state", "target", "attempts", "next attempt"], [el("tr", {}, el("td", { id: "job-state" }, job.state + (job.in_flight ? " (in flight)" : "")), el("td", {}, `${job.method} ${job.target}`), el("td", { class: "num", id: "attempt-count" }, job.attempt_count), el("td", {}, job.next_attempt_at || "–"))]),
      el("div", { class: "actions" }, finished ? retry : null, finished ? null : cancel, el("button", { type: "button", onclick: () => jobView(id).catch(fail) }, "Reload"))),
    panel("Attempts", entries.length ? entries : el("p", {}, "No attempts yet.")));
}

async function act(method, path, id) {
  try {
    await api(method, path);
    await jobView(id);
  } catch (error) {
    fail(error);
  }
}

async function deadView() {
  const prefix = el("input", { id: "prefix", placeholder: "target prefix, e.g. https://api.example.com/" });
  const since = el("input", { id: "since", type: "datetime-local" });
  const until = el("input", { id: "until", type: "datetime-local" });
  const result = el("p", { id: "replay-result" });
  const list = el("div");
  const filter = () => {
    const body = { state: "dead" };
    if (prefix.value) body.target_prefix = prefix.value;
    if (since.value) body.since = Math.floor(new Date(since.value).getTime() / 1000);
    if (until.value) body.until = Math.floor(new Date(until.value).getTime() / 1000);
    return body;
  };
  const load = async (cursor = null) => {
    list.replaceChildren(...(await jobList("dead", cursor, prefix.value, (next) => load(next).catch(fail))));
  };
  const replay = async () => {
    if (!confirm("Replay every dead job matching the filter?")) return;
    let requeued = 0, cursor = null;
    do {
      const report = await api("POST", API + "/jobs/retry", Object.assign(filter(), cursor ? { cursor: Number(cursor) } : {}));
      requeued += report.requeued;
      cursor = report.next_cursor;
      result.textContent = `Re-queued ${requeued} so far…`;
    } while (cursor !== null && cursor !== undefined);
    result.textContent = `Re-queued ${requeued} dead jobs.`;
    await load();
  };
  show(
    el("form", { onsubmit: (e) => { e.preventDefault(); load().catch(fail); } },
      prefix, el("label", { for: "since" }, "since"), since, el("label", { for: "until" }, "until"), until,
      el("button", { type: "submit" }, "Filter"),
      el("button", { type: "button", class: "primary", onclick: () => replay().catch(fail) }, "Replay all matching")),
    result, panel("Dead letters", list));
  await load();
}

/** One page of the channels, with their subscription counts; a name opens the channel, and
 * `onPage(cursor)` shows the next page. */
async function channelList(cursor, onPage) {
  const query = new URLSearchParams({ limit: "50" });
  if (cursor) query.set("cursor", cursor);
  const page = await api("GET", API + "/channels?" + query);
  const rows = page.data.map((c) => el("tr", {},
    el("td", {}, el("a", { href: "#channels", "data-channel": c.name, onclick: (e) => { e.preventDefault(); channelsView(c.name).catch(fail); } }, c.name)),
    el("td", { class: "num", "data-subscriptions": c.name }, c.subscriptions), el("td", {}, c.verify_intent ? "verifies intent" : "no intent check"), el("td", { class: "wide" }, c.created_at)));
  const next = page.next_cursor ? el("button", { type: "button", onclick: () => onPage(page.next_cursor) }, "Next page") : null;
  return panel("Channels", rows.length ? table(["channel", "subscriptions", "", "created"], rows) : el("p", {}, "No channels yet."), el("div", { class: "actions" }, next));
}

async function channelsView(name) {
  const input = el("input", { id: "channel", placeholder: "channel name", value: name || "", required: true });
  const out = el("div");
  show(el("form", { onsubmit: (e) => { e.preventDefault(); channelsView(input.value).catch(fail); } }, input, el("button", { type: "submit" }, "Show")), out);
  if (!name) {
    const load = (cursor) => channelList(cursor, (next) => load(next).catch(fail)).then((list) => out.replaceChildren(list));
    await load(null);
    return;
  }
  const [channel, subs] = await Promise.all([api("GET", `${API}/channels/${encodeURIComponent(name)}`), api("GET", `${API}/channels/${encodeURIComponent(name)}/subscriptions?limit=200`)]);
  const rows = subs.data.map((s) => {
    const enable = s.status === "disabled" ? el("button", { type: "button", onclick: () => api("POST", `${API}/channels/${encodeURIComponent(name)}/subscriptions/${s.id}/enable`).then(() => channelsView(name)).catch(fail) }, "Enable") : null;
    return el("tr", {}, el("td", {}, s.id), el("td", { class: "wide" }, s.url), el("td", { class: s.status === "active" ? "ok" : "bad" }, s.status, s.disabled_reason ? ` (${s.disabled_reason})` : ""), el("td", { class: "wide" }, (s.event_types || []).join(", ")), el("td", {}, enable));
  });
  out.replaceChildren(panel("Channel " + name, el("pre", {}, JSON.stringify(channel, null, 2))), panel("Subscriptions", rows.length ? table(["id", "url", "status", "event types", ""], rows) : el("p", {}, "No subscriptions.")));
}

/** What a flow's settings limit, in words ("2 at once, 10 per 1m, ordered"). */
function flowLimits(flow) {
  const limits = [
    flow.parallelism ? `${flow.parallelism} at once` : null,
    flow.rate ? `${flow.rate} per ${flow.period}` : null,
    flow.max_attempts ? count(flow.max_attempts, "attempt", "attempts") : null,
    flow.ordered ? "ordered" : null,
  ];
  return limits.filter(Boolean).join(", ") || "defaults";
}

/** The flows with stored settings, a page at a time, each with its Pause or Resume button. */
async function flowsView(cursor = null) {
  const query = new URLSearchParams({ limit: "50" });
  if (cursor) query.set("cursor", cursor);
  const page = await api("GET", API + "/flows?" + query);
  const toggle = (flow) => {
    const action = flow.paused ? "resume" : "pause";
    const path = `${API}/flows/${encodeURIComponent(flow.key)}/${action}`;
    return el("button", { type: "button", class: flow.paused ? "primary" : "danger", "data-flow-action": flow.key, onclick: () => api("POST", path).then(() => flowsView(cursor)).catch(fail) }, flow.paused ? "Resume" : "Pause");
  };
  const rows = page.data.map((flow) => el("tr", {},
    el("td", { class: "wide" }, flow.key), el("td", {}, flowLimits(flow)),
    el("td", { class: flow.paused ? "bad" : "ok", "data-flow-state": flow.key }, flow.paused ? "paused" : "running"),
    el("td", { class: "num", "data-waiting": flow.key }, flow.waiting), el("td", { class: "num", "data-in-flight": flow.key }, flow.in_flight),
    el("td", { "data-head": flow.key }, flow.head ? el("a", { href: "#job/" + flow.head }, flow.head) : ""),
    el("td", {}, toggle(flow))));
  const next = page.next_cursor ? el("button", { type: "button", onclick: () => flowsView(page.next_cursor).catch(fail) }, "Next page") : null;
  show(panel("Flows with stored settings",
    rows.length ? table(["flow", "settings", "state", "waiting", "in flight", "its turn (ordered)", ""], rows) : el("p", {}, "No flow has stored settings."),
    el("div", { class: "actions" }, next)));
}

async function keysView() {
  const keys = await api("GET", API + "/keys");
  const rows = keys.data.map((k) => el("tr", {}, el("td", {}, k.id), el("td", {}, k.type), el("td", {}, k.default ? "default" : ""), el("td", { class: "wide" }, k.created_at || "")));
  show(panel("Signing keys (secrets are never shown here)", rows.length ? table(["id", "type", "", "created"], rows) : el("p", {}, "No stored keys.")));
}

const VIEWS = { overview, jobs: () => jobsView("delivered"), dead: deadView, channels: () => channelsView(), flows: () => flowsView(), keys: keysView };

function route() {
  const hash = location.hash.slice(1) || "overview";
  const [view, arg] = hash.split("/");
  for (const button of document.querySelectorAll("nav [data-view]")) button.classList.toggle("active", button.dataset.view === view);
  const run = view === "job" && arg ? () => jobView(arg) : VIEWS[view] || overview;
  run().catch(fail);
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  $("nav").hidden = true;
  $("view").replaceChildren();
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message || "";
}

function start() {
  $("sign-in").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    $("sign-in").hidden = true;
    $("nav").hidden = false;
    route();
  });
  $("sign-out").addEventListener("click", () => signOut());
  for (const button of document.querySelectorAll("nav [data-view]")) {
    button.addEventListener("click", () => { location.hash = button.dataset.view; });
  }
  window.addEventListener("hashchange", route);
  if (sessionStorage.getItem(TOKEN_KEY)) {
    $("nav").hidden = false;
    route();
  } else {
    signOut();
  }
}

document.addEventListener("DOMContentLoaded", start);

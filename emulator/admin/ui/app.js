// The emulator's web page: every call it makes is a call of the admin API or of a vendor
// API, the same ones a script would make. No library, nothing fetched from elsewhere.
"use strict";

const ADMIN = "/_emulator";
const YANDEX_AUTH = "Bearer emulator-demo";   // any well-formed credential, unless access.json lists keys
const YANDEX_FOLDER = "b1gemulatordemo";
const MISSES = new Set(["generated", "nearest"]);
const JOURNAL_ROWS = 200;                      // rows the table keeps (the journal keeps more)

const state = { contents: null, picture: null, lastSeq: 0, rows: new Map(), stream: null };
const $ = (selector, root = document) => root.querySelector(selector);

// -- small helpers -------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function token() { return $("#token").value.trim(); }

function notice(text) {
  const box = $("#notice");
  box.textContent = text || "";
  box.hidden = !text;
}

// One admin API call: the token if one is given, JSON in and out, the API's error shown.
async function admin(method, path, body) {
  const headers = {};
  if (token()) headers.Authorization = `Bearer ${token()}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(ADMIN + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) notice("The emulator has an admin token: type it at the top right.");
  const text = await response.text();
  const data = text && (response.headers.get("Content-Type") || "").includes("json") ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = data && data.error;  // a reload's 422 is the fixture status, its error an object
    throw new Error((error && (error.message || error)) || `HTTP ${response.status}`);
  }
  return data;
}

function shellQuote(text) { return `'${String(text).replace(/'/g, `'\\''`)}'`; }

function base64Of(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function decodeBase64Text(text) {
  return new TextDecoder().decode(Uint8Array.from(atob(text || ""), (c) => c.charCodeAt(0)));
}

function tierOf(header) {
  const tier = (header || "").split(";")[0].trim();
  return tier || null;
}

function tierBadge(tier) { return tier ? el("span", { class: `tier ${tier}`, text: tier }) : ""; }

function copyButton(text) {
  return el("button", { type: "button", class: "copy", text: "Copy", onclick: async (event) => {
    try { await navigator.clipboard.writeText(text); event.target.textContent = "Copied"; }
    catch { event.target.textContent = "Select and copy"; }
  } });
}

// -- tabs ----------------------------------------------------------------------------------

function showTab() {
  const name = (location.hash || "#try").slice(1);
  for (const section of document.querySelectorAll("section.tab")) section.hidden = section.id !== `tab-${name}`;
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.tab === name);
  if (name === "fixtures") loadFixtures();
  if (name === "stubs") loadStubsAndFaults();
}

// -- Try it: one query, every vendor's answer side by side ---------------------------------

function engine() {
  const engines = (state.contents && state.contents.engines) || [];
  return engines.find((e) => e.image_search) || engines[0] || null;
}

function doofinderAuth(e) { return e && e.keys.length ? `Token ${e.keys[0]}` : null; }

function imageCalls(picture) {
  const base = location.origin, file = picture.file;
  const calls = [{
    api: "yandex.v2.rest", title: "Yandex v2 REST · SearchByImage", method: "POST",
    url: "/v2/image/search_by_image", headers: { Authorization: YANDEX_AUTH, "Content-Type": "application/json" },
    body: JSON.stringify({ folderId: YANDEX_FOLDER, data: picture.base64, page: "0" }),
    results: (r) => JSON.parse(r.text).images.map((i) => ({ src: i.url, caption: i.pageTitle || i.host })),
    command: `printf '{"folderId": "${YANDEX_FOLDER}", "data": "%s", "page": "0"}' "$(base64 -w0 ${shellQuote(file)})" > body.json\n`
      + `curl -i -H ${shellQuote("Authorization: " + YANDEX_AUTH)} --data @body.json ${base}/v2/image/search_by_image`,
  }, {
    api: "yandex.v2.grpc", title: "Yandex v2 gRPC · SearchByImage",
    grpc: { operation: "SearchByImage", message: { folderId: YANDEX_FOLDER, data: picture.base64, page: "0" } },
    results: (message) => (message.images || []).map((i) => ({ src: i.url, caption: i.pageTitle || i.host })),
    command: (target) => `printf '{"folder_id": "${YANDEX_FOLDER}", "data": "%s", "page": "0"}' "$(base64 -w0 ${shellQuote(file)})" > grpc-body.json\n`
      + `grpcurl -plaintext -rpc-header ${shellQuote("Authorization: " + YANDEX_AUTH)} -d @ < grpc-body.json \\\n`
      + `  ${target} yandex.cloud.searchapi.v2.ImageSearchService/SearchByImage`,
  }];
  const e = engine();
  if (e) {
    const path = `/6/${e.hashid}/_image_search?rpp=12`, auth = doofinderAuth(e);
    calls.push({
      api: "doofinder.v6", title: `Doofinder v6 · _image_search (${e.name})`, method: "POST", url: path,
      headers: Object.assign({ "Content-Type": "application/json" }, auth ? { Authorization: auth } : {}),
      body: JSON.stringify({ image: picture.base64 }),
      results: (r) => JSON.parse(r.text).results.map((i) => ({ src: i.image_link, caption: i.title })),
      command: `printf '{"image": "%s"}' "$(base64 -w0 ${shellQuote(file)})" > doofinder-body.json\n`
        + `curl -i -X POST ${auth ? "-H " + shellQuote("Authorization: " + auth) + " " : ""}`
        + `-H 'Content-Type: application/json' --data @doofinder-body.json ${shellQuote(base + path)}`,
    });
  }
  calls.push({ api: "yandex.v1.xml", title: "Yandex v1 XML · /images-xml", skip: "v1 searches by text only" });
  return calls;
}

function xmlDocs(xml) {
  const doc = new DOMParser().parseFromString(xml, "application/xml");
  return [...doc.querySelectorAll("doc")].map((d) => ({
    src: (d.querySelector("image-properties > thumbnail-link") || d.querySelector("url") || {}).textContent,
    caption: (d.querySelector("title") || d.querySelector("domain") || {}).textContent,
  }));
}

function textCalls(text) {
  const base = location.origin, e = engine();
  const v1 = `/images-xml?folderid=${YANDEX_FOLDER}&apikey=demo&text=${encodeURIComponent(text)}&p=0`;
  const v2body = { folderId: YANDEX_FOLDER, query: { searchType: "SEARCH_TYPE_RU", queryText: text } };
  const calls = [{
    api: "yandex.v2.rest", title: "Yandex v2 REST · Search", method: "POST", url: "/v2/image/search",
    headers: { Authorization: YANDEX_AUTH, "Content-Type": "application/json" }, body: JSON.stringify(v2body),
    results: (r) => xmlDocs(decodeBase64Text(JSON.parse(r.text).rawData)),
    command: `curl -i -H ${shellQuote("Authorization: " + YANDEX_AUTH)} --data ${shellQuote(JSON.stringify(v2body))} ${base}/v2/image/search`,
  }, {
    api: "yandex.v2.grpc", title: "Yandex v2 gRPC · Search", grpc: { operation: "Search", message: v2body },
    results: (message) => xmlDocs(decodeBase64Text(message.rawData)),
    command: (target) => `grpcurl -plaintext -rpc-header ${shellQuote("Authorization: " + YANDEX_AUTH)} \\\n`
      + `  -d ${shellQuote(JSON.stringify({ folder_id: YANDEX_FOLDER, query: { search_type: "SEARCH_TYPE_RU", query_text: text } }))} \\\n`
      + `  ${target} yandex.cloud.searchapi.v2.ImageSearchService/Search`,
  }, {
    api: "yandex.v1.xml", title: "Yandex v1 XML · /images-xml", method: "GET", url: v1, headers: {},
    results: (r) => xmlDocs(r.text), command: `curl -i ${shellQuote(base + v1)}`,
  }];
  if (e) {
    const path = `/6/${e.hashid}/_search?query=${encodeURIComponent(text)}&rpp=12`, auth = doofinderAuth(e);
    calls.push({
      api: "doofinder.v6", title: `Doofinder v6 · _search (${e.name})`, method: "GET", url: path,
      headers: auth ? { Authorization: auth } : {},
      results: (r) => JSON.parse(r.text).results.map((i) => ({ src: i.image_link, caption: i.title })),
      command: `curl -i ${auth ? "-H " + shellQuote("Authorization: " + auth) + " " : ""}${shellQuote(base + path)}`,
    });
  }
  return calls;
}

function panelFor(call) {
  return el("article", { class: "panel", "data-api": call.api },
    el("h3", { text: call.title }), el("div", { class: "status", text: call.skip || "sending..." }),
    el("div", { class: "match" }), el("div", { class: "grid" }));
}

function showCommand(panel, label, command) {
  panel.append(el("div", { class: "command-head" }, el("span", { text: label }), copyButton(command)),
    el("pre", { class: "command", text: command }));
}

// What every panel shows of an answer: status, match, the result pictures, the raw answer.
function showAnswer(panel, { ok, status, ms, header, raw, results }) {
  const line = $(".status", panel);
  line.textContent = `${status} in ${ms} ms`;
  line.className = `status ${ok ? "ok" : "failed"}`;
  $(".match", panel).replaceChildren(tierBadge(tierOf(header)), " ", header || "no match header");
  $(".grid", panel).replaceChildren(...results.filter((r) => r.src).map((r) =>
    el("figure", {}, el("img", { src: r.src, alt: r.caption || "", loading: "lazy" }),
      el("figcaption", { text: r.caption || "" }))));
  panel.append(el("details", { class: "raw" }, el("summary", { text: `Raw answer (${raw.length} characters)` }),
    el("pre", { text: raw.length > 20000 ? raw.slice(0, 20000) + "\n..." : raw })));
}

function readResults(call, input, panel) {
  try { return call.results(input); } catch (error) {
    $(".match", panel).append(` (answer unreadable: ${error.message})`);
    return [];
  }
}

async function sendHttp(call, panel) {
  const started = performance.now();
  const response = await fetch(call.url, { method: call.method, headers: call.headers, body: call.body });
  const text = await response.text(), ms = Math.round(performance.now() - started);
  showAnswer(panel, { ok: response.ok, status: `HTTP ${response.status}`, ms,
    header: response.headers.get("X-Emulator-Match"), raw: text,
    results: response.ok ? readResults(call, { text }, panel) : [] });
  showCommand(panel, "curl", call.command);
}

// Browsers cannot speak gRPC: the admin API makes the call over real gRPC and reports it.
async function sendGrpc(call, panel) {
  const answer = await admin("POST", `/grpc/${call.grpc.operation}`,
    { message: call.grpc.message, metadata: { authorization: YANDEX_AUTH } });
  const raw = JSON.stringify(answer.code === "OK" ? answer.message : { code: answer.code, details: answer.details }, null, 1);
  showAnswer(panel, { ok: answer.code === "OK", status: `gRPC ${answer.code}`, ms: Math.round(answer.latency_ms),
    header: answer.trailing_metadata["x-emulator-match"], raw,
    results: answer.message ? readResults(call, answer.message, panel) : [] });
  showCommand(panel, "grpcurl", call.command(answer.target));
}

async function send(call, panel) {
  try { await (call.grpc ? sendGrpc(call, panel) : sendHttp(call, panel)); } catch (error) {
    $(".status", panel).textContent = `failed: ${error.message}`;
    $(".status", panel).className = "status failed";
  }
}

function run(calls) {
  const panels = $("#panels");
  panels.replaceChildren();
  for (const call of calls) {
    const panel = panelFor(call);
    panels.append(panel);
    if (!call.skip) send(call, panel);
  }
}

async function choose(file, bytes, preview) {
  state.picture = { file, base64: base64Of(bytes) };
  const img = $("#chosen-picture");
  img.src = preview;
  img.alt = file;
  img.hidden = false;
  $("#chosen-name").textContent = `${file} (${bytes.length.toLocaleString()} bytes)`;
  run(imageCalls(state.picture));
}

async function chooseFile(file) {
  if (!file) return;
  const bytes = new Uint8Array(await file.arrayBuffer());
  await choose(file.name, bytes, URL.createObjectURL(file));
}

async function chooseFixture(image) {
  const bytes = new Uint8Array(await (await fetch(image.url)).arrayBuffer());
  await choose(`fixtures/images/${image.file}`, bytes, image.url);
}

function renderPicks() {
  const picks = $("#fixture-pictures");
  picks.replaceChildren(...state.contents.images.map((image) =>
    el("button", { type: "button", class: "pick", "data-file": image.file, title: image.file,
      onclick: () => chooseFixture(image) },
    el("img", { src: image.url, alt: image.file }), image.file)));
}

function setUpTry() {
  const drop = $("#drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    chooseFile(event.dataTransfer.files[0]);
  });
  $("#file").addEventListener("change", (event) => chooseFile(event.target.files[0]));
  $("#text-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("#text").value.trim();
    if (text) run(textCalls(text));
  });
}

// -- Journal, live ----------------------------------------------------------------------------

function pictureFor(candidate) {
  const c = state.contents;
  if (!c) return null;
  if (candidate.source === "catalog") {
    for (const e of c.engines) {
      const item = e.items.find((i) => i.id === candidate.rule);
      if (item) return item.image_link;
    }
    return null;
  }
  const rule = c.image_rules.find((r) => r.name === candidate.rule);
  return rule ? rule.url : null;
}

function journalRow(entry) {
  const match = entry.match || {};
  const failed = entry.outcome !== "OK";
  const row = el("tr", { "data-seq": entry.seq, class: MISSES.has(match.tier) ? "miss" : null },
    el("td", { text: entry.seq }),
    el("td", {}, entry.image ? el("img", { class: "thumb", alt: `query picture of #${entry.seq}`,
      src: `${ADMIN}/requests/${entry.seq}/thumbnail` }) : ""),
    el("td", { text: entry.at.slice(11, 23) }), el("td", { text: entry.api }), el("td", { text: entry.method }),
    el("td", { class: "tenant", text: entry.tenant || "", title: entry.tenant || "" }),
    el("td", { class: failed ? "status-failed" : null, text: entry.outcome }),
    el("td", { text: entry.latency_ms === null ? "" : `${entry.latency_ms.toFixed(1)} ms` }),
    el("td", {}, tierBadge(match.tier), match.rule ? ` ${match.rule}` : ""),
    el("td", { text: match.distance === null || match.distance === undefined ? "" : match.distance }));
  row.addEventListener("click", () => showEntry(entry, row));
  return row;
}

function addEntries(entries, fresh) {
  const body = $("#journal-table tbody");
  for (const entry of entries) {
    if (state.rows.has(entry.seq)) continue;
    const row = journalRow(entry);
    if (fresh) row.classList.add("fresh");
    body.prepend(row);
    state.rows.set(entry.seq, entry);
    state.lastSeq = Math.max(state.lastSeq, entry.seq);
  }
  while (body.rows.length > JOURNAL_ROWS) {
    const last = body.rows[body.rows.length - 1];
    state.rows.delete(Number(last.dataset.seq));
    last.remove();
  }
  $("#journal-count").textContent = state.rows.size;
}

function stubFrom(entry, explanation) {
  const stub = { name: `from request #${entry.seq}`, vendor: entry.vendor };
  const lookup = entry.lookup || {};
  if (entry.image) stub.sha256 = entry.image.sha256;
  else if (lookup.text) stub.text = lookup.text;
  else if (lookup.url) stub.url = lookup.url;
  else if (lookup.cbir_id) stub.cbir_id = lookup.cbir_id;
  if (lookup.hashid) stub.hashid = lookup.hashid;
  const nearest = ((explanation && explanation.candidates) || [])[0];
  if (nearest && nearest.source === "catalog") stub.results = [nearest.rule];
  else {
    const rule = nearest && state.contents && state.contents.image_rules.find((r) => r.name === nearest.rule);
    stub.results = (rule && rule.results) || (state.contents ? state.contents.documents.slice(0, 1).map((d) => d.id) : []);
  }
  return stub;
}

async function showEntry(entry, row) {
  for (const other of document.querySelectorAll("#journal-table tr.selected")) other.classList.remove("selected");
  row.classList.add("selected");
  const box = $("#entry");
  box.hidden = false;
  box.replaceChildren(el("h3", { text: `#${entry.seq} ${entry.api} ${entry.method}` }),
    el("p", {}, tierBadge((entry.match || {}).tier), ` ${entry.outcome}`));
  let explanation = null;
  if (MISSES.has((entry.match || {}).tier)) {
    try {
      const found = (await admin("GET", "/explain/misses?limit=50")).misses.find((m) => m.entry.seq === entry.seq);
      explanation = found && found.explanation;
    } catch (error) { box.append(el("p", { class: "error", text: error.message })); }
    const why = el("div", { class: "explain" }, el("h3", { text: "Why it missed" }));
    if (explanation) {
      why.append(el("p", { class: "reason", text: explanation.reason }),
        el("div", { class: "candidates" }, explanation.candidates.map((c) => el("div", { class: "candidate" },
          pictureFor(c) ? el("img", { src: pictureFor(c), alt: c.rule }) : "",
          el("p", { text: c.rule }),
          el("p", { text: `distance ${c.distance ?? "–"}${c.similarity === null ? "" : `, similarity ${c.similarity}`}` }),
          c.why_not.map((w) => el("p", { class: "why-not", text: w }))))));
    } else {
      why.append(el("p", { text: "No longer among the 50 latest misses." }));
    }
    box.append(why);
  }
  if (entry.lookup || entry.image) {
    box.append(el("button", { type: "button", class: "make-stub", text: "Make a stub from this", onclick: () => {
      $("#stub-json").value = JSON.stringify(stubFrom(entry, explanation), null, 1);
      location.hash = "#stubs";
    } }));
  }
  box.append(el("details", { class: "raw" }, el("summary", { text: "The journal entry" }),
    el("pre", { text: JSON.stringify(entry, null, 1) })));
}

// The stream is read with fetch (EventSource cannot send the admin token); after an end it
// reconnects from the last seq seen, so no entry is lost or shown twice.
async function follow() {
  const streamState = $("#stream-state");
  for (;;) {
    try {
      const headers = token() ? { Authorization: `Bearer ${token()}` } : {};
      const response = await fetch(`${ADMIN}/requests/stream?after=${state.lastSeq}`, { headers });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      streamState.textContent = "live";
      streamState.className = "state live";
      const reader = response.body.getReader(), decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          if (data) addEntries([JSON.parse(data)], true);
        }
      }
    } catch (error) {
      streamState.textContent = `reconnecting (${error.message})`;
    }
    streamState.className = "state";
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

async function loadJournal() {
  try {
    addEntries((await admin("GET", `/requests?limit=${JOURNAL_ROWS}`)).requests, false);
  } catch (error) { $("#stream-state").textContent = error.message; }
  follow();
}

// -- Fixtures ---------------------------------------------------------------------------------

function outcomeText(rule) {
  if (rule.error) return `error: ${Object.values(rule.error).filter((v) => v !== "").join(" ")}`;
  const parts = [];
  if (rule.results) parts.push(`${rule.results.length} results`);
  if (rule.delay_ms) parts.push(`${rule.delay_ms} ms delay`);
  return parts.join(", ");
}

async function loadFixtures() {
  try {
    const [status, contents] = await Promise.all([admin("GET", "/fixtures"), admin("GET", "/fixtures/contents")]);
    state.contents = contents;
    $("#fixture-status").textContent = `Generation ${status.generation}, loaded ${status.loaded_at} from ${status.directory}`
      + (status.watching ? ", watching for changes" : "");
    const error = $("#fixture-error");
    error.hidden = !status.error;
    error.textContent = status.error ? `Not reloaded (still serving generation ${status.generation}): ${status.error.message}` : "";
    $("#image-rules").replaceChildren(...contents.image_rules.map((r) => el("div", { class: "card rule" },
      r.url ? el("img", { src: r.url, alt: r.image }) : "", el("p", { class: "name", text: r.name }),
      el("p", { text: r.image || `sha256 ${r.sha256 || ""}` }), el("p", { text: outcomeText(r) }))));
    $("#query-rules").replaceChildren(...contents.query_rules.map((r) =>
      el("li", {}, el("strong", { text: r.text }), ` (${r.name}): ${outcomeText(r)}`)));
    $("#engines").replaceChildren(...contents.engines.map((e) => el("div", { class: "engine" },
      el("strong", { text: e.name }), ` ${e.hashid}, ${e.item_count} items`,
      el("div", { class: "grid" }, e.items.slice(0, 48).map((i) => el("figure", {},
        i.image_link ? el("img", { src: i.image_link, alt: i.title || i.id, loading: "lazy" }) : "",
        el("figcaption", { text: i.title || i.id })))))));
    $("#documents").replaceChildren(...contents.documents.map((d) => el("div", { class: "card" },
      el("img", { src: d.url, alt: d.id, loading: "lazy" }), el("p", { class: "name", text: d.id }),
      el("p", { text: d.page_title }))));
  } catch (error) { notice(error.message); }
}

// -- Stubs and faults -----------------------------------------------------------------------

function itemRow(kind, item) {
  return el("li", { "data-id": item.id }, el("code", { text: JSON.stringify(item) }),
    el("button", { type: "button", class: "remove", text: "Remove", onclick: async () => {
      try { await admin("DELETE", `/${kind}/${encodeURIComponent(item.id)}`); } catch (error) { notice(error.message); }
      loadStubsAndFaults();
    } }));
}

async function loadStubsAndFaults() {
  try {
    const [stubs, faults] = await Promise.all([admin("GET", "/stubs"), admin("GET", "/faults")]);
    const none = (text) => el("li", { class: "none", text });
    $("#stub-list").replaceChildren(...(stubs.stubs.length ? stubs.stubs.map((s) => itemRow("stubs", s)) : [none("No stubs")]));
    $("#fault-list").replaceChildren(...(faults.faults.length ? faults.faults.map((f) => itemRow("faults", f)) : [none("No faults")]));
  } catch (error) { notice(error.message); }
}

function setUpEditor(form, kind) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $(".form-error", form);
    error.hidden = true;
    try {
      await admin("POST", `/${kind}`, JSON.parse($("textarea", form).value));
      loadStubsAndFaults();
    } catch (problem) {
      error.textContent = problem.message;
      error.hidden = false;
    }
  });
}

// -- start ------------------------------------------------------------------------------------

async function start() {
  $("#token").value = sessionStorage.getItem("emulator-admin-token") || "";
  $("#token").addEventListener("change", () => {
    sessionStorage.setItem("emulator-admin-token", token());
    notice("");
    loadFixtures().then(renderPicks);
  });
  window.addEventListener("hashchange", showTab);
  setUpTry();
  setUpEditor($("#stub-form"), "stubs");
  setUpEditor($("#fault-form"), "faults");
  $("#fixtures-reload").addEventListener("click", async () => {
    try { await admin("POST", "/fixtures/reload"); } catch (error) { notice(error.message); }
    loadFixtures();
  });
  $("#journal-clear").addEventListener("click", async () => {
    try { await admin("DELETE", "/requests"); } catch (error) { notice(error.message); return; }
    $("#journal-table tbody").replaceChildren();
    state.rows.clear();
    $("#journal-count").textContent = "0";
  });
  showTab();
  await loadFixtures();
  if (state.contents) renderPicks();
  loadJournal();
}

start();

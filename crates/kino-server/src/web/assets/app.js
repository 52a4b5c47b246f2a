// kino's web app. Every page is filled from the same /v1 API that SDK clients use; the
// session cookie set at sign-in authenticates the requests. User text is only ever set with
// textContent (never innerHTML), so prompts cannot inject markup.
"use strict";

// ---------- small helpers ----------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

class ApiError extends Error {
  constructor(message, param, code, status) {
    super(message);
    this.param = param;
    this.code = code;
    this.status = status;
  }
}

async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  const r = await fetch(path, init);
  let j = null;
  try { j = await r.json(); } catch (_) { /* not JSON */ }
  if (!r.ok) {
    if (r.status === 401) {
      location.href = "/signin?next=" + encodeURIComponent(location.pathname);
    }
    const e = (j && j.error) || {};
    throw new ApiError(e.message || `${r.status} ${r.statusText}`, e.param, e.code, r.status);
  }
  return j;
}

function when(unix) {
  if (!unix) return "";
  const s = Math.round(Date.now() / 1000 - unix);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(unix * 1000).toLocaleDateString();
}

function excerpt(text, n) {
  const t = (text || "").replace(/\s+/g, " ").trim();
  return t.length > n ? t.slice(0, n - 1) + "…" : t;
}

function errorBox(err) {
  const box = el("div", { class: "error", role: "alert" });
  box.append(el("strong", { text: err.code === "moderation_blocked" ? "Refused by policy: " : "Error: " }));
  box.append(el("span", { text: err.message }));
  if (err.param) box.append(el("span", { class: "param", text: ` (field: ${err.param})` }));
  return box;
}

function progressBar(v) {
  const pct = Math.max(0, Math.min(100, v.progress || 0));
  const bar = el("div", { class: "bar" });
  bar.style.width = `${pct}%`; // CSSOM, which the page's CSP allows (style attributes it does not)
  return el("div", { class: "progress", role: "progressbar", "aria-valuenow": pct, "aria-valuemin": 0, "aria-valuemax": 100 },
    bar,
    el("span", { class: "label", text: v.status === "queued" ? "Queued" : `Generating · ${pct}%` }));
}

function content(id, variant) {
  return `/v1/videos/${encodeURIComponent(id)}/content` + (variant ? `?variant=${variant}` : "");
}

const pending = (v) => v.status === "queued" || v.status === "in_progress";

// Polls a video until it completes or fails; calls `update` with each new state.
function poll(id, update, ms = 1500) {
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    try {
      const v = await api("GET", `/v1/videos/${encodeURIComponent(id)}`);
      update(v);
      if (!pending(v)) return;
    } catch (e) {
      if (e.status === 404) return;
    }
    setTimeout(tick, ms);
  };
  setTimeout(tick, ms);
  return () => { stopped = true; };
}

let session = null;
async function loadSession() {
  session = await api("GET", "/web/session");
  const who = document.getElementById("who");
  if (who) {
    who.replaceChildren(
      el("span", { class: "key", title: `key id ${session.key.id}`, text: session.key.name }),
      el("form", { method: "post", action: "/signout", class: "inline" },
        el("button", { type: "submit", class: "link", text: "Sign out" })));
  }
  return session;
}

// ---------- feed ----------

function videoCard(v) {
  const card = el("a", { class: "card", href: `/videos/${v.id}`, dataset: { id: v.id, status: v.status } });
  const media = el("div", { class: "media" });
  const meta = el("div", { class: "meta" },
    el("p", { class: "prompt", text: excerpt(v.prompt, 140) }),
    el("p", { class: "sub", text: `${v.size} · ${v.seconds} s · ${v.model} · ${when(v.created_at)}` }));
  card.append(media, meta);
  const fill = (v) => {
    card.dataset.status = v.status;
    if (v.status === "completed") {
      const img = el("img", { src: content(v.id, "thumbnail"), alt: excerpt(v.prompt, 80), loading: "lazy" });
      media.replaceChildren(img);
      // Hovering plays the clip, muted, in place.
      card.onmouseenter = () => {
        if (media.querySelector("video")) return;
        const vid = el("video", { src: content(v.id), muted: true, autoplay: true, loop: true, playsinline: true });
        vid.muted = true;
        media.append(vid);
      };
      card.onmouseleave = () => media.querySelector("video")?.remove();
    } else if (v.status === "failed") {
      media.replaceChildren(el("div", { class: "failed", text: (v.error && v.error.message) || "Failed" }));
    } else {
      media.replaceChildren(progressBar(v));
    }
  };
  fill(v);
  if (pending(v)) poll(v.id, fill);
  return card;
}

async function feedPage(app) {
  const grid = el("div", { class: "grid", id: "feed" });
  const more = el("button", { class: "more", hidden: true, text: "Load more" });
  const header = el("div", { class: "page-head" },
    el("h1", { text: "Your clips" }),
    el("a", { class: "button", href: "/create", text: "Create" }));
  app.replaceChildren(header, grid, more);
  let after = null;
  const load = async () => {
    more.disabled = true;
    const q = new URLSearchParams({ limit: "24", order: "desc" });
    if (after) q.set("after", after);
    const page = await api("GET", `/v1/videos?${q}`);
    for (const v of page.data) grid.append(videoCard(v));
    if (!after && page.data.length === 0) {
      grid.replaceWith(el("div", { class: "empty" },
        el("p", { text: "Nothing here yet." }),
        el("a", { class: "button", href: "/create", text: "Make your first clip" })));
    }
    after = page.last_id;
    more.hidden = !page.has_more;
    more.disabled = false;
  };
  more.onclick = () => load().catch((e) => app.append(errorBox(e)));
  await load();
}

// ---------- create ----------

const EXAMPLE = `Scene: A paper lantern rises over a river at dusk.
Camera: Slow push-in, 50mm, hand-held feel.
Audio: Crickets, soft water splash at 0:02.5, wind chime.
Style: Warm tones, subtle vignette. No close-ups.`;

function field(label, input, hint) {
  return el("label", { class: "field" }, el("span", { class: "label", text: label }), input,
    hint ? el("small", { class: "hint", text: hint }) : null);
}

async function createPage(app) {
  const s = session;
  const prompt = el("textarea", { name: "prompt", id: "prompt", rows: 8, maxlength: 32000, required: true, placeholder: EXAMPLE, spellcheck: "true" });
  const size = el("select", { name: "size", id: "size" },
    s.model.sizes.map((z) => el("option", { value: z, text: z === s.model.size ? `${z} (native)` : z })));
  const seconds = el("input", { name: "seconds", id: "seconds", type: "number", min: 1, max: s.model.max_seconds, value: 4, required: true });
  const seed = el("input", { name: "seed", id: "seed", type: "number", min: 0, placeholder: "random" });
  const image = el("input", { name: "input_reference", id: "input_reference", type: "file", accept: "image/png,image/jpeg,image/webp" });
  const cameo = el("select", { id: "cameo" }, el("option", { value: "", text: "Insert a cameo…" }));
  const submit = el("button", { type: "submit", id: "submit", text: "Generate" });
  const status = el("div", { id: "status" });
  const preview = el("div", { class: "plan", id: "plan" }, el("p", { class: "muted", text: "Type a prompt to see how kino reads it." }));

  try {
    const chars = await api("GET", "/v1/videos/characters");
    for (const c of chars.data.filter((c) => !c.revoked_at)) {
      cameo.append(el("option", { value: c.id, text: `${c.name} (${c.id.slice(0, 12)}…)` }));
    }
  } catch (_) { /* no cameos */ }
  cameo.onchange = () => {
    if (!cameo.value) return;
    const at = prompt.selectionStart ?? prompt.value.length;
    const mention = `@${cameo.value} `;
    prompt.setRangeText(mention, at, at, "end");
    prompt.focus();
    cameo.value = "";
    schedule();
  };

  // A text-to-video model cannot start from an image, so neither an image nor a cameo
  // (whose likeness is the clip's first frame) can be used with it: the API would refuse.
  const textOnly = s.model.takes_image === false;
  const textOnlyHint = `${s.model.name} makes video from text only`;
  if (textOnly) { image.disabled = true; cameo.disabled = true; }

  const form = el("form", { id: "create-form", class: "create" },
    field("Prompt", prompt, "Plain prose works. Sections direct: Scene, Camera, Motion, Audio (cues at 0:02), Style, Dialogue, negatives (\"no close-ups\"), Shot 1 / Shot 2 or [cut]."),
    el("div", { class: "row" },
      field("Size", size),
      field("Seconds", seconds, `1–${s.model.max_seconds}`),
      field("Seed", seed),
      field("Cameo", cameo, textOnly ? textOnlyHint : null)),
    field("Start from an image (optional)", image, textOnly ? textOnlyHint : null),
    el("div", { class: "actions" }, submit, el("span", { class: "muted", text: `Model: ${s.model.name}` })),
    status);
  app.replaceChildren(el("div", { class: "page-head" }, el("h1", { text: "Create" })),
    el("div", { class: "two" }, form, el("aside", {}, el("h2", { text: "How kino reads it" }), preview)));

  // Live plan preview: how the prompt language parses what was typed, and whether the
  // policy would refuse it.
  let timer = null;
  let seq = 0;
  const schedule = () => { clearTimeout(timer); timer = setTimeout(refresh, 350); };
  const refresh = async () => {
    const text = prompt.value;
    if (!text.trim()) {
      preview.replaceChildren(el("p", { class: "muted", text: "Type a prompt to see how kino reads it." }));
      return;
    }
    const mine = ++seq;
    try {
      const r = await api("POST", "/v1/prompts/plan", { prompt: text });
      if (mine !== seq) return;
      const parts = [];
      if (r.policy && r.policy.allowed === false) {
        parts.push(el("div", { class: "error", role: "alert" }, el("strong", { text: "Refused by policy: " }), el("span", { text: r.policy.reason })));
      }
      for (const d of r.errors) parts.push(el("p", { class: "diag error-line", text: d.text }));
      for (const d of r.warnings) parts.push(el("p", { class: "diag warning-line", text: d.text }));
      if (r.text) parts.push(el("pre", { class: "plan-text", text: r.text }));
      preview.replaceChildren(...parts);
    } catch (e) {
      if (mine === seq) preview.replaceChildren(errorBox(e));
    }
  };
  prompt.addEventListener("input", schedule);

  form.onsubmit = async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    status.replaceChildren(el("p", { class: "muted", text: "Submitting…" }));
    const fd = new FormData();
    fd.set("prompt", prompt.value);
    fd.set("size", size.value);
    fd.set("seconds", String(seconds.value));
    if (seed.value !== "") fd.set("seed", String(seed.value));
    if (image.files && image.files[0]) fd.set("input_reference", image.files[0]);
    try {
      const v = await api("POST", "/v1/videos", fd);
      location.href = `/videos/${v.id}`;
    } catch (e) {
      status.replaceChildren(errorBox(e));
      submit.disabled = false;
    }
  };
}

// ---------- one video ----------

async function watchPage(app) {
  const id = document.body.dataset.video;
  let v;
  try {
    v = await api("GET", `/v1/videos/${encodeURIComponent(id)}`);
  } catch (e) {
    app.replaceChildren(el("h1", { text: "Video" }), errorBox(e));
    return;
  }
  const stage = el("div", { class: "stage", id: "stage" });
  const facts = el("dl", { class: "facts" });
  const actions = el("div", { class: "actions", id: "actions" });
  const render = (v) => {
    document.title = `${excerpt(v.prompt, 40)} · kino`;
    if (v.status === "completed") {
      if (!stage.querySelector("video")) {
        stage.replaceChildren(el("video", {
          id: "player", controls: true, playsinline: true, preload: "metadata",
          src: content(v.id), poster: content(v.id, "thumbnail"),
        }));
      }
      actions.replaceChildren(
        el("a", { class: "button", href: content(v.id), download: `${v.id}.mp4`, text: "Download MP4" }),
        el("a", { class: "button secondary", href: content(v.id, "thumbnail"), download: `${v.id}.webp`, text: "Thumbnail" }),
        el("a", { class: "button secondary", href: content(v.id, "spritesheet"), download: `${v.id}-sprites.jpg`, text: "Spritesheet" }));
    } else if (v.status === "failed") {
      stage.replaceChildren(el("div", { class: "failed", text: (v.error && v.error.message) || "Generation failed." }));
      actions.replaceChildren();
    } else {
      stage.replaceChildren(progressBar(v));
      actions.replaceChildren();
    }
    const rows = [
      ["Status", v.status], ["Model", v.model], ["Size", v.size], ["Length", `${v.seconds} s`],
      ["Created", new Date(v.created_at * 1000).toLocaleString()],
      ["Expires", v.expires_at ? new Date(v.expires_at * 1000).toLocaleString() : "never"],
    ];
    facts.replaceChildren(...rows.flatMap(([k, val]) => [el("dt", { text: k }), el("dd", { text: val })]));
    if (v.remixed_from_video_id) {
      facts.append(el("dt", { text: "From" }), el("dd", {}, el("a", { href: `/videos/${v.remixed_from_video_id}`, text: v.remixed_from_video_id })));
    }
  };
  render(v);
  if (pending(v)) poll(v.id, render);

  const remixPrompt = el("textarea", { id: "remix-prompt", rows: 4, required: true });
  remixPrompt.value = v.prompt;
  const remixStatus = el("div");
  const remixForm = el("form", { id: "remix-form", class: "sub-form" },
    el("h2", { text: "Remix" }),
    el("p", { class: "muted", text: "Keeps the motion of this clip and changes what you ask." }),
    remixPrompt, el("button", { type: "submit", text: "Remix" }), remixStatus);
  remixForm.onsubmit = async (ev) => {
    ev.preventDefault();
    try {
      const r = await api("POST", `/v1/videos/${encodeURIComponent(v.id)}/remix`, { prompt: remixPrompt.value });
      location.href = `/videos/${r.id}`;
    } catch (e) { remixStatus.replaceChildren(errorBox(e)); }
  };

  const extPrompt = el("textarea", { id: "extend-prompt", rows: 3, required: true, placeholder: "What happens next" });
  const extSeconds = el("input", { id: "extend-seconds", type: "number", min: 1, max: session.model.max_seconds, value: 4 });
  const extStatus = el("div");
  const extForm = el("form", { id: "extend-form", class: "sub-form" },
    el("h2", { text: "Extend" }),
    el("p", { class: "muted", text: "Continues this clip from its last frames." }),
    extPrompt, field("More seconds", extSeconds), el("button", { type: "submit", text: "Extend" }), extStatus);
  extForm.onsubmit = async (ev) => {
    ev.preventDefault();
    try {
      const r = await api("POST", "/v1/videos/extensions", { video: { id: v.id }, prompt: extPrompt.value, seconds: String(extSeconds.value) });
      location.href = `/videos/${r.id}`;
    } catch (e) { extStatus.replaceChildren(errorBox(e)); }
  };

  const del = el("button", { class: "danger", id: "delete", text: "Delete" });
  del.onclick = async () => {
    if (!confirm("Delete this clip and its files?")) return;
    try {
      await api("DELETE", `/v1/videos/${encodeURIComponent(v.id)}`);
      location.href = "/";
    } catch (e) { app.append(errorBox(e)); }
  };

  app.replaceChildren(
    el("div", { class: "watch" },
      el("div", { class: "main-col" }, stage, actions,
        el("h2", { text: "Prompt" }), el("pre", { class: "prompt-full", text: v.prompt })),
      el("aside", {}, facts, remixForm, extForm, del)));
}

// ---------- cameos ----------

async function cameosPage(app) {
  const list = el("div", { id: "cameo-list", class: "cameos" });
  const name = el("input", { id: "cameo-name", maxlength: 80, required: true, placeholder: "Your name" });
  const clip = el("input", { id: "cameo-video", type: "file", accept: "video/mp4", required: true });
  const permission = el("select", { id: "cameo-permission" },
    ["only_me", "approved", "mutuals", "everyone"].map((p) => el("option", { value: p, text: p.replace("_", " ") })));
  const approved = el("input", { id: "cameo-approved", placeholder: "key_… , key_…" });
  const status = el("div");
  const submit = el("button", { type: "submit", text: "Register cameo" });
  const form = el("form", { id: "cameo-form", class: "sub-form" },
    el("h2", { text: "Register your likeness" }),
    el("p", { class: "muted", text: "Upload a short MP4 of yourself saying that you consent to kino using your likeness. It is kept as the record of your consent; generation uses a frame of it." }),
    field("Name", name), field("Consent clip (MP4)", clip),
    field("Who may use it", permission), field("Approved key ids (comma-separated)", approved, `Your key id is ${session.key.id}; share it with people who want to approve you.`),
    submit, status);
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    const fd = new FormData();
    fd.set("name", name.value);
    fd.set("permission", permission.value);
    if (approved.value.trim()) fd.set("approved", approved.value);
    if (clip.files[0]) fd.set("video", clip.files[0]);
    try {
      await api("POST", "/v1/videos/characters", fd);
      form.reset();
      status.replaceChildren(el("p", { class: "ok", text: "Registered." }));
      await load();
    } catch (e) { status.replaceChildren(errorBox(e)); }
    submit.disabled = false;
  };

  const cameoRow = (c) => {
    const detail = el("div", { class: "detail" });
    const row = el("div", { class: "cameo", dataset: { id: c.id } },
      el("img", { src: `/v1/videos/characters/${encodeURIComponent(c.id)}/reference`, alt: c.name, width: 96 }),
      el("div", { class: "who" },
        el("h3", { text: c.name }),
        el("p", { class: "sub" }, el("code", { text: `@${c.id}` })),
        el("p", { class: "sub", text: c.revoked_at ? `Revoked ${when(c.revoked_at)}` : `Permission: ${c.permission.replace("_", " ")}` })),
      el("div", { class: "buttons" },
        el("button", { class: "secondary", text: "Videos using it", onclick: () => showVideos(c, detail) }),
        el("button", { class: "secondary", text: "Audit log", onclick: () => showAudit(c, detail) }),
        c.revoked_at ? null : el("button", { class: "danger", text: "Revoke", onclick: async () => {
          if (!confirm(`Revoke ${c.name}? Queued and future generations with it will be refused.`)) return;
          try { await api("POST", `/v1/videos/characters/${encodeURIComponent(c.id)}/revoke`); await load(); }
          catch (e) { detail.replaceChildren(errorBox(e)); }
        } })),
      detail);
    return row;
  };

  const showVideos = async (c, detail) => {
    try {
      const r = await api("GET", `/v1/videos/characters/${encodeURIComponent(c.id)}/videos`);
      if (r.data.length === 0) { detail.replaceChildren(el("p", { class: "muted", text: "No video uses this cameo." })); return; }
      detail.replaceChildren(el("ul", { class: "uses" }, r.data.map((v) => el("li", { dataset: { id: v.id } },
        el("span", { text: `${excerpt(v.prompt, 80)} · ${v.status} · ${when(v.created_at)}` }),
        el("button", { class: "danger small", text: "Delete", onclick: async () => {
          if (!confirm("Delete this video? Its maker loses it too.")) return;
          try { await api("DELETE", `/v1/videos/characters/${encodeURIComponent(c.id)}/videos/${encodeURIComponent(v.id)}`); await showVideos(c, detail); }
          catch (e) { detail.append(errorBox(e)); }
        } })))));
    } catch (e) { detail.replaceChildren(errorBox(e)); }
  };

  const showAudit = async (c, detail) => {
    try {
      const r = await api("GET", `/v1/videos/characters/${encodeURIComponent(c.id)}/audit`);
      detail.replaceChildren(el("table", { class: "audit" },
        el("thead", {}, el("tr", {}, ["When", "Action", "By", "Video"].map((h) => el("th", { text: h })))),
        el("tbody", {}, r.data.map((a) => el("tr", {},
          el("td", { text: new Date(a.at * 1000).toLocaleString() }), el("td", { text: a.action }),
          el("td", { text: a.actor }), el("td", { text: a.video_id || "" }))))));
    } catch (e) { detail.replaceChildren(errorBox(e)); }
  };

  const load = async () => {
    const r = await api("GET", "/v1/videos/characters");
    list.replaceChildren(...(r.data.length ? r.data.map(cameoRow) : [el("p", { class: "muted", text: "You have not registered a cameo." })]));
  };
  app.replaceChildren(el("div", { class: "page-head" }, el("h1", { text: "Cameos" })),
    el("div", { class: "two" }, el("section", {}, el("h2", { text: "Yours" }), list), form));
  await load();
}

// ---------- start ----------

const PAGES = { feed: feedPage, create: createPage, watch: watchPage, cameos: cameosPage };

document.addEventListener("DOMContentLoaded", async () => {
  const name = document.body.dataset.page;
  document.querySelector(`[data-nav="${name}"]`)?.classList.add("active");
  const run = PAGES[name];
  if (!run) return;
  const app = document.getElementById("app");
  try {
    await loadSession();
    await run(app);
  } catch (e) {
    app.replaceChildren(errorBox(e));
  }
});

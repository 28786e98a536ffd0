// DigitLite page: upload a photo, draw a digit, or point the camera. Talks only to this server.
"use strict";

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "digitlite-token";
const MAX_SHOWN_SIDE = 1280; // photos are drawn at most this large (boxes scaled to match)
const CAMERA_SIDE = 640; // camera frames are sent at this width, as a 640x480 camera gives
const saving = { enabled: false, photo: null }; // the server's --save-crops; the photo shown

// ---- API ------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.detail ? body.detail : `the server answered ${status}`);
    this.status = status;
    this.code = body && body.error;
  }
}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) headers.set("Authorization", `Bearer ${token}`);
  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch (err) {
    throw new ApiError(0, { detail: "the server cannot be reached" });
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401) askForToken();
    throw new ApiError(response.status, body);
  }
  return body;
}

function askForToken() {
  $("access").open = true;
  $("token").focus();
}

function showError(element, err) {
  element.classList.add("error");
  element.textContent = err.message;
}

function showDigits(element, digits, count, latency) {
  element.classList.remove("error");
  element.replaceChildren();
  element.dataset.digits = digits;
  if (!digits) {
    element.textContent = "No digits found.";
    return;
  }
  const big = document.createElement("span");
  big.className = "digits";
  big.textContent = digits;
  const small = document.createElement("span");
  small.className = "muted";
  small.textContent = `  ${count} digit${count === 1 ? "" : "s"}, ${latency.toFixed(1)} ms`;
  element.append(big, small);
}

function drawBoxes(ctx, detections, scale) {
  ctx.lineWidth = Math.max(2, Math.round(ctx.canvas.width / 250));
  ctx.strokeStyle = "#e8590c";
  ctx.fillStyle = "#e8590c";
  ctx.font = `bold ${Math.max(14, Math.round(ctx.canvas.width / 30))}px system-ui, sans-serif`;
  ctx.textBaseline = "bottom";
  for (const d of detections) {
    const [x, y, w, h] = d.box.map((v) => v * scale);
    ctx.strokeRect(x, y, w, h);
    ctx.fillText(`${d.digit}`, x, Math.max(y - 2, 16));
  }
}

// ---- tabs -----------------------------------------------------------------------------------

const tabs = ["photo", "draw", "camera"];

function selectTab(name, focus = false) {
  for (const other of tabs) {
    const tab = $(`tab-${other}`);
    const selected = other === name;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(`panel-${other}`).hidden = !selected;
    if (selected && focus) tab.focus();
  }
  if (name !== "camera") camera.stop();
}

function setUpTabs() {
  tabs.forEach((name, i) => {
    const tab = $(`tab-${name}`);
    tab.addEventListener("click", () => selectTab(name));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (step) selectTab(tabs[(i + step + tabs.length) % tabs.length], true);
      if (event.key === "Home") selectTab(tabs[0], true);
      if (event.key === "End") selectTab(tabs[tabs.length - 1], true);
    });
  });
}

// ---- saving (digits-serve --save-crops DIR) --------------------------------------------------

// POST the image to /v1/save: the server reads it again and files every digit it reads under
// DIR/<digit>/ for digits-train --finetune. Answers "saved 3 digits" or the error.
async function saveImage(body, name, status) {
  status.classList.remove("error");
  status.textContent = "Saving\u2026";
  const form = new FormData();
  form.append("image", body, name);
  try {
    const answer = await api("/v1/save", { method: "POST", body: form });
    const { new: fresh, already } = answer.saved;
    const noun = fresh === 1 ? "digit" : "digits";
    status.textContent =
      `saved ${fresh} ${noun} on the server` + (already ? ` (${already} saved before)` : "");
    status.dataset.saved = String(fresh);
  } catch (err) {
    showError(status, err);
  }
}

function setUpSaving() {
  $("photo-save").addEventListener("click", () => {
    if (saving.photo) saveImage(saving.photo, saving.photo.name, $("photo-saved"));
  });
  $("camera-save").addEventListener("click", () => {
    if (camera.lastBlob) saveImage(camera.lastBlob, "camera.jpg", $("camera-saved"));
  });
}

function showSaveButtons() {
  document.querySelector("#panel-photo .save-row").hidden = !saving.enabled || !saving.photo;
  $("camera-save").hidden = !saving.enabled || !camera.stream;
}

// ---- photo ----------------------------------------------------------------------------------

async function readPhoto(file) {
  const result = $("photo-result");
  const canvas = $("photo-canvas");
  saving.photo = null;
  $("photo-saved").textContent = "";
  showSaveButtons();
  result.classList.remove("error");
  result.dataset.digits = "";
  result.textContent = `Reading ${file.name}\u2026`;
  const form = new FormData();
  form.append("image", file, file.name);
  let reading;
  try {
    reading = await api("/v1/read", { method: "POST", body: form });
  } catch (err) {
    canvas.hidden = true;
    showError(result, err);
    return;
  }
  showDigits(result, reading.digits, reading.detections.length, reading.latency_ms);
  saving.photo = reading.detections.length ? file : null;
  showSaveButtons();
  try {
    // the server applied the EXIF orientation; so does createImageBitmap ("from-image")
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    const [width, height] = reading.size;
    const shown = Math.min(1, MAX_SHOWN_SIDE / Math.max(width, height));
    canvas.width = Math.round(width * shown);
    canvas.height = Math.round(height * shown);
    const ctx = canvas.getContext("2d");
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    drawBoxes(ctx, reading.detections, shown);
    canvas.hidden = false;
  } catch (err) {
    canvas.hidden = true; // a format the server reads but this browser cannot show (TIFF)
  }
}

function setUpPhoto() {
  const input = $("photo-input");
  const drop = $("drop");
  input.addEventListener("change", () => {
    if (input.files.length) readPhoto(input.files[0]);
  });
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("dragging");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("dragging"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("dragging");
    if (event.dataTransfer.files.length) readPhoto(event.dataTransfer.files[0]);
  });
}

// ---- drawing --------------------------------------------------------------------------------

const pad = {
  canvas: null,
  ctx: null,
  drawing: false,
  dirty: false, // drawn since the last classification was sent
  busy: false, // one classification in flight at a time; the newest drawing goes next
  empty: true,

  init() {
    this.canvas = $("pad");
    this.ctx = this.canvas.getContext("2d");
    this.clear();
    const c = this.canvas;
    c.addEventListener("pointerdown", (e) => this.down(e));
    c.addEventListener("pointermove", (e) => this.move(e));
    for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
      c.addEventListener(type, () => this.up());
    }
    c.addEventListener("keydown", (e) => {
      if (["Escape", "Delete", "Backspace"].includes(e.key)) {
        e.preventDefault();
        this.clear();
      }
    });
    $("clear").addEventListener("click", () => this.clear());
  },

  point(event) {
    const rect = this.canvas.getBoundingClientRect();
    return [
      ((event.clientX - rect.left) * this.canvas.width) / rect.width,
      ((event.clientY - rect.top) * this.canvas.height) / rect.height,
    ];
  },

  down(event) {
    event.preventDefault();
    this.canvas.setPointerCapture(event.pointerId);
    this.drawing = true;
    this.empty = false;
    const [x, y] = this.point(event);
    this.ctx.beginPath();
    this.ctx.moveTo(x, y);
    this.ctx.lineTo(x + 0.01, y);
    this.ctx.stroke();
    this.changed();
  },

  move(event) {
    if (!this.drawing) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const e of events.length ? events : [event]) {
      const [x, y] = this.point(e);
      this.ctx.lineTo(x, y);
    }
    this.ctx.stroke();
    this.changed();
  },

  up() {
    if (!this.drawing) return;
    this.drawing = false;
    this.changed();
  },

  clear() {
    const ctx = this.ctx;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 20; // about MNIST's stroke for a digit that fills the pad
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    this.empty = true;
    this.dirty = false;
    $("top3").replaceChildren();
    delete $("top3").dataset.top;
  },

  changed() {
    this.dirty = true;
    if (!this.busy) requestAnimationFrame(() => this.send());
  },

  async send() {
    if (this.busy || !this.dirty || this.empty) return;
    this.busy = true;
    this.dirty = false;
    try {
      const blob = await new Promise((resolve) => this.canvas.toBlob(resolve, "image/png"));
      const result = await api("/v1/classify", {
        method: "POST",
        headers: { "Content-Type": "image/png" },
        body: blob,
      });
      if (!this.empty) showTop3(result.top);
    } catch (err) {
      const list = $("top3");
      list.replaceChildren();
      const item = document.createElement("li");
      item.className = "error";
      item.textContent = err.message;
      list.append(item);
    } finally {
      this.busy = false;
      if (this.dirty) requestAnimationFrame(() => this.send());
    }
  },
};

function showTop3(top) {
  const list = $("top3");
  list.replaceChildren();
  list.dataset.top = top.map((t) => t.digit).join(",");
  for (const { digit, confidence } of top) {
    const item = document.createElement("li");
    const d = document.createElement("span");
    d.className = "digit";
    d.textContent = digit;
    const track = document.createElement("span");
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.display = "block";
    bar.style.width = `${Math.max(1, confidence * 100).toFixed(1)}%`;
    track.append(bar);
    const pct = document.createElement("span");
    pct.className = "pct";
    pct.textContent = `${(confidence * 100).toFixed(confidence > 0.995 ? 1 : 0)}%`;
    item.append(d, track, pct);
    item.setAttribute("aria-label", `${digit}: ${(confidence * 100).toFixed(0)} percent`);
    list.append(item);
  }
}

// ---- camera ---------------------------------------------------------------------------------

const camera = {
  stream: null,
  frame: document.createElement("canvas"), // each frame is scaled into this before upload
  lastBlob: null, // the last frame read, for "Save frame"
  frames: 0,
  since: 0,

  available() {
    return window.isSecureContext && navigator.mediaDevices && navigator.mediaDevices.getUserMedia;
  },

  async start() {
    const note = $("camera-note");
    if (!this.available()) {
      note.classList.add("warn");
      note.textContent =
        "This page is not on localhost or HTTPS, so the browser does not allow the camera. " +
        "Open it on this machine as http://localhost:PORT/, or start digits-serve with " +
        "--tls-cert and --tls-key and open https://\u2026 on the phone.";
      return;
    }
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "environment", width: { ideal: 1280 }, height: { ideal: 720 } },
        audio: false,
      });
    } catch (err) {
      note.classList.add("warn");
      note.textContent = `The camera could not be opened: ${err.message || err.name}.`;
      return;
    }
    const video = $("video");
    video.srcObject = this.stream;
    video.hidden = false;
    await video.play();
    $("camera-toggle").textContent = "Stop camera";
    showSaveButtons();
    this.frames = 0;
    this.since = performance.now();
    this.loop();
  },

  stop() {
    if (!this.stream) return;
    for (const track of this.stream.getTracks()) track.stop();
    this.stream = null;
    const video = $("video");
    video.srcObject = null;
    video.hidden = true;
    const boxes = $("camera-boxes");
    boxes.getContext("2d").clearRect(0, 0, boxes.width, boxes.height);
    $("camera-toggle").textContent = "Start camera";
    showSaveButtons();
  },

  async loop() {
    while (this.stream) {
      const video = $("video");
      if (document.hidden || !video.videoWidth) {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      await this.readFrame(video);
    }
  },

  async readFrame(video) {
    const scale = Math.min(1, CAMERA_SIDE / video.videoWidth);
    const frame = this.frame;
    frame.width = Math.round(video.videoWidth * scale);
    frame.height = Math.round(video.videoHeight * scale);
    frame.getContext("2d").drawImage(video, 0, 0, frame.width, frame.height);
    const blob = await new Promise((resolve) => frame.toBlob(resolve, "image/jpeg", 0.85));
    const result = $("camera-result");
    let reading;
    try {
      reading = await api("/v1/read", {
        method: "POST",
        headers: { "Content-Type": "image/jpeg" },
        body: blob,
      });
    } catch (err) {
      showError(result, err);
      await new Promise((r) => setTimeout(r, 1000));
      return;
    }
    if (!this.stream) return;
    this.lastBlob = blob;
    showDigits(result, reading.digits, reading.detections.length, reading.latency_ms);
    const boxes = $("camera-boxes");
    boxes.width = frame.width;
    boxes.height = frame.height;
    const ctx = boxes.getContext("2d");
    ctx.clearRect(0, 0, boxes.width, boxes.height);
    drawBoxes(ctx, reading.detections, 1);
    this.frames += 1;
    const seconds = (performance.now() - this.since) / 1000;
    if (seconds > 1) {
      $("camera-stats").textContent = `${(this.frames / seconds).toFixed(1)} frames/s`;
      this.frames = 0;
      this.since = performance.now();
    }
  },
};

function setUpCamera() {
  if (!camera.available()) $("camera-note").classList.add("warn");
  $("camera-toggle").addEventListener("click", () => {
    if (camera.stream) camera.stop();
    else camera.start();
  });
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) camera.stop();
  });
}

// ---- model and token ------------------------------------------------------------------------

async function showModel() {
  const info = $("model-info");
  try {
    const model = await api("/v1/model");
    const accuracy = model.contract && model.contract.accuracy;
    const parts = [`${model.format} model`];
    if (accuracy) parts.push(`${(accuracy * 100).toFixed(2)}% on MNIST`);
    parts.push(model.runtime);
    if (model.save_crops) parts.push("saving on");
    info.textContent = parts.join(" \u00b7 ");
    saving.enabled = Boolean(model.save_crops);
    showSaveButtons();
  } catch (err) {
    info.textContent = err.status === 401 ? "enter the access token below" : err.message;
  }
}

function setUpToken() {
  const input = $("token");
  input.value = localStorage.getItem(TOKEN_KEY) || "";
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (value) localStorage.setItem(TOKEN_KEY, value);
    else localStorage.removeItem(TOKEN_KEY);
    $("access").open = false;
    showModel();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpTabs();
  setUpPhoto();
  pad.init();
  setUpCamera();
  setUpSaving();
  setUpToken();
  showModel();
});

// Small DOM and formatting helpers. Text from the services always goes in as textContent,
// never as HTML.

export const byId = (id) => document.getElementById(id);

// A copy of a <template>'s first element.
export function fromTemplate(id) {
  return byId(id).content.firstElementChild.cloneNode(true);
}

// Fills the elements marked data-field="name" inside root with the given texts.
export function fill(root, fields) {
  for (const [name, value] of Object.entries(fields)) {
    const target = root.querySelector(`[data-field="${name}"]`);
    if (target) target.textContent = value;
  }
}

// Read out by screen readers (the status region is aria-live="polite") and shown briefly.
let clearTimer = 0;
export function announce(message) {
  const region = byId("status");
  region.textContent = message;
  region.hidden = false;
  clearTimeout(clearTimer);
  clearTimer = setTimeout(() => {
    region.hidden = true;
    region.textContent = "";
  }, 6000);
}

// 3.5 -> "0:03", 75.2 -> "1:15", 3725 -> "1:02:05".
export function clock(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = String(whole % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

// 2.96 -> "3.0 s", 75.2 -> "1 min 15 s".
export function duration(seconds) {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return s ? `${m} min ${s} s` : `${m} min`;
}

export function channelsText(count) {
  return count === 1 ? "mono" : count === 2 ? "stereo" : `${count} channels`;
}

// libsndfile's subtype names in words: PCM_16 -> "PCM 16-bit", IMA_ADPCM -> "IMA ADPCM".
export function codecText(codec) {
  const pcm = /^PCM_(\d+)$/.exec(codec || "");
  if (pcm) return `PCM ${pcm[1]}-bit`;
  if (codec === "PCM_U8") return "PCM 8-bit";
  return (codec || "").replaceAll("_", " ");
}

export function bytes(count) {
  if (count < 1024) return `${count} B`;
  if (count < 1024 * 1024) return `${(count / 1024).toFixed(count < 10240 ? 1 : 0)} KB`;
  return `${(count / (1024 * 1024)).toFixed(1)} MB`;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
export const dateTime = (iso) => dateFormat.format(new Date(iso));

const dayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" });
export const day = (isoDate) => dayFormat.format(new Date(`${isoDate}T00:00:00Z`));

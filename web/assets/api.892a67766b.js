// Calls to the two services, on the page's own origin (the gateway routes them).
// Every error the services and the gateway send is application/problem+json (RFC 9457):
// it becomes a ProblemError whose message is the problem's title and detail in words.

export class ProblemError extends Error {
  constructor(status, problem) {
    super(problemMessage(status, problem));
    this.name = "ProblemError";
    this.status = status;
    this.problem = problem;
  }
}

// "Unsupported Media Type: The file is not a WAV file." — plus the fields a 422 names.
export function problemMessage(status, problem) {
  if (!problem || typeof problem !== "object") {
    return `The server answered ${status} without an explanation.`;
  }
  const title = typeof problem.title === "string" && problem.title ? problem.title : `Error ${status}`;
  const detail = typeof problem.detail === "string" ? problem.detail.trim() : "";
  let message = detail ? `${title}: ${detail}` : title;
  if (Array.isArray(problem.errors) && problem.errors.length > 0 && !detail) {
    const fields = problem.errors
      .filter((e) => e && typeof e.message === "string")
      .map((e) => (e.field ? `${e.field}: ${e.message}` : e.message));
    if (fields.length) message += ` (${fields.join("; ")})`;
  }
  return message;
}

const UNREACHABLE = "The server could not be reached. Check your connection and try again.";

async function problemFrom(response) {
  const type = response.headers.get("content-type") || "";
  if (type.includes("json")) {
    try {
      return new ProblemError(response.status, await response.json());
    } catch {
      // fall through: a body that is not JSON after all
    }
  }
  return new ProblemError(response.status, {
    title: response.statusText || `Error ${response.status}`,
    detail: `The server answered ${response.status}.`,
  });
}

function authHeaders(token) {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

// fetch() that turns failures into errors with a readable message; the JSON body or null.
export async function requestJson(method, url, { body, token, signal } = {}) {
  const headers = { Accept: "application/json", ...authHeaders(token) };
  const init = { method, headers, signal, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new Error(UNREACHABLE);
  }
  if (!response.ok) throw await problemFrom(response);
  if (response.status === 204) return null;
  return response.json();
}

// POST a form with upload progress. fetch() cannot report how much of a request body was
// sent, XMLHttpRequest can: onProgress(loaded, total) while the file goes up, onSent() once
// it is all sent and the server is converting it.
export function postFormWithProgress(url, form, { token, onProgress, onSent } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("Accept", "application/json");
    for (const [name, value] of Object.entries(authHeaders(token))) {
      xhr.setRequestHeader(name, value);
    }
    xhr.responseType = "text";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded, event.total);
    });
    xhr.upload.addEventListener("load", () => onSent && onSent());
    xhr.addEventListener("error", () => reject(new Error(UNREACHABLE)));
    xhr.addEventListener("abort", () => reject(new Error("The upload was cancelled.")));
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(body);
      } else {
        reject(new ProblemError(xhr.status, body || { title: `Error ${xhr.status}` }));
      }
    });
    xhr.send(form);
  });
}

// --- the endpoints the page uses ---

export const createUser = (name) => requestJson("POST", "/user", { body: { name } });

export const listRecords = (account, { limit = 20, offset = 0 } = {}) =>
  requestJson("GET", `/user/${account.userId}/records?limit=${limit}&offset=${offset}`, {
    token: account.token,
  });

// The download/stream URL on this origin (the record's own "url" may name another host
// when AUDIO_PUBLIC_BASE_URL is set, and the page talks to its origin only).
export const recordUrl = (record) =>
  `/record?id=${encodeURIComponent(record.record_id)}&user=${encodeURIComponent(record.user_id)}`;

export const peaksUrl = (record, pixels) => `/record/peaks?${recordUrl(record).split("?")[1]}&pixels=${pixels}`;

export const deleteRecord = (account, record) =>
  requestJson("DELETE", recordUrl(record), { token: account.token });

export function uploadRecord(account, file, callbacks) {
  const form = new FormData();
  form.append("user_id", String(account.userId));
  form.append("file", file, file.name);
  return postFormWithProgress("/record", form, { token: account.token, ...callbacks });
}

export const askQuiz = (questionsNum) =>
  requestJson("POST", "/quiz", { body: { questions_num: questionsNum } });

export const listQuestions = ({ limit, beforeId }) =>
  requestJson(
    "GET",
    `/quiz/questions?limit=${limit}${beforeId ? `&before_id=${beforeId}` : ""}`,
  );

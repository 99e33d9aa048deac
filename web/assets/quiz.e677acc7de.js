// The quiz: ask the quiz service to store N new questions (POST /quiz) and show what it
// answers (the question that was newest before those), its answer hidden until revealed;
// below, every stored question, newest first, page by page (keyset pagination: each page
// ends with the id the next one starts before).

import { askQuiz, listQuestions } from "./api.892a67766b.js";
import { announce, byId, day, fill, fromTemplate } from "./dom.5bf9c47b90.js";

const PAGE_SIZE = 10;
// cursors[i] is the before_id of page i (page 0 starts at the newest question).
let cursors = [null];
let page = 0;

function renderQuestion(question) {
  const card = fromTemplate("question-template");
  fill(card, {
    category: question.category || "No category",
    value: typeof question.value === "number" ? `$${question.value}` : "",
    airdate: question.airdate ? `Aired ${day(question.airdate)}` : "",
    question: question.question,
    answer: question.answer,
    number: `#${question.id}`,
  });
  return card;
}

function stored(problem) {
  if (problem && Number.isInteger(problem.requested) && Number.isInteger(problem.stored)) {
    return ` ${problem.stored} of the ${problem.requested} questions were stored before that.`;
  }
  return "";
}

async function onAsk(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const count = Number(form.elements.questions_num.value);
  const button = form.querySelector("button[type=submit]");
  const result = byId("quiz-result");
  button.disabled = true;
  byId("quiz-error").hidden = true;
  byId("quiz-progress").textContent =
    count === 1 ? "Fetching 1 new question…" : `Fetching ${count} new questions…`;
  try {
    const previous = await askQuiz(count);
    if (previous && previous.id) {
      result.replaceChildren(
        Object.assign(document.createElement("h3"), {
          className: "result-title",
          textContent: "Your question: the newest one stored before this fetch",
        }),
        renderQuestion(previous),
      );
    } else {
      const note = document.createElement("p");
      note.className = "empty";
      note.textContent =
        "No question had been stored before this request, so there is none to show yet. " +
        "Ask again and you will see one of those just stored.";
      result.replaceChildren(note);
    }
    byId("quiz-progress").textContent =
      count === 1 ? "Stored 1 new question." : `Stored ${count} new questions.`;
    announce(byId("quiz-progress").textContent);
    await showPage(0, { reset: true });
  } catch (error) {
    byId("quiz-progress").textContent = "";
    const box = byId("quiz-error");
    box.textContent = `No questions fetched. ${error.message}${stored(error.problem)}`;
    box.hidden = false;
    if (error.problem && error.problem.stored) await showPage(0, { reset: true });
  } finally {
    button.disabled = false;
  }
}

async function showPage(index, { reset = false } = {}) {
  if (reset) cursors = [null];
  const list = byId("question-list");
  const older = byId("questions-older");
  const newer = byId("questions-newer");
  older.disabled = true;
  newer.disabled = true;
  byId("bank-error").hidden = true;
  list.setAttribute("aria-busy", "true");
  try {
    const answer = await listQuestions({ limit: PAGE_SIZE, beforeId: cursors[index] });
    page = index;
    cursors[index + 1] = answer.next_before_id;
    list.replaceChildren(
      ...answer.items.map((question) => {
        const item = document.createElement("li");
        item.append(renderQuestion(question));
        return item;
      }),
    );
    byId("bank-empty").hidden = answer.items.length > 0 || index > 0;
    byId("questions-page").textContent = `Page ${index + 1}`;
    older.disabled = answer.next_before_id === null || answer.next_before_id === undefined;
    newer.disabled = index === 0;
  } catch (error) {
    byId("bank-error").textContent = `The stored questions could not be loaded. ${error.message}`;
    byId("bank-error").hidden = false;
    newer.disabled = page === 0;
  } finally {
    list.removeAttribute("aria-busy");
  }
}

export function initQuiz() {
  byId("quiz-form").addEventListener("submit", onAsk);
  byId("questions-older").addEventListener("click", () => showPage(page + 1));
  byId("questions-newer").addEventListener("click", () => showPage(Math.max(0, page - 1)));
  byId("questions-refresh").addEventListener("click", () => showPage(0, { reset: true }));
  showPage(0);
}

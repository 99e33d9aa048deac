// The page's entry point: each section wires itself up. Nothing here runs inline (the
// gateway's Content-Security-Policy allows scripts from this origin only).

import { initAccount, onAccountChange } from "./account.9cd36052d3.js";
import { initQuiz } from "./quiz.e677acc7de.js";
import { cancelRecording, initRecorder } from "./recorder.97a5f18f19.js";
import { initRecords } from "./records.73f1eb9914.js";
import { initUploads } from "./upload.45232b3a1f.js";

initAccount();
initUploads();
initRecorder();
initRecords();
initQuiz();
onAccountChange((who) => {
  if (!who) cancelRecording();
});
document.documentElement.classList.add("is-ready");

// The page's entry point: each section wires itself up. Nothing here runs inline (the
// gateway's Content-Security-Policy allows scripts from this origin only).

import { initAccount, onAccountChange } from "./account.9cd36052d3.js";
import { initQuiz } from "./quiz.e677acc7de.js";
import { cancelRecording, initRecorder } from "./recorder.a84750de52.js";
import { initRecords } from "./records.d53b82892f.js";
import { initUploads } from "./upload.86a0cca6bf.js";

initAccount();
initUploads();
initRecorder();
initRecords();
initQuiz();
onAccountChange((who) => {
  if (!who) cancelRecording();
});
document.documentElement.classList.add("is-ready");

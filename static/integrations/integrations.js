// The integrations pages: a confirmation before what cannot be taken back (a form or
// button with data-confirm), and the mailbox page's "Test connection", which tries
// what is on the form, saved or not, and says which step failed (DNS, connection,
// TLS, login, folder). No inline handlers: the pages' content security policy.
(function () {
  "use strict";
  document.addEventListener("submit", (ev) => {
    const question = (ev.submitter && ev.submitter.dataset.confirm) || ev.target.dataset.confirm;
    if (question && !window.confirm(question)) ev.preventDefault();
  });

  const form = document.getElementById("mailbox-form");
  const button = document.getElementById("test-connection");
  const result = document.getElementById("test-result");
  if (!form || !button || !result) return;
  const STEPS = { dns: "DNS", connect: "Connection", tls: "TLS", protocol: "Not IMAP", login: "Login", folder: "Folder", password: "Password", form: "Form" };

  button.addEventListener("click", async () => {
    button.disabled = true;
    result.className = "test-result";
    result.textContent = "Testing…";
    try {
      const response = await fetch(form.dataset.testUrl, { method: "POST", body: new FormData(form), credentials: "same-origin" });
      const answer = await response.json();
      if (answer.ok) {
        result.className = "test-result ok";
        result.textContent = answer.message;
      } else {
        result.className = "test-result failed";
        const detail = answer.message || Object.entries(answer.errors || {}).map(([field, errors]) => field + ": " + errors.map((e) => e.message).join(" ")).join("; ");
        result.textContent = (STEPS[answer.step] || answer.step) + " failed: " + detail;
        result.dataset.step = answer.step;
      }
    } catch (error) {
      result.className = "test-result failed";
      result.textContent = "The test could not run: " + error;
    } finally {
      button.disabled = false;
    }
  });
})();

// The console's only script of its own (no inline scripts: the CSP forbids them).
// Confirms the buttons that carry data-confirm before their form is sent.
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const message = button && button.dataset.confirm;
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});

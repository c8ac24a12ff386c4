// The capture record page: the capture date in the viewer's own time zone.
document.addEventListener("DOMContentLoaded", () => {
  for (const time of document.querySelectorAll("time[data-local]")) {
    const target = document.getElementById(time.dataset.local);
    const when = new Date(time.getAttribute("datetime"));
    if (target && !Number.isNaN(when.getTime())) {
      target.textContent = "(" + when.toLocaleString() + " your time)";
    }
  }
});

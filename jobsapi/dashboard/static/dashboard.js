// Times in the browser's time zone: each <time datetime="...Z"> shows its local value,
// the UTC one stays in its title. Run on load and on every fragment htmx swaps in.
(function () {
  "use strict";
  const format = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
  });
  const hours = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

  function localise(root) {
    for (const element of root.querySelectorAll("time[datetime]")) {
      const date = new Date(element.getAttribute("datetime"));
      if (!isNaN(date)) element.textContent = format.format(date);
    }
    for (const element of root.querySelectorAll("[data-utc-hour]")) {
      const date = new Date(element.getAttribute("data-utc-hour"));
      if (!isNaN(date)) element.textContent = hours.format(date);
    }
  }

  document.addEventListener("DOMContentLoaded", () => localise(document));
  document.addEventListener("htmx:load", (event) => localise(event.target));
})();

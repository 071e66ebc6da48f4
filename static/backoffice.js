// The back office's only script: small conveniences; every page works without it.
"use strict";
document.addEventListener("click", (event) => {
  const refresh = event.target.closest("[data-refresh-captcha]");
  if (refresh) {
    // A new image is a new challenge; the old one is dropped by the server.
    event.preventDefault();
    const image = document.getElementById("captcha-image");
    image.src = image.src.split("?")[0] + "?t=" + Date.now();
    return;
  }
  if (event.target.closest("[data-print]")) {
    event.preventDefault();
    window.print();
  }
});
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  // One tap posts once: the button is held until the page answers (the request_id makes a
  // second post harmless anyway).
  if (form.method.toLowerCase() === "post") {
    for (const button of form.querySelectorAll("button[type=submit]")) button.disabled = true;
  }
});
document.addEventListener("keydown", (event) => {
  // A card reader types the card number and then Enter: on the card field that moves on to
  // the next field instead of sending a form whose amount is still empty.
  const field = event.target;
  if (event.key !== "Enter" || !(field instanceof HTMLInputElement) || field.name !== "card_no") {
    return;
  }
  const inputs = [...field.form.querySelectorAll("input:not([type=hidden]), select")].filter(
    (el) => !el.disabled && el.offsetParent !== null,
  );
  const next = inputs[inputs.indexOf(field) + 1];
  if (next) {
    event.preventDefault();
    next.focus();
  }
});

// A table wider than its box scrolls inside it: say so. The box gets "scrolls" and the side
// with more to see "more-left" / "more-right": backoffice.css fades that side out and writes
// a line above the table (in the page's words: body data-scroll-hint).
function scrollCue(wrap) {
  const more = wrap.scrollWidth - wrap.clientWidth;
  wrap.classList.toggle("scrolls", more > 1);
  wrap.classList.toggle("more-left", more > 1 && wrap.scrollLeft > 1);
  wrap.classList.toggle("more-right", more > 1 && wrap.scrollLeft < more - 1);
}
for (const wrap of document.querySelectorAll(".table-wrap")) {
  wrap.dataset.hint = document.body.dataset.scrollHint || "";
  wrap.addEventListener("scroll", () => scrollCue(wrap), { passive: true });
  const sizes = new ResizeObserver(() => scrollCue(wrap));
  sizes.observe(wrap);
  if (wrap.firstElementChild) sizes.observe(wrap.firstElementChild);
}

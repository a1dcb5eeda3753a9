// pairscope serve: the one script. Pages work without it; it only replaces an image that
// fails to load (many LAION URLs are gone) with the same placeholder the server draws.
"use strict";

function placeholder(img) {
  const box = document.createElement("div");
  box.className = "noimage";
  box.textContent = "image unavailable";
  img.replaceWith(box);
}

// Capturing: error events do not bubble. The script runs (synchronously) in the head, so the
// listener is there before the first <img> is parsed.
document.addEventListener("error", (event) => {
  if (event.target instanceof HTMLImageElement) placeholder(event.target);
}, true);


// The inbox's live updates and composer helpers; the pages themselves are htmx fragments.
(function () {
  "use strict";
  const body = document.body;

  // Server-sent events of this organization: each one re-fetches the fragments it concerns.
  const url = body.dataset.events;
  if (url && window.EventSource) {
    const source = new EventSource(url);
    source.onmessage = function (message) {
      htmx.trigger(body, "inbox-event", JSON.parse(message.data));
    };
    // After a reconnect, events may have been missed: refresh everything once.
    let opened = false;
    source.onopen = function () {
      if (opened) { htmx.trigger(body, "inbox-event", {type: "reconnect", customers: []}); }
      opened = true;
      body.dataset.live = "on";
    };
  }

  // Keep the newest message in view after the thread is (re)loaded.
  function scrollThread() {
    const list = document.querySelector("#thread .messages");
    if (list) { list.scrollTop = list.scrollHeight; }
  }
  document.addEventListener("htmx:afterSwap", scrollThread);
  document.addEventListener("DOMContentLoaded", scrollThread);

  // Quick replies: "/shortcut" typed at the end of the reply is replaced by its text.
  document.addEventListener("input", function (event) {
    const box = event.target;
    if (box.name !== "text" || box.tagName !== "TEXTAREA") { return; }
    const data = document.getElementById("quick-replies");
    const found = /(^|\s)\/([\w-]+)\s$/.exec(box.value);
    if (!data || !found) { return; }
    const quick = JSON.parse(data.textContent).find((q) => q.shortcut === found[2]);
    if (quick) {
      box.value = box.value.slice(0, found.index + found[1].length) + quick.content;
    }
  });

  // Errors of htmx requests (403, 400...) are shown in the composer, not swallowed.
  document.addEventListener("htmx:responseError", function (event) {
    const slot = document.querySelector(".composer-error");
    if (slot) { slot.textContent = event.detail.xhr.responseText; }
  });
})();

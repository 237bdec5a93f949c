// The inbox's live updates and composer helpers; the pages themselves are htmx fragments.
(function () {
  "use strict";
  const body = document.body;

  // Server-sent events of this organization: each one re-fetches the fragments it concerns.
  // After a reconnect events may have been missed, so everything is refreshed once. A stream the
  // server refuses (429: too many open; 503) is not retried by the browser: the page refreshes
  // itself and asks again every RETRY_MS until it gets one.
  const url = body.dataset.events;
  const RETRY_MS = 30000;
  let connected = false;
  function refreshAll() {
    htmx.trigger(body, "inbox-event", {type: "reconnect", customers: []});
  }
  function listen() {
    const source = new EventSource(url);
    source.onmessage = function (message) {
      htmx.trigger(body, "inbox-event", JSON.parse(message.data));
    };
    source.onopen = function () {
      if (connected) { refreshAll(); }
      connected = true;
      body.dataset.live = "on";
    };
    source.onerror = function () {
      if (source.readyState !== EventSource.CLOSED) { return; }  // the browser reconnects
      body.dataset.live = "off";
      refreshAll();
      window.setTimeout(listen, RETRY_MS);
    };
  }
  if (url && window.EventSource) { listen(); }

  // The list refreshes once a burst of events is over. The wait is kept here, on the body,
  // rather than as the list's own hx-trigger delay: a refresh landing during that delay replaces
  // the list element, htmx drops the request of an element no longer on the page, and the last
  // change (a conversation just resolved) would not show until the next event.
  const LIST_DELAY_MS = 200;
  let listTimer = null;
  body.addEventListener("inbox-event", function () {
    window.clearTimeout(listTimer);
    listTimer = window.setTimeout(function () { htmx.trigger(body, "inbox-list"); },
                                  LIST_DELAY_MS);
  });

  // Keep the newest message in view after the thread is (re)loaded, and while images load
  // unless the agent has scrolled up to read.
  let pinned = true;
  // The thread shrinks when the composer grows (quick replies on offer): stay at the bottom.
  const resized = window.ResizeObserver && new ResizeObserver(function () {
    if (pinned) { scrollThread(); }
  });
  function scrollThread() {
    const list = document.querySelector("#thread .messages");
    if (!list) { return; }
    list.scrollTop = list.scrollHeight;
    pinned = true;
    if (resized) {
      resized.disconnect();
      resized.observe(list);
    }
  }
  document.addEventListener("htmx:afterSwap", scrollThread);
  document.addEventListener("DOMContentLoaded", scrollThread);
  document.addEventListener("scroll", function (event) {
    const list = event.target;
    if (list.matches && list.matches("#thread .messages")) {
      pinned = list.scrollTop + list.clientHeight >= list.scrollHeight - 40;
    }
  }, true);
  document.addEventListener("load", function (event) {
    if (pinned && event.target.closest && event.target.closest("#thread")) { scrollThread(); }
  }, true);

  // Quick replies: "/shortcut" and a space at the end of the reply is replaced by its text;
  // while a "/..." is being typed, the matching quick replies are offered below the box.
  function quickReplies() {
    const data = document.getElementById("quick-replies");
    return data ? JSON.parse(data.textContent) : [];
  }

  function insert(box, at, quick) {
    box.value = box.value.slice(0, at) + quick.content;
    box.focus();
    offer(box, []);
  }

  function offer(box, matches, at) {
    let list = document.getElementById("quick-reply-suggestions");
    if (!matches.length) {
      if (list) { list.remove(); }
      return;
    }
    if (!list) {
      list = document.createElement("ul");
      list.id = "quick-reply-suggestions";
      list.className = "suggestions";
      list.setAttribute("aria-label", "Quick replies");
      box.after(list);
    }
    list.replaceChildren(...matches.slice(0, 8).map(function (quick) {
      const item = document.createElement("li");
      const pick = document.createElement("button");
      pick.type = "button";
      pick.textContent = "/" + quick.shortcut + " \u2014 " + quick.content;
      pick.addEventListener("click", function () { insert(box, at, quick); });
      item.append(pick);
      return item;
    }));
  }

  document.addEventListener("input", function (event) {
    const box = event.target;
    if (box.name !== "text" || box.tagName !== "TEXTAREA") { return; }
    const done = /(^|\s)\/([\w-]+)\s$/.exec(box.value);
    const quick = done && quickReplies().find((q) => q.shortcut === done[2]);
    if (quick) {
      insert(box, done.index + done[1].length, quick);
      return;
    }
    const typing = /(^|\s)\/([\w-]*)$/.exec(box.value);
    if (!typing) {
      offer(box, []);
      return;
    }
    const prefix = typing[2].toLowerCase();
    offer(box, quickReplies().filter((q) => q.shortcut.startsWith(prefix)),
          typing.index + typing[1].length);
  });

  document.addEventListener("reset", function () { offer(null, []); });  // a reply went out

  // Errors of htmx requests (403, 400...) are shown in the composer, not swallowed.
  document.addEventListener("htmx:responseError", function (event) {
    const slot = document.querySelector(".composer-error");
    if (slot) { slot.textContent = event.detail.xhr.responseText; }
  });
})();

// andibase console: an agent's chat. Draws the transcript from #chat-data, then sends
// messages with `Accept: text/event-stream` and draws the turn as it streams. Text is
// always set with textContent: nothing a model or user writes becomes markup.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("chat-data").textContent);
  var transcript = document.getElementById("transcript");
  var form = document.getElementById("composer");
  var input = document.getElementById("chat-text");
  var errorBox = document.getElementById("chat-error");
  var calls = {};

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function pretty(v) {
    return typeof v === "string" ? v : JSON.stringify(v, null, 2);
  }
  function bubble(role) {
    var b = el("div", "msg " + role);
    transcript.appendChild(b);
    return b;
  }
  function scroll() { transcript.scrollTop = transcript.scrollHeight; }

  // A tool call as a card; its result fills it later.
  function toolCall(into, id, name, args) {
    var card = el("div", "tool");
    card.setAttribute("data-tool-call", id);
    var head = el("div", "tool-head");
    head.appendChild(el("span", "tool-name", name));
    var state = el("span", "tool-state muted small", "running…");
    head.appendChild(state);
    card.appendChild(head);
    if (name === "request_human_approval") {
      var wait = el("p", "tool-wait small");
      wait.appendChild(document.createTextNode("Waiting for a human's decision — "));
      var a = el("a", "", "open the approvals inbox");
      a.href = data.approvals;
      wait.appendChild(a);
      card.appendChild(wait);
    }
    var details = el("details");
    details.appendChild(el("summary", "small muted", "input"));
    details.appendChild(el("pre", "", pretty(args)));
    card.appendChild(details);
    into.appendChild(card);
    calls[id] = card;
    return card;
  }
  function toolResult(id, output, isError) {
    var card = calls[id];
    if (!card) return;
    var state = card.querySelector(".tool-state");
    state.textContent = isError ? "failed" : "done";
    state.className = "tool-state small " + (isError ? "error-text" : "ok-text");
    var wait = card.querySelector(".tool-wait");
    if (wait) wait.remove();
    // A failure shows; a result folds away (it can be long), one click from view.
    var out = el("pre", "tool-output" + (isError ? " error-text" : ""), pretty(output));
    if (isError) { card.appendChild(out); return; }
    var details = el("details");
    details.appendChild(el("summary", "small muted", "result"));
    details.appendChild(out);
    card.appendChild(details);
  }
  function drawMessage(m) {
    var b = bubble(m.role);
    (m.message && m.message.parts || []).forEach(function (p) {
      if (p.type === "text") b.appendChild(el("div", "text", p.text));
      else if (p.type === "file") b.appendChild(el("div", "file small muted", "📎 " + (p.filename || "file") + " (" + p.mediaType + ")"));
      else if (p.type === "tool-call") toolCall(b, p.toolCallId, p.toolName, p.input);
      else if (p.type === "tool-result") toolResult(p.toolCallId, p.output, p.isError);
    });
    return b;
  }
  data.messages.forEach(drawMessage);
  scroll();

  function newChatId() {
    return "c-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 8);
  }

  // Server-sent events from a POST: read the body and split it into events.
  function readEvents(response, onEvent) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) return;
        buffer += decoder.decode(chunk.value, { stream: true });
        var at;
        while ((at = buffer.indexOf("\n\n")) >= 0) {
          var raw = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          var name = "message", lines = [];
          raw.split("\n").forEach(function (line) {
            if (line.indexOf("event:") === 0) name = line.slice(6).trim();
            else if (line.indexOf("data:") === 0) lines.push(line.slice(5).replace(/^ /, ""));
          });
          if (lines.length) onEvent(name, JSON.parse(lines.join("\n")));
        }
        return pump();
      });
    }
    return pump();
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    errorBox.hidden = true;
    var chatId = data.chatId || newChatId();
    var button = document.getElementById("chat-send");
    button.disabled = true;
    var reply = null, replyText = null;
    function replyBubble() {
      if (!reply) { reply = bubble("assistant"); reply.classList.add("streaming"); }
      return reply;
    }
    fetch("/api/v1/agents/" + encodeURIComponent(data.agentId) + "/chats/" + encodeURIComponent(chatId) + "/messages", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "text/event-stream", "x-workspace-handle": data.workspace },
      body: JSON.stringify({ text: text })
    }).then(function (r) {
      if (!r.ok) {
        return r.json().then(function (p) { throw p; }, function () { throw { message: "Request failed (" + r.status + ")" }; });
      }
      input.value = "";
      if (!data.chatId) {
        data.chatId = chatId;
        history.replaceState(null, "", location.pathname + "?chat=" + encodeURIComponent(chatId));
      }
      return readEvents(r, function (name, e) {
        if (name === "user-message") drawMessage(e.message);
        else if (name === "text-delta") {
          if (!replyText) { replyText = el("div", "text"); replyBubble().appendChild(replyText); }
          replyText.textContent += e.text;
        } else if (name === "tool-call") { replyText = null; toolCall(replyBubble(), e.toolCallId, e.toolName, e.input); }
        else if (name === "tool-result") toolResult(e.toolCallId, e.output, e.isError);
        else if (name === "message") {
          if (reply) reply.remove();
          calls = {};
          drawMessage(e.assistantMessage).setAttribute("data-message-id", e.assistantMessage.messageId);
        } else if (name === "error") throw e;
        scroll();
      });
    }).catch(function (p) {
      if (reply) reply.classList.remove("streaming");
      errorBox.textContent = (p && p.message) || "The message could not be sent.";
      errorBox.hidden = false;
    }).then(function () { button.disabled = false; });
  });
})();

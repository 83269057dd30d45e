// door-gateway events page: follows the live event stream (Server-Sent Events) and adds
// each new event to the top of the table. Without this script the page is whole (reload
// for newer events). Data is only ever set as text, never as HTML.
"use strict";
(function () {
  function cell(row, text, className) {
    var td = document.createElement("td");
    if (className) { td.className = className; }
    if (text !== null) { td.textContent = text; }
    row.appendChild(td);
    return td;
  }
  function resultCell(row, event) {
    var td = cell(row, null, "");
    var span = document.createElement("span");
    if (event.granted === true) { span.className = "badge good"; span.textContent = "granted"; }
    else if (event.granted === false) { span.className = "badge bad"; span.textContent = "denied"; }
    else { span.className = "muted"; span.textContent = event.type; }
    td.appendChild(span);
  }
  // The reasons in words (GET data-reasons, once): filled in as the server does.
  var words = { reasons: {}, prefixes: {} };
  function entryOf(reason) {
    if (Object.prototype.hasOwnProperty.call(words.reasons, reason)) { return words.reasons[reason]; }
    for (var start in words.prefixes) {
      if (Object.prototype.hasOwnProperty.call(words.prefixes, start) && reason.indexOf(start) === 0) {
        return words.prefixes[start];
      }
    }
    return null;
  }
  function said(event) {
    var entry = entryOf(event.reason || event.type);
    if (!entry) { return null; }
    var names = {
      user: event.user_id ? "user " + event.user_id : "the user",
      door: event.door ? "door " + event.door : "the door",
      reader: event.reader ? "reader " + event.reader : "the reader"
    };
    var what = entry.what.replace(/\{(user|door|reader)\}/g, function (all, name) { return names[name]; });
    return { what: what.charAt(0).toUpperCase() + what.slice(1), todo: entry.todo };
  }
  function rowOf(event) {
    var row = document.createElement("tr");
    row.id = "event-" + event.seq;
    row.setAttribute("data-seq", String(event.seq));
    row.className = "fresh";
    var time = cell(row, (event.local_time || "").slice(11, 19), "mono");
    time.title = event.local_time || "";
    resultCell(row, event);
    cell(row, event.door || "", "");
    cell(row, event.reader || "", "");
    cell(row, event.user_id || "", "");
    cell(row, event.credential || "", "mono");
    var why = cell(row, null, "");
    var link = document.createElement("a");
    link.href = "/events/" + encodeURIComponent(String(event.seq));
    link.textContent = event.reason || event.type;
    link.className = "mono";
    why.className = "why";
    why.appendChild(link);
    var told = said(event);
    if (told) {
      why.appendChild(document.createElement("br"));
      var what = document.createElement("span");
      what.textContent = told.what;
      why.appendChild(what);
      if (told.todo) {
        var todo = document.createElement("small");
        todo.className = "muted";
        todo.textContent = "What to do: " + told.todo + ".";
        why.appendChild(document.createTextNode(" "));
        why.appendChild(todo);
      }
    }
    return row;
  }
  document.addEventListener("DOMContentLoaded", function () {
    var table = document.getElementById("events");
    var url = table && table.getAttribute("data-stream");
    if (!url || typeof window.EventSource !== "function") { return; }
    var body = table.tBodies[0];
    var keep = parseInt(table.getAttribute("data-keep"), 10) || 50;
    var state = document.getElementById("stream-state");
    function say(text, live) {
      state.textContent = text;
      table.setAttribute("data-live", live ? "1" : "0");
    }
    var reasonsUrl = table.getAttribute("data-reasons");
    if (reasonsUrl && typeof window.fetch === "function") {
      fetch(reasonsUrl, { credentials: "same-origin" })
        .then(function (answer) { return answer.ok ? answer.json() : null; })
        .then(function (found) {
          if (found) { words = found; table.setAttribute("data-words", "1"); }
        })
        .catch(function () { /* the codes alone still show */ });
    }
    var source = new EventSource(url);
    source.onopen = function () { say("Live: new events appear at the top.", true); };
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) {
        say("Live updates stopped (logged out?): reload the page.", false);
      } else {
        say("Connection lost: reconnecting…", false);
      }
    };
    source.onmessage = function (message) {
      var event = JSON.parse(message.data);
      if (document.getElementById("event-" + event.seq)) { return; }
      var empty = body.querySelector("tr.empty");
      if (empty) { body.removeChild(empty); }
      body.insertBefore(rowOf(event), body.firstChild);
      while (body.rows.length > keep) { body.deleteRow(body.rows.length - 1); }
    };
    source.addEventListener("stopping", function () {
      say("The gateway is restarting: reconnecting…", false);
    });
    source.addEventListener("session_ended", function () {
      source.close();
      say("Logged out: live updates stopped. Reload the page to log in again.", false);
    });
    source.addEventListener("dropped", function () {
      say("Too far behind: catching up…", false);
    });
  });
})();

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
    why.appendChild(link);
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

// TSOps console behaviour: keyboard shortcuts and small progressive enhancements.
// Loaded as a file (the Content-Security-Policy forbids inline scripts).
(function () {
  "use strict";

  function typing(event) {
    var t = event.target;
    return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-row-link]"));
  }

  function move(step) {
    var list = rows();
    if (!list.length) return;
    var current = list.findIndex(function (r) { return r.classList.contains("selected"); });
    var next = Math.max(0, Math.min(list.length - 1, current + step));
    if (current >= 0) list[current].classList.remove("selected");
    list[next].classList.add("selected");
    list[next].scrollIntoView({ block: "nearest" });
  }

  function toggleHelp(show) {
    var help = document.getElementById("shortcut-help");
    if (!help) return;
    help.hidden = show === undefined ? !help.hidden : !show;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape") { toggleHelp(false); return; }
    if (typing(event)) return;
    switch (event.key) {
      case "?": toggleHelp(); event.preventDefault(); break;
      case "/": {
        var search = document.getElementById("global-search");
        if (search) { search.focus(); event.preventDefault(); }
        break;
      }
      case "j": move(1); break;
      case "k": move(-1); break;
      case "Enter": {
        var selected = document.querySelector("[data-row-link].selected");
        if (selected) window.location = selected.getAttribute("data-row-link");
        break;
      }
      case "n": {
        var next = document.getElementById("next-case-form");
        if (next) { next.requestSubmit ? next.requestSubmit() : next.submit(); event.preventDefault(); }
        break;
      }
    }
  });

  document.addEventListener("click", function (event) {
    var closer = event.target.closest("[data-close-help]");
    if (closer) toggleHelp(false);
    var select = event.target.closest("[data-select-all]");
    if (select) {
      var boxes = document.querySelectorAll("input[name='" + select.getAttribute("data-select-all") + "']");
      boxes.forEach(function (b) { b.checked = select.checked; });
    }
    var confirmable = event.target.closest("[data-confirm]");
    if (confirmable && !window.confirm(confirmable.getAttribute("data-confirm"))) event.preventDefault();
  });
})();

// Header menus (<details data-nav-menu>): the browser opens and closes them with the mouse,
// Enter and Space; here one opens at a time, and a click elsewhere or Escape closes them
// (Escape hands the focus back to the menu's button).
(function () {
  "use strict";

  function menus() {
    return Array.prototype.slice.call(document.querySelectorAll("details[data-nav-menu]"));
  }

  function closeAll(except) {
    menus().forEach(function (menu) { if (menu !== except) menu.open = false; });
  }

  document.addEventListener("toggle", function (event) {
    var menu = event.target;
    if (menu.matches && menu.matches("details[data-nav-menu]") && menu.open) closeAll(menu);
  }, true);

  document.addEventListener("click", function (event) {
    if (!event.target.closest("details[data-nav-menu]")) closeAll(null);
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var open = document.querySelector("details[data-nav-menu][open]");
    if (!open) return;
    var inside = open.contains(document.activeElement);
    open.open = false;
    if (inside) open.querySelector("summary").focus();
  });

  document.addEventListener("focusout", function (event) {
    var menu = event.target.closest && event.target.closest("details[data-nav-menu][open]");
    if (menu && event.relatedTarget && !menu.contains(event.relatedTarget)) menu.open = false;
  });
})();

// The case page as a workspace: keyboard shortcuts for a whole decision, the policy section
// type-ahead, accepting the ladder's recommendation, rationale snippets, the statement preview,
// and a failed decision's errors shown in place (htmx swaps the decision column).
// Loaded as a file: the Content-Security-Policy forbids inline scripts.
(function () {
  "use strict";

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  function decideForm() { return document.querySelector("[data-decide-form]"); }

  function field(form, name) { return form ? form.querySelector("[name='" + name + "']") : null; }

  function jsonData(id) {
    var node = document.getElementById(id);
    if (!node) return null;
    try { return JSON.parse(node.textContent); } catch (e) { return null; }
  }

  function redraft(form) {
    if (window.htmx && form) window.htmx.trigger(form, "redraft");
  }

  // --- The ladder's recommendation -------------------------------------------------------

  function currentRecommendation(form) {
    var ladder = jsonData("ladder-data");
    var severities = jsonData("section-severity");
    var section = field(form, "policy_section");
    if (!ladder || !severities || !section || !section.value) return null;
    var severity = severities[section.value];
    return severity === undefined ? null : ladder[String(severity)];
  }

  function showRecommendation(form) {
    var rec = currentRecommendation(form);
    var text = form.querySelector("[data-ladder-text]");
    var strikes = form.querySelector("[data-ladder-strikes]");
    if (text) text.textContent = rec ? rec.text : "no action (choose a section)";
    if (strikes) strikes.textContent = rec && rec.action ? rec.strikes : "";
  }

  function rowMatches(form, rec) {
    var type = field(form, "action_0_type");
    if (!type || !rec) return false;
    var duration = field(form, "action_0_duration");
    var unit = field(form, "action_0_unit");
    return type.value === rec.action &&
      String(duration ? duration.value : "") === String(rec.duration || "") &&
      (!rec.duration || !unit || unit.value === rec.unit);
  }

  function flash(form) {
    var box = form.querySelector("[data-ladder]");
    if (!box) return;
    box.classList.add("flash");
    setTimeout(function () { box.classList.remove("flash"); }, 600);
  }

  function acceptRecommendation(form, rec) {
    if (!form) return false;
    rec = rec || currentRecommendation(form);
    if (!rec || !rec.action) { flash(form); return false; }
    var violation = form.querySelector("input[name='outcome'][value='violation']");
    if (violation && !violation.checked) { violation.checked = true; outcomeChanged(form); }
    field(form, "action_0_type").value = rec.action;
    var duration = field(form, "action_0_duration");
    if (duration) duration.value = rec.duration || "";
    var unit = field(form, "action_0_unit");
    if (unit && rec.duration) unit.value = rec.unit;
    form.dataset.applied = JSON.stringify(rec);
    redraft(form);
    return true;
  }

  function sectionChanged(form, previous) {
    // An action row still holding the previous section's recommendation follows the new one;
    // one the analyst changed stays as it is.
    var before = previous ? JSON.parse(previous) : null;
    showRecommendation(form);
    if (!before || rowMatches(form, before)) acceptRecommendation(form);
    else redraft(form);
    loadSnippets(form);
  }

  function outcomeChanged(form) {
    var checked = form.querySelector("input[name='outcome']:checked");
    var violation = !checked || checked.value === "violation";
    form.querySelectorAll(".action-row select, .action-row input").forEach(function (input) {
      input.disabled = !violation;
    });
    redraft(form);
  }

  // --- Rationale snippets ----------------------------------------------------------------

  function loadSnippets(form) {
    var box = document.getElementById("snippets");
    var section = field(form, "policy_section");
    var url = box && box.getAttribute("data-snippets-url");
    if (!url || !window.htmx) return;
    var query = "?policy_section=" + encodeURIComponent(section ? section.value : "");
    window.htmx.ajax("GET", url + query, { target: "#snippets", swap: "innerHTML" });
  }

  function insertSnippet(button) {
    var area = field(decideForm(), "rationale");
    var text = button.getAttribute("data-snippet-text") || button.getAttribute("data-snippet-insert") || "";
    if (!area || !text) return;
    var start = area.selectionStart || area.value.length;
    var end = area.selectionEnd || area.value.length;
    var before = area.value.slice(0, start);
    var joiner = before && !/\s$/.test(before) ? " " : "";
    area.value = before + joiner + text + area.value.slice(end);
    area.focus();
    var caret = (before + joiner + text).length;
    area.setSelectionRange(caret, caret);
  }

  // --- Policy section type-ahead (a combobox over the select, which stays in the form) -----

  function sectionOptions(select) {
    return Array.prototype.slice.call(select.options).filter(function (o) { return o.value; })
      .map(function (o) {
        var group = o.parentElement && o.parentElement.tagName === "OPTGROUP" ? o.parentElement.label : "";
        return { value: o.value, text: o.textContent, group: group, key: o.textContent.toLowerCase() };
      });
  }

  function comboboxInput(select) {
    var input = document.createElement("input");
    input.type = "text";
    input.id = select.id + "_search";
    input.autocomplete = "off";
    input.placeholder = "Type a code or words of a title";
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", select.id + "_list");
    input.setAttribute("data-section-search", "");
    if (select.getAttribute("aria-invalid")) input.setAttribute("aria-invalid", "true");
    return input;
  }

  function enhanceSection(select) {
    if (!select || select.dataset.enhanced) return;
    select.dataset.enhanced = "1";
    var options = sectionOptions(select);
    var wrap = document.createElement("div");
    wrap.className = "combobox";
    var input = comboboxInput(select);
    var list = document.createElement("ul");
    list.id = select.id + "_list";
    list.className = "combobox-list";
    list.setAttribute("role", "listbox");
    list.hidden = true;
    var label = document.querySelector("label[for='" + select.id + "']");
    if (label) {
      label.htmlFor = input.id;
      label.id = label.id || select.id + "_label";
      list.setAttribute("aria-labelledby", label.id);
    }
    select.parentNode.insertBefore(wrap, select);
    wrap.appendChild(input);
    wrap.appendChild(list);
    wrap.appendChild(select);
    select.hidden = true;
    select.tabIndex = -1;

    var matches = [];
    var active = -1;

    function chosenText() {
      var opt = select.options[select.selectedIndex];
      return opt && opt.value ? opt.textContent : "";
    }
    input.value = chosenText();

    function optionItem(m, i) {
      var li = document.createElement("li");
      li.id = select.id + "_opt_" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", i === active ? "true" : "false");
      li.textContent = m.text;
      if (m.group) {
        var group = document.createElement("span");
        group.className = "group";
        group.textContent = m.group;
        li.appendChild(group);
      }
      li.addEventListener("mousedown", function (event) { event.preventDefault(); choose(m); });
      return li;
    }

    function render() {
      list.innerHTML = "";
      if (!matches.length) {
        var none = document.createElement("li");
        none.className = "empty";
        none.textContent = "No section matches";
        list.appendChild(none);
      }
      matches.forEach(function (m, i) { list.appendChild(optionItem(m, i)); });
      if (active >= 0) {
        input.setAttribute("aria-activedescendant", select.id + "_opt_" + active);
        var current = document.getElementById(select.id + "_opt_" + active);
        if (current) current.scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function open(query) {
      var words = (query || "").toLowerCase().split(/\s+/).filter(Boolean);
      matches = options.filter(function (o) {
        return words.every(function (w) { return o.key.indexOf(w) >= 0; });
      }).slice(0, 30);
      active = matches.length ? 0 : -1;
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      render();
    }

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }

    function choose(match) {
      var form = select.form;
      var previous = form ? form.dataset.applied : "";
      select.value = match.value;
      input.value = match.text;
      close();
      select.dispatchEvent(new Event("change", { bubbles: true }));
      if (form) sectionChanged(form, previous);
    }

    input.addEventListener("focus", function () { input.select(); open(""); });
    input.addEventListener("input", function () { open(input.value); });
    input.addEventListener("blur", function () { close(); input.value = chosenText(); });
    input.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey) return; // Ctrl+Enter submits the decision
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        if (list.hidden) open(input.value);
        if (matches.length) {
          var step = event.key === "ArrowDown" ? 1 : -1;
          active = (active + step + matches.length) % matches.length;
          render();
        }
        event.preventDefault();
      } else if (event.key === "Enter") {
        event.preventDefault();
        if (!list.hidden && active >= 0 && matches[active]) choose(matches[active]);
      } else if (event.key === "Escape" && !list.hidden) {
        close();
        input.value = chosenText();
        event.stopPropagation();
      }
    });
  }

  // --- Setting up the decision column (on load and after htmx swaps it) --------------------

  function updatePreview() {
    var area = document.querySelector("#statement-field textarea");
    var preview = document.querySelector("[data-statement-preview]");
    if (preview && area) preview.textContent = area.value.trim();
  }

  function markInvalid(panel) {
    panel.querySelectorAll(".errorlist").forEach(function (list) {
      var container = list.parentElement;
      var input = container && container.querySelector("input:not([type=hidden]), select, textarea");
      if (input) input.setAttribute("aria-invalid", "true");
    });
  }

  function focusFirstError(panel) {
    var summary = panel && panel.querySelector("[data-error-summary]");
    if (!summary) return;
    var link = summary.querySelector("[data-focus-field]");
    var target = null;
    if (link) {
      var name = link.getAttribute("data-focus-field");
      target = name === "policy_section"
        ? panel.querySelector("[data-section-search]")
        : panel.querySelector("[name='" + name + "']");
      var details = target && target.closest("details");
      if (details && !details.open) details.open = true;
    }
    (target || summary).focus();
  }

  function setUp() {
    var form = decideForm();
    if (!form || form.dataset.ready) return;
    form.dataset.ready = "1";
    var panel = document.getElementById("decide");
    markInvalid(panel);
    enhanceSection(field(form, "policy_section"));
    var rec = currentRecommendation(form);
    if (rec && rowMatches(form, rec)) form.dataset.applied = JSON.stringify(rec);
    var checked = form.querySelector("input[name='outcome']:checked");
    if (checked && checked.value !== "violation") {
      form.querySelectorAll(".action-row select, .action-row input").forEach(function (i) { i.disabled = true; });
    }
    form.addEventListener("change", function (event) {
      if (event.target.name === "outcome") outcomeChanged(form);
      else if (/^action_\d_(type|duration|unit|feature)$/.test(event.target.name)) redraft(form);
    });
    updatePreview();
    loadSnippets(form);
    focusFirstError(panel);
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    // A refused decision (400 field errors, 409 stale) comes back as the decision column.
    var status = event.detail.xhr && event.detail.xhr.status;
    if ((status === 400 || status === 409) && event.detail.target && event.detail.target.id === "decide") {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail && event.detail.elt;
    if (target && target.id === "statement-field") updatePreview();
    else setUp();
  });

  document.addEventListener("input", function (event) {
    if (event.target.closest && event.target.closest("#statement-field")) updatePreview();
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-accept-recommendation]")) { acceptRecommendation(decideForm()); return; }
    var snippet = event.target.closest("[data-snippet-insert]");
    if (snippet) { event.preventDefault(); insertSnippet(snippet); }
  });

  // --- Keys --------------------------------------------------------------------------------

  function submitForm(selector) {
    var form = document.querySelector(selector);
    if (!form) return false;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
    return true;
  }

  function pickOutcome(form, index) {
    var radios = form ? form.querySelectorAll("input[name='outcome']") : [];
    if (!radios[index]) return false;
    radios[index].checked = true;
    outcomeChanged(form);
    return true;
  }

  function focusIn(element) {
    if (element) element.focus();
    return !!element;
  }

  function escalate() {
    var panel = document.getElementById("escalate");
    if (!panel) return false;
    var details = panel.querySelector("details");
    if (details) details.open = true;
    panel.scrollIntoView({ block: "start" });
    return focusIn(panel.querySelector("select, input:not([type=hidden]), textarea")) || true;
  }

  function skip() {
    var details = document.querySelector("details[data-shortcut='skip']");
    if (!details) return false;
    details.open = true;
    return focusIn(details.querySelector("input[name='reason']"));
  }

  var KEYS = {
    "1": function (form) { return pickOutcome(form, 0); },
    "2": function (form) { return pickOutcome(form, 1); },
    "3": function (form) { return pickOutcome(form, 2); },
    p: function (form) { return focusIn(form && form.querySelector("[data-section-search]")); },
    a: function (form) { return !!form && (acceptRecommendation(form), true); },
    r: function (form) { return focusIn(field(form, "rationale")); },
    c: function () { return submitForm("form[data-shortcut='claim']"); },
    l: function () { return submitForm("form[data-shortcut='release']"); },
    s: skip,
    e: escalate,
  };

  document.addEventListener("keydown", function (event) {
    var form = decideForm();
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      if (form) { event.preventDefault(); if (form.requestSubmit) form.requestSubmit(); else form.submit(); }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    var handler = KEYS[event.key];
    if (handler && handler(form)) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", setUp);
})();

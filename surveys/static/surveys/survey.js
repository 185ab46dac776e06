// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // Move focus to the error summary so screen readers announce the problems first.
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }

  // Conditional display on the same page: show a question when the controlling answer matches.
  function chosenValues(form, code) {
    var values = [];
    form.querySelectorAll('[name="' + code + '"]').forEach(function (input) {
      if ((input.type === "radio" || input.type === "checkbox") && !input.checked) { return; }
      if (input.tagName === "SELECT") {
        Array.prototype.forEach.call(input.selectedOptions, function (o) { values.push(o.value); });
      } else { values.push(input.value); }
    });
    return values;
  }
  document.querySelectorAll("form.page-form").forEach(function (form) {
    var dependants = form.querySelectorAll("[data-condition-code]");
    if (!dependants.length) { return; }
    function update() {
      dependants.forEach(function (block) {
        var wanted = block.getAttribute("data-condition-values").split(" ");
        var chosen = chosenValues(form, block.getAttribute("data-condition-code"));
        var show = chosen.some(function (v) { return wanted.indexOf(v) !== -1; });
        block.hidden = !show;
        var hint = block.querySelector(".condition-hint");
        if (hint) { hint.hidden = true; }
      });
    }
    form.addEventListener("change", update);
    update();
  });

  // "Please specify": shown only while an Other choice is chosen (the server asks for the text
  // only then, and ignores it otherwise). Without this script it is always shown, with a hint.
  document.querySelectorAll("form.page-form [data-other-for]").forEach(function (box) {
    var form = box.closest("form");
    var code = box.getAttribute("data-other-for");
    var wanted = box.getAttribute("data-other-values").split(" ");
    var hint = box.querySelector(".other-hint");
    if (hint) { hint.hidden = true; }
    function update() {
      var chosen = chosenValues(form, code);
      box.hidden = !chosen.some(function (v) { return wanted.indexOf(v) !== -1; });
    }
    form.addEventListener("change", update);
    update();
  });

  // Exclusive choices ("None of these", marked data-exclusive): ticking one unticks the other
  // options of its question, and ticking another option unticks it. The server refuses the
  // combination anyway; this only saves a round trip. What was unticked is announced.
  document.querySelectorAll("form.page-form").forEach(function (form) {
    if (!form.querySelector("input[data-exclusive]")) { return; }
    // Live regions exist before they change: one added with its text is often not read.
    form.querySelectorAll("input[data-exclusive]").forEach(function (input) {
      var group = input.closest(".question");
      if (group.querySelector(".exclusive-status")) { return; }
      var status = document.createElement("p");
      status.className = "exclusive-status visually-hidden";
      status.setAttribute("aria-live", "polite");
      group.appendChild(status);
    });
    form.addEventListener("change", function (event) {
      var ticked = event.target;
      if (ticked.type !== "checkbox" || !ticked.checked) { return; }
      var exclusive = ticked.hasAttribute("data-exclusive");
      var unticked = [];
      form.querySelectorAll('input[type="checkbox"]').forEach(function (input) {
        if (input === ticked || input.name !== ticked.name || !input.checked) { return; }
        if (exclusive || input.hasAttribute("data-exclusive")) {
          input.checked = false;
          unticked.push(input);
        }
      });
      if (!unticked.length) { return; }
      var status = ticked.closest(".question").querySelector(".exclusive-status");
      status.textContent = "Unticked: " + unticked.map(function (input) {
        var label = form.querySelector('label[for="' + input.id + '"]');
        return label ? label.textContent : input.value;
      }).join(", ") + ".";
      // Let the other listeners (conditional display) see the new state.
      unticked.forEach(function (input) {
        input.dispatchEvent(new Event("change", { bubbles: true }));
      });
    });
  });

  // Several countries: the checkboxes (which work alone) become a combobox that filters as one
  // types (arrow keys move, Enter chooses or unchooses, Escape closes) and the chosen countries
  // become chips with a remove button. The checkboxes stay the form's data: every change ticks
  // or unticks one of them, so conditional display and the server see the same thing.
  var pickerCount = 0;
  document.querySelectorAll("[data-country-picker]").forEach(function (picker) {
    pickerCount += 1;
    var id = "country-picker-" + pickerCount;
    var box = picker.querySelector(".country-options");
    var boxes = Array.prototype.slice.call(box.querySelectorAll('input[type="checkbox"]'));
    var nameOf = function (input) {
      return picker.querySelector('label[for="' + input.id + '"]').textContent;
    };
    box.hidden = true;

    var chips = document.createElement("ul");
    chips.className = "country-chips";
    chips.setAttribute("aria-label", "Chosen countries");
    var none = document.createElement("p");
    none.className = "country-none";
    none.textContent = "No country chosen yet.";
    var combo = document.createElement("div");
    combo.className = "country-combo";
    var label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = "Search and add a country";
    var input = document.createElement("input");
    input.type = "text";
    input.id = id;
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", id + "-list");
    input.setAttribute("autocomplete", "off");
    var list = document.createElement("ul");
    list.id = id + "-list";
    list.className = "country-listbox";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-multiselectable", "true");
    list.setAttribute("aria-label", "Countries");
    list.hidden = true;
    var status = document.createElement("p");
    status.className = "visually-hidden";
    status.setAttribute("aria-live", "polite");
    combo.appendChild(label);
    combo.appendChild(input);
    combo.appendChild(list);
    picker.insertBefore(status, box);
    picker.insertBefore(chips, box);
    picker.insertBefore(none, box);
    picker.insertBefore(combo, box);

    var active = -1;
    var shown = [];

    function renderChips() {
      chips.textContent = "";
      var chosen = boxes.filter(function (b) { return b.checked; });
      chosen.forEach(function (b) {
        var item = document.createElement("li");
        var text = document.createElement("span");
        text.textContent = nameOf(b);
        var remove = document.createElement("button");
        remove.type = "button";
        remove.textContent = "×";
        remove.setAttribute("aria-label", "Remove " + nameOf(b));
        remove.addEventListener("click", function () {
          toggle(b);
          input.focus();
        });
        item.appendChild(text);
        item.appendChild(remove);
        chips.appendChild(item);
      });
      chips.hidden = !chosen.length;
      none.hidden = chosen.length > 0;
    }

    function renderList() {
      var term = input.value.trim().toLowerCase();
      list.textContent = "";
      shown = boxes.filter(function (b) {
        return !term || nameOf(b).toLowerCase().indexOf(term) !== -1;
      });
      shown.forEach(function (b, index) {
        var option = document.createElement("li");
        option.id = id + "-option-" + b.value;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", b.checked ? "true" : "false");
        option.textContent = nameOf(b);
        if (index === active) { option.className = "active"; }
        // mousedown, not click: the input keeps its focus.
        option.addEventListener("mousedown", function (event) {
          event.preventDefault();
          active = index;
          toggle(b);
        });
        list.appendChild(option);
      });
      if (!shown.length) {
        var empty = document.createElement("li");
        empty.className = "country-empty";
        empty.textContent = "No country matches “" + input.value.trim() + "”.";
        list.appendChild(empty);
      }
      if (active >= 0 && active < shown.length) {
        input.setAttribute("aria-activedescendant", id + "-option-" + shown[active].value);
        var current = list.children[active];
        if (current && current.scrollIntoView) { current.scrollIntoView({ block: "nearest" }); }
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function open() {
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      renderList();
    }

    function close() {
      list.hidden = true;
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }

    function toggle(b) {
      b.checked = !b.checked;
      b.dispatchEvent(new Event("change", { bubbles: true }));
      var count = boxes.filter(function (x) { return x.checked; }).length;
      status.textContent = nameOf(b) + (b.checked ? " added" : " removed") + ". " +
        count + (count === 1 ? " country" : " countries") + " chosen.";
      renderChips();
      if (!list.hidden) { renderList(); }
    }

    input.addEventListener("input", function () {
      if (!input.value.trim()) { close(); return; }
      active = 0;
      open();
    });
    input.addEventListener("focus", function () { if (input.value) { open(); } });
    input.addEventListener("blur", close);
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (list.hidden) { open(); }
        var step = event.key === "ArrowDown" ? 1 : -1;
        active = Math.max(0, Math.min(shown.length - 1, active + step));
        renderList();
      } else if (event.key === "Enter") {
        // Enter chooses here; it never submits the page from this box.
        event.preventDefault();
        if (!list.hidden && active >= 0 && active < shown.length) { toggle(shown[active]); }
      } else if (event.key === "Escape") {
        if (!list.hidden) { event.preventDefault(); close(); }
      }
    });
    renderChips();
  });

  // One country: a filter box above the select.
  document.querySelectorAll("select[data-country-search]").forEach(function (select) {
    var input = document.createElement("input");
    input.type = "text";
    input.id = select.id + "-filter";
    input.setAttribute("autocomplete", "off");
    var label = document.createElement("label");
    label.htmlFor = input.id;
    label.textContent = "Filter countries";
    label.className = "filter-label";
    var wrapper = document.createElement("div");
    wrapper.className = "country-filter";
    wrapper.appendChild(label);
    wrapper.appendChild(input);
    select.parentNode.insertBefore(wrapper, select);
    input.addEventListener("input", function () {
      var term = input.value.trim().toLowerCase();
      Array.prototype.forEach.call(select.options, function (option) {
        var match = !term || option.value === "" || option.text.toLowerCase().indexOf(term) !== -1;
        option.hidden = !match && !option.selected;
      });
    });
  });
})();

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

  // Country lists: a filter box above the select.
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

// Hookhaven Dashboard: small progressive enhancements. Every page works without them;
// nothing here reads or stores a secret value.
(function () {
  'use strict';
  document.documentElement.classList.add('js');

  function closeMenu(button, focusButton) {
    var list = document.getElementById(button.getAttribute('aria-controls'));
    button.setAttribute('aria-expanded', 'false');
    if (list) list.classList.remove('open');
    if (focusButton) button.focus();
  }

  function openMenu(button) {
    var list = document.getElementById(button.getAttribute('aria-controls'));
    button.setAttribute('aria-expanded', 'true');
    if (!list) return;
    list.classList.add('open');
    var first = list.querySelector('a, button');
    if (first) first.focus();
  }

  // Disclosure menus (the wrench: "Hook settings"). Escape closes and returns focus.
  document.querySelectorAll('[data-menu-button]').forEach(function (button) {
    var menu = button.closest('[data-menu]');
    button.addEventListener('click', function () {
      if (button.getAttribute('aria-expanded') === 'true') closeMenu(button, false);
      else openMenu(button);
    });
    menu.addEventListener('keydown', function (event) {
      if (event.key === 'Escape' && button.getAttribute('aria-expanded') === 'true') {
        event.preventDefault();
        closeMenu(button, true);
      }
      if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        var items = Array.prototype.slice.call(menu.querySelectorAll('.menu-list a'));
        var at = items.indexOf(document.activeElement);
        if (at < 0) return;
        event.preventDefault();
        var next = event.key === 'ArrowDown' ? (at + 1) % items.length : (at - 1 + items.length) % items.length;
        items[next].focus();
      }
    });
    menu.addEventListener('focusout', function (event) {
      if (!menu.contains(event.relatedTarget) && button.getAttribute('aria-expanded') === 'true') {
        closeMenu(button, false);
      }
    });
  });
  document.addEventListener('click', function (event) {
    document.querySelectorAll('[data-menu-button][aria-expanded="true"]').forEach(function (button) {
      if (!button.closest('[data-menu]').contains(event.target)) closeMenu(button, false);
    });
  });

  // Copy buttons (a new client secret). The value is only in that one input.
  document.querySelectorAll('[data-copy]').forEach(function (button) {
    button.addEventListener('click', function () {
      var input = document.getElementById(button.getAttribute('data-copy'));
      var status = button.closest('.field').querySelector('[data-copy-status]');
      if (!input) return;
      function done(ok) {
        if (status) status.textContent = ok ? 'Copied to the clipboard.' : 'Select the text and copy it.';
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(function () { done(true); }, function () {
          input.select();
          done(false);
        });
      } else {
        input.select();
        var ok = false;
        try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
        done(ok);
      }
    });
  });

  // The create-hook form: the starter script follows the trigger until it is edited.
  document.querySelectorAll('[data-starter-select]').forEach(function (select) {
    var area = document.getElementById(select.getAttribute('data-starter-select'));
    if (!area) return;
    function starter(trigger) {
      var t = document.getElementById('starter-' + trigger);
      return t ? t.content.textContent : null;
    }
    function untouched() {
      var current = area.value.trim();
      if (current === '') return true;
      return Array.prototype.some.call(select.options, function (o) {
        var s = starter(o.value);
        return s !== null && s.trim() === current;
      });
    }
    select.addEventListener('change', function () {
      var s = starter(select.value);
      if (s !== null && untouched()) {
        area.value = s;
        area.dispatchEvent(new Event('input'));
      }
    });
  });

  // After an action that shows a result (Runner, a new client secret), move focus to it;
  // otherwise honour autofocus (an edit form, a confirmation) even where the browser
  // skipped it, e.g. after a same-page link with a fragment.
  var target = document.querySelector('[data-focus-on-load] [tabindex="-1"]') ||
    document.querySelector('main [autofocus]');
  if (target && (document.activeElement === document.body || document.activeElement === null)) {
    target.focus();
  }
})();

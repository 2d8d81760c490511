// Hookhaven's code editor: the textarea stays the real form field (and keeps the
// keyboard behaviour of a textarea: Tab moves focus), with a line-number gutter and a
// syntax-highlighted copy of its text drawn underneath. JavaScript and JSON.
(function () {
  'use strict';

  var KEYWORDS = new Set(('async await break case catch class const continue debugger default delete do ' +
    'else export extends finally for function if import in instanceof let new of return static super ' +
    'switch this throw try typeof var void while with yield').split(' '));
  var LITERALS = new Set(['true', 'false', 'null', 'undefined', 'NaN', 'Infinity']);

  // Splits source text into [className, text] tokens. Good enough for display: strings,
  // template literals, comments, numbers, keywords, regular expressions, punctuation.
  function tokenize(src) {
    var out = [];
    var i = 0;
    var n = src.length;
    var lastSignificant = '';
    function push(cls, text) {
      out.push([cls, text]);
      if (cls !== 'com' && !/^\s+$/.test(text)) lastSignificant = cls === 'punc' ? text : cls;
    }
    while (i < n) {
      var c = src[i];
      var rest;
      if (c === '/' && src[i + 1] === '/') {
        var end = src.indexOf('\n', i);
        if (end < 0) end = n;
        push('com', src.slice(i, end));
        i = end;
      } else if (c === '/' && src[i + 1] === '*') {
        var close = src.indexOf('*/', i + 2);
        close = close < 0 ? n : close + 2;
        push('com', src.slice(i, close));
        i = close;
      } else if (c === '"' || c === "'" || c === '`') {
        var j = i + 1;
        while (j < n && src[j] !== c) {
          if (src[j] === '\\') j++;
          else if (src[j] === '\n' && c !== '`') break;
          j++;
        }
        j = Math.min(j + 1, n);
        push('str', src.slice(i, j));
        i = j;
      } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] || ''))) {
        rest = /^(?:0[xXoObB][0-9a-fA-F_]+|\d[\d_]*\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)n?/.exec(src.slice(i));
        var num = rest ? rest[0] : c;
        push('num', num);
        i += num.length;
      } else if (/[A-Za-z_$]/.test(c)) {
        rest = /^[A-Za-z0-9_$]+/.exec(src.slice(i))[0];
        var cls = '';
        if (KEYWORDS.has(rest)) cls = 'kw';
        else if (LITERALS.has(rest)) cls = 'lit';
        else if (/^\s*\(/.test(src.slice(i + rest.length, i + rest.length + 40))) cls = 'fn';
        else if (src[i - 1] === '.') cls = 'prop';
        push(cls, rest);
        i += rest.length;
      } else if (c === '/' && /^(|[(,=:[!&|?{};+\-*%<>~^]|return|typeof|case)$/.test(lastSignificant)) {
        // A regular expression literal where an expression may start.
        var k = i + 1;
        var inClass = false;
        while (k < n && src[k] !== '\n') {
          if (src[k] === '\\') { k += 2; continue; }
          if (src[k] === '[') inClass = true;
          else if (src[k] === ']') inClass = false;
          else if (src[k] === '/' && !inClass) break;
          k++;
        }
        if (k < n && src[k] === '/') {
          k++;
          while (k < n && /[a-z]/.test(src[k])) k++;
          push('str', src.slice(i, k));
          i = k;
        } else {
          push('punc', c);
          i++;
        }
      } else if (/\s/.test(c)) {
        rest = /^\s+/.exec(src.slice(i))[0];
        push('', rest);
        i += rest.length;
      } else {
        push('punc', c);
        i++;
      }
    }
    return out;
  }

  function render(code, tokens) {
    var frag = document.createDocumentFragment();
    tokens.forEach(function (t) {
      if (t[0]) {
        var span = document.createElement('span');
        span.className = 'tok-' + t[0];
        span.textContent = t[1];
        frag.appendChild(span);
      } else {
        frag.appendChild(document.createTextNode(t[1]));
      }
    });
    // A trailing newline needs a character after it to take up a line.
    frag.appendChild(document.createTextNode('\n'));
    code.replaceChildren(frag);
  }

  function enhance(box) {
    var area = box.querySelector('textarea');
    if (!area) return;
    box.classList.add('enhanced');
    if (box.classList.contains('tall')) box.classList.add('tall');
    var gutter = document.createElement('div');
    gutter.className = 'gutter';
    gutter.setAttribute('aria-hidden', 'true');
    var surface = document.createElement('div');
    surface.className = 'surface';
    var pre = document.createElement('pre');
    pre.className = 'highlight';
    pre.setAttribute('aria-hidden', 'true');
    var code = document.createElement('code');
    pre.appendChild(code);
    box.insertBefore(gutter, area);
    box.insertBefore(surface, area);
    surface.appendChild(pre);
    surface.appendChild(area);
    var errorLine = parseInt(box.getAttribute('data-error-line') || '0', 10);
    var lastLines = -1;

    function update() {
      render(code, tokenize(area.value));
      var lines = area.value.split('\n').length;
      if (lines !== lastLines) {
        var frag = document.createDocumentFragment();
        for (var i = 1; i <= lines; i++) {
          var s = document.createElement('span');
          s.textContent = String(i);
          if (i === errorLine) s.className = 'error-line';
          frag.appendChild(s);
        }
        gutter.replaceChildren(frag);
        lastLines = lines;
      }
      sync();
    }
    function sync() {
      pre.scrollTop = area.scrollTop;
      pre.scrollLeft = area.scrollLeft;
      gutter.scrollTop = area.scrollTop;
    }
    area.addEventListener('input', update);
    area.addEventListener('scroll', sync);
    update();
    if (errorLine > 0) {
      // Put the caret at the start of the line with the error.
      var offset = 0;
      var parts = area.value.split('\n');
      for (var l = 0; l < errorLine - 1 && l < parts.length; l++) offset += parts[l].length + 1;
      area.setSelectionRange(offset, offset);
    }
  }

  document.querySelectorAll('[data-editor]').forEach(enhance);
})();

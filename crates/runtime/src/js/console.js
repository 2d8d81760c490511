// The hook sandbox's `console` chunk: Node-style formatting (`%s`, `%d`, `%j`, `util.inspect`
// for objects) of what a hook logs. Loaded on first use through `core.need('console')` (see
// prelude.js), in the invocation's own context, so a hook that never logs does not pay for it.
(function (host, core) {
  'use strict';

  // URL, URLSearchParams and Buffer print specially, but only if the hook has used them.
  const peek = core.peek;
  function quoteString(s) { return "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n') + "'"; }

  function inspect(value, depth, seen) {
    if (depth === undefined) depth = 0;
    if (seen === undefined) seen = [];
    switch (typeof value) {
      case 'string': return depth === 0 ? value : quoteString(value);
      case 'number': return Object.is(value, -0) ? '-0' : String(value);
      case 'bigint': return String(value) + 'n';
      case 'boolean': case 'undefined': return String(value);
      case 'symbol': return value.toString();
      case 'function': return '[Function: ' + (value.name || '(anonymous)') + ']';
    }
    if (value === null) return 'null';
    if (seen.includes(value)) return '[Circular]';
    if (value instanceof Error) {
      const head = (value.name || 'Error') + ': ' + value.message;
      return value.stack ? head + '\n' + String(value.stack).replace(/\s+$/, '') : head;
    }
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
    if (value instanceof RegExp) return String(value);
    const url = peek('url');
    const bytes = peek('bytes');
    if (url && value instanceof url.URL) return "URL '" + value.href + "'";
    if (url && value instanceof url.URLSearchParams) return "URLSearchParams '" + value.toString() + "'";
    if (bytes && value instanceof bytes.Buffer) {
      const HEX = bytes.HEX;
      const shown = Array.from(value.subarray(0, 50), (b) => HEX[b]).join(' ');
      return '<Buffer' + (shown ? ' ' + shown : '') + (value.length > 50 ? ' ... ' + (value.length - 50) + ' more bytes' : '') + '>';
    }
    if (typeof Promise === 'function' && value instanceof Promise) return 'Promise { <pending> }';
    if (depth > 2) return Array.isArray(value) ? '[Array]' : '[Object]';
    const next = seen.concat([value]);
    if (Array.isArray(value) || ArrayBuffer.isView(value)) {
      const items = Array.from(value).slice(0, 100).map((v) => inspect(v, depth + 1, next));
      if (value.length > 100) items.push('... ' + (value.length - 100) + ' more items');
      return items.length ? '[ ' + items.join(', ') + ' ]' : '[]';
    }
    if (value instanceof Map) {
      const items = Array.from(value).map(([k, v]) => inspect(k, depth + 1, next) + ' => ' + inspect(v, depth + 1, next));
      return 'Map(' + value.size + ') {' + (items.length ? ' ' + items.join(', ') + ' ' : '') + '}';
    }
    if (value instanceof Set) {
      const items = Array.from(value).map((v) => inspect(v, depth + 1, next));
      return 'Set(' + value.size + ') {' + (items.length ? ' ' + items.join(', ') + ' ' : '') + '}';
    }
    const keys = Object.keys(value);
    if (keys.length === 0) return '{}';
    const parts = keys.slice(0, 100).map((k) => {
      const name = /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : quoteString(k);
      let v;
      try { v = value[k]; } catch (e) { v = '[Getter threw]'; }
      return name + ': ' + inspect(v, depth + 1, next);
    });
    if (keys.length > 100) parts.push('... ' + (keys.length - 100) + ' more items');
    return '{ ' + parts.join(', ') + ' }';
  }

  function format(args) {
    let i = 0;
    let out = '';
    if (typeof args[0] === 'string' && args[0].includes('%')) {
      const fmt = args[0];
      i = 1;
      out = fmt.replace(/%[sdifjoOc%]/g, (m) => {
        if (m === '%%') return '%';
        if (i >= args.length) return m;
        const a = args[i++];
        switch (m) {
          case '%s': return typeof a === 'string' ? a : inspect(a, 1);
          case '%d': case '%i': return typeof a === 'bigint' ? a + 'n' : String(m === '%i' ? parseInt(a, 10) : Number(a));
          case '%f': return String(parseFloat(a));
          case '%j': try { return JSON.stringify(a); } catch (e) { return '[Circular]'; }
          case '%c': return '';
          default: return inspect(a, 1);
        }
      });
    } else if (args.length > 0) {
      out = inspect(args[0]);
      i = 1;
    }
    for (; i < args.length; i++) out += ' ' + inspect(args[i]);
    return out;
  }

  function logger(level) {
    return function () {
      let text;
      try { text = format(Array.prototype.slice.call(arguments)); } catch (e) { text = '[unprintable value]'; }
      host.log(level, text);
    };
  }
  const timersByLabel = new Map();
  const counters = new Map();
  const console = {
    log: logger('log'),
    info: logger('info'),
    warn: logger('warn'),
    error: logger('error'),
    debug: logger('debug'),
    trace: logger('log'),
    dir: (v) => host.log('log', inspect(v)),
    assert: (cond, ...rest) => { if (!cond) host.log('error', 'Assertion failed' + (rest.length ? ': ' + format(rest) : '')); },
    time: (label = 'default') => { timersByLabel.set(String(label), Date.now()); },
    timeEnd: (label = 'default') => {
      const t = timersByLabel.get(String(label));
      if (t !== undefined) { timersByLabel.delete(String(label)); host.log('log', label + ': ' + (Date.now() - t) + 'ms'); }
    },
    count: (label = 'default') => { const n = (counters.get(String(label)) || 0) + 1; counters.set(String(label), n); host.log('log', label + ': ' + n); },
  };

  return console;
})

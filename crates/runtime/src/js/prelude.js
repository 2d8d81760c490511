// The hook sandbox's JavaScript side: globals and built-in modules, the trigger adapters'
// argument building and error classes, and the callback contract. Evaluated once per
// invocation in a fresh context; it evaluates to `setup(host, trigger)`, which installs the
// globals and returns the functions Rust drives the invocation with. `host` holds the native
// functions (see engine.rs); it is never reachable from hook code.
(function (host, trigger) {
  'use strict';

  const G = globalThis;
  // Captured now: the hook may replace its own globals, but not the way results travel.
  const jsonStringify = JSON.stringify;
  const toJson = (v) => jsonStringify.call(JSON, v);
  const hasOwn = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
  function define(name, value) {
    Object.defineProperty(G, name, { value, writable: true, configurable: true, enumerable: false });
  }

  // ------------------------------------------------------------------ bytes and encodings
  const HEX = [];
  for (let i = 0; i < 256; i++) HEX.push((i < 16 ? '0' : '') + i.toString(16));

  function normEnc(enc) {
    if (enc === undefined || enc === null) return 'utf8';
    const e = String(enc).toLowerCase();
    switch (e) {
      case 'utf8': case 'utf-8': return 'utf8';
      case 'hex': return 'hex';
      case 'base64': return 'base64';
      case 'base64url': return 'base64url';
      case 'latin1': case 'binary': return 'latin1';
      case 'ascii': return 'ascii';
      case 'ucs2': case 'ucs-2': case 'utf16le': case 'utf-16le': return 'utf16le';
      default: return null;
    }
  }

  function unknownEncoding(enc) {
    const e = new TypeError('Unknown encoding: ' + enc);
    e.code = 'ERR_UNKNOWN_ENCODING';
    return e;
  }

  function encodeString(s, enc) {
    s = String(s);
    switch (normEnc(enc)) {
      case 'utf8': return host.utf8Encode(s);
      case 'hex': {
        const n = s.length >>> 1;
        const out = new Uint8Array(n);
        let i = 0;
        for (; i < n; i++) {
          const b = parseInt(s.substr(i * 2, 2), 16);
          if (Number.isNaN(b)) break;
          out[i] = b;
        }
        return out.subarray(0, i);
      }
      case 'base64': case 'base64url': return host.b64Decode(s);
      case 'latin1': case 'ascii': {
        const out = new Uint8Array(s.length);
        for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 255;
        return out;
      }
      case 'utf16le': {
        const out = new Uint8Array(s.length * 2);
        for (let i = 0; i < s.length; i++) {
          const c = s.charCodeAt(i);
          out[i * 2] = c & 255;
          out[i * 2 + 1] = c >>> 8;
        }
        return out;
      }
      default: throw unknownEncoding(enc);
    }
  }

  function decodeBytes(u8, enc) {
    switch (normEnc(enc)) {
      case 'utf8': return host.utf8Decode(u8, false);
      case 'hex': {
        let s = '';
        for (let i = 0; i < u8.length; i++) s += HEX[u8[i]];
        return s;
      }
      case 'base64': return host.b64Encode(u8, false);
      case 'base64url': return host.b64Encode(u8, true);
      case 'latin1': case 'ascii': {
        const mask = normEnc(enc) === 'ascii' ? 127 : 255;
        let s = '';
        for (let i = 0; i < u8.length; i += 4096) {
          const chunk = Array.from(u8.subarray(i, i + 4096), (b) => b & mask);
          s += String.fromCharCode.apply(null, chunk);
        }
        return s;
      }
      case 'utf16le': {
        let s = '';
        for (let i = 0; i + 1 < u8.length; i += 2) s += String.fromCharCode(u8[i] | (u8[i + 1] << 8));
        return s;
      }
      default: throw unknownEncoding(enc);
    }
  }

  // Any binary-ish input as a Uint8Array view (strings are encoded).
  function toBytes(data, enc) {
    if (typeof data === 'string') return encodeString(data, enc);
    if (data instanceof Uint8Array) return data;
    if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (data instanceof ArrayBuffer) return new Uint8Array(data);
    if (Array.isArray(data)) return Uint8Array.from(data, (x) => x & 255);
    throw new TypeError('The "data" argument must be of type string or an instance of Buffer, TypedArray, or DataView.');
  }

  function concatBytes(list) {
    let n = 0;
    for (const b of list) n += b.length;
    const out = new Uint8Array(n);
    let at = 0;
    for (const b of list) { out.set(b, at); at += b.length; }
    return out;
  }

  // ------------------------------------------------------------------ Buffer (subset)
  class Buffer extends Uint8Array {
    static from(value, encOrOffset, length) {
      if (typeof value === 'string') return wrapBuffer(encodeString(value, encOrOffset));
      if (value instanceof ArrayBuffer) {
        const off = encOrOffset === undefined ? 0 : Number(encOrOffset);
        const len = length === undefined ? value.byteLength - off : Number(length);
        return new Buffer(value, off, len);
      }
      if (value instanceof Uint8Array) {
        const b = new Buffer(value.length);
        b.set(value);
        return b;
      }
      if (ArrayBuffer.isView(value) || Array.isArray(value)) {
        const src = Array.isArray(value) ? value : Array.from(value);
        const b = new Buffer(src.length);
        for (let i = 0; i < src.length; i++) b[i] = src[i] & 255;
        return b;
      }
      if (value && typeof value === 'object') {
        if (value.type === 'Buffer' && Array.isArray(value.data)) return Buffer.from(value.data);
        if (typeof value.length === 'number') return Buffer.from(Array.from(value));
      }
      throw new TypeError('The first argument must be of type string or an instance of Buffer, ArrayBuffer, or Array or an Array-like Object.');
    }
    static alloc(size, fill, enc) {
      const b = new Buffer(size);
      if (fill !== undefined && fill !== 0) b.fill(fill, 0, b.length, enc);
      return b;
    }
    static allocUnsafe(size) { return new Buffer(size); }
    static isBuffer(b) { return b instanceof Buffer; }
    static isEncoding(e) { return normEnc(e) !== null; }
    static byteLength(s, enc) {
      if (typeof s !== 'string') return toBytes(s).byteLength;
      return encodeString(s, enc).length;
    }
    static concat(list, total) {
      const joined = concatBytes(list.map((b) => toBytes(b)));
      const out = wrapBuffer(joined);
      return total === undefined ? out : (total <= out.length ? out.subarray(0, total) : Buffer.concat([out, Buffer.alloc(total - out.length)]));
    }
    static compare(a, b) { return Buffer.prototype.compare.call(a, b); }
    toString(enc, start, end) {
      const s = start === undefined ? 0 : start;
      const e = end === undefined ? this.length : end;
      return decodeBytes(this.subarray(s, e), enc);
    }
    toJSON() { return { type: 'Buffer', data: Array.from(this) }; }
    equals(other) { return this.compare(other) === 0; }
    compare(other) {
      const o = toBytes(other);
      const n = Math.min(this.length, o.length);
      for (let i = 0; i < n; i++) if (this[i] !== o[i]) return this[i] < o[i] ? -1 : 1;
      return this.length === o.length ? 0 : (this.length < o.length ? -1 : 1);
    }
    slice(start, end) { return this.subarray(start, end); }
    copy(target, targetStart, sourceStart, sourceEnd) {
      const src = this.subarray(sourceStart || 0, sourceEnd === undefined ? this.length : sourceEnd);
      const at = targetStart || 0;
      const n = Math.min(src.length, target.length - at);
      target.set(src.subarray(0, n), at);
      return n;
    }
    write(string, offset, enc) {
      if (typeof offset === 'string') { enc = offset; offset = 0; }
      const bytes = encodeString(string, enc);
      const at = offset || 0;
      const n = Math.min(bytes.length, this.length - at);
      this.set(bytes.subarray(0, n), at);
      return n;
    }
    fill(value, start, end, enc) {
      if (typeof value === 'string') {
        const bytes = encodeString(value, enc);
        const s = start || 0;
        const e = end === undefined ? this.length : end;
        if (bytes.length === 0) return Uint8Array.prototype.fill.call(this, 0, s, e);
        for (let i = s, j = 0; i < e; i++, j = (j + 1) % bytes.length) this[i] = bytes[j];
        return this;
      }
      return Uint8Array.prototype.fill.call(this, value, start, end);
    }
    includes(value, byteOffset, enc) { return this.indexOf(value, byteOffset, enc) !== -1; }
    indexOf(value, byteOffset, enc) {
      if (typeof value === 'number') return Uint8Array.prototype.indexOf.call(this, value, byteOffset);
      const needle = toBytes(value, enc);
      const from = byteOffset || 0;
      outer: for (let i = from; i + needle.length <= this.length; i++) {
        for (let j = 0; j < needle.length; j++) if (this[i + j] !== needle[j]) continue outer;
        return i;
      }
      return -1;
    }
    readUInt8(o = 0) { return this[o]; }
    readUInt16BE(o = 0) { return (this[o] << 8) | this[o + 1]; }
    readUInt32BE(o = 0) { return ((this[o] * 0x1000000) + ((this[o + 1] << 16) | (this[o + 2] << 8) | this[o + 3])); }
  }
  function wrapBuffer(u8) { return new Buffer(u8.buffer, u8.byteOffset, u8.byteLength); }

  // ------------------------------------------------------------------ TextEncoder / TextDecoder
  class TextEncoder {
    get encoding() { return 'utf-8'; }
    encode(input = '') { return host.utf8Encode(String(input)); }
    encodeInto(input, dest) {
      const bytes = host.utf8Encode(String(input));
      const n = Math.min(bytes.length, dest.length);
      dest.set(bytes.subarray(0, n));
      return { read: input.length, written: n };
    }
  }
  class TextDecoder {
    constructor(label = 'utf-8', options = {}) {
      const l = String(label).trim().toLowerCase();
      if (l !== 'utf-8' && l !== 'utf8' && l !== 'unicode-1-1-utf-8') {
        throw new RangeError('The "' + label + '" encoding is not supported');
      }
      this._fatal = !!(options && options.fatal);
      this._ignoreBOM = !!(options && options.ignoreBOM);
    }
    get encoding() { return 'utf-8'; }
    get fatal() { return this._fatal; }
    get ignoreBOM() { return this._ignoreBOM; }
    decode(input) {
      if (input === undefined || input === null) return '';
      let s = host.utf8Decode(toBytes(input), this._fatal);
      if (!this._ignoreBOM && s.charCodeAt(0) === 0xfeff) s = s.slice(1);
      return s;
    }
  }

  // ------------------------------------------------------------------ URL / URLSearchParams
  const urlState = new WeakMap();
  const paramsState = new WeakMap();

  function invalidUrl(input) {
    const e = new TypeError('Invalid URL');
    e.code = 'ERR_INVALID_URL';
    e.input = input;
    return e;
  }

  class URLSearchParams {
    constructor(init) {
      let list = [];
      if (init instanceof URLSearchParams) {
        list = paramsState.get(init).list.map((p) => [p[0], p[1]]);
      } else if (init !== undefined && init !== null && typeof init === 'object') {
        if (typeof init[Symbol.iterator] === 'function') {
          for (const pair of init) {
            const p = Array.from(pair);
            if (p.length !== 2) throw new TypeError('Each query pair must be an iterable [name, value] tuple');
            list.push([String(p[0]), String(p[1])]);
          }
        } else {
          for (const k of Object.keys(init)) list.push([k, String(init[k])]);
        }
      } else if (init !== undefined && init !== null) {
        let s = String(init);
        if (s.startsWith('?')) s = s.slice(1);
        list = host.formParse(s);
      }
      paramsState.set(this, { list, url: null });
    }
    get size() { return paramsState.get(this).list.length; }
    append(name, value) { const st = paramsState.get(this); st.list.push([String(name), String(value)]); updateUrl(st); }
    delete(name, value) {
      const st = paramsState.get(this);
      name = String(name);
      st.list = st.list.filter((p) => !(p[0] === name && (value === undefined || p[1] === String(value))));
      updateUrl(st);
    }
    get(name) { const p = paramsState.get(this).list.find((q) => q[0] === String(name)); return p ? p[1] : null; }
    getAll(name) { return paramsState.get(this).list.filter((q) => q[0] === String(name)).map((q) => q[1]); }
    has(name, value) { return paramsState.get(this).list.some((q) => q[0] === String(name) && (value === undefined || q[1] === String(value))); }
    set(name, value) {
      const st = paramsState.get(this);
      name = String(name);
      const i = st.list.findIndex((q) => q[0] === name);
      if (i < 0) st.list.push([name, String(value)]);
      else {
        st.list[i][1] = String(value);
        st.list = st.list.filter((q, j) => j <= i || q[0] !== name);
      }
      updateUrl(st);
    }
    sort() { const st = paramsState.get(this); st.list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); updateUrl(st); }
    forEach(fn, thisArg) { for (const [k, v] of paramsState.get(this).list.slice()) fn.call(thisArg, v, k, this); }
    keys() { return paramsState.get(this).list.map((p) => p[0])[Symbol.iterator](); }
    values() { return paramsState.get(this).list.map((p) => p[1])[Symbol.iterator](); }
    entries() { return paramsState.get(this).list.map((p) => [p[0], p[1]])[Symbol.iterator](); }
    [Symbol.iterator]() { return this.entries(); }
    toString() { return host.formSerialize(paramsState.get(this).list); }
    get [Symbol.toStringTag]() { return 'URLSearchParams'; }
  }
  function updateUrl(st) {
    if (!st.url) return;
    const u = urlState.get(st.url);
    const q = host.formSerialize(st.list);
    u.rec = host.urlSet(u.rec.href, 'search', q) || u.rec;
  }

  class URL {
    constructor(url, base) {
      const input = String(url instanceof URL ? url.href : url);
      const rec = host.urlParse(input, base === undefined ? undefined : String(base instanceof URL ? base.href : base));
      if (!rec) throw invalidUrl(input);
      urlState.set(this, { rec, params: null });
    }
    static canParse(url, base) {
      return !!host.urlParse(String(url), base === undefined ? undefined : String(base));
    }
    get href() { return urlState.get(this).rec.href; }
    set href(v) {
      const rec = host.urlParse(String(v), undefined);
      if (!rec) throw invalidUrl(String(v));
      setRec(this, rec);
    }
    get origin() { return urlState.get(this).rec.origin; }
    get protocol() { return urlState.get(this).rec.protocol; }
    set protocol(v) { setProp(this, 'protocol', v); }
    get username() { return urlState.get(this).rec.username; }
    set username(v) { setProp(this, 'username', v); }
    get password() { return urlState.get(this).rec.password; }
    set password(v) { setProp(this, 'password', v); }
    get host() { return urlState.get(this).rec.host; }
    set host(v) { setProp(this, 'host', v); }
    get hostname() { return urlState.get(this).rec.hostname; }
    set hostname(v) { setProp(this, 'hostname', v); }
    get port() { return urlState.get(this).rec.port; }
    set port(v) { setProp(this, 'port', v); }
    get pathname() { return urlState.get(this).rec.pathname; }
    set pathname(v) { setProp(this, 'pathname', v); }
    get search() { return urlState.get(this).rec.search; }
    set search(v) { setProp(this, 'search', v); }
    get hash() { return urlState.get(this).rec.hash; }
    set hash(v) { setProp(this, 'hash', v); }
    get searchParams() {
      const st = urlState.get(this);
      if (!st.params) {
        st.params = new URLSearchParams(st.rec.search);
        paramsState.get(st.params).url = this;
      }
      return st.params;
    }
    toString() { return this.href; }
    toJSON() { return this.href; }
    get [Symbol.toStringTag]() { return 'URL'; }
  }
  function setProp(url, prop, value) {
    const st = urlState.get(url);
    const rec = host.urlSet(st.rec.href, prop, String(value));
    if (rec) setRec(url, rec);
  }
  function setRec(url, rec) {
    const st = urlState.get(url);
    st.rec = rec;
    if (st.params) paramsState.get(st.params).list = host.formParse(rec.search.replace(/^\?/, ''));
  }

  // ------------------------------------------------------------------ console
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
    if (value instanceof URL) return "URL '" + value.href + "'";
    if (value instanceof URLSearchParams) return "URLSearchParams '" + value.toString() + "'";
    if (value instanceof Buffer) {
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

  // ------------------------------------------------------------------ timers
  const timers = new Map();
  let nextTimerId = 1;
  const TIMER_ID = Symbol('timerId');

  class Timeout {
    constructor(id) { this[TIMER_ID] = id; }
    ref() { return this; }
    unref() { return this; }
    hasRef() { return true; }
    refresh() { const t = timers.get(this[TIMER_ID]); if (t) host.timerSet(this[TIMER_ID], t.ms); return this; }
    [Symbol.toPrimitive]() { return this[TIMER_ID]; }
  }

  function clampDelay(ms) {
    const n = Number(ms);
    if (!(n >= 1) || n > 2147483647) return 1;
    return n;
  }
  function addTimer(fn, ms, args, repeat) {
    if (typeof fn !== 'function') {
      const e = new TypeError('The "callback" argument must be of type function. Received ' + typeof fn);
      e.code = 'ERR_INVALID_ARG_TYPE';
      throw e;
    }
    const id = nextTimerId++;
    const delay = clampDelay(ms);
    host.timerSet(id, delay);
    timers.set(id, { fn, args, repeat, ms: delay });
    return new Timeout(id);
  }
  function clearTimer(t) {
    const id = t instanceof Timeout ? t[TIMER_ID] : Number(t);
    if (timers.delete(id)) host.timerClear(id);
  }
  function setTimeout(fn, ms, ...args) { return addTimer(fn, ms, args, false); }
  function setInterval(fn, ms, ...args) { return addTimer(fn, ms, args, true); }
  function setImmediate(fn, ...args) { return addTimer(fn, 0, args, false); }

  function fireTimer(id) {
    const t = timers.get(id);
    if (!t) return;
    if (t.repeat) host.timerSet(id, t.ms);
    else timers.delete(id);
    try {
      t.fn.apply(undefined, t.args);
    } catch (e) {
      fail(e);
    }
  }

  // ------------------------------------------------------------------ AbortController
  class AbortSignal {
    constructor() { this.aborted = false; this.reason = undefined; this._listeners = []; this.onabort = null; }
    addEventListener(type, fn) { if (type === 'abort' && typeof fn === 'function') this._listeners.push(fn); }
    removeEventListener(type, fn) { this._listeners = this._listeners.filter((f) => f !== fn); }
    throwIfAborted() { if (this.aborted) throw this.reason; }
    _abort(reason) {
      if (this.aborted) return;
      this.aborted = true;
      this.reason = reason === undefined ? abortError('This operation was aborted') : reason;
      const ev = { type: 'abort', target: this };
      if (typeof this.onabort === 'function') this.onabort(ev);
      for (const fn of this._listeners.slice()) fn.call(this, ev);
    }
    static abort(reason) { const s = new AbortSignal(); s._abort(reason); return s; }
    static timeout(ms) {
      const s = new AbortSignal();
      const t = setTimeout(() => s._abort(abortError('The operation was aborted due to timeout', 'TimeoutError')), ms);
      s.addEventListener('abort', () => clearTimer(t));
      return s;
    }
  }
  class AbortController {
    constructor() { this.signal = new AbortSignal(); }
    abort(reason) { this.signal._abort(reason); }
  }
  function abortError(message, name) {
    const e = new Error(message);
    e.name = name || 'AbortError';
    e.code = 20;
    return e;
  }

  // ------------------------------------------------------------------ fetch
  class Headers {
    constructor(init) {
      this._map = new Map();
      if (init === undefined || init === null) return;
      if (init instanceof Headers) {
        for (const [k, v] of init._map) this._map.set(k, v);
      } else if (typeof init[Symbol.iterator] === 'function') {
        for (const pair of init) {
          const p = Array.from(pair);
          this.append(p[0], p[1]);
        }
      } else if (typeof init === 'object') {
        for (const k of Object.keys(init)) {
          const v = init[k];
          if (v === undefined) continue;
          if (Array.isArray(v)) v.forEach((x) => this.append(k, x));
          else this.append(k, v);
        }
      }
    }
    append(name, value) {
      const n = checkHeaderName(name);
      const v = String(value).trim();
      const cur = this._map.get(n);
      this._map.set(n, cur === undefined ? v : cur + ', ' + v);
    }
    set(name, value) { this._map.set(checkHeaderName(name), String(value).trim()); }
    get(name) { const v = this._map.get(String(name).toLowerCase()); return v === undefined ? null : v; }
    has(name) { return this._map.has(String(name).toLowerCase()); }
    delete(name) { this._map.delete(String(name).toLowerCase()); }
    forEach(fn, thisArg) { for (const [k, v] of this.entries()) fn.call(thisArg, v, k, this); }
    keys() { return Array.from(this.entries(), (e) => e[0])[Symbol.iterator](); }
    values() { return Array.from(this.entries(), (e) => e[1])[Symbol.iterator](); }
    entries() { return Array.from(this._map).sort((a, b) => (a[0] < b[0] ? -1 : 1))[Symbol.iterator](); }
    [Symbol.iterator]() { return this.entries(); }
    raw() { const o = {}; for (const [k, v] of this._map) o[k] = [v]; return o; }
    get [Symbol.toStringTag]() { return 'Headers'; }
  }
  function checkHeaderName(name) {
    const n = String(name).toLowerCase();
    if (!/^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(n)) throw new TypeError('Invalid header name: "' + name + '"');
    return n;
  }

  function bodyToBytes(body, headers) {
    if (body === undefined || body === null) return undefined;
    if (typeof body === 'string') {
      if (!headers.has('content-type')) headers.set('content-type', 'text/plain;charset=UTF-8');
      return host.utf8Encode(body);
    }
    if (body instanceof URLSearchParams) {
      if (!headers.has('content-type')) headers.set('content-type', 'application/x-www-form-urlencoded;charset=UTF-8');
      return host.utf8Encode(body.toString());
    }
    if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return toBytes(body);
    return host.utf8Encode(String(body));
  }

  class Request {
    constructor(input, init) {
      init = init || {};
      const base = input instanceof Request ? input : null;
      this.url = base ? base.url : String(input instanceof URL ? input.href : input);
      this.method = String(init.method || (base ? base.method : 'GET')).toUpperCase();
      this.headers = new Headers(init.headers || (base ? base.headers : undefined));
      this.redirect = init.redirect || (base ? base.redirect : 'follow');
      this.signal = init.signal || (base ? base.signal : undefined);
      const body = init.body !== undefined ? init.body : (base ? base._body : undefined);
      if (body !== undefined && body !== null && (this.method === 'GET' || this.method === 'HEAD')) {
        throw new TypeError('Request with GET/HEAD method cannot have body.');
      }
      this._body = body === undefined || body === null ? undefined : bodyToBytes(body, this.headers);
    }
  }

  class Response {
    constructor(body, init) {
      init = init || {};
      this._bytes = body === undefined || body === null ? new Uint8Array(0) : (typeof body === 'string' ? host.utf8Encode(body) : toBytes(body));
      this.status = init.status === undefined ? 200 : init.status;
      this.statusText = init.statusText === undefined ? '' : String(init.statusText);
      this.headers = new Headers(init.headers);
      this.url = init.url || '';
      this.redirected = !!init.redirected;
      this.type = 'basic';
      this.bodyUsed = false;
    }
    get ok() { return this.status >= 200 && this.status <= 299; }
    _take() {
      if (this.bodyUsed) return Promise.reject(new TypeError('Body is unusable: Body has already been read'));
      this.bodyUsed = true;
      return Promise.resolve(this._bytes);
    }
    text() { return this._take().then((b) => host.utf8Decode(b, false)); }
    json() { return this.text().then((t) => JSON.parse(t)); }
    arrayBuffer() { return this._take().then((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)); }
    buffer() { return this._take().then((b) => Buffer.from(b)); }
    clone() {
      if (this.bodyUsed) throw new TypeError('Response.clone: Body has already been consumed.');
      return new Response(this._bytes.slice(), { status: this.status, statusText: this.statusText, headers: this.headers, url: this.url, redirected: this.redirected });
    }
    static json(data, init) {
      const r = new Response(JSON.stringify(data), init);
      if (!r.headers.has('content-type')) r.headers.set('content-type', 'application/json');
      return r;
    }
    static error() { const r = new Response(null, { status: 0 }); r.type = 'error'; return r; }
  }

  const pendingFetches = new Map();

  function fetch(input, init) {
    return new Promise(function (resolve, reject) {
      let id;
      try {
        const req = new Request(input, init);
        const opts = init || {};
        const redirect = String(opts.redirect || req.redirect || 'follow');
        if (redirect !== 'follow' && redirect !== 'manual' && redirect !== 'error') throw new TypeError("Invalid redirect mode: '" + redirect + "'");
        const signal = req.signal;
        if (signal && signal.aborted) { reject(signal.reason); return; }
        const headerPairs = Array.from(req.headers.entries());
        const timeout = typeof opts.timeout === 'number' ? opts.timeout : 0;
        id = host.fetchStart(req.url, req.method, JSON.stringify(headerPairs), req._body, redirect, timeout);
        pendingFetches.set(id, { resolve, reject });
        if (signal) {
          signal.addEventListener('abort', function () {
            if (pendingFetches.delete(id)) {
              host.fetchAbort(id);
              reject(signal.reason);
            }
          });
        }
      } catch (e) {
        reject(e);
      }
    });
  }

  function fetchDone(id, err, meta, body) {
    const p = pendingFetches.get(id);
    if (!p) return;
    pendingFetches.delete(id);
    if (err !== undefined && err !== null) {
      const e = new TypeError('fetch failed: ' + err);
      e.cause = new Error(String(err));
      p.reject(e);
      return;
    }
    p.resolve(new Response(body, {
      status: meta.status,
      statusText: meta.statusText,
      headers: JSON.parse(meta.headers),
      url: meta.url,
      redirected: meta.redirected,
    }));
  }

  // ------------------------------------------------------------------ crypto (subset)
  function normAlg(alg) { return String(alg).toLowerCase().replace(/^rsa-/, '').replace(/-/g, ''); }

  class Hash {
    constructor(alg) { this._alg = normAlg(alg); host.hash(this._alg, new Uint8Array(0)); this._parts = []; this._done = false; }
    update(data, enc) {
      if (this._done) throw new Error('Digest already called');
      this._parts.push(Uint8Array.from(toBytes(data, enc)));
      return this;
    }
    digest(enc) {
      if (this._done) throw new Error('Digest already called');
      this._done = true;
      const out = wrapBuffer(host.hash(this._alg, concatBytes(this._parts)));
      return enc === undefined || enc === 'buffer' ? out : decodeBytes(out, enc);
    }
    copy() { const h = new Hash(this._alg); h._parts = this._parts.slice(); return h; }
  }
  class Hmac {
    constructor(alg, key, enc) {
      this._alg = normAlg(alg);
      this._key = Uint8Array.from(toBytes(key, enc));
      host.hmac(this._alg, this._key, new Uint8Array(0));
      this._parts = [];
      this._done = false;
    }
    update(data, enc) {
      if (this._done) throw new Error('Digest already called');
      this._parts.push(Uint8Array.from(toBytes(data, enc)));
      return this;
    }
    digest(enc) {
      if (this._done) throw new Error('Digest already called');
      this._done = true;
      const out = wrapBuffer(host.hmac(this._alg, this._key, concatBytes(this._parts)));
      return enc === undefined || enc === 'buffer' ? out : decodeBytes(out, enc);
    }
  }
  function randomBytes(n, cb) {
    const size = Number(n);
    if (!(size >= 0) || size > 1048576) throw new RangeError('The value of "size" is out of range.');
    const b = wrapBuffer(host.randomBytes(size));
    if (typeof cb === 'function') { setImmediate(() => cb(null, b)); return undefined; }
    return b;
  }
  function randomUUID() {
    const b = host.randomBytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => HEX[x]).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }
  function getRandomValues(array) {
    if (!ArrayBuffer.isView(array) || array instanceof Float32Array || array instanceof Float64Array) {
      throw new TypeError('The data argument must be an integer-type TypedArray');
    }
    if (array.byteLength > 65536) throw new RangeError('The ArrayBufferView\'s byte length exceeds the number of bytes of entropy available via this API (65536)');
    new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(host.randomBytes(array.byteLength));
    return array;
  }
  function timingSafeEqual(a, b) {
    const x = toBytes(a);
    const y = toBytes(b);
    if (x.length !== y.length) throw new RangeError('Input buffers must have the same byte length');
    let d = 0;
    for (let i = 0; i < x.length; i++) d |= x[i] ^ y[i];
    return d === 0;
  }
  const cryptoModule = {
    createHash: (alg) => new Hash(alg),
    createHmac: (alg, key, enc) => new Hmac(alg, key, enc),
    randomBytes,
    randomUUID,
    getRandomValues,
    timingSafeEqual,
    getHashes: () => ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512'],
  };

  // ------------------------------------------------------------------ node-fetch, axios, request
  function queryString(params) {
    if (!params) return '';
    if (params instanceof URLSearchParams) return params.toString();
    const sp = new URLSearchParams();
    for (const k of Object.keys(params)) {
      const v = params[k];
      if (v === undefined || v === null) continue;
      if (Array.isArray(v)) v.forEach((x) => sp.append(k, x));
      else sp.append(k, typeof v === 'object' ? JSON.stringify(v) : v);
    }
    return sp.toString();
  }
  function withQuery(url, qs) {
    if (!qs) return url;
    return url + (url.includes('?') ? '&' : '?') + qs;
  }
  function headersObject(h) {
    const o = {};
    for (const [k, v] of h) o[k] = v;
    return o;
  }
  function basicAuth(user, pass) {
    return 'Basic ' + host.b64Encode(host.utf8Encode(String(user || '') + ':' + String(pass || '')), false);
  }

  const nodeFetch = function (input, init) { return fetch(input, init); };
  nodeFetch.default = nodeFetch;
  nodeFetch.Headers = Headers;
  nodeFetch.Request = Request;
  nodeFetch.Response = Response;

  function createAxios(defaults) {
    defaults = Object.assign({ headers: {} }, defaults || {});
    function axios(configOrUrl, maybeConfig) {
      const config = typeof configOrUrl === 'string' ? Object.assign({}, maybeConfig, { url: configOrUrl }) : Object.assign({}, configOrUrl);
      return axiosRequest(Object.assign({}, defaults, config, { headers: Object.assign({}, defaults.headers, config.headers) }));
    }
    axios.request = (config) => axios(config);
    for (const m of ['get', 'delete', 'head', 'options']) {
      axios[m] = (url, config) => axios(Object.assign({}, config, { url, method: m }));
    }
    for (const m of ['post', 'put', 'patch']) {
      axios[m] = (url, data, config) => axios(Object.assign({}, config, { url, method: m, data }));
    }
    axios.create = (more) => createAxios(Object.assign({}, defaults, more || {}, { headers: Object.assign({}, defaults.headers, (more || {}).headers) }));
    axios.defaults = defaults;
    axios.isAxiosError = (e) => !!(e && e.isAxiosError);
    axios.interceptors = { request: { use() { return 0; }, eject() {} }, response: { use() { return 0; }, eject() {} } };
    return axios;
  }

  function axiosError(message, code, config, response) {
    const e = new Error(message);
    e.name = 'AxiosError';
    e.code = code;
    e.config = config;
    e.isAxiosError = true;
    if (response) e.response = response;
    e.toJSON = () => ({ message: e.message, name: e.name, code: e.code, status: response ? response.status : undefined });
    return e;
  }

  function axiosRequest(config) {
    const method = String(config.method || 'get').toUpperCase();
    let url = String(config.url || '');
    if (config.baseURL && !/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
      url = String(config.baseURL).replace(/\/+$/, '') + '/' + url.replace(/^\/+/, '');
    }
    url = withQuery(url, queryString(config.params));
    const headers = new Headers();
    for (const k of Object.keys(config.headers || {})) {
      const v = config.headers[k];
      if (v === undefined || v === null || typeof v === 'object') continue;
      headers.set(k, v);
    }
    if (!headers.has('accept')) headers.set('accept', 'application/json, text/plain, */*');
    if (config.auth) headers.set('authorization', basicAuth(config.auth.username, config.auth.password));
    let body;
    const data = config.data;
    if (data !== undefined && data !== null) {
      if (typeof data === 'string' || data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
        body = data;
        if (typeof data === 'string' && !headers.has('content-type')) headers.set('content-type', 'application/x-www-form-urlencoded');
      } else if (data instanceof URLSearchParams) {
        body = data.toString();
        if (!headers.has('content-type')) headers.set('content-type', 'application/x-www-form-urlencoded;charset=utf-8');
      } else {
        body = JSON.stringify(data);
        if (!headers.has('content-type')) headers.set('content-type', 'application/json');
      }
    }
    const init = { method, headers, body, timeout: config.timeout || 0, signal: config.signal };
    if (config.maxRedirects === 0) init.redirect = 'manual';
    return fetch(url, init).then(
      (res) => res.arrayBuffer().then((buf) => {
        const bytes = new Uint8Array(buf);
        let responseData;
        const type = config.responseType || 'json';
        if (type === 'arraybuffer') responseData = Buffer.from(bytes);
        else {
          responseData = host.utf8Decode(bytes, false);
          if (type === 'json' && responseData.length > 0) {
            try { responseData = JSON.parse(responseData); } catch (e) { /* axios keeps the text */ }
          }
        }
        const response = { data: responseData, status: res.status, statusText: res.statusText, headers: headersObject(res.headers), config, request: {} };
        const validate = config.validateStatus === undefined ? (s) => s >= 200 && s < 300 : config.validateStatus;
        if (!validate || validate(res.status)) return response;
        throw axiosError('Request failed with status code ' + res.status, res.status < 500 ? 'ERR_BAD_REQUEST' : 'ERR_BAD_RESPONSE', config, response);
      }),
      (err) => {
        if (err && (err.name === 'AbortError' || err.name === 'TimeoutError')) throw axiosError('canceled', 'ERR_CANCELED', config);
        const msg = err && err.cause ? err.cause.message : String(err && err.message);
        const timedOut = /timed out/.test(msg);
        throw axiosError(timedOut ? 'timeout of ' + (config.timeout || 0) + 'ms exceeded' : msg, timedOut ? 'ECONNABORTED' : 'ERR_NETWORK', config);
      },
    );
  }

  function createRequest(defaults) {
    function request(uri, options, callback) {
      let opts;
      if (typeof uri === 'object' && uri !== null) { callback = options; opts = Object.assign({}, uri); }
      else if (typeof options === 'function') { callback = options; opts = { uri }; }
      else opts = Object.assign({}, options, { uri });
      opts = Object.assign({}, defaults, opts, { headers: Object.assign({}, defaults.headers, opts.headers) });
      const cb = typeof callback === 'function' ? callback : function () {};
      const method = String(opts.method || 'GET').toUpperCase();
      let url = String(opts.uri || opts.url || '');
      if (opts.baseUrl) url = String(opts.baseUrl).replace(/\/+$/, '') + '/' + url.replace(/^\/+/, '');
      url = withQuery(url, queryString(opts.qs));
      const headers = new Headers();
      for (const k of Object.keys(opts.headers || {})) {
        const v = opts.headers[k];
        if (v !== undefined && v !== null) headers.set(k, v);
      }
      if (opts.auth) {
        if (opts.auth.bearer) headers.set('authorization', 'Bearer ' + opts.auth.bearer);
        else headers.set('authorization', basicAuth(opts.auth.user || opts.auth.username, opts.auth.pass || opts.auth.password));
      }
      let body;
      if (opts.form !== undefined) {
        body = typeof opts.form === 'string' ? opts.form : queryString(opts.form);
        headers.set('content-type', 'application/x-www-form-urlencoded');
      } else if (opts.json && opts.body !== undefined && typeof opts.body === 'object' && !ArrayBuffer.isView(opts.body)) {
        body = JSON.stringify(opts.body);
        if (!headers.has('content-type')) headers.set('content-type', 'application/json');
      } else if (opts.json && typeof opts.json === 'object' && opts.body === undefined) {
        body = JSON.stringify(opts.json);
        if (!headers.has('content-type')) headers.set('content-type', 'application/json');
      } else if (opts.body !== undefined) {
        body = opts.body;
      }
      if (opts.json && !headers.has('accept')) headers.set('accept', 'application/json');
      const init = { method, headers, body, timeout: opts.timeout || 0 };
      if (opts.followRedirect === false) init.redirect = 'manual';
      fetch(url, init).then(
        (res) => res.arrayBuffer().then((buf) => {
          const bytes = new Uint8Array(buf);
          let resBody = opts.encoding === null ? Buffer.from(bytes) : host.utf8Decode(bytes, false);
          if (opts.json && typeof resBody === 'string' && resBody.length > 0) {
            try { resBody = JSON.parse(resBody); } catch (e) { /* request keeps the text */ }
          }
          const response = { statusCode: res.status, statusMessage: res.statusText, headers: headersObject(res.headers), body: resBody, request: { uri: new URL(res.url || url), method } };
          cb(null, response, resBody);
        }),
        (err) => {
          const msg = err && err.cause ? err.cause.message : String(err && err.message);
          const e = new Error(msg);
          if (/timed out/.test(msg)) e.code = 'ETIMEDOUT';
          cb(e);
        },
      ).then(undefined, fail);
      const handle = { on() { return handle; }, abort() {} };
      return handle;
    }
    for (const m of ['get', 'post', 'put', 'patch', 'head', 'delete']) {
      request[m] = function (uri, options, callback) {
        if (typeof uri === 'object' && uri !== null) return request(Object.assign({}, uri, { method: m }), options);
        if (typeof options === 'function') return request(uri, { method: m }, options);
        return request(uri, Object.assign({}, options, { method: m }), callback);
      };
    }
    request.del = request.delete;
    request.defaults = (more) => createRequest(Object.assign({}, defaults, more, { headers: Object.assign({}, defaults.headers, (more || {}).headers) }));
    return request;
  }

  // ------------------------------------------------------------------ require
  const moduleCache = new Map();
  const MODULES = {
    axios: () => { const a = createAxios(); a.default = a; return a; },
    request: () => createRequest({ headers: {} }),
    'node-fetch': () => nodeFetch,
    crypto: () => cryptoModule,
    buffer: () => ({ Buffer }),
    url: () => ({ URL, URLSearchParams }),
  };
  function baseName(spec) {
    let s = spec.startsWith('node:') ? spec.slice(5) : spec;
    const at = s.indexOf('@', s.startsWith('@') ? 1 : 0);
    if (at > 0) s = s.slice(0, at);
    return s;
  }
  function require(spec) {
    if (typeof spec !== 'string') {
      const e = new TypeError('The "id" argument must be of type string. Received ' + typeof spec);
      e.code = 'ERR_INVALID_ARG_TYPE';
      throw e;
    }
    const name = baseName(spec);
    if (!hasOwn(MODULES, name)) {
      const e = new Error("Cannot find module '" + spec + "'");
      e.code = 'MODULE_NOT_FOUND';
      throw e;
    }
    if (!moduleCache.has(name)) moduleCache.set(name, MODULES[name]());
    return moduleCache.get(name);
  }

  // ------------------------------------------------------------------ error classes
  class ExtensibilityUserError extends Error {
    constructor(message) {
      super(message);
      this.name = this.constructor.name;
    }
  }
  // Auth0's prelude takes `(message)`; an older compiler took `(code, message)`. Both work.
  class CodedUserError extends ExtensibilityUserError {
    constructor(codeOrMessage, message) {
      if (arguments.length >= 2) {
        super(message);
        this.code = codeOrMessage;
      } else {
        super(codeOrMessage);
      }
    }
  }
  class InvalidRequestError extends CodedUserError {}
  class InvalidScopeError extends CodedUserError {}
  class ServerError extends CodedUserError {}
  class PreUserRegistrationError extends ExtensibilityUserError {
    constructor(message, userMessage) {
      super(message);
      if (userMessage !== undefined) this.userMessage = userMessage;
    }
  }

  function errorTag(e) {
    const name = e && e.name;
    if (trigger === 'credentials-exchange') {
      if (e instanceof InvalidScopeError || name === 'InvalidScopeError') return 'invalid_scope';
      if (e instanceof InvalidRequestError || name === 'InvalidRequestError') return 'invalid_request';
      if (e instanceof ServerError || name === 'ServerError') return 'server_error';
    }
    if (trigger === 'pre-user-registration' && (e instanceof PreUserRegistrationError || name === 'PreUserRegistrationError')) {
      return 'pre_user_registration';
    }
    return undefined;
  }

  // ------------------------------------------------------------------ the callback contract
  let settled = false;

  function describeError(err, tag) {
    try {
      let e = err;
      if (!(e instanceof Error) && !(e && typeof e === 'object' && typeof e.message === 'string')) {
        e = new Error(typeof e === 'string' ? e : (e && typeof e === 'object' ? toJson(e) : String(e)));
      }
      const out = {
        name: typeof e.name === 'string' ? e.name : 'Error',
        message: typeof e.message === 'string' ? e.message : String(e.message),
      };
      if (typeof e.stack === 'string' && e.stack) out.stack = e.stack;
      if (e.userMessage !== undefined && e.userMessage !== null) out.userMessage = String(e.userMessage);
      out.tag = tag || errorTag(e);
      return toJson(out);
    } catch (inner) {
      return toJson({ name: 'Error', message: 'The hook failed with an error that could not be described', tag });
    }
  }

  function finish(err, result) {
    if (settled) return;
    settled = true;
    if (err) {
      host.settle(true, describeError(err));
      return;
    }
    let json;
    try {
      json = toJson(result);
    } catch (e) {
      host.settle(true, describeError(new Error('Error when JSON serializing the result of the extension point'), 'result'));
      return;
    }
    host.settle(false, json === undefined ? '' : json);
  }

  // A throw, a rejected promise or an exception in a timer: always an error, even `throw null`.
  function fail(e) {
    finish(e ? e : new Error('The hook threw ' + String(e)));
  }

  function buildArgs(body, webtask, cb) {
    switch (trigger) {
      case 'credentials-exchange': {
        const context = body.context && typeof body.context === 'object' ? body.context : {};
        context.webtask = webtask;
        return [body.client, body.scope, body.audience, context, cb];
      }
      case 'send-phone-message': {
        const context = body.context;
        context.webtask = webtask;
        return [body.recipient, body.text, context, cb];
      }
      default: {
        const context = Object.assign({}, body.context, { webtask });
        return [body.user, context, function (e, d) { return cb(e, e ? undefined : (d || {})); }];
      }
    }
  }

  const storage = {
    get(options, cb) {
      if (typeof options === 'function') cb = options;
      const e = new Error('Webtask storage is not supported by Hookhaven');
      if (typeof cb === 'function') setImmediate(() => cb(e));
      else throw e;
    },
    set(data, options, cb) {
      if (typeof options === 'function') cb = options;
      const e = new Error('Webtask storage is not supported by Hookhaven');
      if (typeof cb === 'function') setImmediate(() => cb(e));
      else throw e;
    },
  };

  function run(fn, body, secrets, meta, headers, query) {
    const webtask = {
      secrets,
      meta,
      headers,
      query,
      body,
      params: {},
      data: Object.assign({}, query, secrets),
      storage,
    };
    let ret;
    try {
      const args = buildArgs(body, webtask, function cb(err, result) { finish(err, result); });
      ret = fn.apply(undefined, args);
    } catch (e) {
      fail(e);
      return;
    }
    if (ret !== null && (typeof ret === 'object' || typeof ret === 'function')) {
      try {
        const then = ret.then;
        if (typeof then === 'function') then.call(ret, undefined, fail);
      } catch (e) {
        fail(e);
      }
    }
  }

  function loadModule(wrapper) {
    const module = { exports: {} };
    try {
      wrapper.call(module.exports, module, module.exports, require);
    } catch (e) {
      fail(e);
      return undefined;
    }
    return module.exports;
  }

  // ------------------------------------------------------------------ globals
  define('global', G);
  define('console', console);
  define('require', require);
  define('Buffer', Buffer);
  define('TextEncoder', TextEncoder);
  define('TextDecoder', TextDecoder);
  define('URL', URL);
  define('URLSearchParams', URLSearchParams);
  define('fetch', fetch);
  define('Headers', Headers);
  define('Request', Request);
  define('Response', Response);
  define('AbortController', AbortController);
  define('AbortSignal', AbortSignal);
  define('setTimeout', setTimeout);
  define('setInterval', setInterval);
  define('setImmediate', setImmediate);
  define('clearTimeout', clearTimer);
  define('clearInterval', clearTimer);
  define('clearImmediate', clearTimer);
  define('crypto', Object.assign({}, cryptoModule, { subtle: undefined }));
  define('process', {
    env: {},
    argv: [],
    platform: 'hookhaven',
    nextTick(fn, ...args) { queueMicrotask(() => fn(...args)); },
  });
  if (trigger === 'credentials-exchange') {
    define('InvalidRequestError', InvalidRequestError);
    define('InvalidScopeError', InvalidScopeError);
    define('ServerError', ServerError);
  }
  if (trigger === 'pre-user-registration') {
    define('PreUserRegistrationError', PreUserRegistrationError);
  }

  return { run, loadModule, fireTimer, fetchDone, fail };
})

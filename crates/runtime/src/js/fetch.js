// The hook sandbox's `fetch` chunk: AbortController, Headers, Request, Response and fetch (performed by Rust).
// Loaded on first use through `core.need('fetch')` (see prelude.js), in the invocation's own
// context, so a hook that never touches it does not pay for it.
(function (host, core) {
  'use strict';
  const { toBytes, Buffer } = core.need('bytes');
  const { URL, URLSearchParams } = core.need('url');
  const { setTimeout, clearTimer } = core;

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

  return { AbortSignal, AbortController, Headers, Request, Response, fetch, fetchDone };
})

// The hook sandbox's `url` chunk: URL and URLSearchParams over the WHATWG parser in Rust.
// Loaded on first use through `core.need('url')` (see prelude.js), in the invocation's own
// context, so a hook that never touches it does not pay for it.
(function (host, core) {
  'use strict';
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

  return { URL, URLSearchParams };
})

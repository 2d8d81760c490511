// The hook sandbox's JavaScript side: globals and built-in modules, the trigger adapters'
// argument building and error classes, and the callback contract. Evaluated once per
// context (each context serves one invocation); it evaluates to `setup(host)`, which
// installs the globals and returns the functions Rust drives the invocation with, starting
// with `begin(trigger)`. `host` holds the native functions (see engine.rs); it is never
// reachable from hook code. console, Buffer, URL, fetch, crypto and the HTTP shims live in
// separate chunks (console.js, bytes.js, url.js, fetch.js, crypto.js, http.js), loaded on
// first use.
(function (host) {
  'use strict';

  const G = globalThis;
  // Captured now: the hook may replace its own globals, but not the way results travel.
  const jsonStringify = JSON.stringify;
  const toJson = (v) => jsonStringify.call(JSON, v);
  const hasOwn = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
  function define(name, value) {
    Object.defineProperty(G, name, { value, writable: true, configurable: true, enumerable: false });
  }

  // ------------------------------------------------------------------ lazily loaded chunks
  // Most hooks use none of console, Buffer, URL, fetch, crypto or the HTTP shims, and
  // building them is most of a context's set-up cost, so each group is a separate chunk,
  // evaluated in this context the first time something needs it.
  const loaded = Object.create(null);
  function need(name) {
    let c = loaded[name];
    if (c === undefined) c = loaded[name] = host.loadChunk(name)(host, core);
    return c;
  }
  // A global that loads its chunk on first access and then becomes a plain data property.
  function lazy(name, get) {
    Object.defineProperty(G, name, {
      configurable: true,
      enumerable: false,
      get() { const v = get(); define(name, v); return v; },
      set(v) { define(name, v); },
    });
  }

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

  // ------------------------------------------------------------------ require
  const moduleCache = new Map();
  const MODULES = {
    axios: () => { const a = need('http').createAxios(); a.default = a; return a; },
    request: () => need('http').createRequest({ headers: {} }),
    'node-fetch': () => need('http').nodeFetch,
    crypto: () => need('crypto'),
    buffer: () => ({ Buffer: need('bytes').Buffer }),
    url: () => { const u = need('url'); return { URL: u.URL, URLSearchParams: u.URLSearchParams }; },
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
  lazy('console', () => need('console'));
  define('require', require);
  for (const name of ['Buffer', 'TextEncoder', 'TextDecoder']) lazy(name, () => need('bytes')[name]);
  for (const name of ['URL', 'URLSearchParams']) lazy(name, () => need('url')[name]);
  for (const name of ['fetch', 'Headers', 'Request', 'Response', 'AbortController', 'AbortSignal']) {
    lazy(name, () => need('fetch')[name]);
  }
  define('setTimeout', setTimeout);
  define('setInterval', setInterval);
  define('setImmediate', setImmediate);
  define('clearTimeout', clearTimer);
  define('clearInterval', clearTimer);
  define('clearImmediate', clearTimer);
  lazy('crypto', () => Object.assign({}, need('crypto'), { subtle: undefined }));
  define('process', {
    env: {},
    argv: [],
    platform: 'hookhaven',
    nextTick(fn, ...args) { queueMicrotask(() => fn(...args)); },
  });

  // The context is set up before the invocation it will serve is known; `begin` fixes the
  // trigger (its error classes and argument shape) before the hook's script is loaded.
  let trigger;
  function begin(t) {
    trigger = t;
    if (trigger === 'credentials-exchange') {
      define('InvalidRequestError', InvalidRequestError);
      define('InvalidScopeError', InvalidScopeError);
      define('ServerError', ServerError);
    }
    if (trigger === 'pre-user-registration') {
      define('PreUserRegistrationError', PreUserRegistrationError);
    }
  }

  // Rust delivers a response only for a request the fetch chunk started.
  function fetchDone(id, err, meta, body) {
    if (loaded.fetch) loaded.fetch.fetchDone(id, err, meta, body);
  }

  // What the chunks may use from here.
  const core = { need, peek: (name) => loaded[name], setTimeout, setImmediate, clearTimer, fail };

  return { begin, run, loadModule, fireTimer, fetchDone, fail };
})

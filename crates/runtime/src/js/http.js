// The hook sandbox's `http` chunk: the node-fetch, axios and request shims over fetch.
// Loaded on first use through `core.need('http')` (see prelude.js), in the invocation's own
// context, so a hook that never touches it does not pay for it.
(function (host, core) {
  'use strict';
  const { Buffer } = core.need('bytes');
  const { URL, URLSearchParams } = core.need('url');
  const { Headers, Request, Response, fetch } = core.need('fetch');
  const { fail } = core;

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

  return { nodeFetch, createAxios, createRequest };
})

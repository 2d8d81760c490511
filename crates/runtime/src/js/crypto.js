// The hook sandbox's `crypto` chunk: the createHash/createHmac/random subset of node:crypto.
// Loaded on first use through `core.need('crypto')` (see prelude.js), in the invocation's own
// context, so a hook that never touches it does not pay for it.
(function (host, core) {
  'use strict';
  const { HEX, toBytes, wrapBuffer, concatBytes, decodeBytes } = core.need('bytes');
  const { setImmediate } = core;

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

  return cryptoModule;
})

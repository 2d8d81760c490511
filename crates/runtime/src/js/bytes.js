// The hook sandbox's `bytes` chunk: encodings, the Buffer subset, TextEncoder and TextDecoder.
// Loaded on first use through `core.need('bytes')` (see prelude.js), in the invocation's own
// context, so a hook that never touches it does not pay for it.
(function (host, core) {
  'use strict';
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

  return { HEX, normEnc, encodeString, decodeBytes, toBytes, concatBytes, Buffer, wrapBuffer, TextEncoder, TextDecoder };
})

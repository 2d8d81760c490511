//! The native functions the prelude builds on (`host` in js/prelude.js): console output,
//! settling the callback, timers, fetch, encodings, URL parsing, hashing and chunk loading.
//! Hook code never sees this object.

/// The native functions the prelude builds on. Hook code never sees this object.
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rquickjs::function::Opt;
use rquickjs::{Ctx, Exception, Function, Object, TypedArray, Value};

use crate::compile;
use crate::engine::{InvState, WorkerEnv};
use crate::net::{self, FetchRequest, RedirectMode};

pub(crate) fn build<'js>(
    ctx: &Ctx<'js>,
    env: &WorkerEnv,
    state: &Rc<RefCell<InvState>>,
) -> rquickjs::Result<Object<'js>> {
    let host = Object::new(ctx.clone())?;

    {
        let prelude = env.prelude.clone();
        host.set(
            "loadChunk",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, name: String| -> rquickjs::Result<Value<'js>> {
                    let Some(bytecode) = prelude.chunk(&name) else {
                        return Err(Exception::throw_internal(
                            &ctx,
                            &format!("no runtime chunk {name}"),
                        ));
                    };
                    // SAFETY: chunk bytecode was produced by `compile_script` at start-up.
                    unsafe { compile::run_bytecode(&ctx, bytecode) }
                },
            )?,
        )?;
    }

    {
        let state = state.clone();
        host.set(
            "log",
            Function::new(ctx.clone(), move |_level: String, text: String| {
                let mut st = state.borrow_mut();
                let line = st.redactor.redact(&text);
                st.logs.push(line);
            })?,
        )?;
    }
    {
        let state = state.clone();
        host.set(
            "settle",
            Function::new(ctx.clone(), move |is_error: bool, json: String| {
                let mut st = state.borrow_mut();
                if st.settled.is_none() {
                    st.settled = Some(if is_error { Err(json) } else { Ok(json) });
                }
            })?,
        )?;
    }
    {
        let state = state.clone();
        let max_timers = env.config.max_timers;
        host.set(
            "timerSet",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, id: u32, delay_ms: f64| -> rquickjs::Result<()> {
                    let mut st = state.borrow_mut();
                    if let Some(old) = st.timer_keys.remove(&id) {
                        st.timers.remove(&old);
                    }
                    if st.timer_keys.len() >= max_timers {
                        return Err(Exception::throw_range(
                            &ctx,
                            &format!("Too many pending timers (limit {max_timers})"),
                        ));
                    }
                    let delay = if delay_ms.is_finite() && delay_ms > 0.0 {
                        Duration::from_secs_f64(delay_ms.min(2_147_483_647.0) / 1000.0)
                    } else {
                        Duration::ZERO
                    };
                    st.timer_seq += 1;
                    let key = (Instant::now() + delay, st.timer_seq);
                    st.timers.insert(key, id);
                    st.timer_keys.insert(id, key);
                    Ok(())
                },
            )?,
        )?;
    }
    {
        let state = state.clone();
        host.set(
            "timerClear",
            Function::new(ctx.clone(), move |id: u32| {
                let mut st = state.borrow_mut();
                if let Some(key) = st.timer_keys.remove(&id) {
                    st.timers.remove(&key);
                }
            })?,
        )?;
    }
    {
        let state = state.clone();
        let handle = env.tokio.handle().clone();
        let client = env.http.clone();
        let policy = env.policy.clone();
        host.set(
            "fetchStart",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>,
                      url: String,
                      method: String,
                      headers: String,
                      body: Opt<Value<'js>>,
                      redirect: String,
                      timeout_ms: Opt<f64>|
                      -> rquickjs::Result<u32> {
                    let headers: Vec<(String, String)> = serde_json::from_str(&headers)
                        .map_err(|_| Exception::throw_type(&ctx, "invalid request headers"))?;
                    let body = match body.0 {
                        Some(v) if !v.is_undefined() && !v.is_null() => Some(bytes_of(&ctx, v)?),
                        _ => None,
                    };
                    let redirect = match redirect.as_str() {
                        "manual" => RedirectMode::Manual,
                        "error" => RedirectMode::Error,
                        _ => RedirectMode::Follow,
                    };
                    let timeout = timeout_ms
                        .0
                        .filter(|t| t.is_finite() && *t > 0.0)
                        .map(|t| Duration::from_secs_f64(t.min(86_400_000.0) / 1000.0));
                    let request = FetchRequest {
                        url,
                        method,
                        headers,
                        body,
                        redirect,
                        timeout,
                    };
                    let mut st = state.borrow_mut();
                    let Some(budget) = st.budget.clone() else {
                        return Err(Exception::throw_internal(
                            &ctx,
                            "fetch outside an invocation",
                        ));
                    };
                    let id = st.next_fetch;
                    st.next_fetch += 1;
                    let future =
                        net::fetch(client.clone(), policy.clone(), budget, request, st.deadline);
                    let tx = st.fetch_tx.clone();
                    let task = handle.spawn(async move {
                        let result = future.await;
                        let _ = tx.send((id, result));
                    });
                    st.fetches.insert(id, task);
                    Ok(id)
                },
            )?,
        )?;
    }
    {
        let state = state.clone();
        host.set(
            "fetchAbort",
            Function::new(ctx.clone(), move |id: u32| {
                if let Some(task) = state.borrow_mut().fetches.remove(&id) {
                    task.abort();
                }
            })?,
        )?;
    }
    host.set(
        "utf8Encode",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, s: String| {
            TypedArray::<u8>::new(ctx, s.into_bytes())
        })?,
    )?;
    host.set(
        "utf8Decode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, v: Value<'js>, fatal: Opt<bool>| -> rquickjs::Result<String> {
                let bytes = bytes_of(&ctx, v)?;
                match String::from_utf8(bytes) {
                    Ok(s) => Ok(s),
                    Err(e) if fatal.0 == Some(true) => {
                        drop(e);
                        Err(Exception::throw_type(
                            &ctx,
                            "The encoded data was not valid for encoding utf-8",
                        ))
                    }
                    Err(e) => Ok(String::from_utf8_lossy(e.as_bytes()).into_owned()),
                }
            },
        )?,
    )?;
    host.set(
        "b64Encode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, v: Value<'js>, url: Opt<bool>| -> rquickjs::Result<String> {
                let bytes = bytes_of(&ctx, v)?;
                Ok(if url.0 == Some(true) {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
                } else {
                    base64::engine::general_purpose::STANDARD.encode(bytes)
                })
            },
        )?,
    )?;
    host.set(
        "b64Decode",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, s: String| {
            TypedArray::<u8>::new(ctx, decode_base64_lenient(&s))
        })?,
    )?;
    host.set(
        "hash",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             alg: String,
             data: Value<'js>|
             -> rquickjs::Result<TypedArray<'js, u8>> {
                let bytes = bytes_of(&ctx, data)?;
                let out = digest(&alg, &bytes)
                    .ok_or_else(|| Exception::throw_message(&ctx, "Digest method not supported"))?;
                TypedArray::<u8>::new(ctx, out)
            },
        )?,
    )?;
    host.set(
        "hmac",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             alg: String,
             key: Value<'js>,
             data: Value<'js>|
             -> rquickjs::Result<TypedArray<'js, u8>> {
                let key = bytes_of(&ctx, key)?;
                let data = bytes_of(&ctx, data)?;
                let out = hmac_digest(&alg, &key, &data).ok_or_else(|| {
                    Exception::throw_message(&ctx, &format!("Invalid digest: {alg}"))
                })?;
                TypedArray::<u8>::new(ctx, out)
            },
        )?,
    )?;
    host.set(
        "randomBytes",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, n: u32| {
            use rand::RngCore;
            let mut buf = vec![0u8; n.min(1 << 20) as usize];
            rand::thread_rng().fill_bytes(&mut buf);
            TypedArray::<u8>::new(ctx, buf)
        })?,
    )?;
    host.set(
        "urlParse",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, input: String, base: Opt<Value<'js>>| -> rquickjs::Result<Value<'js>> {
                let base = base
                    .0
                    .and_then(|b| b.as_string().and_then(|s| s.to_string().ok()));
                let parsed = match base {
                    Some(b) => url::Url::parse(&b).and_then(|b| b.join(&input)),
                    None => url::Url::parse(&input),
                };
                match parsed {
                    Ok(u) => url_record(&ctx, &u),
                    Err(_) => Ok(Value::new_null(ctx)),
                }
            },
        )?,
    )?;
    host.set(
        "urlSet",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             href: String,
             prop: String,
             value: String|
             -> rquickjs::Result<Value<'js>> {
                use url::quirks;
                let Ok(mut u) = url::Url::parse(&href) else {
                    return Ok(Value::new_null(ctx));
                };
                let _ = match prop.as_str() {
                    "protocol" => quirks::set_protocol(&mut u, &value),
                    "username" => quirks::set_username(&mut u, &value),
                    "password" => quirks::set_password(&mut u, &value),
                    "host" => quirks::set_host(&mut u, &value),
                    "hostname" => quirks::set_hostname(&mut u, &value),
                    "port" => quirks::set_port(&mut u, &value),
                    "pathname" => {
                        quirks::set_pathname(&mut u, &value);
                        Ok(())
                    }
                    "search" => {
                        quirks::set_search(&mut u, &value);
                        Ok(())
                    }
                    "hash" => {
                        quirks::set_hash(&mut u, &value);
                        Ok(())
                    }
                    _ => Err(()),
                };
                url_record(&ctx, &u)
            },
        )?,
    )?;
    host.set(
        "formParse",
        Function::new(ctx.clone(), |s: String| -> Vec<Vec<String>> {
            url::form_urlencoded::parse(s.as_bytes())
                .map(|(k, v)| vec![k.into_owned(), v.into_owned()])
                .collect()
        })?,
    )?;
    host.set(
        "formSerialize",
        Function::new(ctx.clone(), |pairs: Vec<Vec<String>>| -> String {
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            for p in &pairs {
                if let [k, v] = p.as_slice() {
                    ser.append_pair(k, v);
                }
            }
            ser.finish()
        })?,
    )?;
    Ok(host)
}

/// The bytes of a `Uint8Array` (or subclass such as `Buffer`), copied out.
fn bytes_of<'js>(ctx: &Ctx<'js>, v: Value<'js>) -> rquickjs::Result<Vec<u8>> {
    let arr = TypedArray::<u8>::from_value(v)
        .map_err(|_| Exception::throw_type(ctx, "expected a Uint8Array"))?;
    // SAFETY: the slice is copied before any JavaScript runs again.
    let bytes = unsafe { arr.as_bytes() }.map(<[u8]>::to_vec);
    Ok(bytes.unwrap_or_default())
}

fn url_record<'js>(ctx: &Ctx<'js>, u: &url::Url) -> rquickjs::Result<Value<'js>> {
    use url::quirks;
    let o = Object::new(ctx.clone())?;
    o.set("href", quirks::href(u))?;
    o.set("origin", quirks::origin(u))?;
    o.set("protocol", quirks::protocol(u))?;
    o.set("username", quirks::username(u))?;
    o.set("password", quirks::password(u))?;
    o.set("host", quirks::host(u))?;
    o.set("hostname", quirks::hostname(u))?;
    o.set("port", quirks::port(u))?;
    o.set("pathname", quirks::pathname(u))?;
    o.set("search", quirks::search(u))?;
    o.set("hash", quirks::hash(u))?;
    Ok(o.into_value())
}

/// Node's lenient base64 decoding: both alphabets, padding optional, other characters skipped.
fn decode_base64_lenient(s: &str) -> Vec<u8> {
    let mut clean: Vec<u8> = s
        .bytes()
        .filter_map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => Some(b),
            b'-' => Some(b'+'),
            b'_' => Some(b'/'),
            _ => None,
        })
        .collect();
    if clean.len() % 4 == 1 {
        clean.pop();
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    engine.decode(&clean).unwrap_or_default()
}

fn digest(alg: &str, data: &[u8]) -> Option<Vec<u8>> {
    use sha2::Digest;
    Some(match alg {
        "md5" => md5::Md5::digest(data).to_vec(),
        "sha1" => sha1::Sha1::digest(data).to_vec(),
        "sha224" => sha2::Sha224::digest(data).to_vec(),
        "sha256" => sha2::Sha256::digest(data).to_vec(),
        "sha384" => sha2::Sha384::digest(data).to_vec(),
        "sha512" => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    })
}

fn hmac_digest(alg: &str, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }
    Some(match alg {
        "md5" => run::<Hmac<md5::Md5>>(key, data),
        "sha1" => run::<Hmac<sha1::Sha1>>(key, data),
        "sha224" => run::<Hmac<sha2::Sha224>>(key, data),
        "sha256" => run::<Hmac<sha2::Sha256>>(key, data),
        "sha384" => run::<Hmac<sha2::Sha384>>(key, data),
        "sha512" => run::<Hmac<sha2::Sha512>>(key, data),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_base64() {
        assert_eq!(decode_base64_lenient("aGVsbG8="), b"hello");
        assert_eq!(decode_base64_lenient("aGVsbG8"), b"hello");
        assert_eq!(decode_base64_lenient("aGVs\nbG8="), b"hello");
        assert_eq!(decode_base64_lenient("-_8"), vec![0xfb, 0xff]);
    }

    #[test]
    fn digests() {
        let hex = |v: Vec<u8>| v.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(digest("sha256", b"abc").unwrap()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(digest("md5", b"").unwrap()),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(
            hex(hmac_digest(
                "sha256",
                b"key",
                b"The quick brown fox jumps over the lazy dog"
            )
            .unwrap()),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        assert!(digest("sha3", b"").is_none());
    }
}

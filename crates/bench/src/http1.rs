//! The load generator's HTTP/1.1 client: one keep-alive connection, one request at a time,
//! speaking just what the benchmark's requests need (a `Content-Length` or chunked body
//! back, `Connection: close` honoured).
//!
//! Why not reqwest: the load generator shares the machine's two cores with the server (and
//! with PostgreSQL), so whatever it spends per request is taken from what it measures.
//! reqwest costs about 80 µs of CPU per request here (header maps, its connection pool, a
//! task per connection); writing prepared bytes to a socket and scanning the answer costs a
//! fraction of that, as `wrk` and `h2load` do. reqwest stays for the set-up calls.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response, as much as the load generator looks at.
pub struct Response<'a> {
    pub status: u16,
    pub body: &'a [u8],
}

pub struct Connection {
    authority: String,
    stream: Option<TcpStream>,
    request: Vec<u8>,
    buf: Vec<u8>,
}

/// `http://host:port` → `host:port`.
pub fn authority(base: &str) -> io::Result<String> {
    base.strip_prefix("http://")
        .map(|rest| rest.trim_end_matches('/').to_string())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "only http:// is supported"))
}

impl Connection {
    pub fn new(authority: String) -> Connection {
        Connection {
            authority,
            stream: None,
            request: Vec::with_capacity(2048),
            buf: Vec::with_capacity(16 * 1024),
        }
    }

    /// Sends one request and reads its whole response; (re)connects when needed.
    /// `headers` are complete `Name: value` lines without the line end.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[&str],
        body: &[u8],
    ) -> io::Result<Response<'_>> {
        self.request.clear();
        let r = &mut self.request;
        for part in [
            method,
            " ",
            path,
            " HTTP/1.1\r\nHost: ",
            &self.authority,
            "\r\n",
        ] {
            r.extend_from_slice(part.as_bytes());
        }
        for header in headers {
            r.extend_from_slice(header.as_bytes());
            r.extend_from_slice(b"\r\n");
        }
        if !body.is_empty() || method != "GET" {
            r.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        r.extend_from_slice(b"\r\n");
        r.extend_from_slice(body);

        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => {
                let stream = TcpStream::connect(&self.authority).await?;
                stream.set_nodelay(true)?;
                self.stream.insert(stream)
            }
        };
        let answer = exchange(stream, &self.request, &mut self.buf).await;
        match answer {
            Ok((status, body, keep_alive)) => {
                if !keep_alive {
                    self.stream = None;
                }
                Ok(Response {
                    status,
                    body: &self.buf[body.0..body.1],
                })
            }
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Writes `request`, reads the response into `buf`; returns the status, the body's range in
/// `buf` and whether the connection stays open.
async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> io::Result<(u16, (usize, usize), bool)> {
    stream.write_all(request).await?;
    buf.clear();
    let head_end = loop {
        if let Some(at) = find(buf, b"\r\n\r\n") {
            break at + 4;
        }
        read_more(stream, buf).await?;
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| bad("response head"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| bad("status line"))?;
    let mut length = None;
    let mut chunked = false;
    let mut keep_alive = true;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| bad("content-length"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            keep_alive = !value.eq_ignore_ascii_case("close");
        }
    }
    if chunked {
        let end = read_chunked(stream, buf, head_end).await?;
        return Ok((status, (head_end, end), keep_alive));
    }
    let length = length.ok_or_else(|| bad("neither content-length nor chunked"))?;
    while buf.len() < head_end + length {
        read_more(stream, buf).await?;
    }
    Ok((status, (head_end, head_end + length), keep_alive))
}

/// Decodes a chunked body in place, so it ends up contiguous after the head; returns its end.
async fn read_chunked(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    start: usize,
) -> io::Result<usize> {
    let mut body_end = start;
    let mut at = start;
    loop {
        let line_end = loop {
            if let Some(i) = find(&buf[at..], b"\r\n") {
                break at + i;
            }
            read_more(stream, buf).await?;
        };
        let size_text = std::str::from_utf8(&buf[at..line_end]).map_err(|_| bad("chunk size"))?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("chunk size"))?;
        let data = line_end + 2;
        while buf.len() < data + size + 2 {
            read_more(stream, buf).await?;
        }
        if size == 0 {
            // No trailers are sent by the server; the final CRLF follows the zero chunk.
            return Ok(body_end);
        }
        buf.copy_within(data..data + size, body_end);
        body_end += size;
        at = data + size + 2;
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(16 * 1024);
    }
    if stream.read_buf(buf).await? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection",
        ));
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

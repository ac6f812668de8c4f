//! The bit of HTTP/1.1 the loopback stand-ins need: read one request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// One request as received.
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header lines as sent (with their CRLF), the request line first;
    /// `Connection` headers left out (one request per connection).
    pub head: Vec<String>,
    pub body: Vec<u8>,
}

impl Request {
    /// The value of header `name` (any case), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.iter().find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Reads one request from `client`; `None` when the peer closed first.
pub fn read_request(client: &TcpStream) -> std::io::Result<Option<Request>> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            content_length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("connection:") {
            continue;
        }
        if line == "\r\n" {
            break;
        }
        head.push(line);
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    let request_line = head.first().cloned().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    Ok(Some(Request {
        method: parts.next().unwrap_or("").to_owned(),
        path: parts.next().unwrap_or("").to_owned(),
        head,
        body,
    }))
}

/// A complete response with a JSON body; `error_type` sets AWS's error header.
pub fn response(status: u16, error_type: Option<&str>, body: &str) -> String {
    let error_header = error_type
        .map(|t| format!("x-amzn-ErrorType: {t}\r\n"))
        .unwrap_or_default();
    format!(
        "HTTP/1.1 {status} Stand-in\r\nContent-Type: application/json\r\n{error_header}\
x-amzn-RequestId: stand-in\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Sends `request` on to 127.0.0.1:`port` and returns the whole response.
pub fn forward(request: &Request, port: u16) -> std::io::Result<Vec<u8>> {
    let mut upstream = TcpStream::connect(("127.0.0.1", port))?;
    for line in &request.head {
        upstream.write_all(line.as_bytes())?;
    }
    upstream.write_all(b"Connection: close\r\n\r\n")?;
    upstream.write_all(&request.body)?;
    let mut response = Vec::new();
    upstream.read_to_end(&mut response)?;
    Ok(response)
}

/// Writes a whole response: `status` (`200 OK`), `headers`, `body`.
pub fn reply(
    client: &mut TcpStream,
    status: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    client.write_all(head.as_bytes())?;
    client.write_all(body)
}

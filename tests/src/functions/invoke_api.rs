//! Lambda's Invoke API for the real functions: a loopback front in front of
//! moto that answers `POST /2015-03-31/functions/NAME/invocations` for the
//! functions [`Functions`] runs (a version or alias by `Qualifier`, at that
//! version's own configuration in moto), as the service answers it — the
//! response document, `X-Amz-Function-Error` for a failed invocation,
//! `X-Amz-Executed-Version`, and with `X-Amz-Log-Type: Tail` the last 4 KB
//! of its log in `X-Amz-Log-Result` — and forwards every other call to moto.

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use base64::Engine as _;

use super::{Ended, Functions};
use crate::http::{forward, read_request, reply};

/// What `LogType: Tail` returns at most.
const TAIL_BYTES: usize = 4096;

pub struct InvokeFront {
    pub endpoint: String,
}

impl InvokeFront {
    /// Serves `functions` on a loopback port; `runtime` runs their invocations.
    pub fn start(
        functions: Arc<Functions>,
        moto_port: u16,
        runtime: tokio::runtime::Handle,
    ) -> InvokeFront {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the Invoke front");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (functions, runtime) = (functions.clone(), runtime.clone());
                std::thread::spawn(move || {
                    let _ = serve(client, &functions, moto_port, &runtime);
                });
            }
        });
        InvokeFront { endpoint }
    }
}

/// (function, qualifier) of an Invoke path, if it is one.
fn invoke_target(path: &str) -> Option<(String, Option<String>)> {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let name = path
        .strip_prefix("/2015-03-31/functions/")?
        .strip_suffix("/invocations")?;
    let name = name.replace("%3A", ":");
    let parts: Vec<&str> = name.split(':').collect();
    // `orders`, `orders:3`, or an ARN `arn:aws:lambda:…:function:orders[:3]`.
    let (name, inline) = match parts.as_slice() {
        ["arn", _, _, _, _, _, n, rest @ ..] => {
            ((*n).to_owned(), rest.first().map(|q| (*q).to_owned()))
        }
        [n, q] => ((*n).to_owned(), Some((*q).to_owned())),
        _ => (name.clone(), None),
    };
    let qualifier = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("Qualifier="))
        .map(str::to_owned)
        .or(inline)
        .filter(|q| q != "$LATEST" && q != "%24LATEST");
    Some((name, qualifier))
}

fn serve(
    mut client: TcpStream,
    functions: &Functions,
    moto_port: u16,
    runtime: &tokio::runtime::Handle,
) -> std::io::Result<()> {
    use std::io::Write;
    let Some(request) = read_request(&client)? else {
        return Ok(());
    };
    let target = (request.method == "POST")
        .then(|| invoke_target(&request.path))
        .flatten()
        .filter(|(name, _)| functions.serves(name));
    let Some((name, qualifier)) = target else {
        let answer = forward(&request, moto_port)?;
        return client.write_all(&answer);
    };
    let tail = request
        .header("x-amz-log-type")
        .is_some_and(|t| t.eq_ignore_ascii_case("tail"));
    let payload: serde_json::Value =
        serde_json::from_slice(&request.body).unwrap_or(serde_json::Value::Null);
    let invoked =
        runtime.block_on(functions.invoke_qualified(&name, qualifier.as_deref(), &payload));
    let invocation = match invoked {
        Ok(i) => i,
        Err(e) => {
            let body = serde_json::json!({"message": format!("{e:#}")}).to_string();
            return reply(
                &mut client,
                "500 Internal Server Error",
                &[("x-amzn-ErrorType", "ServiceException")],
                body.as_bytes(),
            );
        }
    };
    let mut headers: Vec<(&str, String)> = vec![
        ("Content-Type", "application/json".into()),
        ("X-Amz-Executed-Version", invocation.version.clone()),
    ];
    if invocation.ended != Ended::Success {
        headers.push(("X-Amz-Function-Error", "Unhandled".into()));
    }
    if tail {
        let log = invocation.log.join("\n") + "\n";
        let start = log.len().saturating_sub(TAIL_BYTES);
        let start = (start..log.len())
            .find(|i| log.is_char_boundary(*i))
            .unwrap_or(log.len());
        headers.push((
            "X-Amz-Log-Result",
            base64::engine::general_purpose::STANDARD.encode(&log.as_bytes()[start..]),
        ));
    }
    let body = if invocation.body.is_empty() {
        serde_json::json!({"errorType": format!("{:?}", invocation.ended), "errorMessage": "the invocation ended without a response"}).to_string()
    } else {
        invocation.body.clone()
    };
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    reply(&mut client, "200 OK", &headers, body.as_bytes())
}

//! JSON-RPC framing for the forwarder: a message is read as an envelope whose `params`,
//! `result` and `error` stay raw JSON (borrowed from the input, never re-parsed), and
//! written by splicing those raw parts behind a new id. The MCP payloads pass through
//! byte for byte; only ids, progress tokens and the few fields the router must see are
//! touched. Method names and error bodies are rmcp's.

use bytes::{BufMut, Bytes, BytesMut};
use rmcp::model::{ConstString, ErrorCode, ErrorData};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

macro_rules! method {
    ($name:ident = $ty:ident) => {
        pub const $name: &str = <rmcp::model::$ty as ConstString>::VALUE;
    };
}
method!(INITIALIZE = InitializeResultMethod);
method!(INITIALIZED = InitializedNotificationMethod);
method!(PING = PingRequestMethod);
method!(CANCELLED = CancelledNotificationMethod);
method!(PROGRESS = ProgressNotificationMethod);
method!(SET_LEVEL = SetLevelRequestMethod);
method!(LOG_MESSAGE = LoggingMessageNotificationMethod);
method!(SUBSCRIBE = SubscribeRequestMethod);
method!(UNSUBSCRIBE = UnsubscribeRequestMethod);
method!(RESOURCE_UPDATED = ResourceUpdatedNotificationMethod);
method!(RESOURCES_CHANGED = ResourceListChangedNotificationMethod);
method!(TOOLS_CHANGED = ToolListChangedNotificationMethod);
method!(PROMPTS_CHANGED = PromptListChangedNotificationMethod);
method!(SAMPLING = CreateMessageRequestMethod);
method!(ELICITATION = ElicitationCreateRequestMethod);
method!(ROOTS_LIST = ListRootsRequestMethod);
method!(ROOTS_CHANGED = RootsListChangedNotificationMethod);
method!(TOOLS_CALL = CallToolRequestMethod);

/// "The server is not running" and friends: JSON-RPC's implementation-defined server error.
pub const SERVER_ERROR: ErrorCode = ErrorCode(-32000);

/// One JSON-RPC message, its payload left raw.
#[derive(Deserialize)]
pub struct Envelope<'a> {
    #[serde(borrow, default)]
    pub id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    pub method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub params: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub error: Option<&'a RawValue>,
}

/// An optional string borrowed from the input unless it has escapes (serde borrows a
/// `Cow` only when it is the field's whole type, not inside an `Option`).
fn borrowed<'de, D>(d: D) -> Result<Option<Cow<'de, str>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    struct Str<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Str<'de>>::deserialize(d)?.map(|s| s.0))
}

/// What a message is.
pub enum Kind<'e, 'a> {
    Request { id: &'a RawValue, method: &'e str },
    Notification { method: &'e str },
    Response { id: &'a RawValue },
    Invalid,
}

impl<'a> Envelope<'a> {
    pub fn parse(bytes: &'a [u8]) -> Option<Envelope<'a>> {
        serde_json::from_slice(bytes).ok()
    }

    pub fn kind(&self) -> Kind<'_, 'a> {
        match (self.id, self.method.as_deref()) {
            (Some(id), Some(method)) => Kind::Request { id, method },
            (None, Some(method)) => Kind::Notification { method },
            (Some(id), None) if self.result.is_some() || self.error.is_some() => {
                Kind::Response { id }
            }
            _ => Kind::Invalid,
        }
    }

    pub fn params_str(&self) -> Option<&'a str> {
        self.params.map(RawValue::get)
    }
}

/// A buffer for a message of `cap` bytes of payload, ids and names, begun; the margin holds
/// the keys and punctuation, so the message is written without growing it.
fn head(cap: usize) -> BytesMut {
    let mut b = BytesMut::with_capacity(cap + 64);
    b.put_slice(br#"{"jsonrpc":"2.0""#);
    b
}

fn put_method(b: &mut BytesMut, method: &str) {
    b.put_slice(br#","method":"#);
    // Method names are plain ASCII in practice and go as they are; serde_json escapes
    // anything else.
    if method
        .bytes()
        .all(|c| (b' '..=b'~').contains(&c) && c != b'"' && c != b'\\')
    {
        b.put_u8(b'"');
        b.put_slice(method.as_bytes());
        b.put_u8(b'"');
    } else {
        b.put_slice(serde_json::to_string(method).unwrap_or_default().as_bytes());
    }
}

/// `{"jsonrpc":"2.0","id":ID,"method":M[,"params":P]}`
pub fn request(id: &str, method: &str, params: Option<&str>) -> Bytes {
    let mut b = head(params.map_or(0, str::len) + id.len() + method.len());
    b.put_slice(br#","id":"#);
    b.put_slice(id.as_bytes());
    put_method(&mut b, method);
    if let Some(p) = params {
        b.put_slice(br#","params":"#);
        b.put_slice(p.as_bytes());
    }
    b.put_u8(b'}');
    b.freeze()
}

/// `{"jsonrpc":"2.0","method":M[,"params":P]}`
pub fn notification(method: &str, params: Option<&str>) -> Bytes {
    let mut b = head(params.map_or(0, str::len) + method.len());
    put_method(&mut b, method);
    if let Some(p) = params {
        b.put_slice(br#","params":"#);
        b.put_slice(p.as_bytes());
    }
    b.put_u8(b'}');
    b.freeze()
}

/// A response with `id` replaced: `{"jsonrpc":"2.0","id":ID,"result":R}` or `"error":E`.
pub fn response(id: &str, env: &Envelope<'_>) -> Bytes {
    let (key, raw): (&[u8], &str) = match (env.result, env.error) {
        (Some(r), _) => (br#","result":"#, r.get()),
        (None, Some(e)) => (br#","error":"#, e.get()),
        (None, None) => (br#","result":"#, "{}"),
    };
    let mut b = head(raw.len() + id.len());
    b.put_slice(br#","id":"#);
    b.put_slice(id.as_bytes());
    b.put_slice(key);
    b.put_slice(raw.as_bytes());
    b.put_u8(b'}');
    b.freeze()
}

/// A successful response carrying `result` (already JSON).
pub fn result(id: &str, result: &str) -> Bytes {
    let mut b = head(result.len() + id.len());
    b.put_slice(br#","id":"#);
    b.put_slice(id.as_bytes());
    b.put_slice(br#","result":"#);
    b.put_slice(result.as_bytes());
    b.put_u8(b'}');
    b.freeze()
}

/// An error response (`id` null when the request could not be read).
pub fn error(id: Option<&str>, code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Bytes {
    error_data(
        id,
        &ErrorData {
            code,
            message: message.into(),
            data: None,
        },
    )
}

pub fn error_data(id: Option<&str>, data: &ErrorData) -> Bytes {
    let body = serde_json::to_string(data).unwrap_or_else(|_| "{}".into());
    let mut b = head(body.len() + id.map_or(4, str::len));
    b.put_slice(br#","id":"#);
    b.put_slice(id.unwrap_or("null").as_bytes());
    b.put_slice(br#","error":"#);
    b.put_slice(body.as_bytes());
    b.put_u8(b'}');
    b.freeze()
}

/// The `_meta.progressToken` of request params, if any (checked by substring first: most
/// requests have none and are not parsed).
pub fn progress_token(params: &str) -> Option<serde_json::Value> {
    if !params.contains("progressToken") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(params).ok()?;
    v.get("_meta")?.get("progressToken").cloned()
}

/// `params` with `_meta.progressToken` set to `token`.
pub fn with_progress_token(params: &str, token: serde_json::Value) -> Option<String> {
    with_meta(Some(params), Some(token), None)
}

/// `params` (or `{}`) with `_meta.progressToken` set to `token` if given and the `extra`
/// keys added to `_meta`.
pub fn with_meta(
    params: Option<&str>,
    token: Option<serde_json::Value>,
    extra: Option<serde_json::Map<String, serde_json::Value>>,
) -> Option<String> {
    let mut v: serde_json::Value = match params {
        Some(p) => serde_json::from_str(p).ok()?,
        None => serde_json::Value::Object(Default::default()),
    };
    let obj = v.as_object_mut()?;
    let meta = obj
        .entry("_meta")
        .or_insert_with(|| serde_json::Value::Object(Default::default()))
        .as_object_mut()?;
    if let Some(token) = token {
        meta.insert("progressToken".into(), token);
    }
    if let Some(extra) = extra {
        meta.extend(extra);
    }
    serde_json::to_string(&v).ok()
}

/// The value of a top-level field of an object, as JSON.
pub fn field(params: Option<&str>, name: &str) -> Option<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(params?).ok()?;
    match v {
        serde_json::Value::Object(mut m) => m.remove(name),
        _ => None,
    }
}

/// An upstream id of ours: a number at or above [`super::upstream::ID_BASE`].
pub fn number(id: &RawValue) -> Option<u64> {
    id.get().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trip() {
        let line =
            br#"{"jsonrpc":"2.0","id":"a","result":{"content":[{"type":"text","text":"hi"}]}}"#;
        let env = Envelope::parse(line).unwrap();
        assert!(matches!(env.kind(), Kind::Response { .. }));
        let out = response("7", &env);
        assert_eq!(
            &out[..],
            br#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hi"}]}}"#
        );
        let req = request("12", "tools/call", Some(r#"{"name":"x"}"#));
        let env = Envelope::parse(&req).unwrap();
        assert!(matches!(
            env.kind(),
            Kind::Request {
                method: "tools/call",
                ..
            }
        ));
        let n =
            Envelope::parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert!(matches!(n.kind(), Kind::Notification { .. }));
        assert!(
            matches!(n.method, Some(Cow::Borrowed(_))),
            "no copy of a plain name"
        );
        // Escapes: decoded when read, written back escaped.
        let odd = Envelope::parse(br#"{"jsonrpc":"2.0","method":"a\"b\u00e9"}"#).unwrap();
        assert_eq!(odd.method.as_deref(), Some("a\"b\u{e9}"));
        let back = notification(odd.method.as_deref().unwrap(), None);
        let again = Envelope::parse(&back).unwrap();
        assert_eq!(again.method, odd.method);
        assert!(
            Envelope::parse(br#"{"jsonrpc":"2.0","method":null,"id":1}"#)
                .is_some_and(|e| e.method.is_none())
        );
    }

    #[test]
    fn progress_tokens() {
        let p = r#"{"name":"t","_meta":{"progressToken":1}}"#;
        assert_eq!(progress_token(p), Some(serde_json::json!(1)));
        assert_eq!(progress_token(r#"{"name":"t"}"#), None);
        let q = with_progress_token(p, serde_json::json!(1099511627776u64)).unwrap();
        assert_eq!(
            progress_token(&q),
            Some(serde_json::json!(1099511627776u64))
        );
    }
}

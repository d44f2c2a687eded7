//! Request bodies and parameters: JSON objects only, integral floats as integers, and every
//! malformed input answered with a stable 4xx code.

use crate::error::Error;
use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::{web, HttpRequest};
use cosmosq_shared::ErrorCode;

/// JSON bodies: size, syntax, types and unknown fields become stable 4xx codes.
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let e = match &err {
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => Error::new(
            ErrorCode::BodyTooLarge,
            format!("request bodies are limited to {limit} bytes"),
        ),
        JsonPayloadError::ContentType => Error::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as application/json",
        ),
        JsonPayloadError::Deserialize(de) => match de.classify() {
            serde_json::error::Category::Data => Error::new(
                ErrorCode::InvalidBody,
                format!("the body does not fit the schema: {de}"),
            ),
            _ => Error::new(
                ErrorCode::MalformedJson,
                format!("the body is not valid JSON: {de}"),
            ),
        },
        other => Error::new(
            ErrorCode::MalformedJson,
            format!("cannot read the body: {other}"),
        ),
    };
    e.into()
}

/// A JSON request body of type `T`. Unlike `web::Json<T>` it takes only a JSON object (serde
/// would also fill a struct from an array: `[null, null]` as `{mix_controls, max_batch_size}`),
/// and a number with a zero fraction counts as an integer (`3.0` is a valid `position`), as in
/// JSON Schema. Errors are those of `json_error`: `malformed_json`, `invalid_body`, 413, 415.
pub struct Body<T>(pub T);

impl<T> Body<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Body<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for Body<T> {
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let value = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move { Ok(Body(parse_body(value.await?.into_inner())?)) })
    }
}

/// The typed body from parsed JSON: objects only, integral floats as integers.
pub fn parse_body<T: serde::de::DeserializeOwned>(
    mut value: serde_json::Value,
) -> crate::error::Result<T> {
    if !value.is_object() {
        return Err(Error::new(
            ErrorCode::InvalidBody,
            "the body does not fit the schema: expected a JSON object",
        ));
    }
    integral_floats_as_integers(&mut value);
    serde_json::from_value(value).map_err(|e| {
        Error::new(
            ErrorCode::InvalidBody,
            format!("the body does not fit the schema: {e}"),
        )
    })
}

fn integral_floats_as_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0) {
                // Integral floats in u64 or i64 range convert exactly.
                if (0.0..1.8446744073709552e19).contains(&f) {
                    *n = (f as u64).into();
                } else if (-9.223372036854776e18..0.0).contains(&f) {
                    *n = (f as i64).into();
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    Error::new(
        ErrorCode::InvalidQuery,
        format!("bad query parameters: {err}"),
    )
    .into()
}

pub fn path_error(err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    Error::new(ErrorCode::InvalidPath, format!("bad path: {err}")).into()
}

#[cfg(test)]
mod tests {
    use cosmosq_shared::api::{MoveInput, QueueSettingsPatch};
    use serde_json::json;

    #[test]
    fn bodies_must_be_objects() {
        // serde alone fills a struct from an array: `[null, null]` was a settings patch.
        assert!(serde_json::from_value::<QueueSettingsPatch>(json!([null, null])).is_ok());
        for body in [
            json!([null, null]),
            json!([1]),
            json!("x"),
            json!(3),
            json!(null),
        ] {
            let e = super::parse_body::<QueueSettingsPatch>(body.clone()).unwrap_err();
            assert_eq!(
                (e.code.http_status(), e.code.as_str()),
                (400, "invalid_body"),
                "{body}"
            );
        }
        let p: QueueSettingsPatch = super::parse_body(json!({"auto_batch": false})).unwrap();
        assert_eq!(p.auto_batch, Some(false));
    }

    #[test]
    fn integral_floats_are_integers() {
        let m: MoveInput = super::parse_body(json!({"position": 3.0})).unwrap();
        assert_eq!(m.position, 3);
        let p: QueueSettingsPatch = super::parse_body(json!({"max_batch_size": 64.0})).unwrap();
        assert_eq!(p.max_batch_size, Some(64));
        for bad in [
            json!(1.5),
            json!(-1.0),
            json!(4294967296.0),
            json!(1e300),
            json!("1"),
        ] {
            let e = super::parse_body::<MoveInput>(json!({ "position": bad })).unwrap_err();
            assert_eq!(e.code, "invalid_body", "{bad}");
        }
        // Floats stay floats where a float is expected.
        let mut v = json!({"guidance": 7.0, "list": [2.0, 0.5], "big": 1e300});
        super::integral_floats_as_integers(&mut v);
        assert_eq!(v, json!({"guidance": 7, "list": [2, 0.5], "big": 1e300}));
    }
}

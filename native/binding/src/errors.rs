//! Errors thrown to JavaScript carry a string `code` (an engine or Check
//! code such as `rego_parse_error`, `eval_conflict_error`, `config_invalid`;
//! `ERR_INVALID_ARG` for a bad argument) and, for compile errors, `diagnosticsJson`.

use napi::bindgen_prelude::*;

/// Throws an `Error` with `code` (and `diagnosticsJson` when given); the
/// returned error tells napi-rs an exception is already pending.
pub fn throw(env: &Env, code: &str, message: impl Into<String>, diagnostics_json: Option<String>) -> Error {
    let thrown = env.create_error(Error::new(Status::GenericFailure, message.into())).and_then(|mut e| {
        e.set_named_property("code", code)?;
        if let Some(d) = diagnostics_json {
            e.set_named_property("diagnosticsJson", d)?;
        }
        env.throw(e)
    });
    match thrown {
        Ok(()) => Error::new(Status::PendingException, String::new()),
        Err(e) => e,
    }
}

pub fn invalid_arg(env: &Env, message: impl Into<String>) -> Error {
    throw(env, "ERR_INVALID_ARG", message, None)
}

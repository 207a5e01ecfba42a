//! Errors thrown to JavaScript carry a string `code` (an engine or Check
//! code such as `rego_parse_error`, `eval_conflict_error`, `config_invalid`;
//! `ERR_INVALID_ARG` for a bad argument) and, for compile errors, `diagnosticsJson`;
//! an evaluation error of a query, the lines printed before it as `printsJson`.

use napi::bindgen_prelude::*;

/// Throws an `Error` with `code` (and `diagnosticsJson` when given); the
/// returned error tells napi-rs an exception is already pending.
pub fn throw(env: &Env, code: &str, message: impl Into<String>, diagnostics_json: Option<String>) -> Error {
    throw_with(env, code, message.into(), [("diagnosticsJson", diagnostics_json)])
}

/// Throws an evaluation error; the lines `print` wrote before it, if any, as `printsJson`.
pub fn throw_eval(env: &Env, e: &sark_engine::EvalError) -> Error {
    let prints = (!e.prints.is_empty()).then(|| sark_engine::Value::from_array(e.prints.iter().map(sark_engine::PrintLine::to_value).collect()).to_json());
    throw_with(env, e.code, e.to_string(), [("printsJson", prints)])
}

fn throw_with<const N: usize>(env: &Env, code: &str, message: String, extra: [(&str, Option<String>); N]) -> Error {
    let thrown = env.create_error(Error::new(Status::GenericFailure, message)).and_then(|mut e| {
        e.set_named_property("code", code)?;
        for (name, value) in extra {
            if let Some(v) = value {
                e.set_named_property(name, v)?;
            }
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

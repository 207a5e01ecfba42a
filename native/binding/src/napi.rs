//! A small safe layer over the hand-declared Node-API: every `unsafe` call of
//! the addon is here. Callbacks run through [`callback`], which catches
//! panics (an unwinding panic across the C boundary would abort Node) and
//! turns every [`JsError`] into a thrown JS `Error` with a `code`.

use crate::napi_sys::*;
use std::any::Any;
use std::ffi::CString;
use std::os::raw::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

/// An error for JavaScript: `Error(message)` with `code` and extra string
/// properties (e.g. `diagnosticsJson`).
#[derive(Debug)]
pub struct JsError {
    pub code: String,
    pub message: String,
    pub props: Vec<(&'static str, String)>,
}

impl JsError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> JsError {
        JsError { code: code.into(), message: message.into(), props: Vec::new() }
    }
    pub fn arg(message: impl Into<String>) -> JsError {
        JsError::new("ERR_INVALID_ARG", message)
    }
    pub fn with(mut self, name: &'static str, value: String) -> JsError {
        self.props.push((name, value));
        self
    }
}

pub type JsResult<T> = Result<T, JsError>;

fn check(status: napi_status, what: &str) -> JsResult<()> {
    if status == NAPI_OK {
        Ok(())
    } else {
        Err(JsError::new("NAPI_ERROR", format!("{} failed (napi_status {})", what, status)))
    }
}

/// A JS value handle, valid for the current callback only.
#[derive(Clone, Copy)]
pub struct Val(pub(crate) napi_value);

/// The environment of one callback.
#[derive(Clone, Copy)]
pub struct Env(napi_env);

/// The receiver and arguments of one callback.
pub struct Call {
    pub env: Env,
    pub this: Val,
    args: Vec<Val>,
}

impl Call {
    /// Argument `i`, or `undefined` when not passed.
    pub fn arg(&self, i: usize) -> JsResult<Val> {
        match self.args.get(i) {
            Some(v) => Ok(*v),
            None => self.env.undefined(),
        }
    }
}

const MAX_ARGS: usize = 8;

/// Runs `body` as a Node-API callback: arguments are read, panics and errors
/// become thrown JS errors (panics with code `RUST_PANIC`), and the process lives on.
///
/// # Safety
/// `env` and `info` must be the ones Node passed to the calling callback.
pub unsafe fn callback(env: napi_env, info: napi_callback_info, body: fn(&Call) -> JsResult<Val>) -> napi_value {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut argc = MAX_ARGS;
        let mut argv = [ptr::null_mut(); MAX_ARGS];
        let mut this = ptr::null_mut();
        check(napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), &mut this, ptr::null_mut()), "napi_get_cb_info")?;
        let args = argv[..argc.min(MAX_ARGS)].iter().map(|v| Val(*v)).collect();
        body(&Call { env: Env(env), this: Val(this), args })
    }));
    let err = match outcome {
        Ok(Ok(v)) => return v.0,
        Ok(Err(e)) => e,
        Err(panic) => JsError::new("RUST_PANIC", format!("native panic: {}", panic_message(&*panic))),
    };
    Env(env).throw(&err);
    ptr::null_mut()
}

fn panic_message(p: &(dyn Any + Send)) -> String {
    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_else(|| "unknown".into())
}

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

impl Env {
    pub fn undefined(self) -> JsResult<Val> {
        let mut v = ptr::null_mut();
        check(unsafe { napi_get_undefined(self.0, &mut v) }, "napi_get_undefined")?;
        Ok(Val(v))
    }

    pub fn boolean(self, b: bool) -> JsResult<Val> {
        let mut v = ptr::null_mut();
        check(unsafe { napi_get_boolean(self.0, b, &mut v) }, "napi_get_boolean")?;
        Ok(Val(v))
    }

    pub fn number(self, n: f64) -> JsResult<Val> {
        let mut v = ptr::null_mut();
        check(unsafe { napi_create_double(self.0, n, &mut v) }, "napi_create_double")?;
        Ok(Val(v))
    }

    pub fn string(self, s: &str) -> JsResult<Val> {
        let mut v = ptr::null_mut();
        check(unsafe { napi_create_string_utf8(self.0, s.as_ptr() as *const c_char, s.len(), &mut v) }, "napi_create_string_utf8")?;
        Ok(Val(v))
    }

    pub fn object(self) -> JsResult<Val> {
        let mut v = ptr::null_mut();
        check(unsafe { napi_create_object(self.0, &mut v) }, "napi_create_object")?;
        Ok(Val(v))
    }

    pub fn set(self, obj: Val, name: &str, value: Val) -> JsResult<()> {
        let name = cstring(name);
        check(unsafe { napi_set_named_property(self.0, obj.0, name.as_ptr(), value.0) }, "napi_set_named_property")
    }

    fn type_of(self, v: Val) -> JsResult<napi_valuetype> {
        let mut t = 0;
        check(unsafe { napi_typeof(self.0, v.0, &mut t) }, "napi_typeof")?;
        Ok(t)
    }

    /// True for `undefined` and `null`.
    pub fn is_nullish(self, v: Val) -> JsResult<bool> {
        let t = self.type_of(v)?;
        Ok(t == NAPI_UNDEFINED || t == NAPI_NULL)
    }

    pub fn get_string(self, v: Val, what: &str) -> JsResult<String> {
        if self.type_of(v)? != NAPI_STRING {
            return Err(JsError::arg(format!("{} must be a string", what)));
        }
        let mut len = 0usize;
        check(unsafe { napi_get_value_string_utf8(self.0, v.0, ptr::null_mut(), 0, &mut len) }, "napi_get_value_string_utf8")?;
        let mut buf = vec![0u8; len + 1];
        let mut written = 0usize;
        check(
            unsafe { napi_get_value_string_utf8(self.0, v.0, buf.as_mut_ptr() as *mut c_char, buf.len(), &mut written) },
            "napi_get_value_string_utf8",
        )?;
        buf.truncate(written);
        // Node writes valid UTF-8 (lone surrogates become U+FFFD).
        String::from_utf8(buf).map_err(|_| JsError::arg(format!("{} is not valid UTF-8", what)))
    }

    pub fn get_number(self, v: Val, what: &str) -> JsResult<f64> {
        if self.type_of(v)? != NAPI_NUMBER {
            return Err(JsError::arg(format!("{} must be a number", what)));
        }
        let mut n = 0f64;
        check(unsafe { napi_get_value_double(self.0, v.0, &mut n) }, "napi_get_value_double")?;
        Ok(n)
    }

    /// A number argument, or `default` when undefined/null.
    pub fn get_number_or(self, v: Val, default: f64, what: &str) -> JsResult<f64> {
        if self.is_nullish(v)? {
            Ok(default)
        } else {
            self.get_number(v, what)
        }
    }

    pub fn get_bool(self, v: Val, what: &str) -> JsResult<bool> {
        let mut b = false;
        check(unsafe { napi_get_value_bool(self.0, v.0, &mut b) }, "napi_get_value_bool")
            .map_err(|_| JsError::arg(format!("{} must be a boolean", what)))?;
        Ok(b)
    }

    /// The bytes of a Buffer (or Uint8Array) argument. The slice aliases JS
    /// memory: it is valid during this callback only, and the caller must not
    /// pass the same buffer twice in one call.
    pub fn get_buffer<'a>(self, v: Val, what: &str) -> JsResult<&'a mut [u8]> {
        let mut is = false;
        check(unsafe { napi_is_buffer(self.0, v.0, &mut is) }, "napi_is_buffer")?;
        if !is {
            return Err(JsError::arg(format!("{} must be a Buffer", what)));
        }
        let mut data: *mut c_void = ptr::null_mut();
        let mut len = 0usize;
        check(unsafe { napi_get_buffer_info(self.0, v.0, &mut data, &mut len) }, "napi_get_buffer_info")?;
        if data.is_null() || len == 0 {
            return Ok(&mut []);
        }
        // SAFETY: Node guarantees `data` points to `len` bytes that stay
        // alive while the buffer value is reachable (through the callback).
        Ok(unsafe { std::slice::from_raw_parts_mut(data as *mut u8, len) })
    }

    fn throw(self, e: &JsError) {
        let mut pending = false;
        unsafe {
            if napi_is_exception_pending(self.0, &mut pending) == NAPI_OK && pending {
                return;
            }
        }
        let build = || -> JsResult<Val> {
            let code = self.string(&e.code)?;
            let msg = self.string(&e.message)?;
            let mut err = ptr::null_mut();
            check(unsafe { napi_create_error(self.0, code.0, msg.0, &mut err) }, "napi_create_error")?;
            for (k, v) in &e.props {
                let s = self.string(v)?;
                self.set(Val(err), k, s)?;
            }
            Ok(Val(err))
        };
        if let Ok(err) = build() {
            unsafe {
                napi_throw(self.0, err.0);
            }
        }
    }

    /// Attaches `native` to the JS object `this`; dropped when `this` is collected.
    pub fn wrap<T: Tagged>(self, this: Val, native: T) -> JsResult<()> {
        let boxed = Box::into_raw(Box::new(Wrapped { tag: T::TAG, inner: native }));
        unsafe extern "C" fn finalize<T>(_env: napi_env, data: *mut c_void, _hint: *mut c_void) {
            // SAFETY: `data` came from Box::into_raw in `wrap` with this T.
            drop(Box::from_raw(data as *mut Wrapped<T>));
        }
        let status = unsafe { napi_wrap(self.0, this.0, boxed as *mut c_void, Some(finalize::<T>), ptr::null_mut(), ptr::null_mut()) };
        if status != NAPI_OK {
            // SAFETY: not handed to Node, so still ours to free.
            drop(unsafe { Box::from_raw(boxed) });
            return check(status, "napi_wrap");
        }
        Ok(())
    }

    /// The native object of type `T` attached to `obj`, checked by tag so a
    /// method called on the wrong class is an error, not memory corruption.
    pub fn unwrap<'a, T: Tagged>(self, obj: Val) -> JsResult<&'a mut T> {
        let mut data: *mut c_void = ptr::null_mut();
        let status = unsafe { napi_unwrap(self.0, obj.0, &mut data) };
        if status != NAPI_OK || data.is_null() {
            return Err(JsError::arg(format!("expected a {} instance", T::NAME)));
        }
        // SAFETY: every wrapped pointer is a `Wrapped<_>`, whose `repr(C)`
        // layout puts the tag first; the tag is read before trusting `T`.
        let tag = unsafe { *(data as *const u64) };
        if tag != T::TAG {
            return Err(JsError::arg(format!("expected a {} instance", T::NAME)));
        }
        // SAFETY: the tag says the object is a Wrapped<T>; JS is single
        // threaded and no callback re-enters JS, so the borrow is exclusive.
        Ok(unsafe { &mut (*(data as *mut Wrapped<T>)).inner })
    }

    /// Defines a JS class whose constructor is `ctor` and whose prototype has `methods`.
    pub fn define_class(self, name: &str, ctor: RawCallback, methods: &[(&'static str, RawCallback)]) -> JsResult<Val> {
        let names: Vec<CString> = methods.iter().map(|(n, _)| cstring(n)).collect();
        let props: Vec<napi_property_descriptor> = methods
            .iter()
            .zip(&names)
            .map(|((_, f), n)| napi_property_descriptor {
                utf8name: n.as_ptr(),
                name: ptr::null_mut(),
                method: Some(*f),
                getter: None,
                setter: None,
                value: ptr::null_mut(),
                attributes: NAPI_DEFAULT_METHOD,
                data: ptr::null_mut(),
            })
            .collect();
        let mut class = ptr::null_mut();
        check(
            unsafe {
                napi_define_class(self.0, name.as_ptr() as *const c_char, name.len(), Some(ctor), ptr::null_mut(), props.len(), props.as_ptr(), &mut class)
            },
            "napi_define_class",
        )?;
        Ok(Val(class))
    }

    /// A plain JS function calling `f`.
    pub fn function(self, name: &str, f: RawCallback) -> JsResult<Val> {
        // A class with no methods is a callable-with-new only; plain
        // functions come from napi_create_function, declared here locally.
        extern "C" {
            fn napi_create_function(
                env: napi_env,
                utf8name: *const c_char,
                length: usize,
                cb: napi_callback,
                data: *mut c_void,
                result: *mut napi_value,
            ) -> napi_status;
        }
        let mut v = ptr::null_mut();
        check(
            unsafe { napi_create_function(self.0, name.as_ptr() as *const c_char, name.len(), Some(f), ptr::null_mut(), &mut v) },
            "napi_create_function",
        )?;
        Ok(Val(v))
    }
}

pub type RawCallback = unsafe extern "C" fn(env: napi_env, info: napi_callback_info) -> napi_value;

/// Native types attached to JS objects, each with a distinct tag.
pub trait Tagged {
    const TAG: u64;
    const NAME: &'static str;
}

#[repr(C)]
struct Wrapped<T> {
    tag: u64,
    inner: T,
}

/// Declares `extern "C"` Node-API callbacks that run a safe body through [`callback`].
macro_rules! js_callbacks {
    ($($name:ident => $body:path;)*) => {
        $(
            unsafe extern "C" fn $name(env: $crate::napi_sys::napi_env, info: $crate::napi_sys::napi_callback_info) -> $crate::napi_sys::napi_value {
                $crate::napi::callback(env, info, $body)
            }
        )*
    };
}
pub(crate) use js_callbacks;

/// The module entry point Node looks up.
///
/// # Safety
/// Called by Node with a valid env and exports object.
pub unsafe fn register(env: napi_env, exports: napi_value, init: fn(Env, Val) -> JsResult<()>) -> napi_value {
    let r = catch_unwind(AssertUnwindSafe(|| init(Env(env), Val(exports))));
    match r {
        Ok(Ok(())) => {}
        Ok(Err(e)) => Env(env).throw(&e),
        Err(p) => Env(env).throw(&JsError::new("RUST_PANIC", format!("native panic: {}", panic_message(&*p)))),
    }
    exports
}

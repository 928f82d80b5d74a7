//! Safe calls into the host: scalar reads and variable-length reads with the
//! buffer-too-small retry, shared by [`crate::Doc`] and [`crate::Params`].

use crate::sys;

/// Why a value could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    /// The document has no such field, or no such parameter was passed or declared.
    NotFound,
    /// The value exists with another type (e.g. `get_i64` on `2.5`).
    TypeMismatch,
    /// The host answered with a code this SDK does not know.
    Host(i32),
}

impl core::fmt::Display for ReadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ReadError::NotFound => f.write_str("not found"),
            ReadError::TypeMismatch => f.write_str("type mismatch"),
            ReadError::Host(code) => write!(f, "host error code {code}"),
        }
    }
}

pub(crate) fn status(code: i32) -> Result<(), ReadError> {
    match code {
        sys::OK => Ok(()),
        sys::NOT_FOUND => Err(ReadError::NotFound),
        sys::TYPE_MISMATCH => Err(ReadError::TypeMismatch),
        other => Err(ReadError::Host(other)),
    }
}

/// First guess for a string's size: most field values and ids fit, so one host call suffices.
const INITIAL_CAPACITY: usize = 128;

/// Calls `call(value_ptr, value_len_ptr)` with a buffer, growing it to the length the host
/// asks for while it answers "buffer too small". Invalid UTF-8 is replaced, never trusted.
pub(crate) fn read_string(mut call: impl FnMut(*mut u8, *mut u32) -> i32) -> Result<String, ReadError> {
    let mut buf = vec![0u8; INITIAL_CAPACITY];
    // The host reports the exact length it needs, so one retry is normal; a few more cover a
    // value that changes between calls. Anything beyond that is a host bug, not a loop.
    for _ in 0..4 {
        let mut len = buf.len() as u32;
        let code = call(buf.as_mut_ptr(), &mut len);
        if code == sys::BUFFER_TOO_SMALL {
            let wanted = (len as usize).max(buf.len() * 2);
            buf.resize(wanted, 0);
            continue;
        }
        status(code)?;
        buf.truncate((len as usize).min(buf.len()));
        return Ok(match String::from_utf8(buf) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        });
    }
    Err(ReadError::Host(sys::BUFFER_TOO_SMALL))
}

/// Calls `call(out_ptr)` for a fixed-size value.
pub(crate) fn read_scalar<T: Copy>(init: T, call: impl FnOnce(*mut T) -> i32) -> Result<T, ReadError> {
    let mut out = init;
    status(call(&mut out))?;
    Ok(out)
}

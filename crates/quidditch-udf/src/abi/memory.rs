//! Bounds-checked access to guest memory. Every pointer and length from the guest goes
//! through these; a bad one traps the call with an error naming the import.

use crate::host::trap;

#[inline]
pub fn range(import: &'static str, mem_len: usize, ptr: i32, len: usize) -> wasmtime::Result<std::ops::Range<usize>> {
    let start = ptr as u32 as usize;
    match start.checked_add(len) {
        Some(end) if end <= mem_len => Ok(start..end),
        _ => Err(trap(
            import,
            format!("pointer {start:#x} + length {len} is outside the UDF's memory ({mem_len} bytes)"),
        )),
    }
}

#[inline]
pub fn bytes<'m>(import: &'static str, mem: &'m [u8], ptr: i32, len: i32) -> wasmtime::Result<&'m [u8]> {
    if len < 0 {
        return Err(trap(import, format!("negative length {len}")));
    }
    Ok(&mem[range(import, mem.len(), ptr, len as usize)?])
}

#[inline]
pub fn write(import: &'static str, mem: &mut [u8], ptr: i32, data: &[u8]) -> wasmtime::Result<()> {
    let r = range(import, mem.len(), ptr, data.len())?;
    mem[r].copy_from_slice(data);
    Ok(())
}

#[inline]
pub fn read_i32(import: &'static str, mem: &[u8], ptr: i32) -> wasmtime::Result<i32> {
    let r = range(import, mem.len(), ptr, 4)?;
    let mut b = [0u8; 4];
    b.copy_from_slice(&mem[r]);
    Ok(i32::from_le_bytes(b))
}

/// Checks a string output `(value_ptr, capacity at *value_len_ptr)` before anything is
/// looked up, so a bad pointer traps even when the value turns out to be missing.
#[inline]
pub fn check_string_out(import: &'static str, mem: &[u8], value_ptr: i32, value_len_ptr: i32) -> wasmtime::Result<()> {
    let cap = read_i32(import, mem, value_len_ptr)?;
    range(import, mem.len(), value_ptr, cap.max(0) as usize)?;
    Ok(())
}

/// Writes a string to `(value_ptr, *value_len_ptr)` with the ABI's capacity convention:
/// the capacity is read from `*value_len_ptr`, the actual (or required) length written back.
pub fn write_string(
    import: &'static str,
    mem: &mut [u8],
    value_ptr: i32,
    value_len_ptr: i32,
    value: &[u8],
) -> wasmtime::Result<i32> {
    let cap = read_i32(import, mem, value_len_ptr)?;
    let len = i32::try_from(value.len()).map_err(|_| crate::host::trap(import, "value larger than 2 GiB"))?;
    write(import, mem, value_len_ptr, &len.to_le_bytes())?;
    if cap < 0 || value.len() > cap as usize {
        return Ok(crate::host::rc::BUFFER_TOO_SMALL);
    }
    write(import, mem, value_ptr, value)?;
    Ok(crate::host::rc::OK)
}

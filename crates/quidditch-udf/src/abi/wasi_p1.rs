//! The WASI preview 1 functions ordinary Rust (`wasm32-wasip1`) and C (wasi-libc) guests
//! import, implemented without reaching the host: stdout/stderr are captured into the UDF log
//! (under `write_log`), the environment and arguments are empty, there are no files or
//! preopened directories, `proc_exit` traps. Clocks and random need their permissions (checked
//! at upload). Everything else in preview 1 (paths, sockets, reads) is rejected at upload.

use std::sync::OnceLock;
use std::time::Instant;

use rand::RngCore;
use wasmtime::{Caller, Linker};

use super::memory as m;
use crate::host::{HostCtx, LogLevel, trap};

const M: &str = "wasi_snapshot_preview1";
const ESUCCESS: i32 = 0;
const EBADF: i32 = 8;
const EINVAL: i32 = 28;
const ESPIPE: i32 = 70;

fn split<'a>(caller: &'a mut Caller<'_, HostCtx>, import: &'static str) -> wasmtime::Result<(&'a mut [u8], &'a mut HostCtx)> {
    let memory = caller.data().memory.ok_or_else(|| trap(import, "the UDF exports no memory"))?;
    Ok(memory.data_and_store_mut(caller))
}

fn process_start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

pub fn add_to_linker(linker: &mut Linker<HostCtx>) -> wasmtime::Result<()> {
    linker.func_wrap(M, "fd_write", |mut c: Caller<'_, HostCtx>, fd: i32, iovs: i32, n: i32, nwritten: i32| {
        const F: &str = "fd_write";
        if fd != 1 && fd != 2 {
            return Ok(EBADF);
        }
        let (mem, host) = split(&mut c, F)?;
        if n < 0 {
            return Err(trap(F, "negative iovec count"));
        }
        let mut total: u32 = 0;
        let mut gathered = Vec::new();
        for i in 0..n {
            let at = iovs.wrapping_add(i.wrapping_mul(8));
            let ptr = m::read_i32(F, mem, at)?;
            let len = m::read_i32(F, mem, at.wrapping_add(4))?;
            gathered.extend_from_slice(m::bytes(F, mem, ptr, len)?);
            total = total.wrapping_add(len as u32);
        }
        if host.write_log {
            let text = gathered.strip_suffix(b"\n").unwrap_or(&gathered);
            host.log.push(if fd == 1 { LogLevel::Info } else { LogLevel::Error }, text);
        }
        m::write(F, mem, nwritten, &total.to_le_bytes())?;
        Ok(ESUCCESS)
    })?;
    linker.func_wrap(M, "proc_exit", |_c: Caller<'_, HostCtx>, code: i32| -> wasmtime::Result<()> {
        Err(trap("proc_exit", format!("the UDF exited with code {code}")))
    })?;
    linker.func_wrap(M, "sched_yield", || ESUCCESS)?;
    linker.func_wrap(M, "fd_close", |_fd: i32| EBADF)?;
    linker.func_wrap(M, "fd_seek", |fd: i32, _off: i64, _whence: i32, _out: i32| if (0..=2).contains(&fd) { ESPIPE } else { EBADF })?;
    linker.func_wrap(M, "fd_fdstat_get", |mut c: Caller<'_, HostCtx>, fd: i32, out: i32| {
        const F: &str = "fd_fdstat_get";
        if !(0..=2).contains(&fd) {
            return Ok(EBADF);
        }
        let (mem, _) = split(&mut c, F)?;
        // fdstat: filetype u8 (2 = character device), flags u16, rights_base u64, rights_inheriting u64.
        let mut stat = [0u8; 24];
        stat[0] = 2;
        stat[8..16].copy_from_slice(&(1u64 << 6).to_le_bytes()); // fd_write
        m::write(F, mem, out, &stat)?;
        Ok(ESUCCESS)
    })?;
    linker.func_wrap(M, "fd_prestat_get", |_fd: i32, _out: i32| EBADF)?;
    linker.func_wrap(M, "fd_prestat_dir_name", |_fd: i32, _p: i32, _l: i32| EBADF)?;
    // An empty environment and no arguments: zero entries, zero bytes.
    for name in ["environ_sizes_get", "args_sizes_get"] {
        linker.func_wrap(M, name, |mut c: Caller<'_, HostCtx>, count: i32, size: i32| {
            const F: &str = "environ_sizes_get";
            let (mem, _) = split(&mut c, F)?;
            m::write(F, mem, count, &0u32.to_le_bytes())?;
            m::write(F, mem, size, &0u32.to_le_bytes())?;
            Ok(ESUCCESS)
        })?;
    }
    linker.func_wrap(M, "environ_get", |_a: i32, _b: i32| ESUCCESS)?;
    linker.func_wrap(M, "args_get", |_a: i32, _b: i32| ESUCCESS)?;
    linker.func_wrap(M, "clock_time_get", |mut c: Caller<'_, HostCtx>, id: i32, _precision: i64, out: i32| {
        const F: &str = "clock_time_get";
        let ns: u64 = match id {
            0 => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0),
            1..=3 => process_start().elapsed().as_nanos() as u64,
            _ => return Ok(EINVAL),
        };
        let (mem, _) = split(&mut c, F)?;
        m::write(F, mem, out, &ns.to_le_bytes())?;
        Ok(ESUCCESS)
    })?;
    linker.func_wrap(M, "clock_res_get", |mut c: Caller<'_, HostCtx>, _id: i32, out: i32| {
        const F: &str = "clock_res_get";
        let (mem, _) = split(&mut c, F)?;
        m::write(F, mem, out, &1000u64.to_le_bytes())?;
        Ok(ESUCCESS)
    })?;
    linker.func_wrap(M, "random_get", |mut c: Caller<'_, HostCtx>, buf: i32, len: i32| {
        const F: &str = "random_get";
        let (mem, _) = split(&mut c, F)?;
        if len < 0 {
            return Err(trap(F, "negative length"));
        }
        let r = m::range(F, mem.len(), buf, len as usize)?;
        rand::thread_rng().fill_bytes(&mut mem[r]);
        Ok(ESUCCESS)
    })?;
    Ok(())
}
